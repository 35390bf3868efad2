//! API tests for the webhook `duplicate` rule (topic and event id), deliveries that can never be
//! stored (4xx, nothing written), and "App lifecycle and privacy compliance" in the contract, on
//! every backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::str::FromStr;

use http::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::domain::TenantId;
use shared::store::keys::{TenantItem, tenant_partition};
use shared::store::{Index, Item, Query, SortRange};
use support::{Delivery, TestApp, fixture, random_hex};

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

/// Every item in the tenant's partition whose sort key starts with `prefix`.
async fn items(t: &TestApp, tenant: TenantId, prefix: &str) -> Vec<Item> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let q = Query::partition(
            Index::Primary,
            tenant_partition(tenant),
            SortRange::Prefix(prefix.into()),
        )
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
