//! The scheduled sync from Shopify's Admin API: connecting a shop, one sync at a time per shop,
//! incremental reads by `updated_at` with an overlap, watermarks advanced only after the last page,
//! a checkpoint after every page so an interrupted run resumes, and every record applied through
//! the same path as webhooks so both converge on one state.

pub mod bulk;
pub mod connection;
pub mod queue;
pub mod run;
pub mod session;
pub mod state;
pub mod vault;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::deps::Scheduler;
use crate::domain::TenantId;
use crate::shopify::ShopifyError;
use crate::store::items::sync::ConnectionRecord;
use crate::store::keys;
use crate::store::{Index, Query, SortRange, Store, StoreError};
pub use connection::{Connection, connect, disconnect};
pub use queue::{SyncQueue, SyncRequest, Work};
pub use run::{Progress, RunOutcome, local_worker, run};
use state::{End, Phase, SyncState};
pub use state::{LEASE_MINUTES, Status, status};
pub use vault::{TokenVault, VaultError};

/// Re-read this much before the watermark: records updated while the last run was paging.
pub const OVERLAP_MINUTES: i64 = 5;

/// What the sync needs besides the store.
pub struct SyncDeps {
    pub vault: Arc<dyn TokenVault>,
    pub queue: Arc<dyn SyncQueue>,
    /// `SHOPIFY_API_BASE_URL`: replaces `https://{shop}` (tests and local fakes only).
    pub shopify_base_url: Option<String>,
    pub http: reqwest::Client,
    /// Read orders (with their sale parts) through bulk operations: the paged query's cost
    /// budget cannot hold line items and refunds. Off: orders are paged, without sale parts.
    pub bulk_orders: bool,
    /// Between polls of a running bulk operation.
    pub bulk_poll: std::time::Duration,
}

/// Why a sync operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("Shopify refused the access token")]
    Rejected,
    #[error("Shopify could not be reached")]
    Unreachable(#[source] ShopifyError),
    #[error("the shop is not connected")]
    NotConnected,
    #[error("a sync of this shop is already running")]
    Running,
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not queue the sync")]
    Queue(#[from] queue::QueueError),
}

impl From<crate::ingest::lifecycle::LifecycleError> for SyncError {
    fn from(e: crate::ingest::lifecycle::LifecycleError) -> SyncError {
        use crate::ingest::lifecycle::LifecycleError;
        match e {
            LifecycleError::Store(s) => SyncError::Store(s),
            LifecycleError::Vault(v) => SyncError::Vault(v),
        }
    }
}

/// `POST /sync`: queues a sync of the caller's shop; one at a time per shop.
pub async fn request(
    store: &dyn Store,
    now: DateTime<Utc>,
    queue: &dyn SyncQueue,
    tenant: TenantId,
) -> Result<String, SyncError> {
    if connection::connected(store, tenant).await?.is_none() {
        return Err(SyncError::NotConnected);
    }
    let sync_id = SyncState::claim(store, now, tenant).await?;
    if let Err(e) = queue
        .enqueue(&[SyncRequest::sync(tenant, sync_id.clone())])
        .await
    {
        let why = "could not queue the sync".to_owned();
        SyncState::finish(store, now, tenant, End::Failed(why)).await?;
        return Err(e.into());
    }
    Ok(sync_id)
}

/// The scheduler: every connected shop (one Query of the sparse index, never a Scan) that is not
/// already syncing gets a `SyncRequested`. Returns how many were queued.
pub async fn schedule(deps: &Scheduler) -> Result<usize, SyncError> {
    let store = deps.store.as_ref();
    let mut q = Query::partition(Index::Gsi2, keys::CONNECTED_SHOPS, SortRange::All).limit(500);
    let mut requests = Vec::new();
    loop {
        let page = store.query(&q).await?;
        for item in &page.items {
            let Some(tenant) = ConnectionRecord::listed_tenant(item) else {
                continue;
            };
            if SyncState::load(store, tenant).await?.phase() == Phase::NeedsReauth {
                continue;
            }
            match SyncState::claim(store, deps.clock.now(), tenant).await {
                Ok(sync_id) => requests.push(SyncRequest::sync(tenant, sync_id)),
                Err(SyncError::Running) => {}
                Err(e) => return Err(e),
            }
        }
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    // Shop erases that did not finish in their delivery: the job does the rest. Two runs of one
    // erase (a schedule while one is running) only delete the same items twice.
    let erases = crate::ingest::lifecycle::pending_erases(store).await?;
    requests.extend(erases.iter().map(|t| SyncRequest::erase(*t)));
    deps.queue.enqueue(&requests).await?;
    tracing::info!(
        queued = requests.len(),
        erases = erases.len(),
        "sync scheduled"
    );
    Ok(requests.len())
}
