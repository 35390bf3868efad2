//! The one-time ledger backfill: orders stored before the sales ledger existed get what they add
//! to it (their customer orders, first orders, and sale parts when they have them) added once.
//!
//! Tenants come from a Scan of the tenant profiles (this job's only Scan; it runs once, off every
//! request's path); each tenant's orders are read partition page by partition page, and each
//! order not yet in the ledger goes through the same exactly-once apply as a delivery
//! ([`Change::LedgerOrder`]): its write is conditioned on the order's revision and sets its
//! ledger mark, so an order is never counted twice however often the job is run or interrupted.
//! Progress (the tenant, its next page, where the scan resumes) is kept in one item after every
//! page, so a run that runs out of time resumes where it stopped.
//!
//! Orders stored before the ledger carry no line items or refunds: for a connected shop the job
//! finally clears the orders watermark, so the next sync reads every order again, through a bulk
//! operation, with its sale parts.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{Change, apply};
use crate::domain::TenantId;
use crate::shopify::records::Kind;
use crate::store::items::resources::OrderRecord;
use crate::store::items::sales::LedgerJobState;
use crate::store::items::sync::StateWrite;
use crate::store::keys::{self, TenantItem};
use crate::store::{Index, Query, Store, StoreError};

/// What a run did, and whether the backfill is finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Tenants finished by this run.
    pub tenants: u64,
    /// Orders added to the ledger by this run.
    pub orders: u64,
    /// Every tenant is done (now or by an earlier run).
    pub finished: bool,
    /// Pages read and tenants picked.
    pub steps: u64,
}

/// Orders read per page.
const PAGE: u32 = 100;

/// Backfills until done or `budget` is spent; `progress` hears of every page.
pub async fn run(
    store: &dyn Store,
    now: impl Fn() -> DateTime<Utc>,
    budget: Duration,
    progress: &(dyn Fn(&Report) + Sync),
) -> Result<Report, StoreError> {
    let started = Instant::now();
    let mut state = LedgerJobState::from_item(store.get(&keys::ledger_job_state()).await?.as_ref());
    let mut report = Report::default();
    loop {
        if state.done {
            report.finished = true;
            return Ok(report);
        }
        // At least one step a run, however short its budget.
        if started.elapsed() > budget && report.steps > 0 {
            return Ok(report);
        }
        report.steps += 1;
        let Some(tenant) = state.tenant else {
            // The next tenant: one profile from the scan.
            let (profiles, _) = store
                .scan_sort_key("PROFILE", state.scan_after.as_ref(), 1)
                .await?;
            match profiles.first().and_then(crate::store::Key::of) {
                Some(key) => {
                    state.tenant = keys::parse_tenant_partition(&key.pk);
                    state.scan_after = Some(key);
                    state.cursor = None;
                }
                None => state.done = true,
            }
            store.write(vec![state.write()]).await?;
            continue;
        };
        let page = store
            .query(
                &Query::partition(
                    Index::Primary,
                    keys::tenant_partition(tenant),
                    keys::all_orders(),
                )
                .limit(PAGE)
                .after(state.cursor.clone()),
            )
            .await?;
        for item in &page.items {
            let Some(order) = OrderRecord::from_item(item).filter(|o| !o.ledgered) else {
                continue;
            };
            let change = Change::LedgerOrder { id: order.id };
            if apply(store, now(), tenant, None, &change).await? == super::Outcome::Applied {
                report.orders += 1;
                state.orders += 1;
            }
        }
        match page.next {
            Some(next) => state.cursor = Some(next),
            None => {
                finish_tenant(store, tenant).await?;
                report.tenants += 1;
                state.tenants += 1;
                state.tenant = None;
                state.cursor = None;
            }
        }
        store.write(vec![state.write()]).await?;
        progress(&report);
    }
}

/// A connected shop's orders are read again by its next sync, with their sale parts.
async fn finish_tenant(store: &dyn Store, tenant: TenantId) -> Result<(), StoreError> {
    if store
        .get(&TenantItem::SyncState.key(tenant))
        .await?
        .is_some()
    {
        store
            .write(vec![StateWrite::ResetWatermark(Kind::Orders).op(tenant)])
            .await?;
    }
    Ok(())
}
