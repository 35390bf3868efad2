//! The scheduled sync from Shopify's Admin API: connecting a shop, one sync at a time per shop,
//! incremental reads by `updated_at` with an overlap, watermarks advanced only after the last page,
//! a checkpoint after every page so an interrupted run resumes, and every record applied through
//! the same path as webhooks so both converge on one state.

pub mod bulk;
pub mod queue;
pub mod vault;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use secrecy::SecretString;

use crate::deps::{Scheduler, ShopifyApi, SyncRunner};
use crate::domain::{ShopDomain, TenantId};
use crate::ingest::apply;
use crate::shopify::records::{self, Kind};
use crate::shopify::{ShopifyError, shop_info};
use crate::store::keys::{self, TenantItem};
use crate::store::{
    Attr, Cmp, Condition, Index, Item, PK, Query, SK, SortRange, Store, StoreError, Update, WriteOp,
};
pub use queue::{SyncQueue, SyncRequest};
pub use vault::{TokenVault, VaultError};

/// Re-read this much before the watermark: records updated while the last run was paging.
pub const OVERLAP_MINUTES: i64 = 5;
/// A run's claim on the shop; a run that dies frees it after this long.
pub const LEASE_MINUTES: i64 = 20;

/// What the sync needs besides the store.
pub struct SyncDeps {
    pub vault: Arc<dyn TokenVault>,
    pub queue: Arc<dyn SyncQueue>,
    /// `SHOPIFY_API_BASE_URL`: replaces `https://{shop}` (tests and local fakes only).
    pub shopify_base_url: Option<String>,
    pub http: reqwest::Client,
    /// Import orders through a bulk operation on a shop's first sync.
    pub bulk_first_sync: bool,
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

/// A connected shop, as `PUT /tenants/me/shopify` answers it.
#[derive(Clone, Debug)]
pub struct Connection {
    pub shop_domain: String,
    pub scopes: Vec<String>,
}

fn text(i: &Item, k: &str) -> Option<String> {
    i.get(k).and_then(Attr::as_s).map(str::to_owned)
}

/// Checks the token against the shop's Admin API, keeps it in the vault and lists the shop for the
/// scheduler.
pub async fn connect(
    store: &dyn Store,
    now: DateTime<Utc>,
    vault: &dyn TokenVault,
    shopify: &ShopifyApi,
    tenant: TenantId,
    token: SecretString,
) -> Result<Connection, SyncError> {
    let profile = crate::auth::load_tenant(store, tenant)
        .await
        .map_err(|_| SyncError::NotConnected)?
        .ok_or(SyncError::NotConnected)?;
    let shop = ShopDomain::parse(&profile.shop_domain).map_err(|_| SyncError::NotConnected)?;
    let client = shopify.client(&shop, token.clone());
    let info = match shop_info(&client).await {
        Ok(i) => i,
        Err(ShopifyError::Unauthorized { .. }) => return Err(SyncError::Rejected),
        Err(e) => return Err(SyncError::Unreachable(e)),
    };
    vault.put(tenant, &token).await?;
    let key = TenantItem::Connection.key(tenant);
    let mut item = Item::from([
        (PK.to_owned(), Attr::S(key.pk)),
        (SK.to_owned(), Attr::S(key.sk)),
        ("shop_domain".to_owned(), Attr::from(shop.as_str())),
        ("connected".to_owned(), Attr::Bool(true)),
        ("connected_at".to_owned(), Attr::from(now.to_rfc3339())),
        (
            "scopes".to_owned(),
            Attr::L(info.scopes.iter().map(|s| Attr::from(s.as_str())).collect()),
        ),
        // Listed for the scheduler while connected (sparse gsi2 partition).
        ("gsi2pk".to_owned(), Attr::from(keys::CONNECTED_SHOPS)),
        ("gsi2sk".to_owned(), Attr::S(tenant.to_string())),
    ]);
    if let Some(z) = &info.iana_timezone {
        item.insert("iana_timezone".into(), Attr::from(z.as_str()));
    }
    if let Some(c) = &info.currency {
        item.insert("currency".into(), Attr::from(c.as_str()));
    }
    store
        .write(vec![WriteOp::Put {
            item,
            condition: None,
        }])
        .await?;
    // A reconnect after `needs_reauth` makes the shop syncable again.
    let state = TenantItem::SyncState.key(tenant);
    let _ = store
        .write(vec![WriteOp::Update {
            key: state,
            update: Update::default().set("state", "idle").remove("error"),
            condition: Some(Condition::compare("state", Cmp::Eq, "needs_reauth")),
        }])
        .await;
    tracing::info!(%tenant, "shop connected");
    Ok(Connection {
        shop_domain: shop.as_str().to_owned(),
        scopes: info.scopes,
    })
}

/// Destroys the token and unlists the shop; its data stays.
pub async fn disconnect(
    store: &dyn Store,
    now: DateTime<Utc>,
    vault: &dyn TokenVault,
    tenant: TenantId,
) -> Result<(), SyncError> {
    vault.delete(tenant).await?;
    store
        .write(vec![WriteOp::Update {
            key: TenantItem::Connection.key(tenant),
            update: Update::default()
                .set("connected", false)
                .set("disconnected_at", now.to_rfc3339())
                .remove("gsi2pk")
                .remove("gsi2sk"),
            condition: None,
        }])
        .await?;
    tracing::info!(%tenant, "shop disconnected");
    Ok(())
}

/// The sync's state, as `GET /sync/status` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub state: String,
    pub last_started_at: Option<String>,
    pub last_finished_at: Option<String>,
    pub watermarks: [(Kind, Option<String>); 3],
    pub counts: [(Kind, u64); 3],
    pub error: Option<String>,
}

fn wm_attr(k: Kind) -> String {
    format!("wm_{}", k.as_str())
}

fn count_attr(k: Kind) -> String {
    format!("count_{}", k.as_str())
}

pub async fn status(store: &dyn Store, tenant: TenantId) -> Result<Status, SyncError> {
    let item = store
        .get(&TenantItem::SyncState.key(tenant))
        .await?
        .unwrap_or_default();
    let kinds = [Kind::Customers, Kind::Orders, Kind::Products];
    Ok(Status {
        state: text(&item, "state").unwrap_or_else(|| "idle".into()),
        last_started_at: text(&item, "last_started_at"),
        last_finished_at: text(&item, "last_finished_at"),
        watermarks: kinds.map(|k| (k, text(&item, &wm_attr(k)))),
        counts: kinds.map(|k| {
            let n = item
                .get(&count_attr(k))
                .and_then(Attr::as_n)
                .unwrap_or_default();
            (k, u64::try_from(n).unwrap_or(0))
        }),
        error: text(&item, "error"),
    })
}

fn new_sync_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    format!(
        "sync_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// Claims the shop for a new run: only when no run holds an unexpired lease.
async fn claim(
    store: &dyn Store,
    now: DateTime<Utc>,
    tenant: TenantId,
) -> Result<String, SyncError> {
    let sync_id = new_sync_id();
    let update = Update::default()
        .set("state", "running")
        .set("sync_id", sync_id.as_str())
        .set("last_started_at", now.to_rfc3339())
        .set("lease_until", now.timestamp() + LEASE_MINUTES * 60)
        .remove("error");
    // Free unless running under a live lease.
    let free = Condition::Or(vec![
        Condition::AttrNotExists("state".into()),
        Condition::compare("state", Cmp::Ne, "running"),
        Condition::compare("lease_until", Cmp::Lt, now.timestamp()),
    ]);
    match store
        .write(vec![WriteOp::Update {
            key: TenantItem::SyncState.key(tenant),
            update,
            condition: Some(free),
        }])
        .await
    {
        Ok(()) => Ok(sync_id),
        Err(StoreError::ConditionFailed { .. }) => Err(SyncError::Running),
        Err(e) => Err(e.into()),
    }
}

async fn connection(store: &dyn Store, tenant: TenantId) -> Result<Option<Item>, SyncError> {
    let c = store.get(&TenantItem::Connection.key(tenant)).await?;
    Ok(c.filter(|c| matches!(c.get("connected"), Some(Attr::Bool(true)))))
}

/// `POST /sync`: queues a sync of the caller's shop; one at a time per shop.
pub async fn request(
    store: &dyn Store,
    now: DateTime<Utc>,
    queue: &dyn SyncQueue,
    tenant: TenantId,
) -> Result<String, SyncError> {
    if connection(store, tenant).await?.is_none() {
        return Err(SyncError::NotConnected);
    }
    let sync_id = claim(store, now, tenant).await?;
    if let Err(e) = queue
        .enqueue(&[SyncRequest {
            tenant,
            sync_id: sync_id.clone(),
        }])
        .await
    {
        finish(
            store,
            now,
            tenant,
            "failed",
            Some("could not queue the sync"),
        )
        .await?;
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
            let Some(tenant) = text(item, "gsi2sk").and_then(|t| TenantId::parse(&t)) else {
                continue;
            };
            let state = store.get(&TenantItem::SyncState.key(tenant)).await?;
            if state.as_ref().and_then(|s| text(s, "state")).as_deref() == Some("needs_reauth") {
                continue;
            }
            match claim(store, deps.clock.now(), tenant).await {
                Ok(sync_id) => requests.push(SyncRequest { tenant, sync_id }),
                Err(SyncError::Running) => {}
                Err(e) => return Err(e),
            }
        }
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    deps.queue.enqueue(&requests).await?;
    tracing::info!(queued = requests.len(), "sync scheduled");
    Ok(requests.len())
}

/// Ends a run in `state`. The checkpoint stays (a failed or interrupted run's successor resumes
/// from it); a completed run has already cleared it with its last page.
async fn finish(
    store: &dyn Store,
    now: DateTime<Utc>,
    tenant: TenantId,
    state: &str,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let mut u = Update::default()
        .set("state", state)
        .set("last_finished_at", now.to_rfc3339())
        .remove("lease_until");
    u = match error {
        Some(e) => u.set("error", e),
        None => u.remove("error"),
    };
    store
        .write(vec![WriteOp::Update {
            key: TenantItem::SyncState.key(tenant),
            update: u,
            condition: None,
        }])
        .await
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every resource read to its end; watermarks advanced.
    Done { applied: u64 },
    /// Out of time: the checkpoint is saved and the request was queued again.
    Requeued,
    /// The token was refused: the connection needs re-authorization.
    NeedsReauth,
    /// Another run of this shop holds the claim, or the shop is no longer connected.
    Skipped,
}

/// Progress callback: kind, records read so far in this run.
pub type Progress<'a> = &'a (dyn Fn(Kind, u64) + Send + Sync);

/// Runs one shop's sync until done or `deadline` (Lambda's 15 minutes, minus a margin), resuming
/// from the checkpoint a previous run left.
pub async fn run(
    deps: &SyncRunner,
    req: &SyncRequest,
    deadline: Instant,
    progress: Progress<'_>,
) -> Result<RunOutcome, SyncError> {
    let store = deps.store.as_ref();
    let now = || deps.clock.now();
    let tenant = req.tenant;
    let state_key = TenantItem::SyncState.key(tenant);
    let state = store.get(&state_key).await?.unwrap_or_default();
    if text(&state, "sync_id").as_deref() != Some(req.sync_id.as_str()) {
        return Ok(RunOutcome::Skipped);
    }
    let Some(conn) = connection(store, tenant).await? else {
        finish(
            store,
            now(),
            tenant,
            "idle",
            Some("the shop was disconnected"),
        )
        .await?;
        return Ok(RunOutcome::Skipped);
    };
    let Some(token) = deps.vault.get(tenant).await? else {
        finish(
            store,
            now(),
            tenant,
            "needs_reauth",
            Some("no access token is stored; connect the shop again"),
        )
        .await?;
        return Ok(RunOutcome::NeedsReauth);
    };
    let shop = ShopDomain::parse(&text(&conn, "shop_domain").unwrap_or_default())
        .map_err(|_| SyncError::NotConnected)?;
    let zone = text(&conn, "iana_timezone").and_then(|z| z.parse::<chrono_tz::Tz>().ok());
    let client = deps.shopify.client(&shop, token);

    let mut applied = 0u64;
    let mut read = 0u64;
    let checkpoint_kind = text(&state, "checkpoint_kind");
    let mut resume_cursor = text(&state, "checkpoint_cursor");
    let mut started = checkpoint_kind.is_none();
    for kind in Kind::ALL {
        // Resume at the kind the last run stopped in; kinds before it are done.
        if !started {
            if checkpoint_kind.as_deref() == Some(kind.as_str()) {
                started = true;
            } else {
                continue;
            }
        } else {
            resume_cursor = None;
        }
        let watermark = text(&state, &wm_attr(kind))
            .and_then(|w| DateTime::parse_from_rfc3339(&w).ok())
            .map(|w| w.with_timezone(&Utc));
        let since = watermark.map(|w| w - Duration::minutes(OVERLAP_MINUTES));
        // The run's own high-water mark carries across resumptions in the state item.
        let mut newest = text(&state, &format!("run_max_{}", kind.as_str()))
            .and_then(|w| DateTime::parse_from_rfc3339(&w).ok())
            .map(|w| w.with_timezone(&Utc))
            .filter(|_| checkpoint_kind.as_deref() == Some(kind.as_str()));
        // A first import of orders (or one already under way) goes through a bulk operation.
        let bulk_under_way =
            checkpoint_kind.as_deref() == Some(kind.as_str()) && text(&state, "bulk_id").is_some();
        if kind == Kind::Orders
            && (bulk_under_way || (watermark.is_none() && deps.settings.bulk_first_sync))
        {
            match bulk::import(
                deps, &client, tenant, kind, &state, deadline, zone, progress,
            )
            .await
            {
                Ok(bulk::Bulk::Done { applied: n, newest }) => {
                    applied += n;
                    let mut u = Update::default()
                        .add(&count_attr(kind), Decimal::from(n))
                        .remove("checkpoint_kind")
                        .remove("checkpoint_cursor");
                    if let Some(w) = newest {
                        u = u.set(&wm_attr(kind), w.to_rfc3339());
                    }
                    store
                        .write(vec![WriteOp::Update {
                            key: state_key.clone(),
                            update: u,
                            condition: None,
                        }])
                        .await?;
                    continue;
                }
                Ok(bulk::Bulk::Requeued) => {
                    deps.queue.enqueue(std::slice::from_ref(req)).await?;
                    return Ok(RunOutcome::Requeued);
                }
                Ok(bulk::Bulk::NeedsReauth) => return token_refused(store, now(), tenant).await,
                Ok(bulk::Bulk::Fallback) => {}
                Err(e) => {
                    finish(store, now(), tenant, "failed", Some(&e.to_string())).await?;
                    return Err(e);
                }
            }
        }
        let mut cursor = resume_cursor.take();
        loop {
            if Instant::now() >= deadline {
                deps.queue.enqueue(std::slice::from_ref(req)).await?;
                tracing::info!(%tenant, kind = kind.as_str(), "sync out of time; requeued from its checkpoint");
                return Ok(RunOutcome::Requeued);
            }
            let page = match records::page(&client, kind, since, cursor.as_deref(), zone).await {
                Ok(p) => p,
                Err(ShopifyError::Unauthorized { .. }) => {
                    return token_refused(store, now(), tenant).await;
                }
                Err(e) => {
                    finish(store, now(), tenant, "failed", Some(&format!("{e}"))).await?;
                    return Err(SyncError::Unreachable(e));
                }
            };
            let mut kind_applied = 0u64;
            for (change, updated) in &page.changes {
                if apply(store, now(), tenant, None, change).await?
                    == crate::ingest::Outcome::Applied
                {
                    kind_applied += 1;
                }
                newest = Some(newest.map_or(*updated, |n| n.max(*updated)));
            }
            applied += kind_applied;
            read += page.changes.len() as u64;
            // Checkpoint after every page: where to resume, and counts so far.
            let mut u = Update::default().add(&count_attr(kind), Decimal::from(kind_applied));
            u = match &page.next {
                Some(c) => u
                    .set("checkpoint_kind", kind.as_str())
                    .set("checkpoint_cursor", c.as_str()),
                None => u.remove("checkpoint_kind").remove("checkpoint_cursor"),
            };
            if let Some(n) = newest {
                u = u.set(&format!("run_max_{}", kind.as_str()), n.to_rfc3339());
            }
            if page.next.is_none() {
                // The last page: only now does the watermark move.
                if let Some(n) = newest.filter(|n| watermark.is_none_or(|w| *n > w)) {
                    u = u.set(&wm_attr(kind), n.to_rfc3339());
                }
                u = u.remove(&format!("run_max_{}", kind.as_str()));
            }
            store
                .write(vec![WriteOp::Update {
                    key: state_key.clone(),
                    update: u,
                    condition: None,
                }])
                .await?;
            // After the checkpoint: what the callback reports is never lost by an interruption.
            progress(kind, read);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    finish(store, now(), tenant, "idle", None).await?;
    tracing::info!(%tenant, applied, read, "sync done");
    Ok(RunOutcome::Done { applied })
}

/// Shopify refused the token: the connection needs re-authorization, and the run stops.
async fn token_refused(
    store: &dyn Store,
    now: DateTime<Utc>,
    tenant: TenantId,
) -> Result<RunOutcome, SyncError> {
    let why = "Shopify refused the access token; connect the shop again";
    finish(store, now, tenant, "needs_reauth", Some(why)).await?;
    tracing::warn!(%tenant, "sync: token refused, needs re-authorization");
    Ok(RunOutcome::NeedsReauth)
}

/// `insights serve`'s worker: runs queued syncs one after another.
pub async fn local_worker(
    deps: SyncRunner,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<SyncRequest>,
) {
    while let Some(req) = rx.recv().await {
        let deadline = Instant::now() + std::time::Duration::from_secs(14 * 60);
        if let Err(e) = run(&deps, &req, deadline, &|_, _| {}).await {
            tracing::warn!(tenant = %req.tenant, error = %e, "local sync failed");
        }
    }
}
