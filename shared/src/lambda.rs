//! The Lambda edge: runs one route ([`serve`]) or one job ([`run_job`]) under the Lambda runtime,
//! and the job adapters that turn EventBridge events into use-case calls. Each function's
//! `main.rs` is one call to [`serve`] or [`run_job`] with its declaration from [`crate::routes`].

use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};

use crate::config::Config;
use crate::deps::{Deps, Env, Scheduler, SyncRunner, TrustedIngest};
use crate::ingest::{self, IngestError};
use crate::routes::{Job, Route, router_of};
use crate::sync::{self, RunOutcome, SyncError, SyncRequest};

/// Runs route `R` as an HTTP Lambda (API Gateway HTTP API, payload 2.0): builds `R`'s bundle
/// from the environment, once, and serves only `R`.
pub async fn serve<R: Route>() -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let env = Env::new(Config::from_env());
    let deps = R::Deps::build(&env).await?;
    lambda_http::run(router_of::<R>(deps)).await
}

/// Runs job `J` as an event-driven Lambda: builds `J`'s bundle once, then one call per event.
pub async fn run_job<J: Job>() -> Result<(), lambda_runtime::Error> {
    crate::telemetry::init();
    let env = Env::new(Config::from_env());
    let deps = J::Deps::build(&env).await?;
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let remaining = event
            .context
            .deadline()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        J::run(deps, event.payload, remaining).await
    }))
    .await
}

/// A sync job failure Lambda should retry; details are logged once here, not returned.
#[derive(Debug, thiserror::Error)]
#[error("sync job failed")]
pub struct JobError(#[source] pub SyncError);

/// The Lambda error for a job failure: the whole chain is logged once here; the runtime reports
/// only the type and a sentence (no internals).
fn diagnostic(error_type: &str, e: &dyn std::error::Error) -> Diagnostic {
    let cause = e.source();
    let error = cause.map_or_else(String::new, ToString::to_string);
    tracing::error!(error_type, %error, source = ?cause.and_then(|c| c.source()), "job failed");
    Diagnostic {
        error_type: error_type.to_owned(),
        error_message: e.to_string(),
    }
}

impl From<JobError> for Diagnostic {
    fn from(e: JobError) -> Diagnostic {
        diagnostic("SyncFailed", &e)
    }
}

/// `sync-scheduler`: queue a sync for every connected shop.
pub async fn sync_scheduler(deps: &Scheduler) -> Result<Value, JobError> {
    let queued = sync::schedule(deps).await.map_err(JobError)?;
    Ok(json!({"queued": queued}))
}

/// `checkouts-abandon`: abandon every due checkout, for at most `remaining` less a margin (the
/// next scheduled run goes on from where this one stopped).
pub async fn checkouts_abandon(
    deps: &crate::deps::Storefront,
    remaining: Duration,
) -> Result<Value, JobError> {
    let budget = remaining.saturating_sub(Duration::from_secs(10));
    let r = crate::storefront::abandon::run(deps.store.as_ref(), deps.clock.now(), budget)
        .await
        .map_err(|e| JobError(e.into()))?;
    tracing::info!(
        abandoned = r.abandoned,
        rescheduled = r.rescheduled,
        hours = r.hours,
        unfinished = r.unfinished,
        "abandonment run"
    );
    Ok(json!({
        "abandoned": r.abandoned,
        "rescheduled": r.rescheduled,
        "unfinished": r.unfinished,
    }))
}

/// `ledger-backfill`: add the orders stored before the sales ledger to it, for at most
/// `remaining` less a margin (the next scheduled run goes on; once finished a run is one read).
pub async fn ledger_backfill(
    deps: &crate::deps::Maintenance,
    remaining: Duration,
) -> Result<Value, JobError> {
    let budget = remaining.saturating_sub(Duration::from_secs(20));
    let clock = deps.clock.clone();
    let r = crate::ingest::backfill::run(deps.store.as_ref(), || clock.now(), budget, &|_| {})
        .await
        .map_err(|e| JobError(e.into()))?;
    tracing::info!(
        tenants = r.tenants,
        orders = r.orders,
        finished = r.finished,
        "ledger backfill run"
    );
    Ok(json!({"tenants": r.tenants, "orders": r.orders, "finished": r.finished}))
}

/// Margin left before Lambda's deadline to checkpoint and requeue.
const MARGIN: Duration = Duration::from_secs(60);

/// `sync-shop`: run the sync an event asks for, until done or `remaining` (minus a margin) is
/// spent, in which case it requeues itself from its checkpoint.
pub async fn sync_shop(
    deps: &SyncRunner,
    event: &Value,
    remaining: Duration,
) -> Result<Value, JobError> {
    let detail = event.get("detail").cloned().unwrap_or(Value::Null);
    let Ok(req) = serde_json::from_value::<SyncRequest>(detail) else {
        tracing::warn!("ignored: not a SyncRequested event");
        return Ok(json!({"result": "ignored"}));
    };
    let deadline = Instant::now() + remaining.saturating_sub(MARGIN);
    let outcome = sync::run(deps, &req, deadline, &|_, _| {})
        .await
        .map_err(JobError)?;
    Ok(match outcome {
        RunOutcome::Done { applied } => json!({"result": "done", "applied": applied}),
        RunOutcome::Requeued => json!({"result": "requeued"}),
        RunOutcome::NeedsReauth => json!({"result": "needs_reauth"}),
        RunOutcome::Skipped => json!({"result": "skipped"}),
        RunOutcome::Erased { items } => json!({"result": "erased", "items": items}),
    })
}

/// Why an EventBridge event could not be applied *and should be retried* (the store failed).
/// Events that can never apply (unknown shop, bad payload) are logged and acknowledged instead:
/// retrying them would only fill the dead-letter queue.
#[derive(Debug, thiserror::Error)]
#[error("could not apply the event; it will be retried")]
pub struct Retry(#[source] pub IngestError);

impl From<Retry> for Diagnostic {
    fn from(e: Retry) -> Diagnostic {
        diagnostic("Retry", &e)
    }
}

/// `webhooks-eventbridge`: Shopify's Amazon EventBridge delivery path, the same ingestion without
/// HMAC (EventBridge is the trust boundary). Event: `{"detail-type": "shopifyWebhook", "detail":
/// {"metadata": {headers}, "payload": {body}}}`; the answer is `{"result": ...}` for the logs.
pub async fn webhooks_eventbridge(deps: &TrustedIngest, event: &Value) -> Result<Value, Retry> {
    let detail_type = event.get("detail-type").and_then(Value::as_str);
    if detail_type != Some("shopifyWebhook") {
        tracing::warn!(?detail_type, "ignored: not a Shopify webhook event");
        return Ok(json!({"result": "ignored"}));
    }
    let detail = event.get("detail").cloned().unwrap_or(Value::Null);
    let mut headers = HeaderMap::new();
    if let Some(meta) = detail.get("metadata").and_then(Value::as_object) {
        for (k, v) in meta {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::from_bytes(k.as_bytes()),
                v.as_str().map(HeaderValue::from_str),
            ) {
                headers.insert(name, value);
            }
        }
    }
    let Some(payload) = detail.get("payload") else {
        tracing::warn!("rejected: event without detail.payload");
        return Ok(json!({"result": "rejected", "error": "missing_payload"}));
    };
    let body = serde_json::to_vec(payload).unwrap_or_default();
    let now = deps.clock.now();
    match ingest::receive_trusted(
        deps.store.as_ref(),
        now,
        deps.vault.as_ref(),
        &headers,
        &body,
    )
    .await
    {
        Ok(outcome) => Ok(json!({"result": outcome.as_str()})),
        Err(e @ (IngestError::Store(_) | IngestError::Secret(_) | IngestError::Vault(_))) => {
            Err(Retry(e))
        }
        Err(e) => {
            let code = match &e {
                IngestError::UnknownShop => "unknown_shop",
                IngestError::BadRequest { code, .. } => code,
                IngestError::ItemTooLarge => "item_too_large",
                _ => "rejected",
            };
            tracing::warn!(error = %e, code, "rejected EventBridge webhook event");
            Ok(json!({"result": "rejected", "error": code}))
        }
    }
}
