//! HTTP: the handlers (each route's declaration is in [`crate::routes`]), extractors, and the one
//! mapping from errors to responses.

pub mod auth;
pub mod body;
pub mod compliance;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod install;
pub mod pages;
pub mod storefront;
pub mod sync;
pub mod webhooks;

pub use error::ApiError;

/// `GET /health`.
pub async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}
