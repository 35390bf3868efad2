//! The install (OAuth) and who holds a shop, through the API: `POST /tenants/me/shopify/install`,
//! `GET /shopify/install`, `GET /shopify/callback`, `POST /auth/signin-code`,
//! `PUT /tenants/me/login`, against the fake Shopify's OAuth endpoints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_shopify;
mod support;

use std::sync::Arc;

use axum::body::Body;
use fake_shopify::{FakeConfig, FakeShopify};
use http::{Method, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use shared::config::{DEFAULT_SCOPES, LOCAL_CLIENT_ID};
use shared::deps::{Deps, SyncRunner};
use shared::domain::TenantId;
use shared::install::query;
use shared::store::keys::TenantItem;
use shared::sync::SyncDeps;
use shared::sync::queue::{LocalQueue, SyncRequest};
use shared::sync::vault::{LocalVault, ShopTokens};
use support::{Answer, Delivery, SHOPIFY_SECRET, TestApp, fixture, random_hex};
use tokio::sync::mpsc;

const SHOP: &str = "snowdevil.myshopify.com";
const APP_URL: &str = "https://insights.example";

/// The service wired to a fake Shopify that grants the default scopes to the app's credentials.
struct Scene {
    t: TestApp,
    fake: FakeShopify,
    vault: Arc<LocalVault>,
    queued: mpsc::UnboundedReceiver<SyncRequest>,
}

impl Scene {
    async fn new() -> Scene {
        Scene::over(TestApp::embedded().await).await
    }

    /// `APP_URL` is HTTPS here, as Shopify requires of a subscription address.
    async fn over(t: TestApp) -> Scene {
        let t = t.with_app_url(APP_URL);
        let fake = FakeShopify::start(FakeConfig {
            shop_domain: SHOP.into(),
            ..FakeConfig::default()
        })
        .await;
        fake.set_scopes(DEFAULT_SCOPES);
        fake.expect_client(LOCAL_CLIENT_ID, SHOPIFY_SECRET);
        let vault = Arc::new(LocalVault::new(
            t.app.store.clone(),
            &SecretString::from("install test key"),
        ));
        let (tx, queued) = mpsc::unbounded_channel();
        let t = t.with_sync(SyncDeps {
            vault: vault.clone(),
            queue: Arc::new(LocalQueue(tx)),
            shopify_base_url: Some(fake.base_url()),
            http: reqwest::Client::new(),
            bulk_orders: false,
            bulk_poll: std::time::Duration::from_millis(10),
        });
        Scene {
            t,
            fake,
            vault,
            queued,
        }
    }

    /// `params` with Shopify's `hmac` under `secret`, as a query string.
    fn signed_with(secret: &str, params: &[(&str, &str)]) -> String {
        let mut p: query::Params = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let h = query::sign(secret.as_bytes(), &p);
        p.push(("hmac".into(), h));
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&p)
            .finish()
    }

    fn signed(params: &[(&str, &str)]) -> String {
        Scene::signed_with(SHOPIFY_SECRET, params)
    }

    async fn get(&self, path: &str) -> Answer {
        self.t.request(Method::GET, path, &[], Body::empty()).await
    }

    async fn send_json(&self, method: Method, path: &str, token: &str, body: &Value) -> Answer {
        let auth = format!("Bearer {token}");
        self.t
            .request(
                method,
                path,
                &[
                    ("authorization", auth.as_str()),
                    ("content-type", "application/json"),
                ],
                body.to_string(),
            )
            .await
    }

    /// Shopify's install URL for `shop`: the state in the authorize URL it redirects to.
    async fn launch(&self, shop: &str) -> String {
        let q = Scene::signed(&[
            ("shop", shop),
            ("timestamp", "1795664467"),
            ("host", "YWRtaW4uc2hvcGlmeS5jb20"),
        ]);
        let a = self.get(&format!("/shopify/install?{q}")).await;
        assert_eq!(a.status, StatusCode::FOUND, "{}", a.json);
        state_of(location(&a))
    }

    /// `POST /tenants/me/shopify/install` as the tenant: the state in its authorize URL.
    async fn start(&self, token: &str) -> String {
        let a = self
            .send_json(
                Method::POST,
                "/tenants/me/shopify/install",
                token,
                &json!({}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.json);
        state_of(a.json["authorize_url"].as_str().unwrap())
    }

    /// Shopify's redirect to the callback after the merchant approved.
    async fn callback(&self, shop: &str, state: &str) -> Answer {
        let code = self.fake.approve();
        let q = Scene::signed(&[
            ("code", &code),
            ("shop", shop),
            ("state", state),
            ("timestamp", "1795664467"),
            ("host", "YWRtaW4uc2hvcGlmeS5jb20"),
        ]);
        self.get(&format!("/shopify/callback?{q}")).await
    }

    async fn signin(&self, code: &str) -> Answer {
        self.t
            .post_json("/auth/signin-code", &json!({ "code": code }))
            .await
    }

    /// The whole install from Shopify's install URL: the signed-in answer.
    async fn install_from_shopify(&self, shop: &str) -> Value {
        let state = self.launch(shop).await;
        let a = self.callback(shop, &state).await;
        assert_eq!(a.status, StatusCode::FOUND, "{}", a.json);
        let s = self.signin(&signin_code(&a)).await;
        assert_eq!(s.status, StatusCode::OK, "{}", s.json);
        s.json
    }

    async fn register(&self, shop: &str) -> Answer {
        let tag = random_hex(4);
        self.t
            .post_json(
                "/auth/register",
                &json!({
                    "name": "Someone",
                    "email": format!("someone-{tag}@example.com"),
                    "password": "correct horse battery",
                    "shop_domain": shop,
                }),
            )
            .await
    }

    async fn me(&self, token: &str) -> Value {
        let a = self.t.get_with_token("/tenants/me", token).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.json);
        a.json["tenant"].clone()
    }

    async fn orders(&self, token: &str) -> Value {
        self.t
            .get_with_token("/dashboard/metrics", token)
            .await
            .json["orders"]
            .clone()
    }

    /// `PUT /tenants/me/shopify` with the Admin API token the fake accepts.
    async fn connect_with_token(&self, bearer: &str) -> Answer {
        let body = json!({"access_token": self.fake.config().token});
        self.send_json(Method::PUT, "/tenants/me/shopify", bearer, &body)
            .await
    }

    /// `POST /sync`, the queued run carried out here, then `GET /sync/status`.
    async fn sync(&mut self, bearer: &str) -> Value {
        // Connecting queued the first sync; any later one is asked for.
        let req = match self.queued.try_recv() {
            Ok(first) => first,
            Err(_) => {
                let a = self
                    .send_json(Method::POST, "/sync", bearer, &json!({}))
                    .await;
                assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.json);
                self.queued.recv().await.unwrap()
            }
        };
        let runner = SyncRunner::from_app(&self.t.app);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        shared::sync::run(&runner, &req, deadline, &|_, _| {})
            .await
            .unwrap();
        self.t.get_with_token("/sync/status", bearer).await.json
    }

    async fn kept_pair(&self, tenant: TenantId) -> ShopTokens {
        use shared::sync::TokenVault;
        ShopTokens::decode(&self.vault.get(tenant).await.unwrap().unwrap())
    }

    async fn connected(&self, tenant: TenantId) -> bool {
        self.t.item(tenant, TenantItem::Connection).await.is_some()
    }
}

fn location(a: &Answer) -> &str {
    a.headers
        .get(header::LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
}

fn state_of(url: &str) -> String {
    let q = url.split_once('?').unwrap().1;
    query::param(&query::parse(Some(q)), "state")
        .unwrap()
        .to_owned()
}

fn signin_code(a: &Answer) -> String {
    location(a)
        .strip_prefix("/#signin=")
        .unwrap_or_else(|| panic!("redirected to {}", location(a)))
        .to_owned()
}

fn token(v: &Value) -> String {
    v["token"].as_str().unwrap().to_owned()
}

fn tenant(v: &Value) -> TenantId {
    TenantId::parse(v["tenant"]["id"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn shopifys_install_url_redirects_to_the_shops_authorize_url_with_the_app_scopes_and_a_state()
{
    let s = Scene::new().await;
    let q = Scene::signed(&[("shop", SHOP), ("timestamp", "1795664467")]);
    let a = s.get(&format!("/shopify/install?{q}")).await;
    assert_eq!(a.status, StatusCode::FOUND);
    let url = location(&a);
    let (origin, rest) = url.split_once('?').unwrap();
    assert_eq!(
        origin,
        format!("{}/admin/oauth/authorize", s.fake.base_url())
    );
    let p = query::parse(Some(rest));
    assert_eq!(query::param(&p, "client_id"), Some(LOCAL_CLIENT_ID));
    assert_eq!(
        query::param(&p, "scope"),
        Some(DEFAULT_SCOPES.join(",").as_str())
    );
    assert_eq!(
        query::param(&p, "redirect_uri").unwrap(),
        format!("{}/shopify/callback", s.t.app.shopify_app.app_url)
    );
    assert!(query::param(&p, "state").unwrap().len() >= 32);
    // Each install gets its own state.
    assert_ne!(s.launch(SHOP).await, s.launch(SHOP).await);
}

#[tokio::test]
async fn shopifys_install_url_answers_401_without_a_valid_hmac() {
    let s = Scene::new().await;
    let unsigned = s
        .get(&format!("/shopify/install?shop={SHOP}&timestamp=1"))
        .await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unsigned.json["error"]["code"], "invalid_hmac");
    let other_secret =
        Scene::signed_with("not-the-app-secret", &[("shop", SHOP), ("timestamp", "1")]);
    let a = s.get(&format!("/shopify/install?{other_secret}")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // Signed for one shop, sent for another.
    let q = Scene::signed(&[("shop", SHOP), ("timestamp", "1")]).replace("snowdevil", "elsewhere");
    let a = s.get(&format!("/shopify/install?{q}")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn shopifys_install_url_answers_400_for_a_shop_that_is_not_a_myshopify_host() {
    let s = Scene::new().await;
    for shop in ["evil.example.com", "snowdevil.myshopify.com.evil.com", ""] {
        let q = Scene::signed(&[("shop", shop), ("timestamp", "1")]);
        let a = s.get(&format!("/shopify/install?{q}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{shop}");
        assert_eq!(a.json["error"]["code"], "invalid_shop_domain");
    }
}

#[tokio::test]
async fn a_signed_in_tenant_gets_the_authorize_url_of_its_own_shop_and_a_stranger_gets_401() {
    let s = Scene::new().await;
    let reg = s.register(SHOP).await;
    let a = s
        .send_json(
            Method::POST,
            "/tenants/me/shopify/install",
            &token(&reg.json),
            &json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let url = a.json["authorize_url"].as_str().unwrap();
    assert!(url.starts_with(&format!(
        "{}/admin/oauth/authorize?client_id=",
        s.fake.base_url()
    )));
    let anonymous =
        s.t.request(
            Method::POST,
            "/tenants/me/shopify/install",
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_install_from_shopify_creates_a_tenant_that_signs_in_once_then_sets_its_login() {
    let s = Scene::new().await;
    let state = s.launch(SHOP).await;
    let a = s.callback(SHOP, &state).await;
    assert_eq!(a.status, StatusCode::FOUND, "{}", a.json);
    let code = signin_code(&a);

    let signed_in = s.signin(&code).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.json);
    assert_eq!(signed_in.json["token_type"], "Bearer");
    assert!(signed_in.json["expires_in"].as_i64().unwrap() > 0);
    assert_eq!(signed_in.json["tenant"]["shop_domain"], SHOP);
    // Once per code.
    assert_eq!(s.signin(&code).await.status, StatusCode::UNAUTHORIZED);

    let bearer = token(&signed_in.json);
    let me = s.me(&bearer).await;
    assert_eq!(me["email"], Value::Null);
    assert_eq!(me["shop_status"], "connected");
    assert!(s.connected(tenant(&signed_in.json)).await);

    let login = json!({"email": "Owner@SnowDevil.example", "password": "a long enough password"});
    let set = s
        .send_json(Method::PUT, "/tenants/me/login", &bearer, &login)
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{}", set.json);
    assert_eq!(s.me(&bearer).await["email"], "owner@snowdevil.example");
    let logged_in =
        s.t.post_json(
            "/auth/login",
            &json!({"email": "owner@snowdevil.example", "password": "a long enough password"}),
        )
        .await;
    assert_eq!(logged_in.status, StatusCode::OK);
    assert_eq!(tenant(&logged_in.json), tenant(&signed_in.json));
    // The login is set once.
    let again = s
        .send_json(Method::PUT, "/tenants/me/login", &bearer, &login)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn setting_a_login_follows_the_registration_rules_and_refuses_a_taken_email_with_409() {
    let s = Scene::new().await;
    let taken = s.register("other-shop.myshopify.com").await;
    let taken_email = {
        let me = s.me(&token(&taken.json)).await;
        me["email"].as_str().unwrap().to_owned()
    };
    let bearer = token(&s.install_from_shopify(SHOP).await);
    for (body, code) in [
        (
            json!({"email": "not-an-email", "password": "long enough pass"}),
            "invalid_email",
        ),
        (
            json!({"email": "a@b.example", "password": "short"}),
            "invalid_password",
        ),
        (json!({"password": "long enough pass"}), "missing_field"),
    ] {
        let a = s
            .send_json(Method::PUT, "/tenants/me/login", &bearer, &body)
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(a.json["error"]["code"], code, "{body}");
    }
    let a = s
        .send_json(
            Method::PUT,
            "/tenants/me/login",
            &bearer,
            &json!({"email": taken_email, "password": "long enough pass"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.json["error"]["code"], "email_taken");
    // Nothing was set.
    assert_eq!(s.me(&bearer).await["email"], Value::Null);
}

#[tokio::test]
async fn the_callback_connects_the_tenant_that_started_the_install_keeps_the_token_pair_and_queues_the_first_sync()
 {
    let mut s = Scene::new().await;
    let reg = s.register(SHOP).await;
    let bearer = token(&reg.json);
    assert_eq!(s.me(&bearer).await["shop_status"], "claimed");
    let state = s.start(&bearer).await;
    let a = s.callback(SHOP, &state).await;
    assert_eq!(a.status, StatusCode::FOUND, "{}", a.json);
    let signed_in = s.signin(&signin_code(&a)).await;
    assert_eq!(tenant(&signed_in.json), tenant(&reg.json));
    assert_eq!(s.me(&bearer).await["shop_status"], "connected");

    use shared::sync::TokenVault;
    let kept = s.vault.get(tenant(&reg.json)).await.unwrap().unwrap();
    let pair = ShopTokens::decode(&kept);
    let grant = s.fake.last_grant().unwrap();
    assert_eq!(pair.access_token.expose_secret(), grant.access_token);
    assert_eq!(
        pair.refresh_token.unwrap().expose_secret(),
        grant.refresh_token
    );
    assert!(pair.expires_at.is_some());
    // Connected: the first sync is queued, so asking for another now is 409.
    let first = s.queued.try_recv().expect("the first sync was queued");
    assert_eq!(first.tenant, tenant(&reg.json));
    let sync = s
        .send_json(Method::POST, "/sync", &bearer, &json!({}))
        .await;
    assert_eq!(sync.status, StatusCode::CONFLICT, "{}", sync.json);
    assert_eq!(sync.json["error"]["code"], "sync_running");
}

#[tokio::test]
async fn the_callback_answers_401_for_a_tampered_hmac_and_stores_nothing() {
    let s = Scene::new().await;
    let reg = s.register(SHOP).await;
    let state = s.start(&token(&reg.json)).await;
    let code = s.fake.approve();
    let q = Scene::signed(&[
        ("code", &code),
        ("shop", SHOP),
        ("state", &state),
        ("timestamp", "1"),
    ]);
    let tampered = q.replace(&code, &s.fake.approve());
    let a = s.get(&format!("/shopify/callback?{tampered}")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let unsigned = s
        .get(&format!(
            "/shopify/callback?code={code}&shop={SHOP}&state={state}&timestamp=1"
        ))
        .await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    assert_eq!(s.fake.token_exchanges(), 0);
    assert!(!s.connected(tenant(&reg.json)).await);
    assert_eq!(s.me(&token(&reg.json)).await["shop_status"], "claimed");
    // The state was not used up by the refused requests.
    assert_eq!(s.callback(SHOP, &state).await.status, StatusCode::FOUND);
}

#[tokio::test]
async fn a_state_is_single_use() {
    let s = Scene::new().await;
    let state = s.launch(SHOP).await;
    assert_eq!(s.callback(SHOP, &state).await.status, StatusCode::FOUND);
    let again = s.callback(SHOP, &state).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.json["error"]["code"], "invalid_state");
    assert_eq!(s.fake.token_exchanges(), 1);
}

#[tokio::test]
async fn two_concurrent_callbacks_with_one_state_connect_once() {
    let s = Scene::new().await;
    let state = s.launch(SHOP).await;
    let (a, b) = tokio::join!(s.callback(SHOP, &state), s.callback(SHOP, &state));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::FOUND, StatusCode::BAD_REQUEST]);
    assert_eq!(s.fake.token_exchanges(), 1);
}

#[tokio::test]
async fn a_state_expires_after_ten_minutes_and_an_unknown_state_is_refused() {
    let s = Scene::new().await;
    let fresh = s.launch(SHOP).await;
    let stale = s.launch(SHOP).await;
    s.t.clock.advance(chrono::Duration::minutes(9));
    assert_eq!(s.callback(SHOP, &fresh).await.status, StatusCode::FOUND);
    s.t.clock.advance(chrono::Duration::minutes(2));
    let a = s.callback(SHOP, &stale).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json["error"]["code"], "invalid_state");
    let unknown = s.callback(SHOP, "never-issued").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.json["error"]["code"], "invalid_state");
}

#[tokio::test]
async fn a_state_issued_for_one_shop_is_refused_for_another_and_stores_nothing() {
    let s = Scene::new().await;
    let reg = s.register(SHOP).await;
    let state = s.start(&token(&reg.json)).await;
    let other = "other-shop.myshopify.com";
    let a = s.callback(other, &state).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json["error"]["code"], "invalid_state");
    assert_eq!(s.fake.token_exchanges(), 0);
    assert!(!s.connected(tenant(&reg.json)).await);
    // Nobody holds the other shop: it can still be registered.
    assert_eq!(s.register(other).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_state_bound_to_a_tenant_connects_that_tenant_not_the_shops_proven_holder() {
    let s = Scene::new().await;
    let squatter = s.register(SHOP).await;
    // The owner installs from Shopify: a new tenant holds the shop.
    let owner = s.install_from_shopify(SHOP).await;
    assert_ne!(tenant(&owner), tenant(&squatter.json));
    // An install the first tenant started (it had to approve it in the shop's admin) is its own.
    let state = s.start(&token(&squatter.json)).await;
    let a = s.callback(SHOP, &state).await;
    let back = s.signin(&signin_code(&a)).await;
    assert_eq!(tenant(&back.json), tenant(&squatter.json));
    assert_eq!(
        s.me(&token(&squatter.json)).await["shop_status"],
        "connected"
    );
    assert_eq!(s.me(&token(&owner)).await["shop_status"], "released");
    assert!(
        !s.connected(tenant(&owner)).await || {
            let item =
                s.t.item(tenant(&owner), TenantItem::Connection)
                    .await
                    .unwrap();
            item.get("connected") == Some(&shared::store::Attr::Bool(false))
        }
    );
}

#[tokio::test]
async fn the_callback_redirects_with_missing_scopes_and_connects_nothing_when_a_scope_was_not_granted()
 {
    let s = Scene::new().await;
    s.fake.set_scopes(&["read_orders", "read_products"]);
    let reg = s.register(SHOP).await;
    let state = s.start(&token(&reg.json)).await;
    let a = s.callback(SHOP, &state).await;
    assert_eq!(a.status, StatusCode::FOUND);
    assert_eq!(location(&a), "/#error=missing_scopes");
    assert!(!s.connected(tenant(&reg.json)).await);
    assert_eq!(s.me(&token(&reg.json)).await["shop_status"], "claimed");
    use shared::sync::TokenVault;
    assert!(s.vault.get(tenant(&reg.json)).await.unwrap().is_none());
}

#[tokio::test]
async fn the_callback_answers_502_when_shopify_cannot_be_reached_and_stores_nothing() {
    let s = Scene::new().await;
    let state = s.launch(SHOP).await;
    s.fake.fail_next(1, 503);
    let a = s.callback(SHOP, &state).await;
    assert_eq!(a.status, StatusCode::BAD_GATEWAY);
    assert_eq!(a.json["error"]["code"], "shopify_unreachable");
    // No tenant holds the shop: registering it still works.
    assert_eq!(s.register(SHOP).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_signin_code_expires_after_ten_minutes_and_an_unknown_one_is_401() {
    let s = Scene::new().await;
    let state = s.launch(SHOP).await;
    let a = s.callback(SHOP, &state).await;
    let code = signin_code(&a);
    s.t.clock.advance(chrono::Duration::minutes(11));
    let late = s.signin(&code).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED);
    assert_eq!(late.json["error"]["code"], "invalid_signin_code");
    assert_eq!(s.signin("made-up").await.status, StatusCode::UNAUTHORIZED);
    let bad = s.t.post_json("/auth/signin-code", &json!({})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn registration_answers_409_shop_taken_while_another_tenant_holds_the_shop_proven_or_not() {
    let s = Scene::new().await;
    assert_eq!(s.register(SHOP).await.status, StatusCode::CREATED);
    let unproven = s.register(SHOP).await;
    assert_eq!(unproven.status, StatusCode::CONFLICT);
    assert_eq!(unproven.json["error"]["code"], "shop_taken");
    s.install_from_shopify(SHOP).await;
    let proven = s.register(SHOP).await;
    assert_eq!(proven.status, StatusCode::CONFLICT);
    assert_eq!(proven.json["error"]["code"], "shop_taken");
}

#[tokio::test]
async fn an_install_releases_a_squatters_claim_and_the_shops_webhooks_go_to_the_installer() {
    let s = Scene::new().await;
    let squatter = s.register(SHOP).await;
    let squatter_token = token(&squatter.json);
    // While it holds the shop, the squatter gets its webhooks.
    let first = Delivery::new("orders/create", SHOP, fixture("orders-create.json"));
    assert_eq!(s.t.deliver(&first).await.status, StatusCode::OK);
    assert_eq!(s.orders(&squatter_token).await, 1);

    let owner = s.install_from_shopify(SHOP).await;
    assert_ne!(tenant(&owner), tenant(&squatter.json));
    assert_eq!(s.me(&squatter_token).await["shop_status"], "released");
    assert_eq!(s.me(&token(&owner)).await["shop_status"], "connected");

    let next = Delivery::new("orders/create", SHOP, fixture("orders-create.json"));
    let a = s.t.deliver(&next).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["result"], "applied");
    assert_eq!(s.orders(&token(&owner)).await, 1);
    // The squatter's stored data stays its own, and grows no more.
    assert_eq!(s.orders(&squatter_token).await, 1);
}

#[tokio::test]
async fn a_second_install_from_shopify_signs_in_the_proven_holder_again() {
    let s = Scene::new().await;
    let first = s.install_from_shopify(SHOP).await;
    let second = s.install_from_shopify(SHOP).await;
    assert_eq!(tenant(&first), tenant(&second));
}

#[tokio::test]
async fn connecting_with_an_accepted_admin_api_token_proves_the_claim() {
    let s = Scene::new().await;
    let reg = s.register(SHOP).await;
    let bearer = token(&reg.json);
    let a = s.connect_with_token(&bearer).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    assert_eq!(s.me(&bearer).await["shop_status"], "connected");
    // A proven holder is the one an install from Shopify signs in.
    let installed = s.install_from_shopify(SHOP).await;
    assert_eq!(tenant(&installed), tenant(&reg.json));
}

#[tokio::test]
async fn the_install_story_holds_on_every_backend() {
    for t in TestApp::every_backend().await {
        let backend = t.backend();
        let s = Scene::over(t).await;
        let squatter = s.register(SHOP).await;
        let squatter_token = token(&squatter.json);
        let d = Delivery::new("orders/create", SHOP, fixture("orders-create.json"));
        assert_eq!(s.t.deliver(&d).await.status, StatusCode::OK, "{backend}");

        let state = s.launch(SHOP).await;
        let a = s.callback(SHOP, &state).await;
        assert_eq!(a.status, StatusCode::FOUND, "{backend}: {}", a.json);
        let reused = s.callback(SHOP, &state).await;
        assert_eq!(reused.status, StatusCode::BAD_REQUEST, "{backend}");
        let code = signin_code(&a);
        let owner = s.signin(&code).await;
        assert_eq!(owner.status, StatusCode::OK, "{backend}");
        assert_eq!(
            s.signin(&code).await.status,
            StatusCode::UNAUTHORIZED,
            "{backend}"
        );
        let owner_token = token(&owner.json);

        assert_eq!(
            s.me(&squatter_token).await["shop_status"],
            "released",
            "{backend}"
        );
        assert_eq!(
            s.me(&owner_token).await["shop_status"],
            "connected",
            "{backend}"
        );
        let d = Delivery::new("orders/create", SHOP, fixture("orders-create.json"));
        assert_eq!(s.t.deliver(&d).await.status, StatusCode::OK, "{backend}");
        assert_eq!(s.orders(&owner_token).await, 1, "{backend}");
        assert_eq!(s.orders(&squatter_token).await, 1, "{backend}");
        assert_eq!(
            s.register(SHOP).await.status,
            StatusCode::CONFLICT,
            "{backend}"
        );

        let login = json!({"email": format!("owner-{}@example.com", random_hex(4)), "password": "a long enough password"});
        let set = s
            .send_json(Method::PUT, "/tenants/me/login", &owner_token, &login)
            .await;
        assert_eq!(
            set.status,
            StatusCode::NO_CONTENT,
            "{backend}: {}",
            set.json
        );
        let again = s
            .send_json(Method::PUT, "/tenants/me/login", &owner_token, &login)
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{backend}");
    }
}

// ---- expiring tokens ----------------------------------------------------------------------------

#[tokio::test]
async fn an_expiring_token_is_refreshed_before_it_expires_across_syncs_and_never_used_expired() {
    let mut s = Scene::new().await;
    let clock = s.t.clock.clone();
    s.fake
        .use_clock(move || shared::clock::Clock::now(clock.as_ref()));
    s.fake.generate(5, 3, 20, 11);
    let installed = s.install_from_shopify(SHOP).await;
    let (bearer, owner) = (token(&installed), tenant(&installed));
    assert_eq!(s.fake.token_exchanges(), 1);

    // Fresh for an hour: the first sync uses the granted token.
    assert_eq!(s.sync(&bearer).await["state"], "idle");
    assert_eq!(s.fake.token_exchanges(), 1);

    // Four minutes before expiry: refreshed before the first call, the new pair kept.
    s.t.clock.advance(chrono::Duration::minutes(56));
    assert_eq!(s.sync(&bearer).await["state"], "idle");
    assert_eq!(s.fake.token_exchanges(), 2);
    let grant = s.fake.last_grant().unwrap();
    let kept = s.kept_pair(owner).await;
    assert_eq!(kept.access_token.expose_secret(), grant.access_token);
    assert_eq!(
        kept.refresh_token.unwrap().expose_secret(),
        grant.refresh_token
    );

    // Long expired: refreshed again with the rotated refresh token (the first one is spent).
    s.t.clock.advance(chrono::Duration::hours(3));
    assert_eq!(s.sync(&bearer).await["state"], "idle");
    assert_eq!(s.fake.token_exchanges(), 3);
    assert_eq!(s.fake.calls_with_expired_token(), 0);
    assert_eq!(s.fake.unauthorized(), 0);
}

#[tokio::test]
async fn a_refused_refresh_ends_the_sync_in_needs_reauth_without_a_call_on_the_expired_token() {
    let mut s = Scene::new().await;
    let clock = s.t.clock.clone();
    s.fake
        .use_clock(move || shared::clock::Clock::now(clock.as_ref()));
    let bearer = token(&s.install_from_shopify(SHOP).await);
    s.fake.revoke_refresh_token();
    s.t.clock.advance(chrono::Duration::hours(2));
    let status = s.sync(&bearer).await;
    assert_eq!(status["state"], "needs_reauth", "{status}");
    assert_eq!(s.fake.calls_with_expired_token(), 0);
    assert_eq!(s.fake.token_exchanges(), 1);
}

#[tokio::test]
async fn concurrent_callers_of_one_expired_session_share_a_single_refresh() {
    use shared::sync::session::{SessionPorts, ShopSession};
    let s = Scene::new().await;
    let clock = s.t.clock.clone();
    s.fake
        .use_clock(move || shared::clock::Clock::now(clock.as_ref()));
    let owner = tenant(&s.install_from_shopify(SHOP).await);
    s.t.clock.advance(chrono::Duration::hours(2));
    let runner = SyncRunner::from_app(&s.t.app);
    let shop = shared::domain::ShopDomain::parse(SHOP).unwrap();
    let open = || async {
        let ports = SessionPorts {
            vault: &runner.vault,
            api: &runner.shopify,
            clock: &runner.clock,
            refresher: &runner.refresher,
        };
        ShopSession::open(ports, owner, &shop)
            .await
            .unwrap()
            .unwrap()
    };
    // Two sessions (two runs in one process), four callers.
    let (a, b) = (open().await, open().await);
    let (ca, cb) = (a.client(), b.client());
    let shops = tokio::join!(
        shared::shopify::shop_info(&ca),
        shared::shopify::shop_info(&cb),
        shared::shopify::shop_info(&ca),
        shared::shopify::shop_info(&cb),
    );
    for shop in [shops.0, shops.1, shops.2, shops.3] {
        assert_eq!(shop.unwrap().domain, SHOP);
    }
    assert_eq!(s.fake.token_exchanges(), 2, "one refresh, not four");
    assert_eq!(s.fake.calls_with_expired_token(), 0);
}

// ---- webhook subscriptions ----------------------------------------------------------------------

fn handled_topics() -> Vec<String> {
    let mut v: Vec<String> = shared::shopify::subscriptions::topics()
        .map(shared::shopify::subscriptions::graphql_topic)
        .collect();
    v.sort();
    v
}

fn subscribed(fake: &FakeShopify) -> Vec<String> {
    let mut v: Vec<String> = fake
        .subscriptions()
        .into_iter()
        .map(|sub| {
            assert_eq!(sub.uri, format!("{APP_URL}/webhooks"));
            sub.topic
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn an_install_subscribes_the_shop_to_every_handled_topic_once_and_a_sync_restores_a_dropped_one()
 {
    let mut s = Scene::new().await;
    let bearer = token(&s.install_from_shopify(SHOP).await);
    let topics = handled_topics();
    assert!(topics.contains(&"APP_UNINSTALLED".to_owned()));
    assert!(!topics.contains(&"SHOP_REDACT".to_owned()));
    assert_eq!(subscribed(&s.fake), topics);
    let created = s.fake.subscription_creates();
    assert_eq!(created, topics.len() as u64);

    // A sync finds them all: nothing created twice.
    assert_eq!(s.sync(&bearer).await["state"], "idle");
    assert_eq!(s.fake.subscription_creates(), created);

    // Shopify dropped one after failed deliveries: the next sync puts it back.
    s.fake.drop_subscription("ORDERS_PAID");
    assert_eq!(s.sync(&bearer).await["state"], "idle");
    assert_eq!(subscribed(&s.fake), topics);
    assert_eq!(s.fake.subscription_creates(), created + 1);
}

#[tokio::test]
async fn connecting_with_an_admin_api_token_subscribes_the_shop_too() {
    let s = Scene::new().await;
    let bearer = token(&s.register(SHOP).await.json);
    let a = s.connect_with_token(&bearer).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    assert_eq!(subscribed(&s.fake), handled_topics());
}

#[tokio::test]
async fn a_shop_that_refuses_the_subscription_address_still_connects() {
    // Shopify accepts only HTTPS (or EventBridge, Pub/Sub) addresses: a plain-HTTP APP_URL is refused,
    // and the install goes on without subscriptions (the sync reads what webhooks would bring).
    let s = Scene::new().await;
    let s = Scene {
        t: s.t.with_app_url("http://127.0.0.1:3000"),
        ..s
    };
    let installed = s.install_from_shopify(SHOP).await;
    assert_eq!(s.me(&token(&installed)).await["shop_status"], "connected");
    assert!(s.fake.subscriptions().is_empty());
}
