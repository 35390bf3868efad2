//! The dashboard page, compiled into the binary so `insights serve` needs no build step or files.

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header;

const INDEX: &str = include_str!("../../../dashboard/index.html");
const APP_JS: &str = include_str!("../../../dashboard/app.js");
const STYLE: &str = include_str!("../../../dashboard/style.css");
/// The custom pixel a merchant pastes into Shopify (the page fills in its address and key).
const PIXEL_JS: &str = include_str!("../../../dashboard/pixel.js");
/// The OpenAPI 3.1 description of the HTTP API (checked against the router by `tests/deploy.rs`).
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// Only this origin's scripts, styles and API; no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `/`, `/app.js`, `/style.css`, `/pixel.js`, `/openapi.json`.
pub fn routes() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/style.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
        .route(
            "/pixel.js",
            get(|| async { asset(PIXEL_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/openapi.json",
            get(|| async { asset(OPENAPI, "application/json") }),
        )
}
