//! The storefront reads: the funnel of a range (one Query of at most 366 day items, O(days)) and
//! a page of the event log (one Query of an index, O(limit)), with sealed page cursors bound to
//! the tenant and the request.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::zone::ShopZone;
use crate::auth::token::TokenKeys;
use crate::dashboard::DashboardError;
use crate::dashboard::query::{date, limit, params, range};
use crate::domain::{FieldError, TenantId};
use crate::store::items::storefront::{FunnelCounts, LoggedEvent};
use crate::store::keys;
use crate::store::{Cursor, Index, Query, Store, StoreError};

/// `GET /dashboard/funnel?from&to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunnelQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl FunnelQuery {
    pub fn parse(query: Option<&str>, today: NaiveDate) -> Result<FunnelQuery, FieldError> {
        let (from, to) = range(&params(query), today)?;
        Ok(FunnelQuery { from, to })
    }
}

/// A range's funnel: its totals and every day, zero-filled.
#[derive(Clone, Debug, PartialEq)]
pub struct Funnel {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub total: FunnelCounts,
    pub days: Vec<(NaiveDate, FunnelCounts)>,
}

impl Funnel {
    /// converted ÷ sessions, four decimals, half-even; 0 without sessions.
    pub fn conversion_rate(&self) -> Decimal {
        let sessions = self.total.sessions();
        if sessions.is_zero() {
            return Decimal::new(0, 4);
        }
        let mut r = (self.total.converted() / sessions)
            .round_dp_with_strategy(4, RoundingStrategy::MidpointNearestEven);
        r.rescale(4);
        r
    }
}

pub async fn funnel(
    store: &dyn Store,
    tenant: TenantId,
    q: &FunnelQuery,
) -> Result<Funnel, StoreError> {
    let mut found: BTreeMap<NaiveDate, FunnelCounts> = BTreeMap::new();
    let mut query = Query::partition(
        Index::Primary,
        keys::tenant_partition(tenant),
        keys::funnel_range(q.from, q.to),
    )
    .limit(400);
    loop {
        let page = store.query(&query).await?;
        found.extend(page.items.iter().filter_map(FunnelCounts::from_item));
        match page.next {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    let mut total = FunnelCounts::default();
    let days: Vec<(NaiveDate, FunnelCounts)> = q
        .from
        .iter_days()
        .take_while(|d| *d <= q.to)
        .map(|d| {
            let c = found.remove(&d).unwrap_or_default();
            total.add(&c, Decimal::ONE);
            (d, c)
        })
        .collect();
    Ok(Funnel {
        from: q.from,
        to: q.to,
        total,
        days,
    })
}

/// `GET /dashboard/events?[type][&from&to][&limit][&cursor]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsQuery {
    pub kind: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub limit: u32,
    pub cursor: Option<String>,
}

impl EventsQuery {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 250;

    pub fn parse(query: Option<&str>) -> Result<EventsQuery, FieldError> {
        let p = params(query);
        let kind = match p.get("type").filter(|t| !t.is_empty()) {
            None => None,
            Some(t)
                if t.chars().count() <= super::pixel::MAX_NAME_CHARS
                    && !t.chars().any(char::is_control) =>
            {
                Some(t.clone())
            }
            Some(_) => {
                return Err(FieldError::new(
                    "invalid_type",
                    "type must be an event name of at most 64 characters.",
                ));
            }
        };
        let (from, to) = (date(&p, "from")?, date(&p, "to")?);
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(FieldError::new(
                "invalid_range",
                "from must not be after to.",
            ));
        }
        Ok(EventsQuery {
            kind,
            from,
            to,
            limit: limit(&p, Self::DEFAULT_LIMIT, Self::MAX_LIMIT)?,
            cursor: p.get("cursor").filter(|c| !c.is_empty()).cloned(),
        })
    }
}

/// A page of the log, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct EventsPage {
    pub events: Vec<LoggedEvent>,
    pub next_cursor: Option<String>,
}

/// What an events cursor is bound to.
#[derive(Serialize, Deserialize)]
struct EventsCursor {
    t: u64,
    k: Option<String>,
    f: Option<NaiveDate>,
    to: Option<NaiveDate>,
    c: String,
}

pub async fn events(
    store: &dyn Store,
    keys_: &TokenKeys,
    tenant: TenantId,
    zone: ShopZone,
    q: &EventsQuery,
) -> Result<EventsPage, DashboardError> {
    let cursor = match &q.cursor {
        None => None,
        Some(text) => {
            let payload = keys_.open(text).ok_or(DashboardError::InvalidCursor)?;
            let c: EventsCursor =
                serde_json::from_slice(&payload).map_err(|_| DashboardError::InvalidCursor)?;
            if c.t != tenant.get() || c.k != q.kind || c.f != q.from || c.to != q.to {
                return Err(DashboardError::InvalidCursor);
            }
            Some(Cursor::decode(&c.c).map_err(|_| DashboardError::InvalidCursor)?)
        }
    };
    let earliest = q.from.map(|d| zone.start_of(d));
    let latest =
        q.to.and_then(|d| d.succ_opt())
            .map(|d| zone.start_of(d) - chrono::Duration::nanoseconds(1));
    let (index, partition) = match &q.kind {
        None => (Index::Gsi1, keys::event_listing_partition(tenant, None)),
        Some(k) => (Index::Gsi2, keys::event_listing_partition(tenant, Some(k))),
    };
    let page = store
        .query(
            &Query::partition(
                index,
                partition,
                keys::event_listing_range(earliest, latest),
            )
            .backward()
            .limit(q.limit)
            .after(cursor),
        )
        .await
        .map_err(|e| match e {
            StoreError::InvalidCursor => DashboardError::InvalidCursor,
            e => e.into(),
        })?;
    let next_cursor = match page.next {
        None => None,
        Some(c) => {
            let payload = serde_json::to_vec(&EventsCursor {
                t: tenant.get(),
                k: q.kind.clone(),
                f: q.from,
                to: q.to,
                c: c.encode(),
            })
            .map_err(|_| DashboardError::Internal("cursor encoding"))?;
            Some(keys_.seal(&payload))
        }
    };
    Ok(EventsPage {
        events: page
            .items
            .iter()
            .filter_map(LoggedEvent::from_item)
            .collect(),
        next_cursor,
    })
}

/// An event as the API shows it.
pub fn event_json(e: &LoggedEvent) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), Value::String(e.id.clone()));
    o.insert("type".into(), Value::String(e.kind.clone()));
    o.insert(
        "created_at".into(),
        Value::String(e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    o.insert("metadata".into(), Value::Object(e.metadata.clone()));
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(sessions: u32, converted: u32) -> String {
        let mut total = FunnelCounts::default();
        total.0[0] = Decimal::from(sessions);
        total.0[3] = Decimal::from(converted);
        let d = NaiveDate::default();
        Funnel {
            from: d,
            to: d,
            total,
            days: vec![],
        }
        .conversion_rate()
        .to_string()
    }

    #[test]
    fn the_conversion_rate_has_four_decimals_rounded_half_even() {
        assert_eq!(rate(0, 0), "0.0000");
        assert_eq!(rate(32, 1), "0.0312");
        assert_eq!(rate(3, 1), "0.3333");
        assert_eq!(rate(1, 1), "1.0000");
        // 1/16 = 0.0625 exactly; 1/32000 = 0.00003125 → 0.0000 (half-even at the 4th decimal)
        assert_eq!(rate(16, 1), "0.0625");
        assert_eq!(rate(20000, 1), "0.0000");
        assert_eq!(rate(40000, 6), "0.0002");
    }
}
