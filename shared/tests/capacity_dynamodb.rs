//! What one new order webhook costs on DynamoDB, read from ReturnConsumedCapacity on DynamoDB Local.
//! (DynamoDB Local does not double transactional writes the way AWS bills them; see
//! docs/benchmarks.md for the AWS cost model.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use http::StatusCode;
use support::{Delivery, TestApp, fixture};

#[tokio::test]
async fn a_new_order_webhook_stays_within_its_measured_write_capacity() {
    let Some(t) = TestApp::dynamodb().await else {
        return;
    };
    let reg = t.register().await;
    let shop = reg["tenant"]["shop_domain"].as_str().unwrap().to_owned();

    let before = t.app.store.consumed();
    let a = t
        .deliver(&Delivery::new(
            "orders/create",
            &shop,
            fixture("orders-create.json"),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json["result"], "applied");
    let after = t.app.store.consumed();
    let w = after.write_units - before.write_units;
    let ix = after.index_write_units - before.index_write_units;
    let r = after.read_units - before.read_units;
    let table = w - ix;
    println!(
        "new order webhook on DynamoDB Local: {table} table write units, {ix} index write units, {r} read units"
    );
    // Seven items (event record, order, customer, totals, shop-local day, and the sales ledger's
    // two product totals: the fixture sells two products), all under 1 KB; index entries: gsi2
    // the order listing, gsi1 the spend ranking and the two products' ranking. A regression
    // guard: a change that writes more fails here and must update docs/benchmarks.md.
    assert!(table <= 8.0, "{table} table write units");
    assert!(ix <= 8.0, "{ix} index write units");
    // Shop lookup, event check, order, customer: strongly consistent reads (product totals are
    // added to without a read).
    assert!(r > 0.0 && r <= 4.0, "{r} read units");

    // The same kind of order without line items (no products): what the ledger's product totals
    // add is the difference.
    let mut bare: serde_json::Value =
        serde_json::from_slice(&fixture("orders-create.json")).unwrap();
    bare["id"] = serde_json::json!(820982911946154999u64);
    bare["line_items"] = serde_json::json!([]);
    let before = t.app.store.consumed();
    let a = t
        .deliver(&Delivery::new(
            "orders/create",
            &shop,
            serde_json::to_vec(&bare).unwrap(),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let after = t.app.store.consumed();
    let (bw, bix, br) = (
        after.write_units
            - before.write_units
            - (after.index_write_units - before.index_write_units),
        after.index_write_units - before.index_write_units,
        after.read_units - before.read_units,
    );
    println!(
        "the same order without products: {bw} table write units, {bix} index write units, {br} read units"
    );
    assert_eq!(br, r, "product totals are added to without a read");

    // A redelivery reads, but writes nothing.
    let before = t.app.store.consumed();
    let mut again = Delivery::new("orders/create", &shop, fixture("orders-create.json"));
    again.event_id = None;
    let _ = t.deliver(&again).await;
    let after = t.app.store.consumed();
    assert_eq!(after.write_units - before.write_units, 0.0);
}
