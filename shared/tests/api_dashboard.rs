//! API tests for "Dashboard" in the HTTP contract, with every number computed here, independently,
//! from the deliveries the test sent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use axum::body::Body;
use chrono::{DateTime, Duration, FixedOffset, NaiveDate};
use http::{Method, StatusCode};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;
use shared::demo::{DemoCustomer, DemoOrder, Line, order_json};
use shared::domain::Money;
use support::{Delivery, TestApp};

fn at(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn customer(i: u64, updated: &str) -> DemoCustomer {
    DemoCustomer {
        id: 9_007_199_254_740_993 + i, // past JavaScript's safe integers
        first_name: format!("First{i}"),
        last_name: format!("Last{i}"),
        email: format!("c{i}@example.com"),
        created_at: at("2026-01-01T00:00:00-05:00"),
        updated_at: at(updated),
    }
}

/// The orders of the scenario, each with the versions that will be delivered (last = final).
fn scenario() -> Vec<Vec<DemoOrder>> {
    let mut all = Vec::new();
    for i in 0..30u64 {
        // Days 2026-11-01 .. 2026-11-10 in the shop's zone (-05:00), late evening for some.
        let created = at("2026-11-01T09:00:00-05:00")
            + Duration::hours((i * 7) as i64 % 240)
            + Duration::minutes(i as i64);
        let cust = (i % 7 != 0).then(|| customer(i % 5, "2026-10-01T00:00:00-05:00"));
        let o = DemoOrder {
            id: 820982911946154508 + i,
            number: 1000 + i,
            created_at: created,
            updated_at: created,
            currency: "USD".into(),
            lines: vec![Line {
                product_id: 1,
                variant_id: 2,
                title: "Mug".into(),
                price: Money::new(Decimal::new(1000 + 137 * i as i64, 2)),
                quantity: 1 + (i % 3) as u32,
            }],
            refunded: Money::ZERO,
            cancelled_at: None,
            test: i % 11 == 5,
            customer: cust,
        };
        let mut versions = vec![o.clone()];
        if i % 4 == 1 {
            let mut refunded = o.clone();
            refunded.updated_at = created + Duration::hours(30);
            refunded.refunded = Money::parse("3.33").unwrap();
            versions.push(refunded);
        }
        if i % 6 == 2 {
            let mut cancelled = versions.last().unwrap().clone();
            cancelled.updated_at = created + Duration::hours(40);
            cancelled.cancelled_at = Some(cancelled.updated_at);
            versions.push(cancelled);
        }
        all.push(versions);
    }
    all
}

const DELETED: u64 = 820982911946154508 + 3;

/// What the contract's definitions give for the scenario.
struct Expected {
    orders: u64,
    revenue: Decimal,
    aov: String,
    customers: u64,
    days: BTreeMap<NaiveDate, (u64, Decimal)>,
    spend: BTreeMap<u64, (Decimal, u64)>,
}

fn expected() -> Expected {
    let mut e = Expected {
        orders: 0,
        revenue: Decimal::ZERO,
        aov: String::new(),
        customers: 0,
        days: BTreeMap::new(),
        spend: BTreeMap::new(),
    };
    let mut paid = 0u64;
    let mut customers = std::collections::BTreeSet::new();
    for versions in scenario() {
        let last = versions.last().unwrap();
        if last.test || last.id == DELETED {
            continue;
        }
        let cancelled = last.cancelled_at.is_some();
        let revenue = if cancelled {
            Decimal::ZERO
        } else {
            last.current_total().amount()
        };
        e.orders += 1;
        e.revenue += revenue;
        paid += u64::from(!cancelled);
        let day = e.days.entry(last.created_at.date_naive()).or_default();
        day.0 += 1;
        day.1 += revenue;
        if let Some(c) = &last.customer {
            customers.insert(c.id);
            let s = e.spend.entry(c.id).or_default();
            s.0 += revenue;
            s.1 += 1;
        }
    }
    // Customers of the deleted order were still received (its snapshot counts as a record).
    for versions in scenario() {
        if let Some(c) = &versions[0].customer
            && !versions[0].test
        {
            customers.insert(c.id);
        }
    }
    e.customers = customers.len() as u64;
    e.aov = if paid == 0 {
        "0.00".into()
    } else {
        format!(
            "{:.2}",
            (e.revenue / Decimal::from(paid))
                .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
        )
    };
    e
}

/// A tenant loaded with the scenario: every version delivered, the first versions twice and last,
/// so late and duplicate deliveries are part of the load.
async fn loaded(t: &TestApp) -> (String, String) {
    let reg = t.register().await;
    let shop = reg["tenant"]["shop_domain"].as_str().unwrap().to_owned();
    let token = reg["token"].as_str().unwrap().to_owned();
    let mut late = Vec::new();
    for versions in scenario() {
        for (n, v) in versions.iter().enumerate().rev() {
            let topic = if n == 0 {
                "orders/create"
            } else {
                "orders/updated"
            };
            let d = Delivery::new(topic, &shop, order_json(v));
            let a = t.deliver(&d).await;
            assert_eq!(a.status, StatusCode::OK);
            if n == 0 {
                // Delivered after its newer versions: stale, and stale again when redelivered.
                let first = a.json["result"].as_str().unwrap().to_owned();
                assert_eq!(
                    first,
                    if versions.len() == 1 {
                        "applied"
                    } else {
                        "stale"
                    }
                );
                late.push((d, first));
            }
        }
    }
    for (d, first) in &late {
        let r = t.deliver(d).await;
        let want = if first == "applied" {
            "duplicate"
        } else {
            "stale"
        };
        assert_eq!(r.json["result"], want);
    }
    let mut del = Delivery::new(
        "orders/delete",
        &shop,
        format!("{{\"id\":{DELETED}}}").into_bytes(),
    );
    del.triggered_at = Some("2026-11-20T00:00:00Z");
    assert_eq!(t.deliver(&del).await.json["result"], "applied");
    (token, shop)
}

#[tokio::test]
async fn a_new_tenant_sees_zeros_and_no_currency() {
    let t = TestApp::embedded().await;
    let reg = t.register().await;
    let a = t
        .get_with_token("/dashboard/metrics", reg["token"].as_str().unwrap())
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.json,
        serde_json::json!({"customers": 0, "orders": 0, "products": 0, "revenue": "0.00", "average_order_value": "0.00", "currency": null})
    );
    let a = t
        .get_with_token("/dashboard/top-customers", reg["token"].as_str().unwrap())
        .await;
    assert_eq!(a.json, serde_json::json!({"customers": []}));
}

#[tokio::test]
async fn metrics_match_the_contract_definitions_computed_from_the_deliveries() {
    for t in TestApp::every_backend().await {
        let (token, _) = loaded(&t).await;
        let e = expected();
        let a = t.get_with_token("/dashboard/metrics", &token).await;
        assert_eq!(a.status, StatusCode::OK, "{}", t.backend());
        assert_eq!(a.json["orders"], e.orders, "{}", t.backend());
        assert_eq!(a.json["revenue"], format!("{:.2}", e.revenue));
        assert_eq!(a.json["average_order_value"], e.aov);
        assert_eq!(a.json["customers"], e.customers);
        assert_eq!(a.json["products"], 0);
        assert_eq!(a.json["currency"], "USD");
    }
}

#[tokio::test]
async fn orders_by_date_zero_fills_every_day_and_pages_newest_first_through_every_order() {
    for t in TestApp::every_backend().await {
        let (token, _) = loaded(&t).await;
        let e = expected();
        let url = "/dashboard/orders-by-date?from=2026-10-30&to=2026-11-12&limit=7";
        let first = t.get_with_token(url, &token).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.json);
        let days = first.json["days"].as_array().unwrap();
        assert_eq!(days.len(), 14, "every date from..=to");
        for d in days {
            let date = NaiveDate::parse_from_str(d["date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
            let (orders, revenue) = e.days.get(&date).copied().unwrap_or_default();
            assert_eq!(d["orders"], orders, "{date}");
            assert_eq!(d["revenue"], format!("{revenue:.2}"), "{date}");
        }
        // Page through the order list.
        let mut seen: Vec<Value> = Vec::new();
        let mut page = first.json;
        loop {
            seen.extend(page["orders"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                None => break,
                Some(c) => {
                    page = t
                        .get_with_token(&format!("{url}&cursor={c}"), &token)
                        .await
                        .json;
                }
            }
        }
        assert_eq!(seen.len() as u64, e.orders, "{}", t.backend());
        let created: Vec<DateTime<FixedOffset>> = seen
            .iter()
            .map(|o| at(o["created_at"].as_str().unwrap()))
            .collect();
        assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");
        let ids: std::collections::BTreeSet<&str> =
            seen.iter().map(|o| o["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), seen.len(), "no order twice");
        assert!(!ids.contains(DELETED.to_string().as_str()));
        let o = &seen[0];
        for field in [
            "id",
            "name",
            "created_at",
            "total_price",
            "currency",
            "financial_status",
            "cancelled",
            "customer_id",
        ] {
            assert!(o.get(field).is_some(), "{field}");
        }
        assert!(
            o["total_price"]
                .as_str()
                .unwrap()
                .split_once('.')
                .unwrap()
                .1
                .len()
                == 2
        );
    }
}

#[tokio::test]
async fn top_customers_rank_by_spend_then_orders_then_lower_id_with_exact_ids() {
    let t = TestApp::embedded().await;
    let (token, _) = loaded(&t).await;
    let e = expected();
    let mut want: Vec<(u64, Decimal, u64)> =
        e.spend.iter().map(|(id, (s, n))| (*id, *s, *n)).collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    let a = t
        .get_with_token("/dashboard/top-customers?limit=50", &token)
        .await;
    let got = a.json["customers"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for (g, (id, spent, orders)) in got.iter().zip(&want) {
        assert_eq!(g["id"], id.to_string());
        assert_eq!(g["total_spent"], format!("{spent:.2}"));
        assert_eq!(g["orders"], *orders);
        let i = id - 9_007_199_254_740_993;
        assert_eq!(g["name"], format!("First{i} Last{i}"));
        assert_eq!(g["email"], format!("c{i}@example.com"));
    }
    let a = t.get_with_token("/dashboard/top-customers", &token).await;
    assert_eq!(
        a.json["customers"].as_array().unwrap().len(),
        5.min(want.len()),
        "default limit 5"
    );
}

#[tokio::test]
async fn the_default_range_is_the_last_30_days() {
    let t = TestApp::embedded().await;
    let reg = t.register().await;
    let a = t
        .get_with_token("/dashboard/orders-by-date", reg["token"].as_str().unwrap())
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let today = t.clock_today();
    assert_eq!(a.json["to"], today.format("%Y-%m-%d").to_string());
    assert_eq!(
        a.json["from"],
        (today - Duration::days(29)).format("%Y-%m-%d").to_string()
    );
    assert_eq!(a.json["days"].as_array().unwrap().len(), 30);
    assert_eq!(a.json["next_cursor"], Value::Null);
}

#[tokio::test]
async fn bad_dates_ranges_limits_and_cursors_are_400_with_their_codes() {
    let t = TestApp::embedded().await;
    let (token, _) = loaded(&t).await;
    let base = "/dashboard/orders-by-date";
    let cases = [
        (
            format!("{base}?from=2026-13-01&to=2026-12-01"),
            "invalid_date",
        ),
        (
            format!("{base}?from=2026-1-05&to=2026-02-01"),
            "invalid_date",
        ),
        (format!("{base}?from=yesterday"), "invalid_date"),
        (
            format!("{base}?from=2026-11-10&to=2026-11-01"),
            "invalid_range",
        ),
        (
            format!("{base}?from=2025-01-01&to=2026-01-02"),
            "range_too_long",
        ),
        (format!("{base}?limit=0"), "invalid_limit"),
        (format!("{base}?limit=251"), "invalid_limit"),
        (format!("{base}?limit=ten"), "invalid_limit"),
        (format!("{base}?cursor=not-a-cursor"), "invalid_cursor"),
        (
            "/dashboard/top-customers?limit=0".to_owned(),
            "invalid_limit",
        ),
        (
            "/dashboard/top-customers?limit=51".to_owned(),
            "invalid_limit",
        ),
    ];
    for (url, code) in cases {
        let a = t.get_with_token(&url, &token).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(a.json["error"]["code"], code, "{url}");
    }
    // 366 days inclusive is fine.
    let a = t
        .get_with_token(&format!("{base}?from=2025-01-01&to=2026-01-01"), &token)
        .await;
    assert_eq!(a.status, StatusCode::OK);

    // A genuine cursor, then tampered, reused on another range, and presented by another tenant.
    let url = format!("{base}?from=2026-10-30&to=2026-11-12&limit=3");
    let cursor = t.get_with_token(&url, &token).await.json["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        t.get_with_token(&format!("{url}&cursor={cursor}"), &token)
            .await
            .status,
        StatusCode::OK
    );
    let mut tampered = cursor.clone().into_bytes();
    tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let other_range = format!("{base}?from=2026-10-29&to=2026-11-12&limit=3&cursor={cursor}");
    let other = t.register().await;
    let other_token = other["token"].as_str().unwrap();
    for (what, u, tok) in [
        (
            "tampered",
            format!("{url}&cursor={tampered}"),
            token.as_str(),
        ),
        ("another range", other_range, token.as_str()),
        (
            "another tenant",
            format!("{url}&cursor={cursor}"),
            other_token,
        ),
    ] {
        let a = t.get_with_token(&u, tok).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(a.json["error"]["code"], "invalid_cursor", "{what}");
        assert!(a.json.get("orders").is_none(), "{what}: nothing leaks");
    }
}

#[tokio::test]
async fn every_dashboard_endpoint_wants_credentials_and_takes_an_api_key() {
    let t = TestApp::embedded().await;
    let reg = t.register().await;
    let key = reg["api_key"].as_str().unwrap();
    for path in [
        "/dashboard/metrics",
        "/dashboard/orders-by-date",
        "/dashboard/top-customers",
    ] {
        let a = t.request(Method::GET, path, &[], Body::empty()).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
        let a = t.get_with_token(path, "not.a.token").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
        let a = t
            .request(Method::GET, path, &[("x-api-key", key)], Body::empty())
            .await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn the_dashboard_page_and_its_assets_are_served_with_their_types() {
    let t = TestApp::embedded().await;
    for (path, ty) in [
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/openapi.json", "application/json"),
    ] {
        let a = t.request(Method::GET, path, &[], Body::empty()).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert!(
            a.headers["content-type"].to_str().unwrap().starts_with(ty),
            "{path}"
        );
        assert!(a.headers.contains_key("content-security-policy"));
        assert!(!a.raw.is_empty());
    }
    let spec = t
        .request(Method::GET, "/openapi.json", &[], Body::empty())
        .await;
    assert_eq!(
        spec.json["openapi"].as_str().map(|v| &v[..3]),
        Some("3.1"),
        "{}",
        String::from_utf8_lossy(&spec.raw[..200.min(spec.raw.len())])
    );
}
