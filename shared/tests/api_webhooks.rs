//! API tests for "Webhooks" in the HTTP contract: every status, Shopify's delivery behaviour
//! (redeliveries, late and out-of-order versions, deletes), tenant isolation, and the EventBridge
//! and API Gateway (base64 body) paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::domain::ShopifyId;
use shared::store::keys::TenantItem;
use shared::store::{Capacity, Item, Key, Page, Query, Store, StoreError, WriteOp};
use support::{Delivery, SHOPIFY_SECRET, TestApp, fixture, random_hex};

const ORDER: u64 = 820982911946154508;
const CUSTOMER: u64 = 115310627314723954;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn day(s: &str) -> TenantItem {
    TenantItem::Day(chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
}

/// A registered tenant: its id and shop domain.
async fn tenant(t: &TestApp) -> (shared::domain::TenantId, String) {
    let reg = t.register().await;
    (
        TestApp::tenant_of(&reg),
        reg["tenant"]["shop_domain"].as_str().unwrap().to_owned(),
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

#[tokio::test]
async fn an_order_signed_with_the_app_secret_is_applied_and_counted_on_its_shop_local_day() {
    let t = TestApp::embedded().await;
    let (tid, shop) = tenant(&t).await;
    let a = t
        .deliver(&Delivery::new(
            "orders/create",
            &shop,
            fixture("orders-create.json"),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    assert_eq!(a.json, json!({"result": "applied"}));

    assert_eq!(t.number(tid, TenantItem::Totals, "orders").await, dec("1"));
    assert_eq!(
        t.number(tid, TenantItem::Totals, "revenue").await,
        dec("214.63")
    );
    assert_eq!(
        t.number(tid, TenantItem::Totals, "customers").await,
        dec("1")
    );
    // 22:41 at -05:00 on the 24th is the 25th in UTC: the shop-local day counts.
    assert_eq!(t.number(tid, day("2026-11-24"), "orders").await, dec("1"));
    assert_eq!(t.number(tid, day("2026-11-25"), "orders").await, dec("0"));
    let cust = TenantItem::Customer(ShopifyId::new(CUSTOMER));
    assert_eq!(
        t.number(tid, cust.clone(), "total_spent").await,
        dec("214.63")
    );
    assert_eq!(t.number(tid, cust, "orders").await, dec("1"));

    // The stored order is a compact projection, ids exact.
    let item = t
        .item(tid, TenantItem::Order(ShopifyId::new(ORDER)))
        .await
        .unwrap();
    assert_eq!(item["id"].as_s(), Some("820982911946154508"));
    assert!(!item.contains_key("line_items") && !item.contains_key("billing_address"));
}

#[tokio::test]
async fn a_redelivery_of_the_same_event_is_a_duplicate_and_counts_once() {
    let t = TestApp::embedded().await;
    let (tid, shop) = tenant(&t).await;
    let d = Delivery::new("orders/create", &shop, fixture("orders-create.json"));
    assert_eq!(t.deliver(&d).await.json["result"], "applied");
    assert_eq!(t.deliver(&d).await.json["result"], "duplicate");
    // A second subscription: another webhook id, the same event id.
    let mut again = Delivery::new("orders/create", &shop, fixture("orders-create.json"));
    again.event_id = d.event_id.clone();
    assert_eq!(t.deliver(&again).await.json["result"], "duplicate");
    // The same version under a new event id changes nothing either.
    let a = t
        .deliver(&Delivery::new(
            "orders/create",
            &shop,
            fixture("orders-create.json"),
        ))
        .await;
    assert_eq!(a.json["result"], "stale");
    assert_eq!(t.number(tid, TenantItem::Totals, "orders").await, dec("1"));
    assert_eq!(
        t.number(tid, TenantItem::Totals, "revenue").await,
        dec("214.63")
    );
}

#[tokio::test]
async fn an_older_update_arriving_late_does_not_change_revenue() {
    let t = TestApp::embedded().await;
    let (tid, shop) = tenant(&t).await;
    let refund = Delivery::new(
        "orders/updated",
        &shop,
        fixture("orders-updated-partial-refund.json"),
    );
    assert_eq!(t.deliver(&refund).await.json["result"], "applied");
    let late_create = Delivery::new("orders/create", &shop, fixture("orders-create.json"));
    assert_eq!(t.deliver(&late_create).await.json["result"], "stale");
    assert_eq!(
        t.number(tid, TenantItem::Totals, "revenue").await,
        dec("150.24")
    );
    assert_eq!(t.number(tid, TenantItem::Totals, "orders").await, dec("1"));
    assert_eq!(
        t.number(tid, day("2026-11-24"), "revenue").await,
        dec("150.24")
    );
}

#[tokio::test]
async fn a_cancellation_removes_the_revenue_but_keeps_the_order_counted() {
    let t = TestApp::embedded().await;
    let (tid, shop) = tenant(&t).await;
    t.deliver(&Delivery::new(
        "orders/create",
        &shop,
        fixture("orders-create.json"),
    ))
    .await;
    let a = t
        .deliver(&Delivery::new(
            "orders/cancelled",
            &shop,
            fixture("orders-cancelled.json"),
        ))
        .await;
    assert_eq!(a.json["result"], "applied");
    assert_eq!(t.number(tid, TenantItem::Totals, "orders").await, dec("1"));
    assert_eq!(
        t.number(tid, TenantItem::Totals, "paid_orders").await,
        dec("0")
    );
    assert_eq!(t.number(tid, TenantItem::Totals, "revenue").await, dec("0"));
    let cust = TenantItem::Customer(ShopifyId::new(CUSTOMER));
    assert_eq!(t.number(tid, cust.clone(), "total_spent").await, dec("0"));
    assert_eq!(t.number(tid, cust, "orders").await, dec("1"));
}

#[tokio::test]
async fn a_delete_leaves_a_tombstone_so_a_late_create_does_not_resurrect_the_order() {
    let t = TestApp::embedded().await;
    let (tid, shop) = tenant(&t).await;
    t.deliver(&Delivery::new(
        "orders/create",
        &shop,
        fixture("orders-create.json"),
    ))
    .await;
    let mut del = Delivery::new("orders/delete", &shop, fixture("orders-delete.json"));
    del.triggered_at = Some("2026-11-26T08:00:00-05:00");
    assert_eq!(t.deliver(&del).await.json["result"], "applied");
    assert_eq!(t.number(tid, TenantItem::Totals, "orders").await, dec("0"));
    assert_eq!(t.number(tid, TenantItem::Totals, "revenue").await, dec("0"));

    let late = Delivery::new(
        "orders/updated",
        &shop,
        fixture("orders-updated-partial-refund.json"),
    );
    assert_eq!(t.deliver(&late).await.json["result"], "stale");
    assert_eq!(t.number(tid, TenantItem::Totals, "orders").await, dec("0"));
    let item = t
        .item(tid, TenantItem::Order(ShopifyId::new(ORDER)))
        .await
        .unwrap();
    assert_eq!(item.get("deleted"), Some(&shared::store::Attr::Bool(true)));
    // The customer's spend went with it.
    let cust = TenantItem::Customer(ShopifyId::new(CUSTOMER));
    assert_eq!(t.number(tid, cust, "orders").await, dec("0"));
}

#[tokio::test]
async fn test_orders_count_nowhere() {
    let t = TestApp::embedded().await;
    let (tid, shop) = tenant(&t).await;
    let a = t
        .deliver(&Delivery::new(
            "orders/create",
            &shop,
            order_with(json!({"test": true})),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(t.number(tid, TenantItem::Totals, "orders").await, dec("0"));
    assert_eq!(
        t.number(tid, TenantItem::Totals, "customers").await,
        dec("0")
    );
    assert_eq!(t.number(tid, day("2026-11-24"), "orders").await, dec("0"));
    assert!(
        t.item(tid, TenantItem::Customer(ShopifyId::new(CUSTOMER)))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn an_older_customer_snapshot_inside_an_order_never_overwrites_a_newer_customer_record() {
    let t = TestApp::embedded().await;
    let (tid, shop) = tenant(&t).await;
    let mut newer: Value = serde_json::from_slice(&fixture("customers-create.json")).unwrap();
    newer["updated_at"] = json!("2026-11-25T12:00:00-05:00");
    newer["first_name"] = json!("Aegon");
    let a = t
        .deliver(&Delivery::new(
            "customers/update",
            &shop,
            serde_json::to_vec(&newer).unwrap(),
        ))
        .await;
    assert_eq!(a.json["result"], "applied");
    // The order's snapshot (updated 2026-11-24T22:41:08) is older.
    t.deliver(&Delivery::new(
        "orders/create",
        &shop,
        fixture("orders-create.json"),
    ))
    .await;
    let c = t
        .item(tid, TenantItem::Customer(ShopifyId::new(CUSTOMER)))
        .await
        .unwrap();
    assert_eq!(c["first_name"].as_s(), Some("Aegon"));
    assert_eq!(c["orders"].as_n(), Some(dec("1")));
    assert_eq!(
        t.number(tid, TenantItem::Totals, "customers").await,
        dec("1")
    );
}

#[tokio::test]
async fn two_tenants_with_identical_shopify_ids_stay_apart() {
    let t = TestApp::embedded().await;
    let (a, shop_a) = tenant(&t).await;
    let (b, shop_b) = tenant(&t).await;
    t.deliver(&Delivery::new(
        "orders/create",
        &shop_a,
        fixture("orders-create.json"),
    ))
    .await;
    t.deliver(&Delivery::new(
        "orders/create",
        &shop_b,
        fixture("orders-cancelled.json"),
    ))
    .await;
    let mut del = Delivery::new("orders/delete", &shop_b, fixture("orders-delete.json"));
    del.triggered_at = Some("2026-11-27T00:00:00Z");
    t.deliver(&del).await;

    assert_eq!(t.number(a, TenantItem::Totals, "orders").await, dec("1"));
    assert_eq!(
        t.number(a, TenantItem::Totals, "revenue").await,
        dec("214.63")
    );
    assert_eq!(t.number(b, TenantItem::Totals, "orders").await, dec("0"));
    let oa = t
        .item(a, TenantItem::Order(ShopifyId::new(ORDER)))
        .await
        .unwrap();
    assert_eq!(oa.get("deleted"), Some(&shared::store::Attr::Bool(false)));
    assert_eq!(oa["total"].as_s(), Some("214.63"));
}

#[tokio::test]
async fn every_endpoint_takes_its_own_topics_and_refuses_the_others() {
    let t = TestApp::embedded().await;
    let (_, shop) = tenant(&t).await;
    let cases = [
        (
            "/webhooks/orders",
            "orders/create",
            fixture("orders-create.json"),
            StatusCode::OK,
        ),
        (
            "/webhooks/customers",
            "customers/create",
            fixture("customers-create.json"),
            StatusCode::OK,
        ),
        (
            "/webhooks/products",
            "products/create",
            fixture("products-create.json"),
            StatusCode::OK,
        ),
        (
            "/webhooks",
            "products/delete",
            fixture("products-delete.json"),
            StatusCode::OK,
        ),
        (
            "/webhooks",
            "customers/redact",
            fixture("customers-redact.json"),
            StatusCode::OK,
        ),
        (
            "/webhooks",
            "customers/data_request",
            fixture("customers-data_request.json"),
            StatusCode::OK,
        ),
        (
            "/webhooks",
            "shop/redact",
            fixture("shop-redact.json"),
            StatusCode::OK,
        ),
        (
            "/webhooks/customers",
            "orders/create",
            fixture("orders-create.json"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/webhooks/orders",
            "products/create",
            fixture("products-create.json"),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (path, topic, body, status) in cases {
        let mut d = Delivery::new(topic, &shop, body);
        d.path = path;
        let a = t.deliver(&d).await;
        assert_eq!(a.status, status, "{topic} on {path}: {}", a.json);
        if status == StatusCode::BAD_REQUEST {
            assert_eq!(a.json["error"]["code"], "wrong_endpoint");
        }
    }
}

#[tokio::test]
async fn the_contract_checks_run_in_order_size_signature_shop_then_body() {
    let t = TestApp::embedded().await;
    let (tid, shop) = tenant(&t).await;
    let body = fixture("orders-create.json");
    let check = |d: Delivery<'static>, status: StatusCode, code: &'static str| {
        let t = &t;
        async move {
            let a = t.deliver(&d).await;
            assert_eq!(a.status, status, "{code}: {}", a.json);
            assert_eq!(a.json["error"]["code"], code);
            let msg = a.json["error"]["message"].as_str().unwrap();
            assert!(!msg.is_empty() && !msg.contains(SHOPIFY_SECRET));
        }
    };
    let shop: &'static str = Box::leak(shop.into_boxed_str());
    let leak = |v: Vec<u8>| v;

    // 413: over 5 MiB, even unsigned.
    let mut huge = Delivery::new("orders/create", shop, vec![b' '; 5 * 1024 * 1024 + 1]);
    huge.signature = Some("nope".into());
    check(huge, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // 401: missing, wrong, or over re-serialized JSON; before any shop lookup result is revealed.
    let mut missing = Delivery::new("orders/create", shop, body.clone());
    missing.signature = Some(String::new());
    check(missing, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    let mut wrong = Delivery::new("orders/create", shop, body.clone());
    wrong.signature = Some(shared::ingest::verify::sign(b"another secret", &body));
    check(wrong, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    let reserialized =
        serde_json::to_vec(&serde_json::from_slice::<Value>(&body).unwrap()).unwrap();
    let mut reser = Delivery::new("orders/create", shop, reserialized);
    reser.signature = Some(shared::ingest::verify::sign(
        SHOPIFY_SECRET.as_bytes(),
        &body,
    ));
    check(reser, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    let mut unknown_and_unsigned =
        Delivery::new("orders/create", "nobody.myshopify.com", body.clone());
    unknown_and_unsigned.signature = Some("AAAA".into());
    check(
        unknown_and_unsigned,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    )
    .await;

    // 404: signed, but the shop belongs to no tenant.
    check(
        Delivery::new("orders/create", "nobody.myshopify.com", body.clone()),
        StatusCode::NOT_FOUND,
        "unknown_shop",
    )
    .await;

    // 400s: the body and the topic.
    check(
        Delivery::new("orders/create", shop, leak(b"{\"id\":".to_vec())),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    check(
        Delivery::new("orders/create", shop, leak(b"{\"name\":\"#1\"}".to_vec())),
        StatusCode::BAD_REQUEST,
        "missing_id",
    )
    .await;
    check(
        Delivery::new("orders/edited", shop, body.clone()),
        StatusCode::BAD_REQUEST,
        "unknown_topic",
    )
    .await;
    check(
        Delivery::new(
            "orders/create",
            shop,
            order_with(json!({"current_total_price": 12.5})),
        ),
        StatusCode::BAD_REQUEST,
        "invalid_payload",
    )
    .await;

    // None of the refused deliveries changed anything.
    assert!(t.item(tid, TenantItem::Totals).await.is_none());
}

#[tokio::test]
async fn a_body_of_exactly_5_mib_is_accepted() {
    let t = TestApp::embedded().await;
    let (tid, shop) = tenant(&t).await;
    let mut body = order_with(json!({"note": ""}));
    let pad = 5 * 1024 * 1024 - body.len();
    let mut o: Value = serde_json::from_slice(&body).unwrap();
    o["note"] = json!("x".repeat(pad));
    body = serde_json::to_vec(&o).unwrap();
    assert_eq!(body.len(), 5 * 1024 * 1024);
    let a = t
        .deliver(&Delivery::new("orders/create", &shop, body))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    assert_eq!(t.number(tid, TenantItem::Totals, "orders").await, dec("1"));
}

#[tokio::test]
async fn the_newer_header_names_without_the_x_prefix_are_accepted() {
    let t = TestApp::embedded().await;
    let (tid, shop) = tenant(&t).await;
    let body = fixture("orders-create.json");
    let req = http::Request::builder()
        .method("POST")
        .uri("/webhooks")
        .header("shopify-topic", "orders/create")
        .header("shopify-shop-domain", shop.as_str())
        .header("shopify-event-id", "evt-1")
        .header(
            "shopify-hmac-sha256",
            shared::ingest::verify::sign(SHOPIFY_SECRET.as_bytes(), &body),
        )
        .body(axum::body::Body::from(body))
        .unwrap();
    assert_eq!(t.send(req).await.json["result"], "applied");
    assert_eq!(t.number(tid, TenantItem::Totals, "orders").await, dec("1"));
}

#[tokio::test]
async fn a_webhook_the_merchant_created_is_verified_with_the_tenants_own_secret() {
    let t = TestApp::embedded().await;
    let (tid, shop) = tenant(&t).await;
    let dir = shared::store::keys::Directory::Shop(shop.clone()).key();
    let mut entry = t.app.store.get(&dir).await.unwrap().unwrap();
    entry.insert("webhook_secret".into(), "merchant-admin-secret".into());
    t.app
        .store
        .write(vec![WriteOp::Put {
            item: entry,
            condition: None,
        }])
        .await
        .unwrap();

    let body = fixture("orders-create.json");
    let mut d = Delivery::new("orders/create", &shop, body.clone());
    d.signature = Some(shared::ingest::verify::sign(
        b"merchant-admin-secret",
        &body,
    ));
    assert_eq!(t.deliver(&d).await.json["result"], "applied");
    assert_eq!(t.number(tid, TenantItem::Totals, "orders").await, dec("1"));
    // Another shop's own secret does not sign for this one.
    let (_, other) = tenant(&t).await;
    let mut d = Delivery::new("orders/create", &other, body.clone());
    d.signature = Some(shared::ingest::verify::sign(
        b"merchant-admin-secret",
        &body,
    ));
    assert_eq!(t.deliver(&d).await.status, StatusCode::UNAUTHORIZED);
}

/// A store whose writes fail while `failing` is set.
struct Flaky {
    inner: Arc<dyn Store>,
    failing: AtomicBool,
}

#[async_trait::async_trait]
impl Store for Flaky {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        self.inner.query(q).await
    }
    async fn scan_sort_key(
        &self,
        sk: &str,
        after: Option<&Key>,
        limit: u32,
    ) -> Result<(Vec<Item>, Option<Key>), StoreError> {
        self.inner.scan_sort_key(sk, after, limit).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Backend {
                source: "disk on fire: /dev/sda1 at 0xdeadbeef".into(),
            });
        }
        self.inner.write(ops).await
    }
    fn consumed(&self) -> Capacity {
        Capacity::default()
    }
    fn backend_name(&self) -> &'static str {
        "flaky"
    }
}

#[tokio::test]
async fn a_store_failure_answers_5xx_with_nothing_internal_and_the_retry_applies() {
    let base = TestApp::embedded().await;
    let (tid, shop) = tenant(&base).await;
    let flaky = Arc::new(Flaky {
        inner: base.app.store.clone(),
        failing: AtomicBool::new(true),
    });
    let mut app = base.app.clone();
    app.store = flaky.clone();
    let router = shared::routes::local_router(app);

    let d = Delivery::new("orders/create", &shop, fixture("orders-create.json"));
    let send = |router: axum::Router| {
        let body = d.body.clone();
        let shop = shop.clone();
        let event = d.event_id.clone().unwrap();
        async move {
            use http_body_util::BodyExt;
            use tower::ServiceExt;
            let req = http::Request::builder()
                .method("POST")
                .uri("/webhooks")
                .header("x-shopify-topic", "orders/create")
                .header("x-shopify-shop-domain", shop)
                .header("x-shopify-event-id", event)
                .header(
                    "x-shopify-hmac-sha256",
                    shared::ingest::verify::sign(SHOPIFY_SECRET.as_bytes(), &body),
                )
                .body(axum::body::Body::from(body))
                .unwrap();
            let res = router.oneshot(req).await.unwrap();
            let status = res.status();
            let text =
                String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec())
                    .unwrap();
            (status, text)
        }
    };
    let (status, text) = send(router.clone()).await;
    assert!(status.is_server_error(), "{status}");
    assert!(
        !text.contains("disk on fire") && !text.contains("deadbeef"),
        "{text}"
    );
    assert!(base.item(tid, TenantItem::Totals).await.is_none());

    // Shopify retries the same event: it applies now, and only once.
    flaky.failing.store(false, Ordering::SeqCst);
    let (status, text) = send(router.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("applied"), "{text}");
    assert_eq!(
        base.number(tid, TenantItem::Totals, "orders").await,
        dec("1")
    );
}

#[tokio::test]
async fn an_api_gateway_request_with_a_base64_body_is_verified_over_the_decoded_bytes() {
    use base64::Engine as _;
    let t = TestApp::embedded().await;
    let (tid, shop) = tenant(&t).await;
    let body = fixture("orders-create.json");
    let event = json!({
        "version": "2.0",
        "routeKey": "POST /webhooks",
        "rawPath": "/webhooks",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "x-shopify-topic": "orders/create",
            "x-shopify-shop-domain": shop,
            "x-shopify-event-id": random_hex(8),
            "x-shopify-hmac-sha256": "gTH+cS/wWq+w/AMnPmzxPZg6BnB1GL1CBkGTI8dDWxo="
        },
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "req-1", "routeKey": "POST /webhooks",
            "stage": "$default", "time": "25/Nov/2026:03:41:07 +0000", "timeEpoch": 1795664467000u64,
            "http": {"method": "POST", "path": "/webhooks", "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.9", "userAgent": "Shopify-Captain-Hook"}
        },
        "body": base64::engine::general_purpose::STANDARD.encode(&body),
        "isBase64Encoded": true
    });
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let (parts, body) = req.into_parts();
    let req = http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()));
    let a = t.send(req).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    assert_eq!(t.number(tid, TenantItem::Totals, "orders").await, dec("1"));
}

#[tokio::test]
async fn an_eventbridge_delivery_applies_without_hmac_and_dedupes_like_https() {
    let t = TestApp::embedded().await;
    let (tid, shop) = tenant(&t).await;
    let payload: Value = serde_json::from_slice(&fixture("orders-create.json")).unwrap();
    let event = json!({
        "version": "0",
        "id": "4d8b6f3a-0000-0000-0000-000000000000",
        "detail-type": "shopifyWebhook",
        "source": "aws.partner/shopify.com/1234567/insights",
        "account": "123456789012",
        "time": "2026-11-25T03:41:09Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "metadata": {
                "Content-Type": "application/json",
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Shop-Domain": shop,
                "X-Shopify-Event-Id": "evb-1",
                "X-Shopify-API-Version": "2026-01"
            },
            "payload": payload
        }
    });
    let r = shared::lambda::webhooks_eventbridge(&t.app.deps(), &event)
        .await
        .unwrap();
    assert_eq!(r["result"], "applied");
    let r = shared::lambda::webhooks_eventbridge(&t.app.deps(), &event)
        .await
        .unwrap();
    assert_eq!(r["result"], "duplicate");
    assert_eq!(
        t.number(tid, TenantItem::Totals, "revenue").await,
        dec("214.63")
    );

    let mut unknown = event.clone();
    unknown["detail"]["metadata"]["X-Shopify-Shop-Domain"] = json!("nobody.myshopify.com");
    let r = shared::lambda::webhooks_eventbridge(&t.app.deps(), &unknown)
        .await
        .unwrap();
    assert_eq!(r["result"], "rejected");
    assert_eq!(r["error"], "unknown_shop");
}

#[tokio::test]
async fn a_delete_dated_in_the_future_by_its_unsigned_header_counts_as_arriving_now() {
    use shared::clock::Clock;
    let t = TestApp::embedded().await;
    let (a, shop) = tenant(&t).await;
    let mut del = Delivery::new("orders/delete", &shop, fixture("orders-delete.json"));
    del.triggered_at = Some("2099-01-01T00:00:00Z");
    assert_eq!(t.deliver(&del).await.json["result"], "applied");
    // An edit made two minutes after the delete arrived (past any clock skew) is newer than it.
    let later = t.clock.now() + chrono::Duration::minutes(2);
    let mut order: serde_json::Value =
        serde_json::from_slice(&fixture("orders-create.json")).unwrap();
    order["updated_at"] = serde_json::json!(later.to_rfc3339());
    let edit = Delivery::new("orders/updated", &shop, serde_json::to_vec(&order).unwrap());
    assert_eq!(t.deliver(&edit).await.json["result"], "applied");
    let o = t
        .item(a, TenantItem::Order(ShopifyId::new(ORDER)))
        .await
        .unwrap();
    assert_eq!(o.get("deleted"), Some(&shared::store::Attr::Bool(false)));
}

#[tokio::test]
async fn an_unreadable_or_empty_triggered_at_is_refused_with_400_and_changes_nothing() {
    let t = TestApp::embedded().await;
    let (a, shop) = tenant(&t).await;
    for bad in ["yesterday", "", "2026-13-01T00:00:00Z"] {
        let mut del = Delivery::new("orders/create", &shop, fixture("orders-create.json"));
        del.triggered_at = Some(bad);
        let r = t.deliver(&del).await;
        assert_eq!(r.status, 400, "{bad:?}: {}", r.json);
        assert_eq!(r.json["error"]["code"], "invalid_triggered_at", "{bad:?}");
    }
    assert!(
        t.item(a, TenantItem::Order(ShopifyId::new(ORDER)))
            .await
            .is_none()
    );
    // The same delivery with Shopify's own form is applied.
    let mut ok = Delivery::new("orders/create", &shop, fixture("orders-create.json"));
    ok.triggered_at = Some("2026-11-20T15:00:00.123456789Z");
    assert_eq!(t.deliver(&ok).await.json["result"], "applied");
}

#[tokio::test]
async fn a_signed_delivery_without_a_shop_domain_is_a_400_and_an_unsigned_one_still_a_401() {
    let t = TestApp::embedded().await;
    let mut d = Delivery::new("orders/create", "", fixture("orders-create.json"));
    let r = t.deliver(&d).await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert_eq!(r.json["error"]["code"], "missing_shop_domain");
    d.signature = Some("bm90IHRoZSBzaWduYXR1cmU=".into());
    assert_eq!(t.deliver(&d).await.status, 401);
}
