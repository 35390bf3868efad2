//! The sync's Lambda jobs: `sync-scheduler` (on the EventBridge schedule) and `sync-shop` (one
//! `SyncRequested` event per invocation).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{RunOutcome, SyncError, SyncRequest, run, schedule};
use crate::App;

/// A job failure Lambda should retry; details are logged once here, not returned.
#[derive(Debug, thiserror::Error)]
#[error("sync job failed")]
pub struct JobError(#[source] pub SyncError);

impl From<JobError> for lambda_runtime::Diagnostic {
    fn from(e: JobError) -> lambda_runtime::Diagnostic {
        tracing::error!(error = %e.0, source = ?std::error::Error::source(&e.0), "sync job failed");
        lambda_runtime::Diagnostic {
            error_type: "SyncFailed".into(),
            error_message: e.to_string(),
        }
    }
}

/// `sync-scheduler`: queue a sync for every connected shop.
pub async fn scheduler(app: &App) -> Result<Value, JobError> {
    let queued = schedule(app).await.map_err(JobError)?;
    Ok(json!({"queued": queued}))
}

/// Margin left before Lambda's deadline to checkpoint and requeue.
const MARGIN: Duration = Duration::from_secs(60);

/// `sync-shop`: run the sync an event asks for, until done or `remaining` (minus a margin) is
/// spent, in which case it requeues itself from its checkpoint.
pub async fn shop(app: &App, event: &Value, remaining: Duration) -> Result<Value, JobError> {
    let detail = event.get("detail").cloned().unwrap_or(Value::Null);
    let Ok(req) = serde_json::from_value::<SyncRequest>(detail) else {
        tracing::warn!("ignored: not a SyncRequested event");
        return Ok(json!({"result": "ignored"}));
    };
    let deadline = Instant::now() + remaining.saturating_sub(MARGIN);
    let outcome = run(app, &req, deadline, &|_, _| {})
        .await
        .map_err(JobError)?;
    Ok(match outcome {
        RunOutcome::Done { applied } => json!({"result": "done", "applied": applied}),
        RunOutcome::Requeued => json!({"result": "requeued"}),
        RunOutcome::NeedsReauth => json!({"result": "needs_reauth"}),
        RunOutcome::Skipped => json!({"result": "skipped"}),
    })
}
