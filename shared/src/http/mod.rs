//! HTTP: the routing table (defined once, mounted by each Lambda and by `insights serve`),
//! extractors, and the one mapping from errors to responses.

pub mod auth;
pub mod body;
pub mod error;
pub mod extract;

use axum::Router;
use axum::routing::{MethodRouter, get, post};

use crate::App;
pub use error::ApiError;

/// Every HTTP endpoint. One variant = one Lambda (`functions/<name>`) = one route in `template.yaml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Health,
    AuthRegister,
    AuthLogin,
    TenantsMe,
}

impl Endpoint {
    pub const ALL: &'static [Endpoint] = &[
        Endpoint::Health,
        Endpoint::AuthRegister,
        Endpoint::AuthLogin,
        Endpoint::TenantsMe,
    ];

    /// The function (and package, and binary) name.
    pub fn function_name(self) -> &'static str {
        match self {
            Endpoint::Health => "health",
            Endpoint::AuthRegister => "auth-register",
            Endpoint::AuthLogin => "auth-login",
            Endpoint::TenantsMe => "tenants-me",
        }
    }

    pub fn method(self) -> http::Method {
        match self {
            Endpoint::Health | Endpoint::TenantsMe => http::Method::GET,
            Endpoint::AuthRegister | Endpoint::AuthLogin => http::Method::POST,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Health => "/health",
            Endpoint::AuthRegister => "/auth/register",
            Endpoint::AuthLogin => "/auth/login",
            Endpoint::TenantsMe => "/tenants/me",
        }
    }

    fn handler(self) -> MethodRouter<App> {
        match self {
            Endpoint::Health => get(health),
            Endpoint::AuthRegister => post(auth::register),
            Endpoint::AuthLogin => post(auth::login),
            Endpoint::TenantsMe => get(auth::me),
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
