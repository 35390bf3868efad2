//! "Shop connection and sync" against a fake Shopify Admin API that paginates, throttles by cost,
//! fails with 5xx and refuses revoked tokens: a full backfill, an incremental run, recovery with
//! nothing lost or doubled, `needs_reauth`, a sync racing webhooks, and a run resumed from its
//! checkpoint after an interruption.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_shopify;
mod support;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use fake_shopify::{FakeCheckout, FakeConfig, FakeOrder, FakeRefund, FakeShopify};
use http::{Method, StatusCode};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::json;
use shared::shopify::records::Kind;
use shared::sync::queue::{QueueError, SyncQueue, SyncRequest};
use shared::sync::vault::LocalVault;
use shared::sync::{RunOutcome, SyncDeps};
use support::{Delivery, TestApp};

/// Records what would go to EventBridge; the test plays the `sync-shop` worker.
#[derive(Default)]
struct Recorded(Mutex<Vec<SyncRequest>>);

#[async_trait::async_trait]
impl SyncQueue for Recorded {
    async fn enqueue(&self, r: &[SyncRequest]) -> Result<(), QueueError> {
        self.0.lock().unwrap().extend_from_slice(r);
        Ok(())
    }
}

impl Recorded {
    fn take(&self) -> Vec<SyncRequest> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Sync dependencies over the test app's store: tokens encrypted locally, requests recorded, the
/// Admin API at `base_url`, polls every 10 ms.
fn deps(t: &TestApp, queue: Arc<Recorded>, base_url: String, bulk_orders: bool) -> SyncDeps {
    SyncDeps {
        vault: Arc::new(LocalVault::new(
            t.app.store.clone(),
            &SecretString::from("test key"),
        )),
        queue,
        shopify_base_url: Some(base_url),
        http: reqwest::Client::new(),
        bulk_orders,
        bulk_poll: Duration::from_millis(10),
    }
}

struct Setup {
    t: TestApp,
    fake: FakeShopify,
    queue: Arc<Recorded>,
    token: String,
}

async fn setup(config: FakeConfig) -> Setup {
    let fake = FakeShopify::start(config).await;
    let queue = Arc::new(Recorded::default());
    let base = TestApp::embedded().await;
    let deps = deps(&base, queue.clone(), fake.base_url(), false);
    let t = base.with_sync(deps);
    let reg = t
        .post_json(
            "/auth/register",
            &json!({"name": "Snow Devil", "email": "jon@example.com", "password": "correct horse battery", "shop_domain": "snowdevil.myshopify.com"}),
        )
        .await;
    assert_eq!(reg.status, StatusCode::CREATED);
    Setup {
        t,
        fake,
        queue,
        token: reg.json["token"].as_str().unwrap().to_owned(),
    }
}

impl Setup {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> support::Answer {
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![("authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.t.request(method, path, &headers, body).await
    }

    async fn connect(&self) {
        let a = self
            .call(
                Method::PUT,
                "/tenants/me/shopify",
                Some(json!({"access_token": "shpat_test"})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.json);
        // Connecting queued the first sync; these tests ask for their syncs themselves, so it is
        // dropped and the shop left idle (no watermark yet: the next run is still a first sync).
        let first = self.queue.take();
        assert_eq!(first.len(), 1, "connecting queues the first sync");
        let tenant = first[0].tenant;
        let now = shared::clock::Clock::now(self.t.clock.as_ref());
        shared::sync::state::SyncState::finish(
            self.t.app.store.as_ref(),
            now,
            tenant,
            shared::sync::state::End::Idle(None),
        )
        .await
        .unwrap();
    }

    /// Requests a sync and plays the worker until it is done.
    async fn sync(&self) -> RunOutcome {
        let a = self.call(Method::POST, "/sync", None).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.json);
        self.drain().await
    }

    async fn drain(&self) -> RunOutcome {
        let mut last = RunOutcome::Skipped;
        while let Some(req) = self.queue.take().pop() {
            let deadline = Instant::now() + Duration::from_secs(60);
            last = shared::sync::run(&self.t.app.deps(), &req, deadline, &|_, _| {})
                .await
                .unwrap();
        }
        last
    }

    async fn metrics(&self) -> serde_json::Value {
        self.call(Method::GET, "/dashboard/metrics", None)
            .await
            .json
    }

    /// What the fake store's current orders amount to, by the contract's definitions.
    fn expected(&self) -> (u64, Decimal) {
        let mut orders = 0;
        let mut revenue = Decimal::ZERO;
        for id in self.fake.ids(Kind::Orders) {
            let o = self.fake.order(id).unwrap();
            if o.test {
                continue;
            }
            orders += 1;
            if o.cancelled_at.is_none() {
                revenue += Decimal::from_str(&o.total).unwrap();
            }
        }
        (orders, revenue)
    }
}

#[tokio::test]
async fn connecting_checks_the_token_with_shopify_and_answers_the_contract() {
    let s = setup(FakeConfig::default()).await;
    let a = s
        .call(
            Method::PUT,
            "/tenants/me/shopify",
            Some(json!({"access_token": "shpat_wrong"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(a.json["error"]["code"], "shopify_rejected_token");
    let a = s
        .call(
            Method::PUT,
            "/tenants/me/shopify",
            Some(json!({"token": "x"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // Not connected yet: nothing to sync.
    assert_eq!(
        s.call(Method::POST, "/sync", None).await.status,
        StatusCode::CONFLICT
    );

    let a = s
        .call(
            Method::PUT,
            "/tenants/me/shopify",
            Some(json!({"access_token": "shpat_test"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["shop_domain"], "snowdevil.myshopify.com");
    assert_eq!(a.json["connected"], true);
    assert!(
        a.json["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("read_all_orders"))
    );
    // Connecting queued the first sync.
    let a = s.call(Method::GET, "/sync/status", None).await;
    assert_eq!(a.json["state"], "running");
    assert_eq!(s.queue.take().len(), 1);
    assert_eq!(
        s.t.request(Method::GET, "/sync/status", &[], "")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    let d = s.call(Method::DELETE, "/tenants/me/shopify", None).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_eq!(
        s.call(Method::POST, "/sync", None).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        shared::sync::schedule(&s.t.app.deps()).await.unwrap(),
        0,
        "schedules skip a disconnected shop"
    );
}

#[tokio::test]
async fn an_unreachable_shopify_is_a_502() {
    let s = setup(FakeConfig::default()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let deps = SyncDeps {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap(),
        ..deps(
            &s.t,
            s.queue.clone(),
            format!("http://127.0.0.1:{port}"),
            false,
        )
    };
    let token = s.token.clone();
    let t = s.t.with_sync(deps);
    let a = t
        .request(
            Method::PUT,
            "/tenants/me/shopify",
            &[
                ("authorization", &format!("Bearer {token}")),
                ("content-type", "application/json"),
            ],
            json!({"access_token": "shpat_test"}).to_string(),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_GATEWAY, "{}", a.json);
}

#[tokio::test]
async fn a_full_backfill_then_an_incremental_run_that_reads_only_what_changed() {
    let s = setup(FakeConfig::default()).await;
    s.fake.generate(300, 40, 2_000, 7);
    s.connect().await;
    assert!(matches!(s.sync().await, RunOutcome::Done { .. }));
    let (orders, revenue) = s.expected();
    let m = s.metrics().await;
    assert_eq!(m["orders"], orders);
    assert_eq!(m["revenue"], format!("{revenue:.2}"));
    assert_eq!(m["products"], 40);
    let status = s.call(Method::GET, "/sync/status", None).await.json;
    assert_eq!(status["state"], "idle");
    for k in ["customers", "orders", "products"] {
        assert!(status["watermarks"][k].is_string(), "{k} watermark");
    }
    assert_eq!(status["counts"]["orders"], s.fake.len(Kind::Orders));

    // Five orders change; the next run reads them (and the overlap), not the store.
    let before = s.fake.records_served(Kind::Orders);
    let ids: Vec<u64> = s.fake.ids(Kind::Orders).into_iter().take(5).collect();
    let later = Utc::now() + chrono::Duration::hours(1);
    s.fake.touch_orders(&ids, later);
    for id in &ids {
        let mut o = s.fake.order(*id).unwrap();
        o.total = "999.99".into();
        o.cancelled_at = None;
        o.test = false;
        s.fake.upsert_order(o);
    }
    assert!(matches!(s.sync().await, RunOutcome::Done { .. }));
    let read = s.fake.records_served(Kind::Orders) - before;
    assert!(
        (5..50).contains(&read),
        "incremental run read {read} orders"
    );
    let (orders, revenue) = s.expected();
    let m = s.metrics().await;
    assert_eq!(m["orders"], orders);
    assert_eq!(m["revenue"], format!("{revenue:.2}"));
}

#[tokio::test]
async fn throttling_and_5xx_answers_are_waited_out_with_nothing_lost_or_doubled() {
    let config = FakeConfig {
        bucket_size: 1000.0,
        restore_rate: 2000.0,
        ..FakeConfig::default()
    };
    let s = setup(config).await;
    s.fake.generate(100, 10, 1_500, 11);
    s.connect().await;
    s.fake.fail_next(3, 503);
    assert_eq!(
        s.call(Method::POST, "/sync", None).await.status,
        StatusCode::ACCEPTED
    );
    let req = s.queue.take().pop().unwrap();
    // Another consumer of the same app's bucket empties it after the first order page: the next
    // request is THROTTLED and the client waits as long as that answer's throttleStatus says.
    let drained = std::sync::atomic::AtomicBool::new(false);
    let fake = &s.fake;
    let progress = |kind: Kind, _: u64| {
        if kind == Kind::Orders && !drained.swap(true, std::sync::atomic::Ordering::SeqCst) {
            fake.drain_bucket();
        }
    };
    let out = shared::sync::run(
        &s.t.app.deps(),
        &req,
        Instant::now() + Duration::from_secs(60),
        &progress,
    )
    .await
    .unwrap();
    assert!(matches!(out, RunOutcome::Done { .. }));
    assert!(s.fake.throttled() > 0, "the fake throttled");
    assert!(s.fake.failures_served() >= 3);
    let (orders, revenue) = s.expected();
    let m = s.metrics().await;
    assert_eq!(m["orders"], orders);
    assert_eq!(m["revenue"], format!("{revenue:.2}"));
    // Running again changes nothing: every record is already at its version.
    s.sync().await;
    assert_eq!(s.metrics().await, m);
}

#[tokio::test]
async fn a_revoked_token_marks_the_connection_needs_reauth_and_a_reconnect_clears_it() {
    let s = setup(FakeConfig::default()).await;
    s.fake.generate(10, 2, 20, 3);
    s.connect().await;
    s.fake.revoke_token();
    assert_eq!(s.sync().await, RunOutcome::NeedsReauth);
    let st = s.call(Method::GET, "/sync/status", None).await.json;
    assert_eq!(st["state"], "needs_reauth");
    assert!(
        st["error"]
            .as_str()
            .unwrap()
            .contains("connect the shop again")
    );
    assert_eq!(
        shared::sync::schedule(&s.t.app.deps()).await.unwrap(),
        0,
        "the scheduler skips it"
    );

    s.fake.rotate_token("shpat_new");
    let a = s
        .call(
            Method::PUT,
            "/tenants/me/shopify",
            Some(json!({"access_token": "shpat_new"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    // Reconnected: out of needs_reauth, and a sync is queued at once (the scheduler need not).
    assert_eq!(
        s.call(Method::GET, "/sync/status", None).await.json["state"],
        "running"
    );
    assert_eq!(shared::sync::schedule(&s.t.app.deps()).await.unwrap(), 0);
    assert!(matches!(s.drain().await, RunOutcome::Done { .. }));
    assert_eq!(
        s.call(Method::GET, "/sync/status", None).await.json["state"],
        "idle"
    );
}

#[tokio::test]
async fn one_sync_at_a_time_per_shop() {
    let s = setup(FakeConfig::default()).await;
    s.connect().await;
    assert_eq!(
        s.call(Method::POST, "/sync", None).await.status,
        StatusCode::ACCEPTED
    );
    let a = s.call(Method::POST, "/sync", None).await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(a.json["error"]["code"], "sync_running");
    assert_eq!(
        shared::sync::schedule(&s.t.app.deps()).await.unwrap(),
        0,
        "the scheduler does not double it"
    );
    s.drain().await;
    assert_eq!(
        s.call(Method::POST, "/sync", None).await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn a_sync_racing_webhooks_for_the_same_orders_converges_on_the_newest_versions() {
    let s = setup(FakeConfig::default()).await;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap();
    // Shopify's current state: ten orders, version 2 (12.50 each).
    for i in 0..10u64 {
        let mut o = FakeOrder::new(1000 + i, t0);
        o.updated_at = t0 + chrono::Duration::hours(2);
        o.total = "12.50".into();
        s.fake.upsert_order(o);
    }
    s.connect().await;
    let shop = "snowdevil.myshopify.com";
    // Webhooks carry version 1 (older, 10.00) of the even orders and version 3 (newest, 20.00) of
    // the odd ones, delivered while the sync runs.
    let webhook = |i: u64, hours: i64, total: &str| {
        let mut body: serde_json::Value =
            serde_json::from_slice(&support::fixture("orders-create.json")).unwrap();
        body["id"] = json!(1000 + i);
        body["customer"] = serde_json::Value::Null;
        body["created_at"] = json!(t0.to_rfc3339());
        body["updated_at"] = json!((t0 + chrono::Duration::hours(hours)).to_rfc3339());
        body["current_total_price"] = json!(total);
        serde_json::to_vec(&body).unwrap()
    };
    let sync_req = s.call(Method::POST, "/sync", None).await;
    assert_eq!(sync_req.status, StatusCode::ACCEPTED);
    let requests = s.queue.take();
    let app: shared::deps::SyncRunner = s.t.app.deps();
    let sync = tokio::spawn(async move {
        shared::sync::run(
            &app,
            &requests[0],
            Instant::now() + Duration::from_secs(60),
            &|_, _| {},
        )
        .await
        .unwrap()
    });
    for i in 0..10u64 {
        let (hours, total) = if i % 2 == 0 {
            (1, "10.00")
        } else {
            (3, "20.00")
        };
        let a =
            s.t.deliver(&Delivery::new(
                "orders/updated",
                shop,
                webhook(i, hours, total),
            ))
            .await;
        assert_eq!(a.status, StatusCode::OK);
    }
    assert!(matches!(sync.await.unwrap(), RunOutcome::Done { .. }));
    // Even orders: the sync's version 2 (12.50); odd: the webhook's version 3 (20.00).
    let m = s.metrics().await;
    assert_eq!(m["orders"], 10);
    assert_eq!(m["revenue"], "162.50");
    let totals: BTreeMap<String, String> = s
        .call(
            Method::GET,
            "/dashboard/orders-by-date?from=2026-11-20&to=2026-11-20&limit=50",
            None,
        )
        .await
        .json["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_owned(),
                o["total_price"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for i in 0..10u64 {
        let want = if i % 2 == 0 { "12.50" } else { "20.00" };
        assert_eq!(totals[&(1000 + i).to_string()], want, "order {i}");
    }
}

#[tokio::test]
async fn an_interrupted_run_resumes_from_its_checkpoint_instead_of_restarting() {
    let s = setup(FakeConfig::default()).await;
    s.fake.generate(50, 5, 1_200, 5); // five pages of orders
    s.connect().await;
    assert_eq!(
        s.call(Method::POST, "/sync", None).await.status,
        StatusCode::ACCEPTED
    );
    let req = s.queue.take().pop().unwrap();

    // Out of time before the first page: the request goes back on the queue.
    let out = shared::sync::run(&s.t.app.deps(), &req, Instant::now(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(out, RunOutcome::Requeued);
    assert_eq!(s.queue.take(), vec![req.clone()]);

    // A Lambda killed after its second order page (the future dropped mid-run).
    let pages = Arc::new(Mutex::new(0u32));
    let stop = Arc::new(tokio::sync::Notify::new());
    let (p, n) = (pages.clone(), stop.clone());
    let progress = move |kind: Kind, _: u64| {
        if kind == Kind::Orders {
            let mut c = p.lock().unwrap();
            *c += 1;
            if *c == 2 {
                n.notify_one();
            }
        }
    };
    let app: shared::deps::SyncRunner = s.t.app.deps();
    let r = req.clone();
    tokio::select! {
        _ = shared::sync::run(&app, &r, Instant::now() + Duration::from_secs(60), &progress) => panic!("the run finished before the interruption"),
        () = stop.notified() => {}
    }
    let served_before = s.fake.pages_served(Kind::Orders);
    assert_eq!(served_before, 2);

    // The successor (same request, redelivered) picks up at page three.
    let out = shared::sync::run(
        &s.t.app.deps(),
        &req,
        Instant::now() + Duration::from_secs(60),
        &|_, _| {},
    )
    .await
    .unwrap();
    assert!(matches!(out, RunOutcome::Done { .. }));
    assert_eq!(
        s.fake.pages_served(Kind::Orders),
        5,
        "pages three to five only"
    );
    let (orders, revenue) = s.expected();
    let m = s.metrics().await;
    assert_eq!(m["orders"], orders);
    assert_eq!(m["revenue"], format!("{revenue:.2}"));
}

async fn bulk_setup(config: FakeConfig) -> Setup {
    let mut s = setup(config).await;
    let deps = deps(&s.t, s.queue.clone(), s.fake.base_url(), true);
    s.t = s.t.with_sync(deps);
    s
}

#[tokio::test]
async fn a_first_sync_imports_orders_through_a_bulk_operation_resumed_after_running_out_of_time() {
    let s = bulk_setup(FakeConfig {
        bulk_polls_to_complete: 1_000_000,
        ..FakeConfig::default()
    })
    .await;
    s.fake.generate(50, 5, 1_200, 21);
    s.connect().await;
    assert_eq!(
        s.call(Method::POST, "/sync", None).await.status,
        StatusCode::ACCEPTED
    );
    let req = s.queue.take().pop().unwrap();

    // Shopify is still running the operation when the time is up: the run requeues itself. (The
    // time covers paging customers and products first, even on a loaded machine.)
    let out = shared::sync::run(
        &s.t.app.deps(),
        &req,
        Instant::now() + Duration::from_secs(4),
        &|_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(out, RunOutcome::Requeued);
    assert_eq!(s.queue.take(), vec![req.clone()]);
    assert_eq!(s.fake.bulk_operations_started(), 1);
    assert_eq!(
        s.fake.pages_served(Kind::Orders),
        0,
        "orders are not paged on a first sync"
    );

    // The next run picks up the same operation (no second start) once Shopify has finished it.
    s.fake.finish_bulk();
    let out = shared::sync::run(
        &s.t.app.deps(),
        &req,
        Instant::now() + Duration::from_secs(60),
        &|_, _| {},
    )
    .await
    .unwrap();
    assert!(matches!(out, RunOutcome::Done { .. }), "{out:?}");
    assert_eq!(s.fake.bulk_operations_started(), 1);
    let (orders, revenue) = s.expected();
    let m = s.metrics().await;
    assert_eq!(m["orders"], orders);
    assert_eq!(m["revenue"], format!("{revenue:.2}"));
    let st = s.call(Method::GET, "/sync/status", None).await.json;
    assert!(st["watermarks"]["orders"].is_string());
    assert_eq!(st["counts"]["orders"], 1_200);
}

#[tokio::test]
async fn a_bulk_import_interrupted_mid_file_resumes_after_its_last_checkpoint() {
    let s = bulk_setup(FakeConfig {
        bulk_polls_to_complete: 1,
        ..FakeConfig::default()
    })
    .await;
    s.fake.generate(50, 5, 1_600, 22);
    s.connect().await;
    assert_eq!(
        s.call(Method::POST, "/sync", None).await.status,
        StatusCode::ACCEPTED
    );
    let req = s.queue.take().pop().unwrap();

    // Killed right after the first checkpoint in the file (500 orders applied).
    let stop = Arc::new(tokio::sync::Notify::new());
    let n = stop.clone();
    let progress = move |kind: Kind, _: u64| {
        if kind == Kind::Orders {
            n.notify_one();
        }
    };
    let app: shared::deps::SyncRunner = s.t.app.deps();
    let r = req.clone();
    tokio::select! {
        _ = shared::sync::run(&app, &r, Instant::now() + Duration::from_secs(60), &progress) => panic!("finished before the interruption"),
        () = stop.notified() => {}
    }
    let after_first = s.metrics().await["orders"].as_u64().unwrap();
    assert!(
        after_first >= 400,
        "{after_first} orders applied before the interruption"
    );

    let out = shared::sync::run(
        &s.t.app.deps(),
        &req,
        Instant::now() + Duration::from_secs(60),
        &|_, _| {},
    )
    .await
    .unwrap();
    let RunOutcome::Done { applied } = out else {
        panic!("{out:?}")
    };
    // Only what came after the checkpoint (plus at most the line being applied) is applied again.
    assert!(applied <= 1_600 - 500, "{applied} applied on resumption");
    assert_eq!(
        s.fake.bulk_operations_started(),
        1,
        "the same operation, downloaded again"
    );
    assert_eq!(s.fake.downloads(), 2);
    let (orders, revenue) = s.expected();
    let m = s.metrics().await;
    assert_eq!(m["orders"], orders);
    assert_eq!(m["revenue"], format!("{revenue:.2}"));
}

/// The funnel over the ten days around the fake's data, as the contract answers it.
async fn funnel(s: &Setup) -> serde_json::Value {
    let to = s.t.clock_today() + chrono::Duration::days(1);
    let from = to - chrono::Duration::days(12);
    let a = s
        .call(
            Method::GET,
            &format!("/dashboard/funnel?from={from}&to={to}"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    a.json
}

#[tokio::test]
async fn a_shop_connected_late_gets_its_abandoned_checkouts_from_the_sync() {
    let s = setup(FakeConfig::default()).await;
    let now = shared::clock::Clock::now(s.t.clock.as_ref());
    // 260 checkouts (two pages) over the last five days; every tenth completed (recovered in
    // Shopify's words); all last updated over an hour ago.
    for id in 1..=260u64 {
        let created = now - chrono::Duration::hours(2 + (id % 5) as i64 * 24);
        let mut c = FakeCheckout::new(id, &format!("tok{id:04}"), created);
        c.updated_at = created + chrono::Duration::minutes(3);
        if id % 10 == 0 {
            c.completed_at = Some(c.updated_at);
        }
        s.fake.upsert_checkout(c);
    }
    s.connect().await;
    assert!(matches!(s.sync().await, RunOutcome::Done { .. }));
    assert_eq!(s.fake.pages_served(Kind::Checkouts), 2);
    let f = funnel(&s).await;
    assert_eq!(f["checkouts_started"], 260);
    assert_eq!(f["checkouts_completed"], 26);
    assert_eq!(f["checkouts_abandoned"], 0, "abandonment is the job's");

    // The job abandons every open one (due in the past: at its next run), once.
    let job =
        |at| shared::storefront::abandon::run(s.t.app.store.as_ref(), at, Duration::from_secs(30));
    assert_eq!(job(now).await.unwrap().abandoned, 234);
    assert_eq!(job(now).await.unwrap().abandoned, 0);
    let f = funnel(&s).await;
    assert_eq!(f["checkouts_abandoned"], 234);
    assert_eq!(f["abandoned_value"], "5850.00");

    // The same checkout by webhook and by the sync is one checkout: its order recovers it.
    let mut order: serde_json::Value =
        serde_json::from_slice(&support::fixture("orders-create.json")).unwrap();
    order["checkout_token"] = json!("tok0001");
    let total = order["current_total_price"].as_str().unwrap().to_owned();
    let a =
        s.t.deliver(&Delivery::new(
            "orders/create",
            "snowdevil.myshopify.com",
            serde_json::to_vec(&order).unwrap(),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    let f = funnel(&s).await;
    assert_eq!(f["checkouts_started"], 260);
    assert_eq!(f["checkouts_completed"], 27);
    assert_eq!(f["checkouts_recovered"], 1);
    assert_eq!(f["recovered_value"], total);

    // An incremental run reads what changed and the overlap before the watermark (the 52 last
    // updated together, at the newest time), and counts nothing twice.
    let newest = now - chrono::Duration::hours(2) + chrono::Duration::minutes(3);
    let overlap = newest - chrono::Duration::minutes(shared::sync::OVERLAP_MINUTES);
    let in_overlap = (1..=260u64)
        .filter(|id| {
            let updated = now - chrono::Duration::hours(2 + (id % 5) as i64 * 24)
                + chrono::Duration::minutes(3);
            *id != 7 && updated >= overlap
        })
        .count() as u64;
    let served = s.fake.records_served(Kind::Checkouts);
    s.fake.touch(Kind::Checkouts, &[7], now);
    assert!(matches!(s.sync().await, RunOutcome::Done { .. }));
    let read = s.fake.records_served(Kind::Checkouts) - served;
    assert_eq!(read, in_overlap + 1, "the overlap and the one that changed");
    let again = funnel(&s).await;
    assert_eq!(again["checkouts_started"], 260);
    assert_eq!(again["checkouts_abandoned"], 234);
    assert_eq!(again["checkouts_recovered"], 1);

    // `/sync/status` keeps to the contract's three kinds.
    let status = s.call(Method::GET, "/sync/status", None).await.json;
    let kinds: Vec<&String> = status["watermarks"].as_object().unwrap().keys().collect();
    assert_eq!(kinds, ["customers", "orders", "products"]);
    let kinds: Vec<&String> = status["counts"].as_object().unwrap().keys().collect();
    assert_eq!(kinds, ["customers", "orders", "products"]);
}

#[tokio::test]
async fn a_first_import_through_a_bulk_operation_brings_every_orders_sale_parts_into_the_ledger() {
    let until = Utc::now() - chrono::Duration::days(5);
    let s = bulk_setup(FakeConfig {
        data_until: until,
        ..FakeConfig::default()
    })
    .await;
    s.fake.generate(40, 8, 400, 13);
    // One order with everything: a discount, tax, shipping, and a refund with its shipping.
    let at = until - chrono::Duration::days(3);
    let mut o = FakeOrder {
        total: "235.99".into(),
        discounts: "20.00".into(),
        tax: "18.00".into(),
        shipping: vec!["9.99".into()],
        customer: None,
        ..FakeOrder::new(6_999_000_000_001, at)
    };
    o.lines[0].price = "114.00".into();
    o.lines[0].quantity = 2;
    o.lines[0].discount = "20.00".into();
    o.refunds.push(FakeRefund {
        id: 77,
        created_at: at + chrono::Duration::days(1),
        lines: vec![(o.lines[0].id, 1, "104.00".into(), "8.00".into())],
        shipping: Some("9.99".into()),
    });
    s.fake.upsert_order(o);
    s.connect().await;
    assert!(matches!(s.sync().await, RunOutcome::Done { .. }));
    assert_eq!(s.fake.bulk_operations_started(), 1);

    // What the fake's orders amount to, by the contract's definitions.
    let dec = |t: &str| Decimal::from_str(t).unwrap();
    let (mut orders, mut gross, mut discounts, mut returns, mut taxes, mut shipping) = (
        0u64,
        Decimal::ZERO,
        Decimal::ZERO,
        Decimal::ZERO,
        Decimal::ZERO,
        Decimal::ZERO,
    );
    let mut products: BTreeMap<u64, (Decimal, Decimal)> = BTreeMap::new();
    // Within the 366 days asked for, by the shop's calendar (New York).
    let today = s.t.clock_today();
    let from = today - chrono::Duration::days(365);
    let local =
        |t: chrono::DateTime<Utc>| t.with_timezone(&chrono_tz::America::New_York).date_naive();
    let inside = |t: chrono::DateTime<Utc>| (from..=today).contains(&local(t));
    for id in s.fake.ids(Kind::Orders) {
        let o = s.fake.order(id).unwrap();
        if o.test {
            continue;
        }
        for r in &o.refunds {
            for (line, qty, subtotal, tax) in &r.lines {
                if inside(r.created_at) {
                    returns += dec(subtotal);
                    taxes -= dec(tax);
                }
                if let Some(p) = o
                    .lines
                    .iter()
                    .find(|l| l.id == *line)
                    .and_then(|l| l.product)
                {
                    let e = products.entry(p).or_default();
                    e.0 -= Decimal::from(*qty);
                    e.1 -= dec(subtotal);
                }
            }
            if inside(r.created_at) {
                shipping -= r.shipping.as_deref().map(dec).unwrap_or_default();
            }
        }
        let counted = inside(o.created_at);
        for l in &o.lines {
            let sold = dec(&l.price) * Decimal::from(l.quantity);
            if counted {
                gross += sold;
            }
            // Top products count every order, whatever its date.
            if let Some(p) = l.product {
                let e = products.entry(p).or_default();
                e.0 += Decimal::from(l.quantity);
                e.1 += sold - dec(&l.discount);
            }
        }
        if !counted {
            continue;
        }
        orders += 1;
        discounts += dec(&o.discounts);
        taxes += dec(&o.tax);
        shipping += o.shipping.iter().map(|p| dec(p)).sum::<Decimal>();
    }
    let a = s
        .call(
            Method::GET,
            &format!("/dashboard/sales?from={from}&to={today}"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    let t = &a.json["totals"];
    let money = |d: Decimal| format!("{d:.2}");
    assert_eq!(t["orders"], orders);
    assert_eq!(t["gross_sales"], money(gross));
    assert_eq!(t["discounts"], money(discounts));
    assert_eq!(t["returns"], money(returns));
    assert_eq!(t["taxes"], money(taxes));
    assert_eq!(t["shipping"], money(shipping));
    assert_eq!(t["net_sales"], money(gross - discounts - returns));
    assert!(
        returns > dec("104.00"),
        "generated partial refunds count too"
    );

    // Top products: the five with the highest net sales, ties by units then id.
    let mut ranked: Vec<(u64, (Decimal, Decimal))> = products.into_iter().collect();
    ranked.sort_by(|a, b| {
        b.1.1
            .cmp(&a.1.1)
            .then(b.1.0.cmp(&a.1.0))
            .then(a.0.cmp(&b.0))
    });
    let top = s
        .call(Method::GET, "/dashboard/top-products", None)
        .await
        .json;
    let got: Vec<(String, String)> = top["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["net_sales"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = ranked
        .iter()
        .take(5)
        .map(|(id, (_, net))| (id.to_string(), money(*net)))
        .collect();
    assert_eq!(got, want);

    // An incremental run reads what changed through a bulk operation of its own (filtered by
    // `updated_at`), sale parts included: a second refund lands on its own day.
    let mut changed = s.fake.order(6_999_000_000_001).unwrap();
    let refunded = Utc::now() - chrono::Duration::hours(1);
    changed.refunds.push(FakeRefund {
        id: 78,
        created_at: refunded,
        lines: vec![(changed.lines[0].id, 1, "50.00".into(), "0.00".into())],
        shipping: None,
    });
    changed.updated_at = refunded;
    s.fake.upsert_order(changed);
    assert!(matches!(s.sync().await, RunOutcome::Done { .. }));
    assert_eq!(s.fake.bulk_operations_started(), 2);
    let op = s.fake.current_bulk_status();
    assert!(op.is_some());
    let after = s
        .call(
            Method::GET,
            &format!("/dashboard/sales?from={from}&to={today}"),
            None,
        )
        .await
        .json;
    assert_eq!(after["totals"]["returns"], money(returns + dec("50.00")));
    assert_eq!(
        after["totals"]["gross_sales"],
        money(gross),
        "nothing counted twice"
    );
    assert_eq!(after["totals"]["orders"], orders);
}
