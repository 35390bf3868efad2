//! API tests for "Checkouts, storefront events and the funnel" in the HTTP contract: `POST /events`
//! (ingest key, duplicates, malformed events, limits, CORS), the ingest key and settings, checkout
//! webhooks, every definition of the funnel (sessions by the shop's date, completion three ways,
//! abandonment once, recovery), the abandonment job run twice, and the event log's pages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::clock::Clock;
use support::{Answer, Delivery, TestApp, fixture, random_hex};

/// A registered merchant: its bearer token, shop and ingest key.
struct Merchant {
    token: String,
    shop: String,
    key: String,
}

async fn merchant(t: &TestApp) -> Merchant {
    let reg = t.register().await;
    let token = reg["token"].as_str().unwrap().to_owned();
    let a = t.get_with_token("/tenants/me/ingest-key", &token).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    Merchant {
        token,
        shop: reg["tenant"]["shop_domain"].as_str().unwrap().to_owned(),
        key: a.json["ingest_key"].as_str().unwrap().to_owned(),
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A Web Pixels event.
fn pixel(name: &str, client: &str, at: DateTime<Utc>, checkout: Option<Value>) -> Value {
    let mut data = json!({});
    if let Some(c) = checkout {
        data["checkout"] = c;
    }
    json!({"id": format!("ev-{}", random_hex(8)), "name": name, "timestamp": ts(at),
           "clientId": client, "data": data})
}

fn checkout_data(token: &str, total: &str, email: Option<&str>) -> Value {
    json!({"token": token, "email": email,
           "totalPrice": {"amount": total.parse::<f64>().unwrap(), "currencyCode": "USD"}})
}

async fn send_events(t: &TestApp, key: &str, events: &[Value]) -> Answer {
    t.request(
        Method::POST,
        &format!("/events?key={key}"),
        &[("content-type", "text/plain;charset=UTF-8")],
        json!({"events": events}).to_string(),
    )
    .await
}

/// A `checkouts/create|update` body.
fn checkout_body(
    token: &str,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    email: Option<&str>,
    completed: Option<DateTime<Utc>>,
    total: &str,
) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "token": token,
        "created_at": created.to_rfc3339(),
        "updated_at": updated.to_rfc3339(),
        "completed_at": completed.map(|c| c.to_rfc3339()),
        "email": email,
        "phone": null,
        "total_price": total,
        "currency": "USD",
        "abandoned_checkout_url": format!("https://shop.example/checkouts/{token}/recover"),
    }))
    .unwrap()
}

async fn deliver(t: &TestApp, topic: &str, shop: &str, body: Vec<u8>) -> Answer {
    let a = t.deliver(&Delivery::new(topic, shop, body)).await;
    assert_eq!(a.status, StatusCode::OK, "{topic}: {}", a.json);
    a
}

/// The order fixture carrying `token` as its `checkout_token`; and its total.
fn order_completing(token: &str) -> (Vec<u8>, String) {
    let mut o: Value = serde_json::from_slice(&fixture("orders-create.json")).unwrap();
    o["checkout_token"] = json!(token);
    let total = o["current_total_price"].as_str().unwrap().to_owned();
    (serde_json::to_vec(&o).unwrap(), total)
}

async fn funnel(t: &TestApp, m: &Merchant, from: &str, to: &str) -> Value {
    let a = t
        .get_with_token(&format!("/dashboard/funnel?from={from}&to={to}"), &m.token)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    a.json
}

async fn run_job(t: &TestApp) -> shared::storefront::abandon::Report {
    shared::storefront::abandon::run(
        t.app.store.as_ref(),
        t.clock.now(),
        std::time::Duration::from_secs(30),
    )
    .await
    .unwrap()
}

fn day(t: DateTime<Utc>) -> String {
    t.date_naive().format("%Y-%m-%d").to_string()
}

#[tokio::test]
async fn events_are_accepted_once_each_and_a_malformed_event_is_rejected_alone() {
    for t in TestApp::every_backend().await {
        let m = merchant(&t).await;
        let now = t.clock.now();
        let good = pixel("page_viewed", "c1", now, None);
        let batch = vec![
            good.clone(),
            pixel("product_added_to_cart", "c1", now, None),
            json!({"id": "", "name": "page_viewed", "timestamp": ts(now), "clientId": "c1"}),
            json!({"id": "x", "name": "page_viewed", "timestamp": "yesterday", "clientId": "c1"}),
            good.clone(),
        ];
        let a = send_events(&t, &m.key, &batch).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", t.backend());
        assert_eq!(
            a.json,
            json!({"accepted": 2, "duplicates": 1, "rejected": 2}),
            "{}",
            t.backend()
        );
        // Redelivered (a keepalive retried by the browser): every one a duplicate, nothing counted twice.
        let again = send_events(&t, &m.key, &batch[..2]).await;
        assert_eq!(
            again.json,
            json!({"accepted": 0, "duplicates": 2, "rejected": 0})
        );
        // One event alone, with the key in the header.
        let one = t
            .request(
                Method::POST,
                "/events",
                &[("x-ingest-key", m.key.as_str())],
                pixel("page_viewed", "c2", now, None).to_string(),
            )
            .await;
        assert_eq!(one.json["accepted"], 1);
        let f = funnel(&t, &m, &day(now), &day(now)).await;
        assert_eq!(
            (f["sessions"].clone(), f["sessions_with_cart"].clone()),
            (json!(2), json!(1)),
            "{}: {f}",
            t.backend()
        );
    }
}

#[tokio::test]
async fn a_request_outside_the_limits_is_refused_whole_with_a_4xx_and_changes_nothing() {
    let t = TestApp::embedded().await;
    let m = merchant(&t).await;
    let now = t.clock.now();
    let many: Vec<Value> = (0..101)
        .map(|i| pixel("page_viewed", &format!("c{i}"), now, None))
        .collect();
    let a = send_events(&t, &m.key, &many).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json["error"]["code"], "too_many_events");
    let big = format!(
        "{{\"events\": [], \"pad\": \"{}\"}}",
        "x".repeat(300 * 1024)
    );
    let a = t
        .request(Method::POST, &format!("/events?key={}", m.key), &[], big)
        .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    for bad in ["[1]", "{", "\"text\""] {
        let a = t
            .request(Method::POST, &format!("/events?key={}", m.key), &[], bad)
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let f = funnel(&t, &m, &day(now), &day(now)).await;
    assert_eq!(f["sessions"], 0);
}

#[tokio::test]
async fn posts_past_the_ingest_keys_limit_get_429_and_store_nothing_while_other_keys_go_on() {
    for t in TestApp::every_backend().await {
        let limits = shared::limits::RateLimits {
            ingest: shared::limits::Limit {
                max: 3,
                window_seconds: 60,
            },
            ..Default::default()
        };
        let t = t.with_limits(limits);
        let (m, other) = (merchant(&t).await, merchant(&t).await);
        let now = t.clock.now();
        for i in 0..3 {
            let a = send_events(
                &t,
                &m.key,
                &[pixel("page_viewed", &format!("a{i}"), now, None)],
            )
            .await;
            assert_eq!(a.status, StatusCode::ACCEPTED, "{}", t.backend());
            assert_eq!(
                a.headers["ratelimit-remaining"],
                (2 - i).to_string().as_str()
            );
        }
        let over = send_events(&t, &m.key, &[pixel("page_viewed", "late", now, None)]).await;
        assert_eq!(
            over.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            t.backend()
        );
        assert_eq!(over.json["error"]["code"], "rate_limited");
        assert!(over.headers.contains_key("retry-after"));
        let f = funnel(&t, &m, &day(now), &day(now)).await;
        assert_eq!(
            f["sessions"],
            3,
            "{}: the refused batch added nothing",
            t.backend()
        );
        // Another storefront's key has its own window.
        let a = send_events(&t, &other.key, &[pixel("page_viewed", "b", now, None)]).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", t.backend());
        // The next window accepts the key again.
        t.clock.advance(chrono::Duration::seconds(61));
        let later = t.clock.now();
        let a = send_events(&t, &m.key, &[pixel("page_viewed", "next", later, None)]).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{}", t.backend());
    }
}

#[tokio::test]
async fn an_unknown_or_replaced_ingest_key_gets_401_and_the_new_one_works() {
    let t = TestApp::embedded().await;
    let m = merchant(&t).await;
    let now = t.clock.now();
    let ev = || vec![pixel("page_viewed", "c1", now, None)];
    assert_eq!(
        send_events(&t, &m.key, &ev()).await.status,
        StatusCode::ACCEPTED
    );
    let none = t
        .request(
            Method::POST,
            "/events",
            &[],
            json!({"events": ev()}).to_string(),
        )
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    let forged = format!("ik_{}", "A".repeat(32));
    assert_eq!(
        send_events(&t, &forged, &ev()).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The key is stable until replaced; replacing it stops the old one at once.
    let again = t.get_with_token("/tenants/me/ingest-key", &m.token).await;
    assert_eq!(again.json["ingest_key"], m.key.as_str());
    let auth = format!("Bearer {}", m.token);
    let replaced = t
        .request(
            Method::POST,
            "/tenants/me/ingest-key",
            &[("authorization", &auth)],
            "",
        )
        .await;
    assert_eq!(replaced.status, StatusCode::OK);
    let new = replaced.json["ingest_key"].as_str().unwrap();
    assert_ne!(new, m.key);
    assert_eq!(
        send_events(&t, &m.key, &ev()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send_events(&t, new, &ev()).await.status,
        StatusCode::ACCEPTED
    );
    // Another tenant's key writes to that tenant only.
    let other = merchant(&t).await;
    send_events(&t, &other.key, &[pixel("page_viewed", "z", now, None)]).await;
    let f = funnel(&t, &m, &day(now), &day(now)).await;
    assert_eq!(f["sessions"], 1);
}

#[tokio::test]
async fn cors_is_open_on_events_and_nowhere_else() {
    let t = TestApp::embedded().await;
    let m = merchant(&t).await;
    let preflight = |path: &'static str| {
        t.request(
            Method::OPTIONS,
            path,
            &[
                ("origin", "https://snowdevil.myshopify.com"),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "content-type, x-ingest-key",
                ),
            ],
            "",
        )
    };
    let a = preflight("/events").await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(a.headers["access-control-allow-origin"], "*");
    assert!(
        a.headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-ingest-key")
    );
    let sent = send_events(
        &t,
        &m.key,
        &[pixel("page_viewed", "c", t.clock.now(), None)],
    )
    .await;
    assert_eq!(sent.headers["access-control-allow-origin"], "*");
    // An unknown key's 401 carries it too, so the storefront can read why.
    let refused = send_events(&t, "nope", &[]).await;
    assert_eq!(refused.headers["access-control-allow-origin"], "*");
    for path in ["/dashboard/funnel", "/tenants/me/ingest-key", "/auth/login"] {
        let a = preflight(path).await;
        assert!(
            !a.headers.contains_key("access-control-allow-origin"),
            "{path}"
        );
    }
    let read = t.get_with_token("/dashboard/funnel", &m.token).await;
    assert!(!read.headers.contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn sessions_are_dated_in_the_shops_zone_so_one_visitor_across_midnight_is_two_sessions() {
    let t = TestApp::embedded().await;
    let m = merchant(&t).await;
    // Before the shop is connected its zone is the offset its newest webhook carried: -05:00.
    let order: Value = serde_json::from_slice(&fixture("orders-create.json")).unwrap();
    assert!(order["created_at"].as_str().unwrap().ends_with("-05:00"));
    deliver(&t, "orders/create", &m.shop, fixture("orders-create.json")).await;
    let midnight_utc = t
        .clock
        .now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        - Duration::days(1);
    // 04:30Z is 23:30 the evening before in the shop; 05:30Z is 00:30 the next day.
    let before = midnight_utc + Duration::minutes(4 * 60 + 30);
    let after = midnight_utc + Duration::minutes(5 * 60 + 30);
    let a = send_events(
        &t,
        &m.key,
        &[
            pixel("page_viewed", "visitor", before, None),
            pixel("product_added_to_cart", "visitor", before, None),
            pixel("page_viewed", "visitor", after, None),
        ],
    )
    .await;
    assert_eq!(a.json["accepted"], 3);
    let (d1, d2) = (day(before - Duration::days(1)), day(after));
    let f = funnel(&t, &m, &d1, &d2).await;
    assert_eq!(f["sessions"], 2, "{f}");
    let days: Vec<(String, u64, u64)> = f["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["date"].as_str().unwrap().to_owned(),
                d["sessions"].as_u64().unwrap(),
                d["sessions_with_cart"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(days, vec![(d1, 1, 1), (d2, 1, 0)]);
}

#[tokio::test]
async fn a_checkout_with_contact_details_is_abandoned_once_after_the_setting_and_one_without_never()
{
    for t in TestApp::every_backend().await {
        let m = merchant(&t).await;
        let start = t.clock.now();
        for (token, email) in [("withmail", Some("buyer@example.com")), ("anonymous", None)] {
            let body = checkout_body(token, start, start, email, None, "42.50");
            assert_eq!(
                deliver(&t, "checkouts/create", &m.shop, body).await.json["result"],
                "applied"
            );
        }
        // 59 minutes later: not yet (the default is 60).
        t.clock.advance(Duration::minutes(59));
        assert_eq!(run_job(&t).await.abandoned, 0, "{}", t.backend());
        t.clock.advance(Duration::minutes(2));
        assert_eq!(run_job(&t).await.abandoned, 1, "{}", t.backend());
        // Run twice, and much later: abandoned once, and the anonymous one never.
        assert_eq!(run_job(&t).await.abandoned, 0);
        t.clock.advance(Duration::days(3));
        assert_eq!(run_job(&t).await.abandoned, 0);
        let f = funnel(&t, &m, &day(start), &day(start)).await;
        assert_eq!(f["checkouts_started"], 2, "{f}");
        assert_eq!(f["checkouts_abandoned"], 1, "{f}");
        assert_eq!(f["abandoned_value"], "42.50", "{f}");
        let log = t
            .get_with_token("/dashboard/events?type=checkout_abandoned", &m.token)
            .await;
        let events = log.json["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{}", log.json);
        assert_eq!(events[0]["type"], "checkout_abandoned");
        assert_eq!(events[0]["metadata"]["checkout_token"], "withmail");
        assert_eq!(events[0]["metadata"]["total_price"], "42.50");
        assert_eq!(
            events[0]["metadata"]["recovery_url"],
            "https://shop.example/checkouts/withmail/recover"
        );
    }
}

#[tokio::test]
async fn a_longer_setting_delays_abandonment_and_the_setting_is_checked() {
    let t = TestApp::embedded().await;
    let m = merchant(&t).await;
    let auth = format!("Bearer {}", m.token);
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let put = |v: Value| t.request(Method::PUT, "/tenants/me/settings", &headers, v.to_string());
    assert_eq!(
        t.get_with_token("/tenants/me/settings", &m.token)
            .await
            .json,
        json!({"abandon_after_minutes": 60})
    );
    for bad in [
        json!({"abandon_after_minutes": 0}),
        json!({"abandon_after_minutes": 10081}),
        json!({"abandon_after_minutes": "60"}),
        json!({}),
    ] {
        let a = put(bad.clone()).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(a.json["error"]["code"], "invalid_abandon_after");
    }
    // 90.0 is a whole number as JSON Schema counts them.
    assert_eq!(
        put(json!({"abandon_after_minutes": 90.0})).await.json,
        json!({"abandon_after_minutes": 90})
    );
    for bad in [
        json!({"abandon_after_minutes": 90.5}),
        json!({"abandon_after_minutes": -1.0}),
    ] {
        assert_eq!(
            put(bad.clone()).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    assert_eq!(
        put(json!({"abandon_after_minutes": 180})).await.status,
        StatusCode::OK
    );
    let start = t.clock.now();
    let body = checkout_body("slow", start, start, Some("b@example.com"), None, "10.00");
    deliver(&t, "checkouts/create", &m.shop, body).await;
    t.clock.advance(Duration::minutes(61));
    assert_eq!(run_job(&t).await.abandoned, 0);
    t.clock.advance(Duration::minutes(120));
    assert_eq!(run_job(&t).await.abandoned, 1);
}

#[tokio::test]
async fn a_checkout_is_completed_by_completed_at_by_its_event_or_by_an_order_and_then_never_abandoned()
 {
    for t in TestApp::every_backend().await {
        let m = merchant(&t).await;
        let start = t.clock.now();
        let mail = Some("buyer@example.com");
        // By completed_at.
        deliver(
            &t,
            "checkouts/create",
            &m.shop,
            checkout_body("one", start, start, mail, None, "10.00"),
        )
        .await;
        deliver(
            &t,
            "checkouts/update",
            &m.shop,
            checkout_body(
                "one",
                start,
                start + Duration::minutes(5),
                mail,
                Some(start + Duration::minutes(5)),
                "10.00",
            ),
        )
        .await;
        // By the pixel's checkout_completed.
        send_events(
            &t,
            &m.key,
            &[
                pixel(
                    "checkout_started",
                    "c2",
                    start,
                    Some(checkout_data("two", "20.00", Some("x@example.com"))),
                ),
                pixel(
                    "checkout_completed",
                    "c2",
                    start + Duration::minutes(3),
                    Some(checkout_data("two", "20.00", None)),
                ),
            ],
        )
        .await;
        // By an order carrying its token.
        deliver(
            &t,
            "checkouts/create",
            &m.shop,
            checkout_body("three", start, start, mail, None, "30.00"),
        )
        .await;
        deliver(&t, "orders/create", &m.shop, order_completing("three").0).await;
        t.clock.advance(Duration::hours(5));
        assert_eq!(run_job(&t).await.abandoned, 0, "{}", t.backend());
        let f = funnel(&t, &m, &day(start - Duration::days(1)), &day(start)).await;
        assert_eq!(f["checkouts_started"], 3, "{}: {f}", t.backend());
        assert_eq!(f["checkouts_completed"], 3, "{}: {f}", t.backend());
        assert_eq!(f["checkouts_abandoned"], 0);
        assert_eq!(
            (
                f["sessions"].clone(),
                f["sessions_with_checkout"].clone(),
                f["sessions_converted"].clone()
            ),
            (json!(1), json!(1), json!(1))
        );
        assert_eq!(f["conversion_rate"], "1.0000");
    }
}

#[tokio::test]
async fn an_abandoned_checkout_completed_later_is_recovered_at_the_orders_total() {
    for t in TestApp::every_backend().await {
        let m = merchant(&t).await;
        let start = t.clock.now();
        deliver(
            &t,
            "checkouts/create",
            &m.shop,
            checkout_body("back", start, start, Some("b@example.com"), None, "250.00"),
        )
        .await;
        t.clock.advance(Duration::minutes(90));
        assert_eq!(run_job(&t).await.abandoned, 1);
        let (order, total) = order_completing("back");
        deliver(&t, "orders/create", &m.shop, order.clone()).await;
        // The same order again (orders/paid) recovers nothing more.
        deliver(&t, "orders/paid", &m.shop, order).await;
        let f = funnel(&t, &m, &day(start), &day(start)).await;
        assert_eq!(f["checkouts_abandoned"], 1, "{f}");
        assert_eq!(f["abandoned_value"], "250.00");
        assert_eq!(f["checkouts_recovered"], 1, "{f}");
        assert_eq!(f["recovered_value"], json!(total), "{f}");
        assert_eq!(f["checkouts_completed"], 1);
        let log = t
            .get_with_token("/dashboard/events?type=checkout_recovered", &m.token)
            .await;
        let events = log.json["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{}", log.json);
        assert_eq!(events[0]["metadata"]["recovered_value"], json!(total));
    }
}

#[tokio::test]
async fn a_deleted_checkout_keeps_its_start_and_is_never_abandoned() {
    let t = TestApp::embedded().await;
    let m = merchant(&t).await;
    let start = t.clock.now();
    deliver(
        &t,
        "checkouts/create",
        &m.shop,
        checkout_body("gone", start, start, Some("b@example.com"), None, "5.00"),
    )
    .await;
    let mut del = Delivery::new(
        "checkouts/delete",
        &m.shop,
        serde_json::to_vec(&json!({"token": "gone"})).unwrap(),
    );
    let at = ts(start + Duration::minutes(1));
    del.triggered_at = Some(&at);
    assert_eq!(t.deliver(&del).await.json["result"], "applied");
    t.clock.advance(Duration::hours(3));
    assert_eq!(run_job(&t).await.abandoned, 0);
    let f = funnel(&t, &m, &day(start), &day(start)).await;
    assert_eq!(f["checkouts_started"], 1);
    // A checkout webhook without a usable token is a 400 with a code, never stored.
    for body in [
        json!({"updated_at": ts(start)}),
        json!({"token": "has space", "updated_at": ts(start)}),
    ] {
        let a = t
            .deliver(&Delivery::new(
                "checkouts/update",
                &m.shop,
                serde_json::to_vec(&body).unwrap(),
            ))
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
    }
    // Checkout topics are only taken at /webhooks.
    let mut wrong = Delivery::new(
        "checkouts/create",
        &m.shop,
        checkout_body("x", start, start, None, None, "1.00"),
    );
    wrong.path = "/webhooks/orders";
    assert_eq!(
        t.deliver(&wrong).await.json["error"]["code"],
        "wrong_endpoint"
    );
}

#[tokio::test]
async fn the_event_log_pages_newest_first_by_type_and_its_cursor_is_bound_to_the_query() {
    let t = TestApp::embedded().await;
    let m = merchant(&t).await;
    let now = t.clock.now();
    let events: Vec<Value> = (0..7)
        .map(|i| {
            pixel(
                if i % 2 == 0 {
                    "page_viewed"
                } else {
                    "product_viewed"
                },
                "c",
                now - Duration::minutes(10 - i),
                None,
            )
        })
        .collect();
    assert_eq!(send_events(&t, &m.key, &events).await.json["accepted"], 7);
    let first = t
        .get_with_token("/dashboard/events?type=page_viewed&limit=3", &m.token)
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let page: Vec<&str> = first.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = [6, 4, 2]
        .iter()
        .map(|i| events[*i]["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, expected);
    let cursor = first.json["next_cursor"].as_str().unwrap().to_owned();
    let second = t
        .get_with_token(
            &format!("/dashboard/events?type=page_viewed&limit=3&cursor={cursor}"),
            &m.token,
        )
        .await;
    assert_eq!(second.json["events"].as_array().unwrap().len(), 1);
    assert_eq!(second.json["next_cursor"], Value::Null);
    // The cursor is for this type: another query, another tenant, or a forged one is a 400.
    let other = merchant(&t).await;
    for (q, token) in [
        (
            format!("/dashboard/events?type=product_viewed&limit=3&cursor={cursor}"),
            &m.token,
        ),
        (
            format!("/dashboard/events?type=page_viewed&limit=3&cursor={cursor}"),
            &other.token,
        ),
        ("/dashboard/events?cursor=AAAA".to_owned(), &m.token),
        ("/dashboard/events?limit=0".to_owned(), &m.token),
        ("/dashboard/events?from=2026-02-30".to_owned(), &m.token),
    ] {
        assert_eq!(
            t.get_with_token(&q, token).await.status,
            StatusCode::BAD_REQUEST,
            "{q}"
        );
    }
    let all = t.get_with_token("/dashboard/events", &m.token).await;
    assert_eq!(all.json["events"].as_array().unwrap().len(), 7);
    assert!(all.json["events"][0]["metadata"]["client_id"] == "c");
}
