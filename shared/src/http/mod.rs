//! HTTP: the routing table (defined once, mounted by each Lambda and by `insights serve`),
//! and the one mapping from errors to responses.

pub mod error;

use axum::Router;
use axum::routing::{MethodRouter, get};

use crate::App;
pub use error::ApiError;

/// Every HTTP endpoint. One variant = one Lambda (`functions/<name>`) = one route in `template.yaml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Health,
}

impl Endpoint {
    pub const ALL: &'static [Endpoint] = &[Endpoint::Health];

    /// The function (and package, and binary) name.
    pub fn function_name(self) -> &'static str {
        match self {
            Endpoint::Health => "health",
        }
    }

    pub fn method(self) -> http::Method {
        match self {
            Endpoint::Health => http::Method::GET,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Health => "/health",
        }
    }

    fn handler(self) -> MethodRouter<App> {
        match self {
            Endpoint::Health => get(health),
        }
    }
}

/// A router serving `endpoints` over `app`.
pub fn router(app: App, endpoints: &[Endpoint]) -> Router {
    let mut r = Router::new();
    for e in endpoints {
        r = r.route(e.path(), e.handler());
    }
    r.fallback(|| async { ApiError::NotFound }).with_state(app)
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}
