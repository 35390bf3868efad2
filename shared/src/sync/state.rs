//! The sync's state machine: one item per shop, changed only by the transitions here.
//!
//! ```text
//!                 claim (request or schedule)            page / bulk progress
//!   (never) ──┐   ┌───────────────────────────┐          ┌──────────┐
//!             ▼   │                           ▼          │          ▼
//!           idle ─┘                        running ──────┴── running (checkpoint moves on)
//!             ▲                              │ │ │
//!             │        every kind read ──────┘ │ └── out of time: requeued, the same sync id
//!             └──── finish(Idle) ◀─────────────┤     resumes from the checkpoint
//!                                              ├── Shopify refused the token ──▶ needs_reauth
//!   failed ◀── finish(Failed) ◀── an error ────┘                                      │
//!     │                                                   reconnect (Reauthorized) ──▶ idle
//!     └── claim ──▶ running                                                           ▲
//!                                                                                     │
//!   any state ── app/uninstalled (Uninstalled) ──▶ uninstalled ── reconnect ──────────┘
//! ```
//!
//! `uninstalled` is left only by a reconnect: no claim takes it, and a run that was under way when
//! the app was uninstalled finishes without changing it.
//!
//! A claim takes the shop only when no run holds an unexpired lease, so one run at a time per shop;
//! a run that dies without finishing frees the shop when its lease expires. The checkpoint
//! (kind, page cursor or bulk operation and line) survives `finish`, so a failed or interrupted
//! run's successor resumes where it stopped. Watermarks move only after a kind's last page.

use chrono::{DateTime, Duration, Utc};

use super::SyncError;
use crate::domain::TenantId;
use crate::shopify::records::Kind;
use crate::store::items::sync::{StateWrite, SyncStateRecord};
use crate::store::keys::TenantItem;
use crate::store::{Store, StoreError};

/// A run's claim on the shop; a run that dies frees it after this long.
pub const LEASE_MINUTES: i64 = 20;

/// Where a shop's sync stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Running,
    Failed,
    NeedsReauth,
    /// The app was uninstalled from the shop (its token destroyed; its data kept until shop/redact).
    Uninstalled,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Running => "running",
            Phase::Failed => "failed",
            Phase::NeedsReauth => "needs_reauth",
            Phase::Uninstalled => "uninstalled",
        }
    }

    fn parse(s: Option<&str>) -> Phase {
        match s {
            Some("running") => Phase::Running,
            Some("failed") => Phase::Failed,
            Some("needs_reauth") => Phase::NeedsReauth,
            Some("uninstalled") => Phase::Uninstalled,
            _ => Phase::Idle,
        }
    }
}

/// How a run ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Done (or nothing to do), with why when it stopped early.
    Idle(Option<String>),
    Failed(String),
    NeedsReauth(String),
}

/// A shop's sync state, as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncState(SyncStateRecord);

impl SyncState {
    /// The state of `tenant`'s sync (never synced: idle, nothing read).
    pub async fn load(store: &dyn Store, tenant: TenantId) -> Result<SyncState, StoreError> {
        let item = store.get(&TenantItem::SyncState.key(tenant)).await?;
        Ok(SyncState(
            item.as_ref()
                .map(SyncStateRecord::from_item)
                .unwrap_or_default(),
        ))
    }

    pub fn phase(&self) -> Phase {
        Phase::parse(self.0.state.as_deref())
    }

    /// The run that holds (or last held) the shop.
    pub fn sync_id(&self) -> Option<&str> {
        self.0.sync_id.as_deref()
    }

    pub fn record(&self) -> &SyncStateRecord {
        &self.0
    }

    /// The newest `updated_at` of `kind` a finished read saw.
    pub fn watermark(&self, kind: Kind) -> Option<DateTime<Utc>> {
        self.0.watermarks.get(&kind).copied()
    }

    /// The kind an interrupted run stopped in.
    pub fn checkpoint_kind(&self) -> Option<&str> {
        self.0.checkpoint_kind.as_deref()
    }

    /// Where in `kind` an interrupted run stopped: the page cursor, and the newest record seen.
    pub fn resume(&self, kind: Kind) -> (Option<String>, Option<DateTime<Utc>>) {
        if self.checkpoint_kind() != Some(kind.as_str()) {
            return (None, None);
        }
        (
            self.0.checkpoint_cursor.clone(),
            self.0.run_max.get(&kind).copied(),
        )
    }

    /// A bulk import of `kind` is under way.
    pub fn bulk_under_way(&self, kind: Kind) -> bool {
        self.checkpoint_kind() == Some(kind.as_str()) && self.0.bulk_id.is_some()
    }

    // ---------------------------------------------------------------------------------------
    // Transitions: the only writes to the state item.

    /// idle | failed | needs_reauth | running with an expired lease → running. Answers the new
    /// run's sync id, or [`SyncError::Running`] while another run holds the shop.
    pub async fn claim(
        store: &dyn Store,
        now: DateTime<Utc>,
        tenant: TenantId,
    ) -> Result<String, SyncError> {
        let sync_id = new_sync_id();
        let write = StateWrite::Claim {
            sync_id: sync_id.clone(),
            now,
            lease_until: now.timestamp() + LEASE_MINUTES * 60,
        };
        match store.write(vec![write.op(tenant)]).await {
            Ok(()) => Ok(sync_id),
            Err(StoreError::ConditionFailed { .. }) => Err(SyncError::Running),
            Err(e) => Err(e.into()),
        }
    }

    /// any → uninstalled: the app was uninstalled from the shop.
    pub async fn uninstalled(
        store: &dyn Store,
        now: DateTime<Utc>,
        tenant: TenantId,
    ) -> Result<(), StoreError> {
        store
            .write(vec![StateWrite::Uninstalled { now }.op(tenant)])
            .await
    }

    /// running → idle | failed | needs_reauth; the lease is released, the checkpoint kept. A run
    /// that ends after the app was uninstalled leaves `uninstalled` as it is.
    pub async fn finish(
        store: &dyn Store,
        now: DateTime<Utc>,
        tenant: TenantId,
        end: End,
    ) -> Result<(), StoreError> {
        let (state, error) = match end {
            End::Idle(why) => (Phase::Idle, why),
            End::Failed(why) => (Phase::Failed, Some(why)),
            End::NeedsReauth(why) => (Phase::NeedsReauth, Some(why)),
        };
        let write = StateWrite::Finish {
            state: state.as_str(),
            now,
            error,
        };
        match store.write(vec![write.op(tenant)]).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// needs_reauth | uninstalled → idle, after the shop was connected again (any other state is
    /// kept).
    pub async fn reauthorized(store: &dyn Store, tenant: TenantId) -> Result<(), StoreError> {
        match store.write(vec![StateWrite::Reauthorized.op(tenant)]).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// running → running: a run's progress (pages, bulk operation, lines, watermarks).
    pub async fn progress(
        store: &dyn Store,
        tenant: TenantId,
        write: StateWrite,
    ) -> Result<(), StoreError> {
        store.write(vec![write.op(tenant)]).await
    }
}

fn new_sync_id() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    format!(
        "sync_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
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

/// `GET /sync/status`.
pub async fn status(store: &dyn Store, tenant: TenantId) -> Result<Status, SyncError> {
    let s = SyncState::load(store, tenant).await?;
    let r = s.record();
    let kinds = [Kind::Customers, Kind::Orders, Kind::Products];
    Ok(Status {
        state: r.state.clone().unwrap_or_else(|| "idle".into()),
        last_started_at: r.last_started_at.clone(),
        last_finished_at: r.last_finished_at.clone(),
        watermarks: kinds.map(|k| (k, s.watermark(k).map(|w| w.to_rfc3339()))),
        counts: kinds.map(|k| (k, r.counts.get(&k).copied().unwrap_or(0))),
        error: r.error.clone(),
    })
}

/// The overlap re-read before a watermark: records updated while the last run was paging.
pub fn since(watermark: Option<DateTime<Utc>>, overlap_minutes: i64) -> Option<DateTime<Utc>> {
    watermark.map(|w| w - Duration::minutes(overlap_minutes))
}
