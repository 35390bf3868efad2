//! Every HTTP route and every Lambda job, declared once: name (= `functions/<name>` = package =
//! binary = SAM function), method and path, the bundle of ports it is handed, what it needs of
//! them (from which its IAM grants follow), and its handler.
//!
//! From these declarations come the local router ([`local_router`], every route), each Lambda's
//! composition root (`shared::lambda::serve::<routes::DashboardMetrics>()`, its own route only,
//! chosen at compile time) and the consistency tests (template, `events/`, OpenAPI, grants).
//!
//! Adding an endpoint: one `route!` line here, its handler in `http/`, a short
//! `functions/<name>/src/main.rs`, a `template.yaml` entry and an `events/<name>.json` sample
//! (docs/architecture.md has the recipe).

use std::time::Duration;

use axum::Router;
use axum::routing::{MethodFilter, MethodRouter};
use serde_json::Value;

use crate::App;
use crate::deps::{
    Accounts, Deps, Ingest, InstallCallback, InstallLaunch, InstallStart, Maintenance, Need,
    NoDeps, Port, Scheduler, ShopConnect, ShopLink, Storefront, SyncRequests, SyncRunner,
    TrustedIngest,
};
use crate::http::{self, ApiError};
use crate::ingest::MAX_WEBHOOK_BODY;

/// An HTTP route: one Lambda behind API Gateway, one route of `insights serve`.
pub trait Route: 'static {
    /// The function, package and binary name.
    const NAME: &'static str;
    /// `GET`, `POST`, `PUT` or `DELETE`.
    const METHOD: &'static str;
    const PATH: &'static str;
    /// What it needs of its ports; its function's grants follow from these.
    const NEEDS: &'static [Need];
    /// The ports it is handed.
    type Deps: Deps;
    /// The handler (with its body limit).
    fn handler() -> MethodRouter<Self::Deps>;
}

/// A scheduled or event-driven Lambda job.
pub trait Job: 'static {
    const NAME: &'static str;
    const NEEDS: &'static [Need];
    type Deps: Deps;
    /// The job's failure, reported to Lambda (which retries).
    type Error: std::error::Error + Into<lambda_runtime::Diagnostic> + Send + Sync + 'static;
    /// Handles one event with `remaining` time before Lambda's deadline.
    fn run(
        deps: &Self::Deps,
        event: Value,
        remaining: Duration,
    ) -> impl std::future::Future<Output = Result<Value, Self::Error>> + Send;
}

/// A route's declaration as data, for the local router and the consistency tests.
pub struct RouteInfo {
    pub name: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub needs: &'static [Need],
    /// The ports its bundle holds.
    pub ports: &'static [Port],
    /// Its handler over the local app's ports.
    pub mount: fn(&App) -> MethodRouter,
}

impl RouteInfo {
    const fn of<R: Route>() -> RouteInfo {
        RouteInfo {
            name: R::NAME,
            method: R::METHOD,
            path: R::PATH,
            needs: R::NEEDS,
            ports: <R::Deps as Deps>::PORTS,
            mount: mount::<R>,
        }
    }

    pub fn method(&self) -> ::http::Method {
        ::http::Method::from_bytes(self.method.as_bytes()).unwrap_or(::http::Method::GET)
    }

    /// A router serving only this route over the app's ports, as its Lambda does.
    pub fn router(&self, app: &App) -> Router {
        Router::new()
            .route(self.path, (self.mount)(app))
            .fallback(not_found)
            .layer(axum::middleware::from_fn(crate::limits::headers))
    }
}

/// A job's declaration as data, for the consistency tests.
pub struct JobInfo {
    pub name: &'static str,
    pub needs: &'static [Need],
    pub ports: &'static [Port],
}

impl JobInfo {
    const fn of<J: Job>() -> JobInfo {
        JobInfo {
            name: J::NAME,
            needs: J::NEEDS,
            ports: <J::Deps as Deps>::PORTS,
        }
    }
}

fn mount<R: Route>(app: &App) -> MethodRouter {
    R::handler().with_state(R::Deps::from_app(app))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// The router a route's Lambda runs: that route over its bundle; anything else is a 404.
pub fn router_of<R: Route>(deps: R::Deps) -> Router {
    Router::new()
        .route(R::PATH, R::handler())
        .fallback(not_found)
        .with_state(deps)
        .layer(axum::middleware::from_fn(crate::limits::headers))
}

/// Every route plus the dashboard page: what `insights serve` runs.
pub fn local_router(app: App) -> Router {
    // Routes sharing a path (PUT and DELETE /tenants/me/shopify) merge into one.
    let mut by_path: Vec<(&str, MethodRouter)> = Vec::new();
    for r in ROUTES {
        let handler = (r.mount)(&app);
        match by_path.iter_mut().find(|(p, _)| *p == r.path) {
            Some((_, m)) => *m = std::mem::take(m).merge(handler),
            None => by_path.push((r.path, handler)),
        }
    }
    let mut router = http::pages::routes();
    for (path, handler) in by_path {
        router = router.route(path, handler);
    }
    router
        .fallback(not_found)
        .layer(axum::middleware::from_fn(crate::limits::headers))
}

/// The route declared as `name`.
pub fn route(name: &str) -> Option<&'static RouteInfo> {
    ROUTES.iter().find(|r| r.name == name)
}

fn limited<S: Clone + Send + Sync + 'static>(m: MethodRouter<S>, limit: usize) -> MethodRouter<S> {
    m.layer(axum::extract::DefaultBodyLimit::max(limit))
}

macro_rules! routes {
    ($(
        $(#[$doc:meta])*
        $ty:ident = $name:literal, $method:ident $path:literal, $deps:ty,
        [$($need:expr),* $(,)?], $handler:path $(, limit $limit:expr)? $(, layer $layer:expr)?;
    )*) => {
        $(
            $(#[$doc])*
            pub struct $ty;

            impl Route for $ty {
                const NAME: &'static str = $name;
                const METHOD: &'static str = stringify!($method);
                const PATH: &'static str = $path;
                const NEEDS: &'static [Need] = &[$($need),*];
                type Deps = $deps;
                fn handler() -> MethodRouter<$deps> {
                    let m = axum::routing::on(MethodFilter::$method, $handler);
                    $(let m = limited(m, $limit);)?
                    $(let m = m.layer($layer);)?
                    m
                }
            }
        )*

        /// Every route, in the order the README lists them.
        pub static ROUTES: &[RouteInfo] = &[$(RouteInfo::of::<$ty>()),*];
    };
}

use Need::{
    AppSecret, Clock, Counters, Queue, ShopifyApi, SigningKey, TableRead, TableWrite, Vault,
};

routes! {
    /// `GET /health`: no ports.
    Health = "health", GET "/health", NoDeps, [], http::health;
    AuthRegister = "auth-register", POST "/auth/register", Accounts,
        [TableWrite, Clock, SigningKey], http::auth::register;
    /// Login counts failed attempts (throttling), so it writes.
    AuthLogin = "auth-login", POST "/auth/login", Accounts,
        [TableWrite, Clock, SigningKey], http::auth::login;
    TenantsMe = "tenants-me", GET "/tenants/me", Accounts,
        [TableRead, Counters, Clock, SigningKey], http::auth::me;
    Webhooks = "webhooks", POST "/webhooks", Ingest,
        [TableWrite, Clock, AppSecret, Vault(&["DeleteSecret"])], http::webhooks::any, limit MAX_WEBHOOK_BODY;
    WebhooksCustomers = "webhooks-customers", POST "/webhooks/customers", Ingest,
        [TableWrite, Clock, AppSecret, Vault(&["DeleteSecret"])], http::webhooks::customers, limit MAX_WEBHOOK_BODY;
    WebhooksOrders = "webhooks-orders", POST "/webhooks/orders", Ingest,
        [TableWrite, Clock, AppSecret, Vault(&["DeleteSecret"])], http::webhooks::orders, limit MAX_WEBHOOK_BODY;
    WebhooksProducts = "webhooks-products", POST "/webhooks/products", Ingest,
        [TableWrite, Clock, AppSecret, Vault(&["DeleteSecret"])], http::webhooks::products, limit MAX_WEBHOOK_BODY;
    DashboardMetrics = "dashboard-metrics", GET "/dashboard/metrics", Accounts,
        [TableRead, Counters, Clock, SigningKey], http::dashboard::metrics;
    /// The signing key also seals the page cursors.
    DashboardOrdersByDate = "dashboard-orders-by-date", GET "/dashboard/orders-by-date", Accounts,
        [TableRead, Counters, Clock, SigningKey], http::dashboard::orders_by_date;
    DashboardTopCustomers = "dashboard-top-customers", GET "/dashboard/top-customers", Accounts,
        [TableRead, Counters, Clock, SigningKey], http::dashboard::top_customers;
    ShopifyConnect = "shopify-connect", PUT "/tenants/me/shopify", ShopConnect,
        [TableWrite, Clock, SigningKey, Vault(&["CreateSecret", "PutSecretValue"]), ShopifyApi, Queue],
        http::sync::connect;
    ShopifyDisconnect = "shopify-disconnect", DELETE "/tenants/me/shopify", ShopLink,
        [TableWrite, Clock, SigningKey, Vault(&["DeleteSecret"]), ShopifyApi],
        http::sync::disconnect;
    SyncRequest = "sync-request", POST "/sync", SyncRequests,
        [TableWrite, Clock, SigningKey, Queue], http::sync::request;
    SyncStatus = "sync-status", GET "/sync/status", Accounts,
        [TableRead, Counters, Clock, SigningKey], http::sync::status;
    /// Writes the install's `state`.
    ShopifyInstallStart = "shopify-install-start", POST "/tenants/me/shopify/install", InstallStart,
        [TableWrite, Clock, SigningKey], http::install::start;
    /// Shopify's install and launch URL: a GET that writes (the install's `state`).
    ShopifyInstall = "shopify-install", GET "/shopify/install", InstallLaunch,
        [TableWrite, Clock, AppSecret], http::install::launch;
    /// The OAuth callback: a GET that writes (uses up the state, connects the shop).
    ShopifyCallback = "shopify-callback", GET "/shopify/callback", InstallCallback,
        [TableWrite, Clock, AppSecret, Vault(&["CreateSecret", "PutSecretValue"]), ShopifyApi, Queue],
        http::install::callback;
    /// Uses the code up.
    AuthSigninCode = "auth-signin-code", POST "/auth/signin-code", Accounts,
        [TableWrite, Clock, SigningKey], http::install::signin_code;
    TenantsMeLogin = "tenants-me-login", PUT "/tenants/me/login", Accounts,
        [TableWrite, Clock, SigningKey], http::install::set_login;
    /// A new API key; the old one stops working.
    TenantsMeApiKey = "tenants-me-api-key", POST "/tenants/me/api-key", Accounts,
        [TableWrite, Clock, SigningKey], http::auth::rotate_api_key;
    ComplianceRequests = "compliance-requests", GET "/compliance/requests", Accounts,
        [TableRead, Counters, Clock, SigningKey], http::compliance::requests;
    ComplianceRequest = "compliance-request", GET "/compliance/requests/{id}", Accounts,
        [TableRead, Counters, Clock, SigningKey], http::compliance::request;
    /// Storefront events by ingest key; CORS open on this path only (the preflight included).
    EventsIngest = "events-ingest", POST "/events", Storefront,
        [TableWrite, Clock], http::storefront::ingest,
        limit crate::storefront::pixel::MAX_BODY,
        layer axum::middleware::from_fn(http::storefront::cors_open);
    /// Makes the key on first use, so it writes.
    TenantsMeIngestKey = "tenants-me-ingest-key", GET "/tenants/me/ingest-key", Accounts,
        [TableWrite, Clock, SigningKey], http::storefront::ingest_key_get;
    TenantsMeIngestKeyReplace = "tenants-me-ingest-key-replace", POST "/tenants/me/ingest-key", Accounts,
        [TableWrite, Clock, SigningKey], http::storefront::ingest_key_replace;
    TenantsMeSettings = "tenants-me-settings", GET "/tenants/me/settings", Accounts,
        [TableRead, Counters, Clock, SigningKey], http::storefront::settings_get;
    TenantsMeSettingsPut = "tenants-me-settings-put", PUT "/tenants/me/settings", Accounts,
        [TableWrite, Clock, SigningKey], http::storefront::settings_put;
    DashboardEvents = "dashboard-events", GET "/dashboard/events", Accounts,
        [TableRead, Counters, Clock, SigningKey], http::storefront::events;
    DashboardFunnel = "dashboard-funnel", GET "/dashboard/funnel", Accounts,
        [TableRead, Counters, Clock, SigningKey], http::storefront::funnel;
    DashboardSales = "dashboard-sales", GET "/dashboard/sales", Accounts,
        [TableRead, Counters, Clock, SigningKey], http::dashboard::sales;
    DashboardTopProducts = "dashboard-top-products", GET "/dashboard/top-products", Accounts,
        [TableRead, Counters, Clock, SigningKey], http::dashboard::top_products;
}

/// `sync-scheduler`: on the EventBridge schedule, queue a sync of every connected shop.
pub struct SyncScheduler;

impl Job for SyncScheduler {
    const NAME: &'static str = "sync-scheduler";
    const NEEDS: &'static [Need] = &[TableWrite, Clock, Queue];
    type Deps = Scheduler;
    type Error = crate::lambda::JobError;
    async fn run(deps: &Scheduler, _: Value, _: Duration) -> Result<Value, Self::Error> {
        crate::lambda::sync_scheduler(deps).await
    }
}

/// `sync-shop`: one `SyncRequested` event, run until done or requeued before the deadline.
pub struct SyncShop;

impl Job for SyncShop {
    const NAME: &'static str = "sync-shop";
    const NEEDS: &'static [Need] = &[
        TableWrite,
        Clock,
        // Reads the shop's tokens; keeps the pair a refresh rotates; a shop erase destroys them.
        Vault(&[
            "GetSecretValue",
            "PutSecretValue",
            "CreateSecret",
            "DeleteSecret",
        ]),
        Queue,
        ShopifyApi,
        AppSecret,
    ];
    type Deps = SyncRunner;
    type Error = crate::lambda::JobError;
    async fn run(
        deps: &SyncRunner,
        event: Value,
        remaining: Duration,
    ) -> Result<Value, Self::Error> {
        crate::lambda::sync_shop(deps, &event, remaining).await
    }
}

/// `webhooks-eventbridge`: Shopify's EventBridge partner source.
pub struct WebhooksEventbridge;

impl Job for WebhooksEventbridge {
    const NAME: &'static str = "webhooks-eventbridge";
    const NEEDS: &'static [Need] = &[TableWrite, Clock, Vault(&["DeleteSecret"])];
    type Deps = TrustedIngest;
    type Error = crate::lambda::Retry;
    async fn run(deps: &TrustedIngest, event: Value, _: Duration) -> Result<Value, Self::Error> {
        crate::lambda::webhooks_eventbridge(deps, &event).await
    }
}

/// `checkouts-abandon`: on the EventBridge schedule, abandon the checkouts that are due.
pub struct CheckoutsAbandon;

impl Job for CheckoutsAbandon {
    const NAME: &'static str = "checkouts-abandon";
    const NEEDS: &'static [Need] = &[TableWrite, Clock];
    type Deps = Storefront;
    type Error = crate::lambda::JobError;
    async fn run(deps: &Storefront, _: Value, remaining: Duration) -> Result<Value, Self::Error> {
        crate::lambda::checkouts_abandon(deps, remaining).await
    }
}

/// `ledger-backfill`: on its schedule until finished, add the orders stored before the sales
/// ledger to it (a one-time job; once finished, each run is one read).
pub struct LedgerBackfill;

impl Job for LedgerBackfill {
    const NAME: &'static str = "ledger-backfill";
    const NEEDS: &'static [Need] = &[TableWrite, Clock];
    type Deps = Maintenance;
    type Error = crate::lambda::JobError;
    async fn run(deps: &Maintenance, _: Value, remaining: Duration) -> Result<Value, Self::Error> {
        crate::lambda::ledger_backfill(deps, remaining).await
    }
}

/// Every job.
pub static JOBS: &[JobInfo] = &[
    JobInfo::of::<SyncScheduler>(),
    JobInfo::of::<SyncShop>(),
    JobInfo::of::<WebhooksEventbridge>(),
    JobInfo::of::<CheckoutsAbandon>(),
    JobInfo::of::<LedgerBackfill>(),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn ports_of(needs: &[Need]) -> BTreeSet<Port> {
        needs.iter().map(|n| n.port()).collect()
    }

    #[test]
    fn every_route_and_job_needs_exactly_the_ports_its_bundle_holds() {
        for r in ROUTES {
            let held: BTreeSet<Port> = r.ports.iter().copied().collect();
            assert_eq!(ports_of(r.needs), held, "{}", r.name);
        }
        for j in JOBS {
            let held: BTreeSet<Port> = j.ports.iter().copied().collect();
            assert_eq!(ports_of(j.needs), held, "{}", j.name);
        }
    }

    #[test]
    fn names_are_unique_and_each_method_and_path_is_served_once() {
        let names: BTreeSet<&str> = ROUTES
            .iter()
            .map(|r| r.name)
            .chain(JOBS.iter().map(|j| j.name))
            .collect();
        assert_eq!(names.len(), ROUTES.len() + JOBS.len());
        let routes: BTreeSet<(&str, &str)> = ROUTES.iter().map(|r| (r.method, r.path)).collect();
        assert_eq!(routes.len(), ROUTES.len());
        for r in ROUTES {
            assert_eq!(r.method().as_str(), r.method, "{}", r.name);
        }
    }
}
