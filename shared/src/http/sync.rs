//! Handlers: `PUT/DELETE /tenants/me/shopify`, `POST /sync`, `GET /sync/status`.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::ApiError;
use super::body::{Fields, JsonObject};
use crate::deps::{Accounts, ShopLink, SyncRequests};
use crate::domain::TenantId;
use crate::sync::{self, SyncError};

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> ApiError {
        match e {
            SyncError::Rejected => ApiError::Unprocessable {
                code: "shopify_rejected_token",
                message: "Shopify refused this access token.".into(),
            },
            SyncError::Unreachable(_) => ApiError::BadGateway {
                code: "shopify_unreachable",
                message: "Shopify could not be reached; try again shortly.".into(),
            },
            SyncError::NotConnected => ApiError::Conflict {
                code: "not_connected",
                message: "Connect the shop first: PUT /tenants/me/shopify.".into(),
            },
            SyncError::Running => ApiError::Conflict {
                code: "sync_running",
                message: "A sync of this shop is already running.".into(),
            },
            SyncError::Store(s) => ApiError::Store(s),
            SyncError::Vault(_) => ApiError::Internal("token vault failed"),
            SyncError::Queue(_) => ApiError::Internal("sync queue failed"),
        }
    }
}

/// The longest access token accepted.
const MAX_TOKEN: usize = 512;

pub async fn connect(
    State(c): State<crate::deps::ShopConnect>,
    tenant: TenantId,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let token = body.required_str("access_token", MAX_TOKEN)?.trim();
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::bad_request(
            "invalid_field",
            "access_token is not a token.",
        ));
    }
    let link = &c.link;
    let c = sync::connect(
        link.accounts.store.as_ref(),
        link.accounts.clock.now(),
        link.vault.as_ref(),
        c.queue.as_ref(),
        &link.shopify,
        tenant,
        SecretString::from(token.to_owned()),
    )
    .await?;
    Ok(Json(
        json!({"shop_domain": c.shop_domain, "connected": true, "scopes": c.scopes}),
    ))
}

pub async fn disconnect(
    State(link): State<ShopLink>,
    tenant: TenantId,
) -> Result<StatusCode, ApiError> {
    let a = &link.accounts;
    sync::disconnect(a.store.as_ref(), a.clock.now(), link.vault.as_ref(), tenant).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn request(
    State(r): State<SyncRequests>,
    tenant: TenantId,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let a = &r.accounts;
    let sync_id = sync::request(a.store.as_ref(), a.clock.now(), r.queue.as_ref(), tenant).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"sync_id": sync_id}))))
}

pub async fn status(State(a): State<Accounts>, tenant: TenantId) -> Result<Json<Value>, ApiError> {
    let s = sync::status(a.store.as_ref(), tenant).await?;
    let map = |pairs: Vec<(String, Value)>| Value::Object(pairs.into_iter().collect());
    Ok(Json(json!({
        "state": s.state,
        "last_started_at": s.last_started_at,
        "last_finished_at": s.last_finished_at,
        "watermarks": map(s.watermarks.iter().map(|(k, w)| (k.as_str().to_owned(), json!(w))).collect()),
        "counts": map(s.counts.iter().map(|(k, n)| (k.as_str().to_owned(), json!(n))).collect()),
        "error": s.error,
    })))
}
