//! Handlers: `POST /webhooks` (any topic) and `POST /webhooks/{customers,orders,products}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use http::HeaderMap;
use serde_json::{Value, json};

use super::ApiError;
use crate::deps::Ingest;
use crate::ingest::{self, Family, IngestError};

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> ApiError {
        match e {
            IngestError::TooLarge => ApiError::PayloadTooLarge {
                limit: ingest::MAX_WEBHOOK_BODY,
            },
            IngestError::BadSignature => ApiError::Unauthorized {
                code: "invalid_signature",
                message: "X-Shopify-Hmac-Sha256 is missing or does not match the body.",
            },
            IngestError::UnknownShop => ApiError::UnknownShop,
            IngestError::BadRequest { code, message } => ApiError::BadRequest { code, message },
            IngestError::ItemTooLarge => ApiError::ItemTooLarge,
            IngestError::Store(s) => ApiError::Store(s),
            IngestError::Secret(_) => ApiError::Internal("webhook secret unavailable"),
            IngestError::Vault(_) => ApiError::Internal("token vault unavailable"),
        }
    }
}

async fn handle(
    deps: &Ingest,
    family: Option<Family>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    // The route's body limit is the contract's 5 MiB; past it the extractor refuses.
    let body = body.map_err(|_| IngestError::TooLarge)?;
    let now = deps.clock.now();
    let outcome = ingest::receive(
        deps.store.as_ref(),
        now,
        deps.vault.as_ref(),
        &deps.app_secret,
        family,
        headers,
        &body,
    )
    .await?;
    Ok(Json(json!({ "result": outcome.as_str() })))
}

pub async fn any(
    State(deps): State<Ingest>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    handle(&deps, None, &headers, body).await
}

pub async fn customers(
    State(deps): State<Ingest>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    handle(&deps, Some(Family::Customers), &headers, body).await
}

pub async fn orders(
    State(deps): State<Ingest>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    handle(&deps, Some(Family::Orders), &headers, body).await
}

pub async fn products(
    State(deps): State<Ingest>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    handle(&deps, Some(Family::Products), &headers, body).await
}
