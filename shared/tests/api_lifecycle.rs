//! API tests for the webhook `duplicate` rule (topic and event id), deliveries that can never be
//! stored (4xx, nothing written), and "App lifecycle and privacy compliance" in the contract, on
//! every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::clock::Clock;
use shared::domain::{ShopifyId, TenantId};
use shared::ingest::{Change, apply};
use shared::store::items::sync::ConnectionRecord;
use shared::store::keys::{
    CONNECTED_SHOPS, TenantItem, customer_rank_partition, order_listing_partition, tenant_partition,
};
use shared::store::{Index, Item, Query, SortRange};
use shared::sync::state::SyncState;
use shared::sync::vault::LocalVault;
use shared::sync::{SyncDeps, SyncError};
use support::{Delivery, TestApp, fixture, random_hex};

const CUSTOMER: u64 = 115310627314723954;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A registered tenant: its id, shop domain and bearer token.
async fn tenant(t: &TestApp) -> (TenantId, String, String) {
    let reg = t.register().await;
    (
        TestApp::tenant_of(&reg),
        reg["tenant"]["shop_domain"].as_str().unwrap().to_owned(),
        reg["token"].as_str().unwrap().to_owned(),
    )
}

/// The order fixture with fields replaced.
fn order_with(changes: Value) -> Vec<u8> {
    let mut o: Value = serde_json::from_slice(&fixture("orders-create.json")).unwrap();
    for (k, v) in changes.as_object().unwrap() {
        o[k] = v.clone();
    }
    serde_json::to_vec(&o).unwrap()
}

/// What a shop erase leaves of a tenant: its account (profile, current API key). Rate-limit
/// counters are not shop data and expire on their own; they are left out here.
const ACCOUNT: [&str; 2] = ["APIKEY", "PROFILE"];

fn account_items(items: &[Item]) -> Vec<&str> {
    items
        .iter()
        .filter_map(|i| i["sk"].as_s())
        .filter(|sk| !sk.starts_with("RATE#"))
        .collect()
}

/// `n` orders (ids from `first`) over 28 days and 40 customers, applied as the sync applies them.
async fn load_orders(t: &TestApp, tenant: TenantId, first: u64, n: u64) {
    let template: Value = serde_json::from_slice(&fixture("orders-create.json")).unwrap();
    for i in 0..n {
        let mut o = template.clone();
        o["id"] = json!(first + i);
        o["created_at"] = json!(format!("2026-10-{:02}T10:00:00-05:00", 1 + i % 28));
        o["customer"]["id"] = json!(5_000 + i % 40);
        let (order, customer) =
            shared::ingest::payload::order(&serde_json::to_vec(&o).unwrap()).unwrap();
        let change = Change::UpsertOrder(order, customer);
        apply(t.app.store.as_ref(), t.clock.now(), tenant, None, &change)
            .await
            .unwrap();
    }
}

/// Every item in the tenant's partition whose sort key starts with `prefix`.
async fn items(t: &TestApp, tenant: TenantId, prefix: &str) -> Vec<Item> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let range = match prefix {
            "" => SortRange::All,
            p => SortRange::Prefix(p.into()),
        };
        let q = Query::partition(Index::Primary, tenant_partition(tenant), range)
            .limit(1000)
            .after(cursor);
        let page = t.app.store.query(&q).await.unwrap();
        out.extend(page.items);
        match page.next {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

#[tokio::test]
async fn orders_create_and_orders_paid_under_one_event_id_are_both_applied_and_each_redelivery_is_a_duplicate()
 {
    for t in TestApp::every_backend().await {
        let (tid, shop, _) = tenant(&t).await;
        let event = random_hex(8);
        let mut create = Delivery::new(
            "orders/create",
            &shop,
            order_with(
                json!({"financial_status": "pending", "updated_at": "2026-11-24T22:41:09-05:00"}),
            ),
        );
        create.event_id = Some(event.clone());
        let mut paid = Delivery::new(
            "orders/paid",
            &shop,
            order_with(
                json!({"financial_status": "paid", "updated_at": "2026-11-24T22:45:00-05:00"}),
            ),
        );
        paid.event_id = Some(event.clone());

        let a = t.deliver(&create).await;
        assert_eq!(a.json, json!({"result": "applied"}), "{}", t.backend());
        let a = t.deliver(&paid).await;
        assert_eq!(a.json, json!({"result": "applied"}), "{}", t.backend());
        assert_eq!(t.deliver(&create).await.json["result"], "duplicate");
        assert_eq!(t.deliver(&paid).await.json["result"], "duplicate");

        let order = items(&t, tid, "ORDER#").await;
        assert_eq!(order.len(), 1, "{}", t.backend());
        assert_eq!(order[0]["financial_status"].as_s(), Some("paid"));
        assert_eq!(items(&t, tid, "EVENT#").await.len(), 2, "{}", t.backend());
        assert_eq!(t.number(tid, TenantItem::Totals, "orders").await, dec("1"));
    }
}

#[tokio::test]
async fn an_event_id_of_2000_characters_is_refused_with_400_and_nothing_is_stored() {
    for t in TestApp::every_backend().await {
        let (tid, shop, _) = tenant(&t).await;
        let mut d = Delivery::new("orders/create", &shop, fixture("orders-create.json"));
        d.event_id = Some("e".repeat(2000));
        let a = t.deliver(&d).await;
        assert_eq!(
            a.status,
            StatusCode::BAD_REQUEST,
            "{}: {}",
            t.backend(),
            a.json
        );
        assert_eq!(a.json["error"]["code"], "event_id_too_long");
        for prefix in ["ORDER#", "EVENT#", "CUST#", "DAY#", "TOTALS"] {
            assert!(
                items(&t, tid, prefix).await.is_empty(),
                "{prefix} on {}",
                t.backend()
            );
        }
        // 256 characters is still an event id.
        d.event_id = Some("e".repeat(256));
        assert_eq!(
            t.deliver(&d).await.json["result"],
            "applied",
            "{}",
            t.backend()
        );
    }
}

#[tokio::test]
async fn an_order_named_with_500_kb_is_refused_with_413_item_too_large_and_nothing_is_stored() {
    for t in TestApp::every_backend().await {
        let (tid, shop, _) = tenant(&t).await;
        let d = Delivery::new(
            "orders/create",
            &shop,
            order_with(json!({"name": "n".repeat(500 * 1024)})),
        );
        let a = t.deliver(&d).await;
        assert_eq!(
            a.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}: {}",
            t.backend(),
            a.json
        );
        assert_eq!(a.json["error"]["code"], "item_too_large");
        for prefix in ["ORDER#", "EVENT#", "CUST#", "DAY#", "TOTALS"] {
            assert!(
                items(&t, tid, prefix).await.is_empty(),
                "{prefix} on {}",
                t.backend()
            );
        }
    }
}

/// The test app with a token vault (tokens sealed in its own store), as `insights serve` runs.
fn with_vault(t: TestApp) -> TestApp {
    let deps = SyncDeps {
        vault: Arc::new(LocalVault::new(
            t.app.store.clone(),
            &SecretString::from("test key"),
        )),
        queue: t.app.sync.queue.clone(),
        shopify_base_url: None,
        http: reqwest::Client::new(),
        bulk_orders: false,
        bulk_poll: Duration::from_millis(10),
    };
    t.with_sync(deps)
}

/// A tenant whose shop is connected: a token in the vault, the shop listed for the scheduler.
async fn connected(t: &TestApp) -> (TenantId, String, String) {
    let (tid, shop, token) = tenant(t).await;
    t.app
        .sync
        .vault
        .put(tid, &SecretString::from("shpat_secret"))
        .await
        .unwrap();
    let record = ConnectionRecord {
        shop_domain: shop.clone(),
        connected: true,
        scopes: vec!["read_orders".into()],
        iana_timezone: None,
        currency: None,
    };
    t.app
        .store
        .write(vec![record.put(tid, t.clock.now())])
        .await
        .unwrap();
    (tid, shop, token)
}

/// The tenants the scheduler would sync.
async fn listed(t: &TestApp) -> Vec<TenantId> {
    let q = Query::partition(Index::Gsi2, CONNECTED_SHOPS, SortRange::All).limit(1000);
    let page = t.app.store.query(&q).await.unwrap();
    page.items
        .iter()
        .filter_map(ConnectionRecord::listed_tenant)
        .collect()
}

async fn index_partition(t: &TestApp, index: Index, partition: String) -> Vec<Item> {
    let q = Query::partition(index, partition, SortRange::All).limit(1000);
    t.app.store.query(&q).await.unwrap().items
}

fn shop_body(shop: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"id": 954889, "domain": shop, "myshopify_domain": shop})).unwrap()
}

#[tokio::test]
async fn app_uninstalled_destroys_the_token_stops_the_syncs_says_uninstalled_and_keeps_the_data() {
    for t in TestApp::every_backend().await {
        let t = with_vault(t);
        let (tid, shop, token) = connected(&t).await;
        let order = Delivery::new("orders/create", &shop, fixture("orders-create.json"));
        assert_eq!(t.deliver(&order).await.json["result"], "applied");
        assert!(listed(&t).await.contains(&tid), "{}", t.backend());

        let a = t
            .deliver(&Delivery::new("app/uninstalled", &shop, shop_body(&shop)))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}: {}", t.backend(), a.json);
        assert_eq!(a.json, json!({"result": "applied"}));

        assert!(
            t.app.sync.vault.get(tid).await.unwrap().is_none(),
            "{}",
            t.backend()
        );
        assert!(!listed(&t).await.contains(&tid), "{}", t.backend());
        let status = t.get_with_token("/sync/status", &token).await;
        assert_eq!(status.json["state"], "uninstalled", "{}", t.backend());
        let metrics = t.get_with_token("/dashboard/metrics", &token).await;
        assert_eq!(metrics.json["orders"], 1, "{}", t.backend());
        // No run may claim the shop; a reconnect leaves the state.
        assert!(matches!(
            SyncState::claim(t.app.store.as_ref(), t.clock.now(), tid).await,
            Err(SyncError::Running)
        ));
        SyncState::reauthorized(t.app.store.as_ref(), tid)
            .await
            .unwrap();
        let status = t.get_with_token("/sync/status", &token).await;
        assert_eq!(status.json["state"], "idle", "{}", t.backend());
    }
}

#[tokio::test]
async fn a_compliance_topic_with_a_bad_signature_is_401_and_changes_nothing() {
    let t = with_vault(TestApp::embedded().await);
    let (tid, shop, token) = connected(&t).await;
    for (topic, body) in [
        ("app/uninstalled", shop_body(&shop)),
        ("shop/redact", fixture("shop-redact.json")),
        ("customers/redact", fixture("customers-redact.json")),
    ] {
        let mut d = Delivery::new(topic, &shop, body);
        d.signature = Some("bm90IHRoZSBzaWduYXR1cmU=".into());
        let a = t.deliver(&d).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{topic}");
    }
    assert!(t.app.sync.vault.get(tid).await.unwrap().is_some());
    assert!(listed(&t).await.contains(&tid));
    let status = t.get_with_token("/sync/status", &token).await;
    assert_eq!(status.json["state"], "idle");
}

#[tokio::test]
async fn customers_redact_erases_the_name_and_email_and_keeps_the_anonymous_spend() {
    for t in TestApp::every_backend().await {
        let (tid, shop, token) = tenant(&t).await;
        let order = Delivery::new("orders/create", &shop, fixture("orders-create.json"));
        assert_eq!(t.deliver(&order).await.json["result"], "applied");
        let before = t.get_with_token("/dashboard/top-customers", &token).await;
        assert!(
            before.json["customers"][0]["email"].is_string(),
            "{}",
            before.json
        );

        let a = t
            .deliver(&Delivery::new(
                "customers/redact",
                &shop,
                fixture("customers-redact.json"),
            ))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}: {}", t.backend(), a.json);

        let item = t
            .item(tid, TenantItem::Customer(ShopifyId::new(CUSTOMER)))
            .await
            .unwrap();
        for attr in ["first_name", "last_name", "email", "phone"] {
            assert!(!item.contains_key(attr), "{attr} on {}", t.backend());
        }
        let after = t.get_with_token("/dashboard/top-customers", &token).await;
        let c = &after.json["customers"][0];
        assert_eq!(c["id"], CUSTOMER.to_string(), "{}", after.json);
        assert!(c["email"].is_null(), "{}", after.json);
        assert_eq!(c["name"].as_str().unwrap_or_default(), "", "{}", after.json);
        assert_eq!(c["total_spent"], before.json["customers"][0]["total_spent"]);
        assert_eq!(c["orders"], 1);
        let metrics = t.get_with_token("/dashboard/metrics", &token).await;
        assert_eq!(metrics.json["orders"], 1);
        assert_eq!(metrics.json["customers"], 1);
    }
}

#[tokio::test]
async fn shop_redact_erases_every_item_of_the_shop_and_keeps_the_account_with_zero_numbers() {
    for t in TestApp::every_backend().await {
        let t = with_vault(t);
        let (tid, shop, token) = connected(&t).await;
        // More orders than one delete batch holds, across many days and customers.
        load_orders(&t, tid, 1_000, 150).await;
        let product = Delivery::new("products/create", &shop, fixture("products-create.json"));
        assert_eq!(t.deliver(&product).await.json["result"], "applied");
        let metrics = t.get_with_token("/dashboard/metrics", &token).await;
        assert_eq!(metrics.json["orders"], 150, "{}", t.backend());

        let redact = Delivery::new("shop/redact", &shop, fixture("shop-redact.json"));
        let a = t.deliver(&redact).await;
        assert_eq!(a.status, StatusCode::OK, "{}: {}", t.backend(), a.json);

        let left = items(&t, tid, "").await;
        assert_eq!(account_items(&left), ACCOUNT, "{}", t.backend());
        assert!(
            index_partition(&t, Index::Gsi1, customer_rank_partition(tid))
                .await
                .is_empty()
        );
        assert!(
            index_partition(&t, Index::Gsi2, order_listing_partition(tid))
                .await
                .is_empty()
        );
        assert!(!listed(&t).await.contains(&tid));
        assert!(t.app.sync.vault.get(tid).await.unwrap().is_none());

        // The account stays and its numbers read zero.
        let me = t.get_with_token("/tenants/me", &token).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.json);
        let metrics = t.get_with_token("/dashboard/metrics", &token).await;
        assert_eq!(metrics.status, StatusCode::OK);
        for n in ["orders", "customers", "products"] {
            assert_eq!(
                metrics.json[n],
                0,
                "{n} on {}: {}",
                t.backend(),
                metrics.json
            );
        }
        let top = t.get_with_token("/dashboard/top-customers", &token).await;
        assert_eq!(top.json["customers"], json!([]));
        // A redelivery (or Shopify's retry after an interruption) finds nothing left to do.
        assert_eq!(t.deliver(&redact).await.status, StatusCode::OK);
        assert_eq!(account_items(&items(&t, tid, "").await), ACCOUNT);
    }
}

#[tokio::test]
async fn an_eventbridge_app_uninstalled_and_shop_redact_have_the_same_effects() {
    let t = with_vault(TestApp::embedded().await);
    let (tid, shop, token) = connected(&t).await;
    let order = Delivery::new("orders/create", &shop, fixture("orders-create.json"));
    assert_eq!(t.deliver(&order).await.json["result"], "applied");
    let event = |topic: &str, payload: Value| {
        json!({
            "detail-type": "shopifyWebhook",
            "detail": {
                "metadata": {
                    "X-Shopify-Topic": topic,
                    "X-Shopify-Shop-Domain": shop,
                    "X-Shopify-Event-Id": random_hex(8),
                },
                "payload": payload
            }
        })
    };
    let r = shared::lambda::webhooks_eventbridge(
        &t.app.deps(),
        &event("app/uninstalled", json!({"domain": shop})),
    )
    .await
    .unwrap();
    assert_eq!(r["result"], "applied");
    assert!(t.app.sync.vault.get(tid).await.unwrap().is_none());
    let status = t.get_with_token("/sync/status", &token).await;
    assert_eq!(status.json["state"], "uninstalled");

    let r = shared::lambda::webhooks_eventbridge(
        &t.app.deps(),
        &event(
            "shop/redact",
            json!({"shop_id": 954889, "shop_domain": shop}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r["result"], "applied");
    let metrics = t.get_with_token("/dashboard/metrics", &token).await;
    assert_eq!(metrics.json["orders"], 0, "{}", metrics.json);
    assert_eq!(items(&t, tid, "ORDER#").await.len(), 0);
}

#[tokio::test]
async fn a_data_request_is_listed_and_its_export_holds_the_customer_and_their_orders_only() {
    for t in TestApp::every_backend().await {
        let (_, shop, token) = tenant(&t).await;
        let order = Delivery::new("orders/create", &shop, fixture("orders-create.json"));
        assert_eq!(t.deliver(&order).await.json["result"], "applied");
        // Another customer's order is not in the export.
        let other = order_with(
            json!({"id": 42, "customer": {"id": 77, "email": "x@example.com", "updated_at": "2026-11-24T22:41:08-05:00"}}),
        );
        assert_eq!(
            t.deliver(&Delivery::new("orders/create", &shop, other))
                .await
                .json["result"],
            "applied"
        );
        let request = Delivery::new(
            "customers/data_request",
            &shop,
            fixture("customers-data_request.json"),
        );
        let a = t.deliver(&request).await;
        assert_eq!(a.status, StatusCode::OK, "{}: {}", t.backend(), a.json);
        assert_eq!(a.json, json!({"result": "applied"}));
        let mut again = Delivery::new(
            "customers/data_request",
            &shop,
            fixture("customers-data_request.json"),
        );
        again.event_id = Some(random_hex(8));
        assert_eq!(t.deliver(&again).await.json["result"], "duplicate");

        let list = t.get_with_token("/compliance/requests", &token).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.json);
        let requests = list.json["requests"].as_array().unwrap();
        assert_eq!(requests.len(), 1, "{}", list.json);
        assert_eq!(requests[0]["id"], "9999");
        assert_eq!(requests[0]["customer_id"], CUSTOMER.to_string());
        assert_eq!(requests[0]["status"], "ready");
        assert!(requests[0]["received_at"].is_string());

        let export = t.get_with_token("/compliance/requests/9999", &token).await;
        assert_eq!(export.status, StatusCode::OK, "{}", export.json);
        assert_eq!(export.json["customer"]["id"], CUSTOMER.to_string());
        assert!(
            export.json["customer"]["email"].is_string(),
            "{}",
            export.json
        );
        let orders = export.json["orders"].as_array().unwrap();
        assert_eq!(orders.len(), 1, "{}: {}", t.backend(), export.json);
        assert_eq!(orders[0]["id"], "820982911946154508");
        assert_eq!(export.json["checkouts"], json!([]));
        assert_eq!(export.json["events"], json!([]));

        let missing = t.get_with_token("/compliance/requests/1234", &token).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let (_, _, stranger) = tenant(&t).await;
        let foreign = t
            .get_with_token("/compliance/requests/9999", &stranger)
            .await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);
        let anonymous = t
            .request(
                http::Method::GET,
                "/compliance/requests",
                &[],
                axum::body::Body::empty(),
            )
            .await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_shop_erase_that_outlasts_its_delivery_is_finished_by_the_job_the_scheduler_hands_it_to()
{
    use shared::deps::{Deps, Scheduler, SyncRunner};
    use shared::ingest::lifecycle::{Erase, pending_erases, redact_shop};
    use shared::sync::{RunOutcome, SyncRequest};
    for t in TestApp::every_backend().await {
        let backend = t.backend();
        let (tx, mut queued) = tokio::sync::mpsc::unbounded_channel();
        let deps = SyncDeps {
            vault: Arc::new(LocalVault::new(
                t.app.store.clone(),
                &SecretString::from("lifecycle test key"),
            )),
            queue: Arc::new(shared::sync::queue::LocalQueue(tx)),
            shopify_base_url: None,
            http: reqwest::Client::new(),
            bulk_orders: false,
            bulk_poll: Duration::from_millis(10),
        };
        let t = t.with_sync(deps);
        let (tid, _shop, token) = connected(&t).await;
        load_orders(&t, tid, 7_000, 120).await;
        let store = t.app.store.as_ref();

        // A delivery whose time ran out before the first page: the request stays listed.
        let erase = redact_shop(
            store,
            t.app.sync.vault.as_ref(),
            t.clock.now(),
            tid,
            std::time::Instant::now(),
        )
        .await
        .unwrap();
        assert!(matches!(erase, Erase::Unfinished { .. }), "{backend}");
        assert_eq!(pending_erases(store).await.unwrap(), vec![tid], "{backend}");
        assert!(!items(&t, tid, "ORDER#").await.is_empty(), "{backend}");

        // The scheduler hands it to the job; the job finishes it and unlists it.
        let queued_now = shared::sync::schedule(&Scheduler::from_app(&t.app))
            .await
            .unwrap();
        assert_eq!(
            queued_now, 1,
            "{backend}: only the erase (the shop is gone)"
        );
        let req = queued.recv().await.unwrap();
        assert_eq!(req, SyncRequest::erase(tid), "{backend}");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let outcome = shared::sync::run(&SyncRunner::from_app(&t.app), &req, deadline, &|_, _| {})
            .await
            .unwrap();
        assert!(
            matches!(outcome, RunOutcome::Erased { items } if items >= 120),
            "{backend}: {outcome:?}"
        );
        let left = items(&t, tid, "").await;
        assert_eq!(account_items(&left), ACCOUNT, "{backend}");
        assert!(pending_erases(store).await.unwrap().is_empty(), "{backend}");
        let metrics = t.get_with_token("/dashboard/metrics", &token).await;
        assert_eq!(metrics.json["orders"], 0, "{backend}");
        // Nothing more for the scheduler to hand out.
        let queued_now = shared::sync::schedule(&Scheduler::from_app(&t.app))
            .await
            .unwrap();
        assert_eq!(queued_now, 0, "{backend}");
    }
}

#[test]
fn a_sync_request_without_work_is_a_sync_and_an_erase_request_names_its_work() {
    use shared::sync::{SyncRequest, Work};
    let old: SyncRequest = serde_json::from_value(json!({"tenant": 42, "sync_id": "s1"})).unwrap();
    assert_eq!(old.work, Work::Sync);
    let sync = serde_json::to_value(SyncRequest::sync(TenantId::new(42), "s1".into())).unwrap();
    assert_eq!(sync, json!({"tenant": 42, "sync_id": "s1"}));
    let erase = serde_json::to_value(SyncRequest::erase(TenantId::new(42))).unwrap();
    assert_eq!(erase["work"], "erase_shop");
}
