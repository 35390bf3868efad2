//! Storefront events and checkout changes applied with exactly-once effects, the way orders are:
//! each write batch logs the events it applies (a redelivered event id fails its
//! `attribute_not_exists` and is told a duplicate), writes sessions and checkouts over exactly the
//! revisions read, and adds "new − old" of each to the funnel's day counters.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::checkout::Checkout;
use super::pixel::{PixelEvent, Step};
use super::zone::ShopZone;
use crate::domain::TenantId;
use crate::store::items::resources::Revision;
use crate::store::items::storefront::{CheckoutItem, FunnelCounts, LoggedEvent, Session, Settings};
use crate::store::keys::TenantItem;
use crate::store::{Store, StoreError, WriteOp};

/// Events applied in one atomic batch: each brings at most a log entry, a session and a checkout,
/// so a batch stays well under the store's 100 writes.
pub const EVENTS_PER_BATCH: usize = 20;
const MAX_ATTEMPTS: u32 = 12;

/// What a request's events came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestCounts {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

/// Funnel deltas by day.
pub(crate) type FunnelDeltas = BTreeMap<NaiveDate, FunnelCounts>;

/// Moves a checkout's funnel contribution from `old` to `new`.
pub(crate) fn shift_checkout(funnel: &mut FunnelDeltas, old: &Checkout, new: &Checkout) {
    if let Some(c) = old.contribution() {
        funnel
            .entry(c.date)
            .or_default()
            .add(&FunnelCounts::of_checkout(&c), Decimal::NEGATIVE_ONE);
    }
    if let Some(c) = new.contribution() {
        funnel
            .entry(c.date)
            .or_default()
            .add(&FunnelCounts::of_checkout(&c), Decimal::ONE);
    }
}

/// The writes of a checkout changed from `old` to `new` (as read at `revision`): the checkout,
/// listed for the abandonment job while it may be abandoned, and a `checkout_recovered` log entry
/// when this change completed an abandoned checkout. Adds its funnel deltas to `funnel`.
pub(crate) fn checkout_writes(
    tenant: TenantId,
    now: DateTime<Utc>,
    revision: &Revision,
    old: &Checkout,
    new: &Checkout,
    settings: &Settings,
    funnel: &mut FunnelDeltas,
) -> Result<Vec<WriteOp>, StoreError> {
    shift_checkout(funnel, old, new);
    // Listed no earlier than now: the job has finished the hours before this one, and a checkout
    // that arrives already overdue is abandoned by its next run.
    let due = new.due(settings.abandon_after()).map(|d| d.max(now));
    let mut ops = vec![CheckoutItem::write(tenant, revision, new, due)?];
    if new.recovered() && !old.recovered() {
        let mut metadata = Map::new();
        metadata.insert("checkout_token".into(), Value::String(new.token.clone()));
        let value = new
            .contribution()
            .and_then(|c| c.recovered)
            .unwrap_or_default();
        metadata.insert("recovered_value".into(), Value::String(value.to_string()));
        let currency = new
            .order
            .as_ref()
            .and_then(|o| o.currency.clone())
            .or_else(|| new.total().and_then(|(_, c)| c));
        metadata.insert(
            "currency".into(),
            currency.map_or(Value::Null, Value::String),
        );
        ops.push(recorded(
            tenant,
            "checkout_recovered",
            &new.token,
            now,
            metadata,
        ));
    }
    Ok(ops)
}

/// A log entry the service records itself (`checkout_abandoned`, `checkout_recovered`): one per
/// checkout, so rewriting it is harmless and it needs no condition.
pub(crate) fn recorded(
    tenant: TenantId,
    kind: &str,
    token: &str,
    at: DateTime<Utc>,
    metadata: Map<String, Value>,
) -> WriteOp {
    let entry = LoggedEvent {
        id: format!("{kind}:{token}"),
        kind: kind.to_owned(),
        at,
        metadata,
    };
    match entry.record(tenant) {
        WriteOp::Put { item, .. } => WriteOp::Put {
            item,
            condition: None,
        },
        other => other,
    }
}

/// The funnel deltas as writes.
pub(crate) fn funnel_ops(tenant: TenantId, funnel: FunnelDeltas) -> Vec<WriteOp> {
    funnel
        .into_iter()
        .filter_map(|(date, counts)| counts.into_op(tenant, date))
        .collect()
}

/// Applies a request's parsed events (`None`: rejected) for `tenant`.
pub async fn ingest_events(
    store: &dyn Store,
    now: DateTime<Utc>,
    tenant: TenantId,
    zone: ShopZone,
    settings: &Settings,
    events: Vec<Option<PixelEvent>>,
) -> Result<IngestCounts, StoreError> {
    let mut counts = IngestCounts::default();
    let mut parsed = Vec::with_capacity(events.len());
    for e in events {
        match e {
            Some(e) => parsed.push(e),
            None => counts.rejected += 1,
        }
    }
    // The same id twice in one request: the second is a duplicate.
    let mut seen = std::collections::HashSet::new();
    let mut unique = Vec::with_capacity(parsed.len());
    for e in parsed {
        if seen.insert(e.id.clone()) {
            unique.push(e);
        } else {
            counts.duplicates += 1;
        }
    }
    for chunk in unique.chunks(EVENTS_PER_BATCH) {
        let (applied, duplicates) = apply_chunk(store, now, tenant, zone, settings, chunk).await?;
        counts.accepted += applied;
        counts.duplicates += duplicates;
    }
    Ok(counts)
}

/// One atomic batch of events; answers (applied, duplicates).
async fn apply_chunk(
    store: &dyn Store,
    now: DateTime<Utc>,
    tenant: TenantId,
    zone: ShopZone,
    settings: &Settings,
    events: &[PixelEvent],
) -> Result<(u64, u64), StoreError> {
    let mut duplicate = vec![false; events.len()];
    let mut attempt = 0;
    loop {
        attempt += 1;
        let live: Vec<(usize, &PixelEvent)> = events
            .iter()
            .enumerate()
            .filter(|(i, _)| !duplicate[*i])
            .collect();
        if live.is_empty() {
            return Ok((0, events.len() as u64));
        }
        let mut ops: Vec<WriteOp> = live
            .iter()
            .map(|(_, e)| {
                LoggedEvent {
                    id: e.id.clone(),
                    kind: e.name.clone(),
                    at: e.at,
                    metadata: e.metadata.clone(),
                }
                .record(tenant)
            })
            .collect();
        let logged = ops.len();
        let mut funnel = FunnelDeltas::new();
        // Sessions: what the chunk's events add to each.
        let mut sessions: BTreeMap<(NaiveDate, String), Session> = BTreeMap::new();
        for (_, e) in &live {
            let s = sessions
                .entry((zone.date_of(e.at), e.client.clone()))
                .or_default();
            s.cart |= e.step == Step::AddedToCart;
            s.checkout |= e.step == Step::CheckoutStarted;
            s.converted |= e.step == Step::CheckoutCompleted;
        }
        for ((date, client), seen) in sessions {
            let key = TenantItem::Session {
                date,
                client: client.clone(),
            };
            let (revision, old) = Session::read(store.get(&key.key(tenant)).await?.as_ref());
            let held = old.unwrap_or_default();
            let new = Session {
                cart: held.cart || seen.cart,
                checkout: held.checkout || seen.checkout,
                converted: held.converted || seen.converted,
            };
            if old != Some(new) {
                let day = funnel.entry(date).or_default();
                day.add(
                    &FunnelCounts::of_session(old.as_ref()),
                    Decimal::NEGATIVE_ONE,
                );
                day.add(&FunnelCounts::of_session(Some(&new)), Decimal::ONE);
                ops.push(new.write(tenant, date, &client, &revision));
            }
        }
        // Checkouts the events saw.
        let mut sightings: BTreeMap<&str, Vec<&PixelEvent>> = BTreeMap::new();
        for (_, e) in &live {
            if let Some(c) = &e.checkout {
                sightings.entry(c.token.as_str()).or_default().push(e);
            }
        }
        for (token, seen) in sightings {
            let item = store
                .get(&TenantItem::Checkout(token.to_owned()).key(tenant))
                .await?;
            let (revision, old) = CheckoutItem::read(item.as_ref(), token)?;
            let mut new = old.clone();
            for e in seen {
                let Some(c) = &e.checkout else { continue };
                new.apply_sighting(&super::checkout::CheckoutSighting {
                    token: c.token.clone(),
                    at: e.at,
                    offset: zone.offset_at(e.at),
                    contact: c.contact || e.step == Step::ContactGiven,
                    completed: e.step == Step::CheckoutCompleted,
                    total: c.total,
                    currency: c.currency.clone(),
                });
            }
            if new != old {
                ops.extend(checkout_writes(
                    tenant,
                    now,
                    &revision,
                    &old,
                    &new,
                    settings,
                    &mut funnel,
                )?);
            }
        }
        ops.extend(funnel_ops(tenant, funnel));
        match store.write(ops).await {
            Ok(()) => {
                let applied = live.len() as u64;
                return Ok((applied, events.len() as u64 - applied));
            }
            // An event logged before: a duplicate. Drop it and recompute without it.
            Err(StoreError::ConditionFailed { index }) if index < logged => {
                duplicate[live[index].0] = true;
            }
            Err(e @ (StoreError::ConditionFailed { .. } | StoreError::Throttled { .. }))
                if attempt < MAX_ATTEMPTS =>
            {
                tracing::debug!(error = %e, attempt, "storefront events retry");
                tokio::time::sleep(Duration::from_millis((1u64 << attempt.min(6)) + 1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
