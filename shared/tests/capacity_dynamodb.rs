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
    // Five items (event record, order, customer, totals, shop-local day), all under 1 KB: DynamoDB
    // Local reports 6 units for that transaction and 2 per index entry (gsi2: the order listing,
    // gsi1: the spend ranking). A regression guard: a change that writes more fails here and must
    // update docs/benchmarks.md.
    assert!(table <= 6.0, "{table} table write units");
    assert!(ix <= 4.0, "{ix} index write units");
    // Shop lookup, event check, order, customer: strongly consistent single-item reads.
    assert!(r > 0.0 && r <= 4.0, "{r} read units");

    // A redelivery reads, but writes nothing.
    let before = t.app.store.consumed();
    let mut again = Delivery::new("orders/create", &shop, fixture("orders-create.json"));
    again.event_id = None;
    let _ = t.deliver(&again).await;
    let after = t.app.store.consumed();
    assert_eq!(after.write_units - before.write_units, 0.0);
}
