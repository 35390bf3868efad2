//! Test support shared by the integration tests: DynamoDB Local tables and a `TestApp` that drives
//! the real router in-process.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use secrecy::SecretString;
use serde_json::Value;
use shared::App;
use shared::app::SecretNames;
use shared::clock::ManualClock;
use shared::secrets::StaticSecrets;
use shared::store::Store;
use shared::store::dynamo::{DynamoStore, create_table};
use shared::store::embedded::EmbeddedStore;
use tower::ServiceExt;

pub mod runtime_api;

/// The signing key every TestApp uses.
pub const JWT_SECRET: &str = "test-signing-key-of-at-least-32-bytes!";
/// The Shopify app secret every TestApp verifies webhooks with (the fixtures' HMAC vector key).
pub const SHOPIFY_SECRET: &str = "hush-this-is-a-test-secret";

/// A fresh table on DynamoDB Local, or `None` (the test returns early) when DynamoDB Local is not
/// configured. `scripts/test` starts it and sets `INSIGHTS_REQUIRE_DYNAMODB=1`, so there a missing
/// endpoint fails instead of skipping.
pub async fn dynamo_table(purpose: &str) -> Option<DynamoStore> {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        assert!(
            std::env::var_os("INSIGHTS_REQUIRE_DYNAMODB").is_none(),
            "INSIGHTS_REQUIRE_DYNAMODB is set but AWS_ENDPOINT_URL_DYNAMODB is not"
        );
        eprintln!("skipped: DynamoDB Local is not running (scripts/test starts it)");
        return None;
    }
    let sdk = shared::config::aws().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let name = format!("insights-{purpose}-{}", random_hex(6));
    create_table(&client, &name).await.unwrap();
    Some(DynamoStore::new(client, name))
}

pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The service's router over a fresh store, driven with `oneshot` requests.
pub struct TestApp {
    pub app: App,
    pub clock: Arc<ManualClock>,
    router: Router,
    _guard: Box<dyn Any + Send + Sync>,
}

/// A response: status, headers, JSON body (`Value::Null` when empty or not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub raw: Vec<u8>,
}

impl TestApp {
    pub async fn embedded() -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        TestApp::over(store, Box::new(dir))
    }

    pub async fn dynamodb() -> Option<TestApp> {
        let store = Arc::new(dynamo_table("api").await?);
        Some(TestApp::over(store, Box::new(())))
    }

    /// Both backends: the embedded one always, DynamoDB Local when it runs.
    pub async fn every_backend() -> Vec<TestApp> {
        let mut v = vec![TestApp::embedded().await];
        v.extend(TestApp::dynamodb().await);
        v
    }

    fn over(store: Arc<dyn Store>, guard: Box<dyn Any + Send + Sync>) -> TestApp {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let secrets = StaticSecrets(HashMap::from([
            ("JWT_SECRET".to_owned(), SecretString::from(JWT_SECRET)),
            (
                "SHOPIFY_API_SECRET".to_owned(),
                SecretString::from(SHOPIFY_SECRET),
            ),
        ]));
        let app = App::new(
            store,
            Arc::new(secrets),
            SecretNames::local(),
            clock.clone(),
        );
        let router = shared::routes::local_router(app.clone());
        TestApp {
            app,
            clock,
            router,
            _guard: guard,
        }
    }

    /// Today by the app's clock (UTC).
    pub fn clock_today(&self) -> chrono::NaiveDate {
        use shared::clock::Clock;
        self.clock.now().date_naive()
    }

    /// The same test app with these sync dependencies (the router is rebuilt over them).
    pub fn with_sync(mut self, deps: shared::sync::SyncDeps) -> TestApp {
        self.app = self.app.clone().with_sync(deps);
        self.router = shared::routes::local_router(self.app.clone());
        self
    }

    /// The same test app with these rate limits (the router is rebuilt over them).
    pub fn with_limits(mut self, limits: shared::limits::RateLimits) -> TestApp {
        self.app.limits = limits;
        self.router = shared::routes::local_router(self.app.clone());
        self
    }

    /// The same test app served at `url` (`APP_URL`; webhook subscriptions point under it).
    pub fn with_app_url(mut self, url: &str) -> TestApp {
        self.app.shopify_app.app_url = url.to_owned();
        self.router = shared::routes::local_router(self.app.clone());
        self
    }

    pub fn backend(&self) -> &'static str {
        self.app.store.backend_name()
    }

    pub async fn send(&self, req: Request<Body>) -> Answer {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let raw = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        let json = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            json,
            raw,
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Answer {
        let mut b = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(body.into()).unwrap()).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.request(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Answer {
        let auth = format!("Bearer {token}");
        self.request(
            Method::GET,
            path,
            &[("authorization", &auth)],
            Body::empty(),
        )
        .await
    }

    /// Registers a tenant with a fresh email and shop; returns the 201 body.
    pub async fn register(&self) -> Value {
        let tag = random_hex(5);
        let a = self
            .post_json(
                "/auth/register",
                &serde_json::json!({
                    "name": format!("Shop {tag}"),
                    "email": format!("owner-{tag}@example.com"),
                    "password": "correct horse battery",
                    "shop_domain": format!("shop-{tag}.myshopify.com"),
                }),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.json);
        a.json
    }
}

/// A fixture body from ../shared/fixtures/shopify.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../../shared/fixtures/shopify/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A Shopify delivery, signed as Shopify signs it unless told otherwise.
pub struct Delivery<'a> {
    pub path: &'a str,
    pub topic: &'a str,
    /// `""`: no `X-Shopify-Shop-Domain` header.
    pub shop: &'a str,
    pub event_id: Option<String>,
    pub triggered_at: Option<&'a str>,
    pub body: Vec<u8>,
    /// `None`: sign with the app secret; `Some(sig)`: send this header value instead.
    pub signature: Option<String>,
}

impl<'a> Delivery<'a> {
    pub fn new(topic: &'a str, shop: &'a str, body: Vec<u8>) -> Delivery<'a> {
        Delivery {
            path: "/webhooks",
            topic,
            shop,
            event_id: Some(random_hex(8)),
            triggered_at: None,
            body,
            signature: None,
        }
    }
}

impl TestApp {
    pub async fn deliver(&self, d: &Delivery<'_>) -> Answer {
        let sig = d
            .signature
            .clone()
            .unwrap_or_else(|| shared::ingest::verify::sign(SHOPIFY_SECRET.as_bytes(), &d.body));
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(d.path)
            .header("content-type", "application/json")
            .header("x-shopify-topic", d.topic)
            .header("x-shopify-api-version", "2026-01")
            .header("x-shopify-webhook-id", random_hex(8));
        if !sig.is_empty() {
            b = b.header("x-shopify-hmac-sha256", sig);
        }
        if !d.shop.is_empty() {
            b = b.header("x-shopify-shop-domain", d.shop);
        }
        if let Some(e) = &d.event_id {
            b = b.header("x-shopify-event-id", e.as_str());
        }
        if let Some(t) = d.triggered_at {
            b = b.header("x-shopify-triggered-at", t);
        }
        self.send(b.body(Body::from(d.body.clone())).unwrap()).await
    }

    /// The tenant id of a registration answer.
    pub fn tenant_of(reg: &Value) -> shared::domain::TenantId {
        shared::domain::TenantId::parse(reg["tenant"]["id"].as_str().unwrap()).unwrap()
    }

    /// A stored item of the tenant, if any.
    pub async fn item(
        &self,
        tenant: shared::domain::TenantId,
        what: shared::store::keys::TenantItem,
    ) -> Option<shared::store::Item> {
        self.app.store.get(&what.key(tenant)).await.unwrap()
    }

    /// A number attribute of a tenant item (zero when absent).
    pub async fn number(
        &self,
        tenant: shared::domain::TenantId,
        what: shared::store::keys::TenantItem,
        attr: &str,
    ) -> rust_decimal::Decimal {
        self.item(tenant, what)
            .await
            .and_then(|i| i.get(attr).and_then(shared::store::Attr::as_n))
            .unwrap_or_default()
    }
}

/// A fresh embedded store whose directory lives as long as `dirs` (for properties that make many).
pub fn embedded_store(dirs: &std::sync::Mutex<Vec<tempfile::TempDir>>) -> Arc<dyn Store> {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    dirs.lock().unwrap().push(dir);
    Arc::new(store)
}
