//! The abandonment job: checkouts with contact details not completed `abandon_after` minutes after
//! their last update are abandoned, once each: a `checkout_abandoned` log entry and the funnel's
//! abandoned count and value on the checkout's creation day.
//!
//! Due checkouts are found with a Query per UTC hour of the abandonment index (a sparse gsi2 over
//! the checkout items, by due time), from the first hour not yet finished (kept in a job state
//! item) to now; never a Scan. Each abandonment is one batch conditioned on the revision read, so
//! two runs at once, or a run repeated, abandon a checkout once; a checkout completed meanwhile
//! fails the condition and is re-read.

use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use serde_json::{Map, Value};

use super::apply::{FunnelDeltas, funnel_ops, recorded, shift_checkout};
use super::checkout::Abandonment;
use crate::domain::TenantId;
use crate::store::items::storefront::{AbandonJobState, CheckoutItem, Settings};
use crate::store::keys::{self, TenantItem};
use crate::store::{Index, Query, Store, StoreError};

/// An hour is finished only this long after it ended (writes in flight when it ended have landed).
const GRACE: Span = Span::minutes(5);
/// On its first run the job looks back this far (the longest abandon-after and a day).
const FIRST_LOOKBACK: Span = Span::days(8);
const MAX_ATTEMPTS: u32 = 8;

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Checkouts abandoned by this run.
    pub abandoned: u64,
    /// Index entries that were not due any more (completed, or a longer setting) and were moved
    /// or dropped.
    pub rescheduled: u64,
    /// Hours queried.
    pub hours: u64,
    /// Stopped at the deadline with work left (the next run goes on).
    pub unfinished: bool,
}

fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Span::hours(1)).unwrap_or(t)
}

async fn watermark(store: &dyn Store, now: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
    let item = store.get(&keys::abandon_job_state()).await?;
    Ok(AbandonJobState::next_hour(item.as_ref()).unwrap_or_else(|| hour_of(now - FIRST_LOOKBACK)))
}

/// Runs until every due checkout is handled or `budget` is spent.
pub async fn run(
    store: &dyn Store,
    now: DateTime<Utc>,
    budget: Duration,
) -> Result<Report, StoreError> {
    let started = Instant::now();
    let mut report = Report::default();
    let mut hour = watermark(store, now).await?;
    let last = hour_of(now);
    while hour <= last {
        report.hours += 1;
        let mut cursor = None;
        loop {
            if started.elapsed() > budget {
                report.unfinished = true;
                return Ok(report);
            }
            let page = store
                .query(
                    &Query::partition(
                        Index::Gsi2,
                        keys::abandon_due_partition(hour),
                        keys::abandon_due_until(now),
                    )
                    .limit(100)
                    .after(cursor),
                )
                .await?;
            for entry in &page.items {
                let Some((tenant, token)) = CheckoutItem::listed(entry) else {
                    continue;
                };
                match settle(store, now, tenant, &token).await? {
                    Settled::Abandoned => report.abandoned += 1,
                    Settled::Rescheduled => report.rescheduled += 1,
                    Settled::Nothing => {}
                }
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        // Finished this hour; it stays finished once it is over (and its grace passed).
        if hour + Span::hours(1) + GRACE <= now {
            // Overlapping runs may both advance it; each only past hours it finished itself.
            store
                .write(vec![AbandonJobState::advance(hour + Span::hours(1))])
                .await?;
        }
        hour += Span::hours(1);
    }
    Ok(report)
}

enum Settled {
    Abandoned,
    Rescheduled,
    Nothing,
}

/// Abandons one listed checkout if it is due under the tenant's current setting; otherwise moves
/// its index entry to when it will be (or drops it).
async fn settle(
    store: &dyn Store,
    now: DateTime<Utc>,
    tenant: TenantId,
    token: &str,
) -> Result<Settled, StoreError> {
    let settings =
        Settings::from_item(store.get(&TenantItem::Settings.key(tenant)).await?.as_ref());
    for attempt in 1..=MAX_ATTEMPTS {
        let item = store
            .get(&TenantItem::Checkout(token.to_owned()).key(tenant))
            .await?;
        if item.is_none() {
            return Ok(Settled::Nothing);
        }
        let (revision, old) = CheckoutItem::read(item.as_ref(), token)?;
        let due = old.due(settings.abandon_after());
        let (ops, outcome) = match due {
            Some(due) if due <= now => {
                let mut new = old.clone();
                let (value, currency) = old.total().unwrap_or_default();
                new.abandoned = Some(Abandonment {
                    at: now,
                    value,
                    currency: currency.clone(),
                });
                let mut funnel = FunnelDeltas::new();
                shift_checkout(&mut funnel, &old, &new);
                let mut metadata = Map::new();
                metadata.insert("checkout_token".into(), Value::String(token.to_owned()));
                metadata.insert("total_price".into(), Value::String(value.to_string()));
                metadata.insert(
                    "currency".into(),
                    currency.map_or(Value::Null, Value::String),
                );
                metadata.insert(
                    "recovery_url".into(),
                    old.recovery_url()
                        .map_or(Value::Null, |u| Value::String(u.to_owned())),
                );
                metadata.insert(
                    "last_updated_at".into(),
                    old.last_update()
                        .map_or(Value::Null, |t| Value::String(t.to_rfc3339())),
                );
                let mut ops = vec![CheckoutItem::write(tenant, &revision, &new, None)?];
                ops.push(recorded(tenant, "checkout_abandoned", token, now, metadata));
                ops.extend(funnel_ops(tenant, funnel));
                (ops, Settled::Abandoned)
            }
            // Not due yet (a longer setting since it was listed), or not abandonable any more.
            later => (
                vec![CheckoutItem::write(tenant, &revision, &old, later)?],
                Settled::Rescheduled,
            ),
        };
        match store.write(ops).await {
            Ok(()) => return Ok(outcome),
            Err(e @ (StoreError::ConditionFailed { .. } | StoreError::Throttled { .. }))
                if attempt < MAX_ATTEMPTS =>
            {
                tracing::debug!(error = %e, attempt, "abandonment retry");
                tokio::time::sleep(Duration::from_millis(1 << attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Settled::Nothing)
}
