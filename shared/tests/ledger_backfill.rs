//! The one-time ledger backfill, on both backends: a store as the code before the sales ledger
//! left it (orders without ledger marks or sale parts, day rollups without sales figures,
//! customers without first orders, no product totals) gets its customer figures back from its
//! stored orders, resumably and exactly once, and a connected shop's orders watermark is cleared
//! so the next sync reads them again with their sale parts; those then complete the ledger.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use chrono::Utc;
use http::StatusCode;
use serde_json::{Value, json};
use shared::domain::TenantId;
use shared::ingest::backfill;
use shared::shopify::records::Kind;
use shared::store::items::sync::StateWrite;
use shared::store::keys::{self, TenantItem};
use shared::store::{Index, Item, Query, SortRange, Store, WriteOp};
use support::{Delivery, TestApp, fixture};

/// A customer's orders over a few days, and a guest's.
fn orders() -> Vec<Value> {
    let mut out = Vec::new();
    for (id, day, customer) in [
        (101u64, 3, Some(7u64)),
        (102, 5, Some(7)),
        (103, 5, Some(8)),
        (104, 6, None),
        (105, 9, Some(8)),
    ] {
        let mut o: Value = serde_json::from_slice(&fixture("orders-create.json")).unwrap();
        let at = format!("2026-04-{day:02}T12:00:00-04:00");
        o["id"] = json!(id);
        o["created_at"] = json!(at);
        o["updated_at"] = json!(at);
        o["line_items"][0]["id"] = json!(id * 10);
        match customer {
            Some(c) => o["customer"]["id"] = json!(c),
            None => o["customer"] = Value::Null,
        }
        out.push(o);
    }
    out
}

async fn sales(t: &TestApp, token: &str) -> Value {
    let a = t
        .get_with_token("/dashboard/sales?from=2026-04-01&to=2026-04-30", token)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    a.json["totals"].clone()
}

async fn all_items(store: &dyn Store, tenant: TenantId) -> Vec<Item> {
    let mut out = Vec::new();
    let mut q = Query::partition(
        Index::Primary,
        keys::tenant_partition(tenant),
        SortRange::All,
    )
    .limit(500);
    loop {
        let page = store.query(&q).await.unwrap();
        out.extend(page.items);
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
}

/// Rewrites the tenant's items as the code before the ledger left them.
async fn as_before_the_ledger(store: &dyn Store, tenant: TenantId) {
    let ledger = [
        "gross",
        "discounts",
        "returns",
        "taxes",
        "shipping",
        "customer_orders",
        "new_customers",
    ];
    for mut item in all_items(store, tenant).await {
        let sk = item["sk"].as_s().unwrap().to_owned();
        let op = if sk.starts_with("PSALES#") {
            WriteOp::Delete {
                key: shared::store::Key::of(&item).unwrap(),
                condition: None,
            }
        } else {
            let strip: &[&str] = if sk.starts_with("ORDER#") {
                &["ledger", "sales", "sales_version"]
            } else if sk.starts_with("CUST#") {
                &["first_orders"]
            } else if sk.starts_with("DAY#") {
                &ledger
            } else {
                continue;
            };
            for a in strip {
                item.remove(*a);
            }
            WriteOp::Put {
                item,
                condition: None,
            }
        };
        store.write(vec![op]).await.unwrap();
    }
}

#[tokio::test]
async fn orders_stored_before_the_ledger_are_added_to_it_once_resumably_and_completed_by_a_sync() {
    for t in TestApp::every_backend().await {
        let reg = t.register().await;
        let token = reg["token"].as_str().unwrap().to_owned();
        let shop = reg["tenant"]["shop_domain"].as_str().unwrap().to_owned();
        let tenant = TestApp::tenant_of(&reg);
        for o in orders() {
            let a = t
                .deliver(&Delivery::new(
                    "orders/create",
                    &shop,
                    serde_json::to_vec(&o).unwrap(),
                ))
                .await;
            assert_eq!(a.status, StatusCode::OK);
        }
        let full = sales(&t, &token).await;
        assert_eq!(full["new_customers"], 2);
        assert_eq!(full["returning_customer_orders"], 2);
        // A connected shop: its sync state has an orders watermark.
        let store = t.app.store.as_ref();
        store
            .write(vec![
                StateWrite::KindImported {
                    kind: Kind::Orders,
                    applied: 5,
                    watermark: Some(Utc::now()),
                }
                .op(tenant),
            ])
            .await
            .unwrap();

        as_before_the_ledger(store, tenant).await;
        let before = sales(&t, &token).await;
        assert_eq!(before["orders"], 5, "{}", t.backend());
        assert_eq!(before["new_customers"], 0);
        assert_eq!(before["gross_sales"], "0.00");

        // Run in many short runs (no time at all: one step each), as Lambda timeouts would cut it.
        let mut runs = 0;
        let mut ledgered = 0;
        loop {
            runs += 1;
            let r = backfill::run(store, Utc::now, Duration::ZERO, &|_| {})
                .await
                .unwrap();
            ledgered += r.orders;
            if r.finished {
                break;
            }
            assert!(runs < 500, "the backfill never finishes");
        }
        assert!(runs > 2, "it resumed across runs ({runs})");
        assert!(
            ledgered >= 5,
            "{ledgered}: this tenant's orders, and other tenants' on a shared table"
        );
        let after = sales(&t, &token).await;
        assert_eq!(after["orders"], 5);
        assert_eq!(after["new_customers"], 2);
        assert_eq!(after["returning_customer_orders"], 2);
        assert_eq!(
            after["returning_customer_rate"],
            full["returning_customer_rate"]
        );
        assert_eq!(
            after["gross_sales"], "0.00",
            "sale parts come with the next sync"
        );

        // Finished: running it again changes nothing.
        let again = backfill::run(store, Utc::now, Duration::from_secs(5), &|_| {})
            .await
            .unwrap();
        assert_eq!((again.orders, again.finished), (0, true));
        assert_eq!(sales(&t, &token).await, after);

        // The watermark is gone: the next sync reads every order again, sale parts included
        // (played here by the same versions with their parts, as the bulk read brings them).
        let state = t.item(tenant, TenantItem::SyncState).await.unwrap();
        assert!(!state.contains_key("wm_orders"));
        for o in orders() {
            let a = t
                .deliver(&Delivery::new(
                    "orders/updated",
                    &shop,
                    serde_json::to_vec(&o).unwrap(),
                ))
                .await;
            assert_eq!(a.status, StatusCode::OK);
        }
        assert_eq!(sales(&t, &token).await, full, "{}", t.backend());
    }
}
