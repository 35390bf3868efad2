//! Shopify's Amazon EventBridge delivery path: the same ingestion, without HMAC (EventBridge is
//! the trust boundary). Event: `{"detail-type": "shopifyWebhook", "detail": {"metadata": {headers},
//! "payload": {body}}}`.

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::{IngestError, receive_trusted};
use crate::App;

/// Why an EventBridge event could not be applied *and should be retried* (the store failed).
/// Events that can never apply (unknown shop, bad payload) are logged and acknowledged instead:
/// retrying them would only fill the dead-letter queue.
#[derive(Debug, thiserror::Error)]
#[error("could not apply the event; it will be retried")]
pub struct Retry(#[source] pub IngestError);

/// Applies one EventBridge event; the answer is `{"result": ...}` for the logs.
pub async fn handle(app: &App, event: &Value) -> Result<Value, Retry> {
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
    match receive_trusted(app, &headers, &body).await {
        Ok(outcome) => Ok(json!({"result": outcome.as_str()})),
        Err(e @ (IngestError::Store(_) | IngestError::Secret(_))) => Err(Retry(e)),
        Err(e) => {
            let code = match &e {
                IngestError::UnknownShop => "unknown_shop",
                IngestError::BadRequest { code, .. } => code,
                _ => "rejected",
            };
            tracing::warn!(error = %e, code, "rejected EventBridge webhook event");
            Ok(json!({"result": "rejected", "error": code}))
        }
    }
}

/// The Lambda error for a retry: the whole chain is logged once here; the runtime reports only
/// the type and a sentence (no internals).
impl From<Retry> for lambda_runtime::Diagnostic {
    fn from(e: Retry) -> lambda_runtime::Diagnostic {
        tracing::error!(error = %e.0, source = ?std::error::Error::source(&e.0), "EventBridge delivery failed");
        lambda_runtime::Diagnostic {
            error_type: "Retry".into(),
            error_message: e.to_string(),
        }
    }
}
