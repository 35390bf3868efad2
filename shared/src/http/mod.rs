//! HTTP: the routing table (defined once, mounted by each Lambda and by `insights serve`),
//! extractors, and the one mapping from errors to responses.

pub mod auth;
pub mod body;
pub mod dashboard;
pub mod error;
pub mod extract;
pub mod pages;
pub mod sync;
pub mod webhooks;

use axum::Router;
use axum::routing::{MethodRouter, delete, get, post, put};

use crate::App;
pub use error::ApiError;

/// Every HTTP endpoint. One variant = one Lambda (`functions/<name>`) = one route in `template.yaml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Health,
    AuthRegister,
    AuthLogin,
    TenantsMe,
    Webhooks,
    WebhooksCustomers,
    WebhooksOrders,
    WebhooksProducts,
    DashboardMetrics,
    DashboardOrdersByDate,
    DashboardTopCustomers,
    ShopifyConnect,
    ShopifyDisconnect,
    SyncRequest,
    SyncStatus,
}

impl Endpoint {
    pub const ALL: &'static [Endpoint] = &[
        Endpoint::Health,
        Endpoint::AuthRegister,
        Endpoint::AuthLogin,
        Endpoint::TenantsMe,
        Endpoint::Webhooks,
        Endpoint::WebhooksCustomers,
        Endpoint::WebhooksOrders,
        Endpoint::WebhooksProducts,
        Endpoint::DashboardMetrics,
        Endpoint::DashboardOrdersByDate,
        Endpoint::DashboardTopCustomers,
        Endpoint::ShopifyConnect,
        Endpoint::ShopifyDisconnect,
        Endpoint::SyncRequest,
        Endpoint::SyncStatus,
    ];

    /// The function (and package, and binary) name.
    pub fn function_name(self) -> &'static str {
        match self {
            Endpoint::Health => "health",
            Endpoint::AuthRegister => "auth-register",
            Endpoint::AuthLogin => "auth-login",
            Endpoint::TenantsMe => "tenants-me",
            Endpoint::Webhooks => "webhooks",
            Endpoint::WebhooksCustomers => "webhooks-customers",
            Endpoint::WebhooksOrders => "webhooks-orders",
            Endpoint::WebhooksProducts => "webhooks-products",
            Endpoint::DashboardMetrics => "dashboard-metrics",
            Endpoint::DashboardOrdersByDate => "dashboard-orders-by-date",
            Endpoint::DashboardTopCustomers => "dashboard-top-customers",
            Endpoint::ShopifyConnect => "shopify-connect",
            Endpoint::ShopifyDisconnect => "shopify-disconnect",
            Endpoint::SyncRequest => "sync-request",
            Endpoint::SyncStatus => "sync-status",
        }
    }

    pub fn method(self) -> http::Method {
        match self {
            Endpoint::Health
            | Endpoint::TenantsMe
            | Endpoint::DashboardMetrics
            | Endpoint::DashboardOrdersByDate
            | Endpoint::DashboardTopCustomers
            | Endpoint::SyncStatus => http::Method::GET,
            Endpoint::ShopifyConnect => http::Method::PUT,
            Endpoint::ShopifyDisconnect => http::Method::DELETE,
            Endpoint::AuthRegister
            | Endpoint::AuthLogin
            | Endpoint::Webhooks
            | Endpoint::WebhooksCustomers
            | Endpoint::WebhooksOrders
            | Endpoint::WebhooksProducts
            | Endpoint::SyncRequest => http::Method::POST,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Health => "/health",
            Endpoint::AuthRegister => "/auth/register",
            Endpoint::AuthLogin => "/auth/login",
            Endpoint::TenantsMe => "/tenants/me",
            Endpoint::Webhooks => "/webhooks",
            Endpoint::WebhooksCustomers => "/webhooks/customers",
            Endpoint::WebhooksOrders => "/webhooks/orders",
            Endpoint::WebhooksProducts => "/webhooks/products",
            Endpoint::DashboardMetrics => "/dashboard/metrics",
            Endpoint::DashboardOrdersByDate => "/dashboard/orders-by-date",
            Endpoint::DashboardTopCustomers => "/dashboard/top-customers",
            Endpoint::ShopifyConnect | Endpoint::ShopifyDisconnect => "/tenants/me/shopify",
            Endpoint::SyncRequest => "/sync",
            Endpoint::SyncStatus => "/sync/status",
        }
    }

    fn handler(self) -> MethodRouter<App> {
        match self {
            Endpoint::Health => get(health),
            Endpoint::AuthRegister => post(auth::register),
            Endpoint::AuthLogin => post(auth::login),
            Endpoint::TenantsMe => get(auth::me),
            Endpoint::Webhooks => post(webhooks::any).layer(webhook_limit()),
            Endpoint::WebhooksCustomers => post(webhooks::customers).layer(webhook_limit()),
            Endpoint::WebhooksOrders => post(webhooks::orders).layer(webhook_limit()),
            Endpoint::WebhooksProducts => post(webhooks::products).layer(webhook_limit()),
            Endpoint::DashboardMetrics => get(dashboard::metrics),
            Endpoint::DashboardOrdersByDate => get(dashboard::orders_by_date),
            Endpoint::DashboardTopCustomers => get(dashboard::top_customers),
            Endpoint::ShopifyConnect => put(sync::connect),
            Endpoint::ShopifyDisconnect => delete(sync::disconnect),
            Endpoint::SyncRequest => post(sync::request),
            Endpoint::SyncStatus => get(sync::status),
        }
    }
}

fn webhook_limit() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(crate::ingest::MAX_WEBHOOK_BODY)
}

/// A router serving `endpoints` over `app` (a Lambda mounts its one endpoint).
pub fn router(app: App, endpoints: &[Endpoint]) -> Router {
    build(app, endpoints, Router::new())
}

/// Every endpoint plus the dashboard page: what `insights serve` runs.
pub fn local_router(app: App) -> Router {
    build(app, Endpoint::ALL, pages::routes())
}

fn build(app: App, endpoints: &[Endpoint], mut r: Router<App>) -> Router {
    // Endpoints sharing a path (PUT and DELETE /tenants/me/shopify) merge into one route.
    let mut by_path: Vec<(&str, MethodRouter<App>)> = Vec::new();
    for e in endpoints {
        match by_path.iter_mut().find(|(p, _)| *p == e.path()) {
            Some((_, m)) => *m = std::mem::take(m).merge(e.handler()),
            None => by_path.push((e.path(), e.handler())),
        }
    }
    for (path, handler) in by_path {
        r = r.route(path, handler);
    }
    r.fallback(|| async { ApiError::NotFound }).with_state(app)
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}
