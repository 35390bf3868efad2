//! API tests for "Sales, as Shopify's reports define them" in the HTTP contract, on every backend:
//! each definition (sales on the order's date, returns on the refund's, a refund in another month,
//! a shipping refund, a cancelled order's refund, a test order, a deleted order, a refund arriving
//! in a later `orders/updated`, a customer whose first order arrives last), the previous period,
//! top products and their order, and every status code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use http::StatusCode;
use serde_json::{Value, json};
use support::{Delivery, TestApp, fixture};

/// A registered merchant: its bearer token and shop.
struct Merchant {
    token: String,
    shop: String,
}

async fn merchant(t: &TestApp) -> Merchant {
    let reg = t.register().await;
    Merchant {
        token: reg["token"].as_str().unwrap().to_owned(),
        shop: reg["tenant"]["shop_domain"].as_str().unwrap().to_owned(),
    }
}

/// An order as Shopify's webhook carries it (the fixture's shape, New York's offset): created at
/// `created` (local), two lines, a discount, tax and shipping.
fn order(id: u64, created: &str, customer: Option<u64>) -> Value {
    let mut o: Value = serde_json::from_slice(&fixture("orders-create.json")).unwrap();
    o["id"] = json!(id);
    o["name"] = json!(format!("#{id}"));
    o["created_at"] = json!(created);
    o["updated_at"] = json!(created);
    o["line_items"] = json!([
        {"id": id * 10 + 1, "product_id": 632910392, "title": "IPod Nano", "quantity": 2,
         "price": "100.00", "total_discount": "20.00"},
        {"id": id * 10 + 2, "product_id": null, "title": "Gift wrap", "quantity": 1,
         "price": "5.00", "total_discount": "0.00"}
    ]);
    o["total_discounts"] = json!("20.00");
    o["total_tax"] = json!("18.50");
    o["shipping_lines"] = json!([{"price": "9.99", "title": "Standard"}]);
    o["refunds"] = json!([]);
    match customer {
        Some(c) => o["customer"]["id"] = json!(c),
        None => o["customer"] = Value::Null,
    }
    o
}

/// A refund of one unit of the order's first line (90.00 after its discount, 8.10 tax), as
/// Shopify writes it: bare JSON numbers beside the `_set` strings, and optionally the shipping.
fn refund(o: &Value, created: &str, shipping: bool) -> Value {
    let line = o["line_items"][0]["id"].clone();
    let mut adjustments = vec![];
    if shipping {
        adjustments.push(
            json!({"kind": "shipping_refund", "amount": "-9.99", "tax_amount": "0.00",
            "amount_set": {"shop_money": {"amount": "-9.99", "currency_code": "USD"}}}),
        );
    }
    json!({
        "id": 509562969, "created_at": created, "note": "damaged", "restock": false,
        "refund_line_items": [{
            "line_item_id": line, "quantity": 1, "subtotal": 90.0, "total_tax": 8.1,
            "subtotal_set": {"shop_money": {"amount": "90.00", "currency_code": "USD"}},
            "total_tax_set": {"shop_money": {"amount": "8.10", "currency_code": "USD"}},
            "line_item": {"id": line, "product_id": 632910392}
        }],
        "order_adjustments": adjustments
    })
}

async fn deliver(t: &TestApp, m: &Merchant, topic: &str, body: &Value) {
    let a = t
        .deliver(&Delivery::new(
            topic,
            &m.shop,
            serde_json::to_vec(body).unwrap(),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{topic}: {}", a.json);
}

async fn sales(t: &TestApp, m: &Merchant, query: &str) -> Value {
    let a = t
        .get_with_token(&format!("/dashboard/sales?{query}"), &m.token)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.json);
    a.json
}

fn day<'a>(s: &'a Value, date: &str) -> &'a Value {
    s["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["date"] == date)
        .unwrap_or_else(|| panic!("no day {date}"))
}

#[tokio::test]
async fn sales_count_on_the_orders_date_and_a_refund_in_another_month_on_the_refunds() {
    for t in TestApp::every_backend().await {
        let m = merchant(&t).await;
        let mut o = order(5001, "2026-10-30T21:00:00-04:00", Some(77));
        deliver(&t, &m, "orders/create", &o).await;

        // A refund in November, with the shipping, arrives in a later orders/updated.
        o["updated_at"] = json!("2026-11-03T10:00:00-05:00");
        o["refunds"] = json!([refund(&o, "2026-11-03T09:59:00-05:00", true)]);
        deliver(&t, &m, "orders/updated", &o).await;
        // Redelivered: nothing counts twice.
        deliver(&t, &m, "orders/updated", &o).await;

        let october = sales(&t, &m, "from=2026-10-01&to=2026-10-31").await;
        let want = json!({
            "orders": 1, "gross_sales": "205.00", "discounts": "20.00", "returns": "0.00",
            "net_sales": "185.00", "taxes": "18.50", "shipping": "9.99", "total_sales": "213.49",
            "average_order_value": "185.00", "new_customers": 1, "returning_customer_orders": 0,
            "returning_customer_rate": "0.0000"
        });
        assert_eq!(october["totals"], want, "{}", t.backend());
        assert_eq!(day(&october, "2026-10-30")["gross_sales"], "205.00");
        assert_eq!(october["days"].as_array().unwrap().len(), 31, "zero-filled");
        assert_eq!(day(&october, "2026-10-01")["orders"], 0);
        assert_eq!(october["currency"], "USD");
        assert_eq!(october["previous"], Value::Null);

        // October is not rewritten: the refund is November's.
        let november = sales(&t, &m, "from=2026-11-01&to=2026-11-30").await;
        let refund_day = day(&november, "2026-11-03");
        assert_eq!(refund_day["orders"], 0);
        assert_eq!(refund_day["returns"], "90.00");
        assert_eq!(refund_day["taxes"], "-8.10");
        assert_eq!(refund_day["shipping"], "-9.99");
        assert_eq!(refund_day["net_sales"], "-90.00");
        assert_eq!(refund_day["total_sales"], "-108.09");
        assert_eq!(november["totals"]["returns"], "90.00");
        assert_eq!(november["totals"]["average_order_value"], "0.00");

        // Both months at once, and the previous period beside them.
        let both = sales(
            &t,
            &m,
            "from=2026-11-01&to=2026-11-30&compare=previous_period",
        )
        .await;
        assert_eq!(both["previous"]["gross_sales"], "205.00");
        assert_eq!(both["previous"]["orders"], 1);
        assert_eq!(both["totals"]["returns"], "90.00");
    }
}

#[tokio::test]
async fn a_cancelled_order_counts_its_sales_and_its_refund_and_a_test_order_counts_nowhere() {
    for t in TestApp::every_backend().await {
        let m = merchant(&t).await;
        let mut cancelled = order(6001, "2026-09-10T12:00:00-04:00", None);
        cancelled["cancelled_at"] = json!("2026-09-11T08:00:00-04:00");
        cancelled["updated_at"] = json!("2026-09-11T08:00:00-04:00");
        cancelled["refunds"] = json!([refund(&cancelled, "2026-09-11T08:00:00-04:00", false)]);
        deliver(&t, &m, "orders/cancelled", &cancelled).await;
        let mut test = order(6002, "2026-09-10T13:00:00-04:00", Some(8));
        test["test"] = json!(true);
        deliver(&t, &m, "orders/create", &test).await;

        let s = sales(&t, &m, "from=2026-09-01&to=2026-09-30").await;
        assert_eq!(s["totals"]["orders"], 1, "{}", t.backend());
        assert_eq!(s["totals"]["gross_sales"], "205.00");
        assert_eq!(s["totals"]["returns"], "90.00");
        assert_eq!(s["totals"]["net_sales"], "95.00");
        assert_eq!(
            s["totals"]["new_customers"], 0,
            "a test order makes no customer new"
        );
        assert_eq!(day(&s, "2026-09-11")["returns"], "90.00");
    }
}

#[tokio::test]
async fn a_deleted_order_leaves_every_figure_and_top_products() {
    for t in TestApp::every_backend().await {
        let m = merchant(&t).await;
        let o = order(7001, "2026-08-05T12:00:00-04:00", Some(9));
        deliver(&t, &m, "orders/create", &o).await;
        let top = t.get_with_token("/dashboard/top-products", &m.token).await;
        assert_eq!(top.json["products"].as_array().unwrap().len(), 1);
        deliver(&t, &m, "orders/delete", &json!({"id": 7001})).await;
        let s = sales(&t, &m, "from=2026-08-01&to=2026-08-31").await;
        for field in ["orders", "new_customers", "returning_customer_orders"] {
            assert_eq!(s["totals"][field], 0, "{field} on {}", t.backend());
        }
        for field in [
            "gross_sales",
            "discounts",
            "taxes",
            "shipping",
            "total_sales",
        ] {
            assert_eq!(s["totals"][field], "0.00", "{field} on {}", t.backend());
        }
        let top = t.get_with_token("/dashboard/top-products", &m.token).await;
        assert_eq!(top.json, json!({"products": []}));
    }
}

#[tokio::test]
async fn a_customer_whose_first_order_arrives_last_is_new_on_its_day_and_returning_after() {
    for t in TestApp::every_backend().await {
        let m = merchant(&t).await;
        // The customer's orders on the 3rd and the 5th arrive first; the 1st arrives last.
        for (id, created) in [
            (8003, "2026-07-03T12:00:00-04:00"),
            (8005, "2026-07-05T12:00:00-04:00"),
        ] {
            deliver(&t, &m, "orders/create", &order(id, created, Some(42))).await;
        }
        let before = sales(&t, &m, "from=2026-07-01&to=2026-07-05").await;
        assert_eq!(day(&before, "2026-07-03")["new_customers"], 1);
        deliver(
            &t,
            &m,
            "orders/create",
            &order(8001, "2026-07-01T12:00:00-04:00", Some(42)),
        )
        .await;
        // Another customer's first order, and a guest order (no customer: neither).
        deliver(
            &t,
            &m,
            "orders/create",
            &order(8002, "2026-07-03T15:00:00-04:00", Some(43)),
        )
        .await;
        deliver(
            &t,
            &m,
            "orders/create",
            &order(8004, "2026-07-03T16:00:00-04:00", None),
        )
        .await;

        let s = sales(&t, &m, "from=2026-07-01&to=2026-07-05").await;
        let first = day(&s, "2026-07-01");
        assert_eq!(first["new_customers"], 1, "{}", t.backend());
        assert_eq!(first["returning_customer_orders"], 0);
        let third = day(&s, "2026-07-03");
        assert_eq!(third["orders"], 3);
        assert_eq!(
            third["new_customers"], 1,
            "only customer 43 is new on the 3rd"
        );
        assert_eq!(third["returning_customer_orders"], 1);
        assert_eq!(third["returning_customer_rate"], "0.3333");
        assert_eq!(day(&s, "2026-07-05")["returning_customer_orders"], 1);
        assert_eq!(s["totals"]["new_customers"], 2);
        assert_eq!(s["totals"]["returning_customer_orders"], 2);
        assert_eq!(s["totals"]["returning_customer_rate"], "0.4000");

        // Its first order deleted: the customer is new on the 3rd instead.
        deliver(&t, &m, "orders/delete", &json!({"id": 8001})).await;
        let s = sales(&t, &m, "from=2026-07-01&to=2026-07-05").await;
        assert_eq!(day(&s, "2026-07-01")["new_customers"], 0);
        assert_eq!(day(&s, "2026-07-03")["new_customers"], 2);
        assert_eq!(day(&s, "2026-07-03")["returning_customer_orders"], 0);
    }
}

#[tokio::test]
async fn top_products_rank_by_net_sales_then_units_then_the_lower_id() {
    for t in TestApp::every_backend().await {
        let m = merchant(&t).await;
        let line = |id: u64, product: u64, qty: u64, price: &str, discount: &str| {
            json!({"id": id, "product_id": product, "title": format!("P{product}"),
                   "quantity": qty, "price": price, "total_discount": discount})
        };
        let mut a = order(9001, "2026-06-01T12:00:00-04:00", None);
        a["line_items"] = json!([
            line(1, 300, 1, "50.00", "0.00"),   // 50.00, 1 unit
            line(2, 200, 2, "25.00", "0.00"),   // 50.00, 2 units: above 300
            line(3, 100, 2, "25.00", "0.00"),   // 50.00, 2 units, lower id: above 200
            line(4, 400, 1, "500.00", "20.00")  // 480.00: first
        ]);
        deliver(&t, &m, "orders/create", &a).await;
        let a2 = t
            .get_with_token("/dashboard/top-products?limit=3", &m.token)
            .await;
        assert_eq!(a2.status, StatusCode::OK);
        let ids: Vec<&str> = a2.json["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["400", "100", "200"], "{}", t.backend());
        assert_eq!(
            a2.json["products"][0],
            json!({"id": "400", "title": "P400", "quantity": 1, "net_sales": "480.00"})
        );

        // A refund of product 400 (its line's subtotal 480.00): it drops to the bottom.
        a["updated_at"] = json!("2026-06-02T12:00:00-04:00");
        a["refunds"] = json!([{
            "id": 1, "created_at": "2026-06-02T11:00:00-04:00",
            "refund_line_items": [{"line_item_id": 4, "quantity": 1, "subtotal": "480.00",
                                   "total_tax": "0.00"}],
            "order_adjustments": []
        }]);
        deliver(&t, &m, "orders/updated", &a).await;
        let after = t.get_with_token("/dashboard/top-products", &m.token).await;
        let ids: Vec<&str> = after.json["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["100", "200", "300"], "{}", t.backend());
        // A product record's title wins over the line's.
        let product =
            json!({"id": 100, "title": "Snowboard", "updated_at": "2026-06-01T00:00:00-04:00"});
        deliver(&t, &m, "products/create", &product).await;
        let named = t
            .get_with_token("/dashboard/top-products?limit=1", &m.token)
            .await;
        assert_eq!(named.json["products"][0]["title"], "Snowboard");
    }
}

#[tokio::test]
async fn bad_queries_are_400_and_no_token_is_401() {
    let t = TestApp::embedded().await;
    let m = merchant(&t).await;
    for (path, code) in [
        ("/dashboard/sales?compare=last_year", "invalid_compare"),
        (
            "/dashboard/sales?from=2026-02-01&to=2026-01-01",
            "invalid_range",
        ),
        (
            "/dashboard/sales?from=2025-01-01&to=2026-06-01",
            "range_too_long",
        ),
        ("/dashboard/sales?from=yesterday", "invalid_date"),
        ("/dashboard/top-products?limit=0", "invalid_limit"),
        ("/dashboard/top-products?limit=51", "invalid_limit"),
    ] {
        let a = t.get_with_token(path, &m.token).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}: {}", a.json);
        assert_eq!(a.json["error"]["code"], code, "{path}");
    }
    for path in ["/dashboard/sales", "/dashboard/top-products"] {
        let a = t.get_with_token(path, "not-a-token").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    // Nothing ingested yet: zeros, not errors.
    let s = sales(&t, &m, "from=2026-01-01&to=2026-01-02").await;
    assert_eq!(s["totals"]["average_order_value"], "0.00");
    assert_eq!(s["totals"]["returning_customer_rate"], "0.0000");
    assert_eq!(s["currency"], Value::Null);
}

#[tokio::test]
async fn a_malformed_amount_in_an_order_is_a_400_with_a_code_and_changes_nothing() {
    let t = TestApp::embedded().await;
    let m = merchant(&t).await;
    let mut o = order(9901, "2026-05-01T12:00:00-04:00", None);
    o["line_items"][0]["price"] = json!("12,50");
    let a = t
        .deliver(&Delivery::new(
            "orders/create",
            &m.shop,
            serde_json::to_vec(&o).unwrap(),
        ))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.json);
    assert_eq!(a.json["error"]["code"], "invalid_payload");
    let s = sales(&t, &m, "from=2026-05-01&to=2026-05-01").await;
    assert_eq!(s["totals"]["orders"], 0);
}
