//! Storefront records: checkouts (with their abandonment index entry), sessions, the funnel's day
//! counters, the event log, the tenant's settings and its storefront ingest key.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::{count, keyed, number, text};
use crate::domain::TenantId;
use crate::store::codec;
use crate::store::items::resources::Revision;
use crate::store::keys::{self, Directory, TenantItem};
use crate::store::{Attr, Condition, Item, SK, StoreError, TTL, Update, WriteOp};
use crate::storefront::checkout::{Checkout, CheckoutCounts};

const CHECKOUT: &str = "checkout";
const DUE: &str = "due";

/// A checkout item: the merged [`Checkout`] (one map attribute), and, while the job may abandon
/// it, its entry in the abandonment index (gsi2, by due time).
pub struct CheckoutItem;

impl CheckoutItem {
    /// The checkout an item holds, with the revision its next write is conditioned on.
    pub fn read(item: Option<&Item>, token: &str) -> Result<(Revision, Checkout), StoreError> {
        let revision = Revision::of(item);
        let checkout = match item.and_then(|i| i.get(CHECKOUT)) {
            Some(Attr::M(m)) => codec::from_item(m)?,
            _ => Checkout::new(token),
        };
        Ok((revision, checkout))
    }

    /// The write of `checkout` over exactly the revision read, listed for the job at `due`.
    pub fn write(
        tenant: TenantId,
        revision: &Revision,
        checkout: &Checkout,
        due: Option<DateTime<Utc>>,
    ) -> Result<WriteOp, StoreError> {
        let mut item = keyed(&TenantItem::Checkout(checkout.token.clone()).key(tenant));
        item.insert(CHECKOUT.into(), Attr::M(codec::to_item(checkout)?));
        if let Some(due) = due {
            let (pk, sk) = keys::abandon_due(due, tenant, &checkout.token);
            item.insert(
                DUE.into(),
                Attr::from(due.to_rfc3339_opts(SecondsFormat::Nanos, true)),
            );
            item.insert("gsi2pk".into(), Attr::S(pk));
            item.insert("gsi2sk".into(), Attr::S(sk));
        }
        Ok(revision.put(item))
    }
}

impl CheckoutItem {
    /// The tenant and token an abandonment index entry names.
    pub fn listed(entry: &Item) -> Option<(TenantId, String)> {
        entry
            .get("gsi2sk")
            .and_then(Attr::as_s)
            .and_then(keys::parse_abandon_due)
    }
}

/// The abandonment job's progress: the first UTC hour it has not finished.
pub struct AbandonJobState;

impl AbandonJobState {
    pub fn next_hour(item: Option<&Item>) -> Option<DateTime<Utc>> {
        let t = text(item?, "next_hour")?;
        Some(DateTime::parse_from_rfc3339(&t).ok()?.with_timezone(&Utc))
    }

    pub fn advance(to: DateTime<Utc>) -> WriteOp {
        let mut item = keyed(&keys::abandon_job_state());
        item.insert("next_hour".into(), Attr::from(to.to_rfc3339()));
        WriteOp::Put {
            item,
            condition: None,
        }
    }
}

/// A storefront session (one `clientId` on one shop-local date): what it reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Session {
    pub cart: bool,
    pub checkout: bool,
    pub converted: bool,
}

/// Sessions are kept this long after their date (late events for the date still dedupe).
pub const SESSION_TTL_DAYS: i64 = 35;

impl Session {
    pub fn read(item: Option<&Item>) -> (Revision, Option<Session>) {
        let revision = Revision::of(item);
        let session = item.map(|i| Session {
            cart: super::flag(i, "cart"),
            checkout: super::flag(i, "checkout"),
            converted: super::flag(i, "converted"),
        });
        (revision, session)
    }

    pub fn write(
        &self,
        tenant: TenantId,
        date: NaiveDate,
        client: &str,
        revision: &Revision,
    ) -> WriteOp {
        let mut item = keyed(
            &TenantItem::Session {
                date,
                client: client.to_owned(),
            }
            .key(tenant),
        );
        item.insert("cart".into(), Attr::Bool(self.cart));
        item.insert("checkout".into(), Attr::Bool(self.checkout));
        item.insert("converted".into(), Attr::Bool(self.converted));
        // TTL: a session is only read to count its date's events once; a month past the date no
        // event for it arrives any more.
        let expires = date
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc().timestamp() + SESSION_TTL_DAYS * 86_400)
            .unwrap_or_default();
        item.insert(TTL.into(), Attr::from(expires));
        revision.put(item)
    }
}

const FUNNEL_COUNTS: [&str; 10] = [
    "sessions",
    "sessions_with_cart",
    "sessions_with_checkout",
    "sessions_converted",
    "checkouts_started",
    "checkouts_completed",
    "checkouts_abandoned",
    "abandoned_value",
    "checkouts_recovered",
    "recovered_value",
];

/// One day's funnel counters, in the order of [`FUNNEL_COUNTS`] (the contract's field names).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunnelCounts(pub [Decimal; 10]);

impl FunnelCounts {
    pub const NAMES: [&'static str; 10] = FUNNEL_COUNTS;

    pub fn sessions(&self) -> Decimal {
        self.0[0]
    }

    pub fn converted(&self) -> Decimal {
        self.0[3]
    }

    /// A session's contribution.
    pub fn of_session(s: Option<&Session>) -> FunnelCounts {
        let mut c = FunnelCounts::default();
        if let Some(s) = s {
            c.0[0] = Decimal::ONE;
            c.0[1] = Decimal::from(u8::from(s.cart));
            c.0[2] = Decimal::from(u8::from(s.checkout));
            c.0[3] = Decimal::from(u8::from(s.converted));
        }
        c
    }

    /// A checkout's contribution to its day.
    pub fn of_checkout(c: &CheckoutCounts) -> FunnelCounts {
        let mut f = FunnelCounts::default();
        f.0[4] = Decimal::ONE;
        f.0[5] = Decimal::from(u8::from(c.completed));
        if let Some(v) = c.abandoned {
            f.0[6] = Decimal::ONE;
            f.0[7] = v;
        }
        if let Some(v) = c.recovered {
            f.0[8] = Decimal::ONE;
            f.0[9] = v;
        }
        f
    }

    pub fn add(&mut self, other: &FunnelCounts, sign: Decimal) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += sign * *b;
        }
    }

    pub fn is_zero(&self) -> bool {
        self.0.iter().all(Decimal::is_zero)
    }

    /// The counters a funnel day item holds, with its date; `None` for another item.
    pub fn from_item(item: &Item) -> Option<(NaiveDate, FunnelCounts)> {
        let Some(TenantItem::FunnelDay(date)) =
            text(item, SK).as_deref().and_then(TenantItem::parse)
        else {
            return None;
        };
        let mut c = FunnelCounts::default();
        for (slot, name) in c.0.iter_mut().zip(FUNNEL_COUNTS) {
            *slot = if name.ends_with("_value") {
                number(item, name)
            } else {
                Decimal::from(count(item, name))
            };
        }
        Some((date, c))
    }

    /// The write adding these counters to `date`'s funnel day; `None` when they add nothing.
    pub fn into_op(self, tenant: TenantId, date: NaiveDate) -> Option<WriteOp> {
        if self.is_zero() {
            return None;
        }
        let mut update = Update::default().set("date", date.format("%Y-%m-%d").to_string());
        for (v, name) in self.0.iter().zip(FUNNEL_COUNTS) {
            if !v.is_zero() {
                update = update.add(name, *v);
            }
        }
        // Commutative adds: no condition, never a conflict to resolve.
        Some(WriteOp::Update {
            key: TenantItem::FunnelDay(date).key(tenant),
            update,
            condition: None,
        })
    }
}

/// One entry of the event log.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedEvent {
    pub id: String,
    pub kind: String,
    pub at: DateTime<Utc>,
    pub metadata: Map<String, Value>,
}

/// Log entries are kept this long (DynamoDB TTL; the funnel's counters stay).
pub const EVENT_LOG_TTL_DAYS: i64 = 400;

impl LoggedEvent {
    /// The write logging it, only if this id was never logged (`attribute_not_exists`): that
    /// condition is how a redelivered event is told a duplicate.
    pub fn record(&self, tenant: TenantId) -> WriteOp {
        let mut item = keyed(&TenantItem::LoggedEvent(self.id.clone()).key(tenant));
        item.insert("id".into(), Attr::from(self.id.as_str()));
        item.insert("type".into(), Attr::from(self.kind.as_str()));
        item.insert(
            "created_at".into(),
            Attr::from(self.at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        item.insert(
            "metadata".into(),
            Attr::from(Value::Object(self.metadata.clone()).to_string()),
        );
        let [(g1pk, g1sk), (g2pk, g2sk)] =
            keys::event_listing(tenant, &self.kind, self.at, &self.id);
        item.insert("gsi1pk".into(), Attr::S(g1pk));
        item.insert("gsi1sk".into(), Attr::S(g1sk));
        item.insert("gsi2pk".into(), Attr::S(g2pk));
        item.insert("gsi2sk".into(), Attr::S(g2sk));
        // TTL: the log is kept 400 days, past a year-over-year comparison.
        item.insert(
            TTL.into(),
            Attr::from(self.at.timestamp() + EVENT_LOG_TTL_DAYS * 86_400),
        );
        WriteOp::Put {
            item,
            condition: Some(Condition::NotExists),
        }
    }

    pub fn from_item(item: &Item) -> Option<LoggedEvent> {
        let metadata = match serde_json::from_str(&text(item, "metadata")?).ok()? {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Some(LoggedEvent {
            id: text(item, "id")?,
            kind: text(item, "type")?,
            at: DateTime::parse_from_rfc3339(&text(item, "created_at")?)
                .ok()?
                .with_timezone(&Utc),
            metadata,
        })
    }
}

/// The tenant's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub abandon_after_minutes: u32,
}

impl Settings {
    pub const DEFAULT_ABANDON_AFTER: u32 = 60;
    pub const MAX_ABANDON_AFTER: u32 = 10_080;

    pub fn from_item(item: Option<&Item>) -> Settings {
        let minutes = item
            .map(|i| count(i, "abandon_after_minutes"))
            .and_then(|m| u32::try_from(m).ok())
            .filter(|m| (1..=Self::MAX_ABANDON_AFTER).contains(m))
            .unwrap_or(Self::DEFAULT_ABANDON_AFTER);
        Settings {
            abandon_after_minutes: minutes,
        }
    }

    pub fn abandon_after(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.abandon_after_minutes))
    }

    pub fn write(&self, tenant: TenantId) -> WriteOp {
        WriteOp::Update {
            key: TenantItem::Settings.key(tenant),
            update: Update::default().set(
                "abandon_after_minutes",
                Decimal::from(self.abandon_after_minutes),
            ),
            condition: None,
        }
    }
}

/// The tenant's storefront ingest key: public (it ships in the storefront's pixel), so kept as
/// given; its directory entry (by SHA-256) is what authenticates `POST /events`.
pub struct IngestKeyRecord;

impl IngestKeyRecord {
    pub fn read(item: Option<&Item>) -> (Revision, Option<String>) {
        (Revision::of(item), item.and_then(|i| text(i, "key")))
    }

    /// Replaces `old` (as read, with its revision) by `new`: the tenant's item, the new key's
    /// directory entry, and the old one's removal, in one batch.
    pub fn replace(
        tenant: TenantId,
        revision: &Revision,
        old: Option<&str>,
        new: &str,
    ) -> Vec<WriteOp> {
        let mut item = keyed(&TenantItem::IngestKey.key(tenant));
        item.insert("key".into(), Attr::from(new));
        let mut ops = vec![revision.put(item)];
        let entry = super::tenant::DirectoryEntry::of(tenant);
        ops.push(entry.replace(&Directory::IngestKey(crate::auth::api_key::hash(new)), None));
        if let Some(old) = old {
            ops.push(WriteOp::Delete {
                key: Directory::IngestKey(crate::auth::api_key::hash(old)).key(),
                condition: None,
            });
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::items::applied;

    #[test]
    fn funnel_counters_added_to_nothing_read_back_as_added() {
        let t = TenantId::new(3);
        let date = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default();
        let mut c = FunnelCounts::default();
        for (i, v) in c.0.iter_mut().enumerate() {
            *v = Decimal::from(i as u32 + 1);
        }
        c.0[7] = Decimal::new(1234, 2);
        let item = applied(
            c.clone()
                .into_op(t, date)
                .unwrap_or_else(|| panic!("an op")),
            None,
        );
        let mut item = item;
        item.insert(SK.into(), Attr::S(TenantItem::FunnelDay(date).sort_key()));
        assert_eq!(FunnelCounts::from_item(&item), Some((date, c)));
        assert!(FunnelCounts::default().into_op(t, date).is_none());
    }
}
