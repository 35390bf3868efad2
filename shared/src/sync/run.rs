//! One shop's sync run: resume from the checkpoint, read each kind incrementally (or import orders
//! in bulk on a first sync), apply every record through the webhook path, checkpoint after every
//! page, and end in a state of [`super::state`]'s machine.

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::session::{SessionPorts, ShopSession};
use super::state::{End, SyncState, since};
use super::{OVERLAP_MINUTES, SyncError, SyncRequest, Work, bulk, connection};
use crate::deps::SyncRunner;
use crate::domain::{ShopDomain, TenantId};
use crate::ingest::lifecycle;
use crate::ingest::{Outcome, apply};
use crate::shopify::ShopifyError;
use crate::shopify::records::{self, Kind};
use crate::store::Store;
use crate::store::items::sync::StateWrite;

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
    /// The shop's erase finished: this many items erased by this run.
    Erased { items: u64 },
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
    if req.work == Work::EraseShop {
        return erase(deps, req, deadline).await;
    }
    let state = SyncState::load(store, tenant).await?;
    if state.sync_id() != Some(req.sync_id.as_str()) {
        return Ok(RunOutcome::Skipped);
    }
    let Some(conn) = connection::connected(store, tenant).await? else {
        let why = "the shop was disconnected".to_owned();
        SyncState::finish(store, now(), tenant, End::Idle(Some(why))).await?;
        return Ok(RunOutcome::Skipped);
    };
    let shop = ShopDomain::parse(&conn.shop_domain).map_err(|_| SyncError::NotConnected)?;
    let ports = SessionPorts {
        vault: &deps.vault,
        api: &deps.shopify,
        clock: &deps.clock,
        refresher: &deps.refresher,
    };
    let Some(session) = ShopSession::open(ports, tenant, &shop).await? else {
        let why = "no access token is stored; connect the shop again".to_owned();
        SyncState::finish(store, now(), tenant, End::NeedsReauth(why)).await?;
        return Ok(RunOutcome::NeedsReauth);
    };
    let zone = conn
        .iana_timezone
        .as_deref()
        .and_then(|z| z.parse::<chrono_tz::Tz>().ok());
    // Every call asks the session for its token: an expiring one is refreshed before use.
    let client = session.client();
    // Shopify removes a subscription whose deliveries keep failing: every run puts back what is
    // missing (one read when nothing is).
    connection::subscribe(&client, &deps.shopify.webhook_uri, tenant).await;

    let mut applied = 0u64;
    let mut read = 0u64;
    let checkpoint_kind = state.checkpoint_kind().map(str::to_owned);
    let mut started = checkpoint_kind.is_none();
    for kind in Kind::ALL {
        // Resume at the kind the last run stopped in; kinds before it are done.
        if !started {
            if checkpoint_kind.as_deref() != Some(kind.as_str()) {
                continue;
            }
            started = true;
        }
        let watermark = state.watermark(kind);
        let since = since(watermark, OVERLAP_MINUTES);
        // The run's own high-water mark carries across resumptions in the state item.
        let (resume_cursor, mut newest) = state.resume(kind);
        // Orders go through a bulk operation (a first import, and every incremental read: only a
        // bulk query may carry their line items and refunds), or one already under way.
        if kind == Kind::Orders && (state.bulk_under_way(kind) || deps.settings.bulk_orders) {
            let run = bulk::Run {
                kind,
                since,
                deadline,
                zone,
            };
            match bulk::import(deps, &client, tenant, &state, run, progress).await {
                Ok(bulk::Bulk::Done { applied: n, newest }) => {
                    applied += n;
                    let write = StateWrite::KindImported {
                        kind,
                        applied: n,
                        watermark: newest.filter(|n| newer(*n, watermark)),
                    };
                    SyncState::progress(store, tenant, write).await?;
                    continue;
                }
                Ok(bulk::Bulk::Requeued) => {
                    deps.queue.enqueue(std::slice::from_ref(req)).await?;
                    return Ok(RunOutcome::Requeued);
                }
                Ok(bulk::Bulk::NeedsReauth) => return token_refused(store, now(), tenant).await,
                Ok(bulk::Bulk::Fallback) => {}
                Err(e) => {
                    SyncState::finish(store, now(), tenant, End::Failed(public(&e))).await?;
                    return Err(e);
                }
            }
        }
        let mut cursor = resume_cursor;
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
                    let why = shopify_failure(&e).to_owned();
                    SyncState::finish(store, now(), tenant, End::Failed(why)).await?;
                    return Err(SyncError::Unreachable(e));
                }
            };
            let mut kind_applied = 0u64;
            for (change, updated) in &page.changes {
                if apply(store, now(), tenant, None, change).await? == Outcome::Applied {
                    kind_applied += 1;
                }
                newest = Some(newest.map_or(*updated, |n| n.max(*updated)));
            }
            applied += kind_applied;
            read += page.changes.len() as u64;
            // Checkpoint after every page: where to resume, and counts so far. Only after the
            // last page does the watermark move.
            let write = StateWrite::Page {
                kind,
                applied: kind_applied,
                next: page.next.clone(),
                run_max: newest,
                watermark: page
                    .next
                    .is_none()
                    .then_some(newest)
                    .flatten()
                    .filter(|n| newer(*n, watermark)),
            };
            SyncState::progress(store, tenant, write).await?;
            // After the checkpoint: what the callback reports is never lost by an interruption.
            progress(kind, read);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    SyncState::finish(store, now(), tenant, End::Idle(None)).await?;
    tracing::info!(%tenant, applied, read, "sync done");
    Ok(RunOutcome::Done { applied })
}

/// The rest of a shop erase, until done or `deadline` (then queued again).
async fn erase(
    deps: &SyncRunner,
    req: &SyncRequest,
    deadline: Instant,
) -> Result<RunOutcome, SyncError> {
    let store = deps.store.as_ref();
    let erase = lifecycle::redact_shop(
        store,
        deps.vault.as_ref(),
        deps.clock.now(),
        req.tenant,
        deadline,
    )
    .await?;
    match erase {
        lifecycle::Erase::Done { erased } => Ok(RunOutcome::Erased { items: erased }),
        lifecycle::Erase::Unfinished { .. } => {
            deps.queue.enqueue(std::slice::from_ref(req)).await?;
            Ok(RunOutcome::Requeued)
        }
    }
}

/// What `GET /sync/status` says of a failed run: the class of failure, never internal text (the
/// details are in the logs).
pub fn public(e: &SyncError) -> String {
    match e {
        SyncError::Unreachable(s) => shopify_failure(s).to_owned(),
        SyncError::Rejected => "Shopify refused the access token".to_owned(),
        SyncError::NotConnected => "the shop is not connected".to_owned(),
        SyncError::Running => "a sync of this shop is already running".to_owned(),
        SyncError::Vault(_) => "the shop's access token could not be read".to_owned(),
        SyncError::Store(_) | SyncError::Queue(_) => {
            "the sync could not be saved; it will be retried".to_owned()
        }
    }
}

fn shopify_failure(e: &ShopifyError) -> &'static str {
    match e {
        ShopifyError::Unauthorized { .. } => "Shopify refused the access token",
        ShopifyError::Unreachable { .. } => "Shopify could not be reached",
        ShopifyError::TokenStore { .. } => "the shop's access token could not be read or kept",
        ShopifyError::Protocol(_) => "Shopify answered something the sync did not expect",
    }
}

fn newer(n: DateTime<Utc>, watermark: Option<DateTime<Utc>>) -> bool {
    watermark.is_none_or(|w| n > w)
}

/// Shopify refused the token: the connection needs re-authorization, and the run stops.
async fn token_refused(
    store: &dyn Store,
    now: DateTime<Utc>,
    tenant: TenantId,
) -> Result<RunOutcome, SyncError> {
    let why = "Shopify refused the access token; connect the shop again".to_owned();
    SyncState::finish(store, now, tenant, End::NeedsReauth(why)).await?;
    tracing::warn!(%tenant, "sync: token refused, needs re-authorization");
    Ok(RunOutcome::NeedsReauth)
}

/// `insights serve`'s worker: runs queued work one request after another, each in its own task,
/// so that nothing one run does (an error, a panic) stops the worker: a run that fails frees its
/// shop (state `failed`) and the next request is taken.
pub async fn local_worker(
    deps: SyncRunner,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<SyncRequest>,
) {
    while let Some(req) = rx.recv().await {
        let deadline = Instant::now() + std::time::Duration::from_secs(14 * 60);
        let (d, r) = (deps.clone(), req.clone());
        let ran = tokio::spawn(async move { run(&d, &r, deadline, &|_, _| {}).await }).await;
        let why = match ran {
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => {
                tracing::warn!(tenant = %req.tenant, error = %e, "local sync failed");
                public(&e)
            }
            Err(e) => {
                tracing::error!(tenant = %req.tenant, panicked = e.is_panic(), "local sync stopped unexpectedly");
                "the sync stopped unexpectedly; it will be retried".to_owned()
            }
        };
        if req.work == Work::Sync {
            let now = deps.clock.now();
            if let Err(e) =
                SyncState::finish(deps.store.as_ref(), now, req.tenant, End::Failed(why)).await
            {
                tracing::warn!(tenant = %req.tenant, error = %e, "could not free the shop after a failed sync");
            }
        }
    }
}
