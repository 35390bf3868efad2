//! The fake Shopify Admin API, driven through the real client: if these pass, tests of the sync
//! against the fake exercise what Shopify would do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_shopify;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use fake_shopify::{FakeCheckout, FakeConfig, FakeOrder, FakeShopify};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::domain::ShopDomain;
use shared::ingest::Change;
use shared::shopify::records::{self, Kind};
use shared::shopify::{Shopify, ShopifyError, shop_info};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn client(fake: &FakeShopify, token: &str) -> Shopify {
    Shopify::new(
        reqwest::Client::new(),
        Some(&fake.base_url()),
        &ShopDomain::parse("snowdevil.myshopify.com").unwrap(),
        SecretString::from(token.to_owned()),
    )
}

fn id_of(change: &Change) -> u64 {
    match change {
        Change::UpsertOrder(o, _) => o.id.get(),
        Change::UpsertCustomer(c) => c.id.get(),
        Change::UpsertProduct(p) => p.id.get(),
        other => panic!("unexpected change {other:?}"),
    }
}

/// Every page of `kind` since `since`: (id, updatedAt) in the order served, and the page count.
async fn read_all(
    client: &Shopify,
    kind: Kind,
    since: Option<DateTime<Utc>>,
) -> (Vec<(u64, DateTime<Utc>)>, usize) {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = records::page(
            client,
            kind,
            since,
            cursor.as_deref(),
            Some(chrono_tz::America::New_York),
        )
        .await
        .unwrap();
        pages += 1;
        out.extend(page.changes.iter().map(|(c, at)| (id_of(c), *at)));
        match page.next {
            Some(next) => cursor = Some(next),
            None => return (out, pages),
        }
    }
}

fn failure<T>(r: Result<T, ShopifyError>) -> ShopifyError {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn within<F: std::future::Future>(secs: u64, f: F) -> tokio::time::Timeout<F> {
    tokio::time::timeout(Duration::from_secs(secs), f)
}

#[tokio::test]
async fn pagination_returns_every_record_exactly_once_in_updated_order_across_pages() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    fake.generate(120, 30, 700, 1);
    let c = fake.client();

    let (orders, pages) = within(20, read_all(&c, Kind::Orders, None)).await.unwrap();
    assert_eq!(pages, 3);
    let ids: Vec<u64> = orders.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids,
        fake.ids(Kind::Orders),
        "every order once, in (updatedAt, id) order"
    );
    assert!(orders.windows(2).all(|w| w[0].1 <= w[1].1));
    assert_eq!(fake.pages_served(Kind::Orders), 3);
    assert_eq!(fake.records_served(Kind::Orders), 700);

    let (customers, _) = read_all(&c, Kind::Customers, None).await;
    assert_eq!(
        customers.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        fake.ids(Kind::Customers)
    );
    let (products, _) = read_all(&c, Kind::Products, None).await;
    assert_eq!(products.len(), 30);
}

#[tokio::test]
async fn generated_orders_map_to_the_same_changes_as_their_nodes() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    fake.generate(50, 10, 200, 9);
    let c = fake.client();
    let page = records::page(&c, Kind::Orders, None, None, None)
        .await
        .unwrap();
    assert_eq!(page.changes.len(), 200);
    let mut guests = 0;
    for (change, updated) in &page.changes {
        let Change::UpsertOrder(o, snapshot) = change else {
            panic!("not an order")
        };
        let stored = fake.order(o.id.get()).unwrap();
        assert_eq!(*updated, stored.updated_at);
        assert_eq!(o.name, stored.name);
        assert_eq!(o.customer_id.map(|c| c.get()), stored.customer);
        assert_eq!(o.cancelled, stored.cancelled_at.is_some());
        assert_eq!(
            o.financial_status.as_deref(),
            Some(stored.financial_status.to_lowercase().as_str())
        );
        assert_eq!(
            o.total,
            shared::domain::Money::parse(&stored.total).unwrap()
        );
        if let Some(s) = snapshot {
            assert_eq!(s.email, fake.customer(s.id.get()).unwrap().email);
        } else {
            guests += 1;
        }
    }
    assert!(
        guests > 0 && guests < 100,
        "some guests, mostly customers: {guests}"
    );
    // Generation is deterministic for a seed.
    let again = FakeShopify::start(FakeConfig {
        data_until: fake.config().data_until,
        ..FakeConfig::default()
    })
    .await;
    again.generate(50, 10, 200, 9);
    assert_eq!(again.ids(Kind::Orders), fake.ids(Kind::Orders));
    assert_eq!(
        again.node(Kind::Orders, 6_000_000_000_001),
        fake.node(Kind::Orders, 6_000_000_000_001)
    );
}

#[tokio::test]
async fn the_updated_at_filter_returns_only_records_updated_since() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    for (id, at) in [
        (1, "2026-08-31T23:59:59Z"),
        (2, "2026-09-01T00:00:00Z"),
        (3, "2026-09-02T10:00:00Z"),
        (4, "2026-07-01T00:00:00Z"),
    ] {
        fake.upsert_order(FakeOrder {
            customer: Some(10),
            ..FakeOrder::new(id, t(at))
        });
    }
    fake.upsert_customer(
        10,
        "Jon",
        "Snow",
        "jon@example.com",
        t("2026-06-01T00:00:00Z"),
    );
    let c = fake.client();

    let (since, _) = read_all(&c, Kind::Orders, Some(t("2026-09-01T00:00:00Z"))).await;
    assert_eq!(
        since.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![2, 3]
    );

    // An incremental run after an order changes sees it, and only it.
    fake.touch_orders(&[4], t("2026-09-03T08:00:00.750Z"));
    let (next, _) = read_all(&c, Kind::Orders, Some(t("2026-09-02T12:00:00Z"))).await;
    assert_eq!(
        next,
        vec![(4, t("2026-09-03T08:00:00Z"))],
        "whole seconds, like GraphQL"
    );

    // Unquoted, as some clients write it; unknown terms are ignored.
    let data = c
        .query(
            Kind::Orders.query(),
            json!({"first": 10, "query": "updated_at:>=2026-09-02T00:00:00Z status:any"}),
        )
        .await
        .unwrap();
    let ids: Vec<&str> = data["orders"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["gid://shopify/Order/3", "gid://shopify/Order/4"]);
}

#[tokio::test]
async fn a_record_updated_during_pagination_comes_again_on_a_later_page() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    fake.generate(300, 0, 0, 3);
    let c = fake.client();
    let first = records::page(&c, Kind::Customers, None, None, None)
        .await
        .unwrap();
    let early = id_of(&first.changes[0].0);
    fake.touch(
        Kind::Customers,
        &[early],
        fake.config().data_until + chrono::Duration::hours(1),
    );
    let rest = records::page(&c, Kind::Customers, None, first.next.as_deref(), None)
        .await
        .unwrap();
    assert!(rest.next.is_none());
    assert_eq!(first.changes.len() + rest.changes.len(), 301);
    assert_eq!(id_of(&rest.changes.last().unwrap().0), early);
}

#[tokio::test]
async fn an_empty_bucket_throttles_and_the_client_waits_for_exactly_what_it_needs() {
    // Slow enough to refill that the first request meets an empty bucket even when this machine
    // is loaded (at 2,000 points/s a request 100 ms late already found enough).
    let fake = FakeShopify::start(FakeConfig {
        bucket_size: 600.0,
        restore_rate: 400.0,
        initially_available: Some(0.0),
        ..FakeConfig::default()
    })
    .await;
    fake.generate(600, 0, 0, 5);
    let c = fake.client();

    let (all, pages) = within(20, read_all(&c, Kind::Customers, None))
        .await
        .unwrap();
    assert_eq!(pages, 3);
    assert_eq!(all.len(), 600);
    assert!(
        fake.throttled() > 0,
        "the first request met an empty bucket"
    );
    assert!(c.waited().await > Duration::ZERO);
    assert_eq!(fake.records_served(Kind::Customers), 600);
    assert!(fake.available() >= 0.0);
}

#[tokio::test]
async fn two_clients_of_the_same_shop_share_one_bucket_and_both_get_everything() {
    let fake = FakeShopify::start(FakeConfig {
        bucket_size: 600.0,
        restore_rate: 2000.0,
        ..FakeConfig::default()
    })
    .await;
    fake.generate(500, 0, 0, 6);
    let (a, b) = (fake.client(), fake.client());
    let (ra, rb) = within(20, async {
        tokio::join!(
            read_all(&a, Kind::Customers, None),
            read_all(&b, Kind::Customers, None)
        )
    })
    .await
    .unwrap();
    assert_eq!(ra.0.len(), 500);
    assert_eq!(rb.0, ra.0);
    assert!(fake.available() >= 0.0);
}

#[tokio::test]
async fn a_query_no_bucket_could_hold_is_refused_instead_of_throttled_forever() {
    // Orders at 250 a page request 2 + 2 × 250 = 502 points.
    let fake = FakeShopify::start(FakeConfig {
        bucket_size: 300.0,
        ..FakeConfig::default()
    })
    .await;
    let err = failure(
        within(
            5,
            records::page(&fake.client(), Kind::Orders, None, None, None),
        )
        .await
        .unwrap(),
    );
    assert!(
        matches!(&err, ShopifyError::Protocol(m) if m.contains("MAX_COST_EXCEEDED")),
        "{err}"
    );
    assert_eq!(fake.throttled(), 0);
}

#[tokio::test]
async fn every_answer_reports_its_cost_and_the_bucket() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    fake.generate(10, 0, 0, 1);
    let http = reqwest::Client::new();
    let url = format!("{}/admin/api/2026-01/graphql.json", fake.base_url());
    let body = json!({"query": Kind::Customers.query(), "variables": {"first": 250}});
    let answer: Value = http
        .post(&url)
        .header("X-Shopify-Access-Token", "shpat_test")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cost = &answer["extensions"]["cost"];
    assert_eq!(cost["requestedQueryCost"], 252);
    assert_eq!(cost["actualQueryCost"], 12);
    assert_eq!(cost["throttleStatus"]["maximumAvailable"], 1000.0);
    assert_eq!(cost["throttleStatus"]["restoreRate"], 500.0);
    assert!(
        (988..=1000).contains(
            &cost["throttleStatus"]["currentlyAvailable"]
                .as_i64()
                .unwrap()
        )
    );

    fake.drain_bucket();
    let throttled: Value = http
        .post(&url)
        .header("X-Shopify-Access-Token", "shpat_test")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(throttled["errors"][0]["extensions"]["code"], "THROTTLED");
    assert_eq!(
        throttled["extensions"]["cost"]["actualQueryCost"],
        Value::Null
    );
    assert_eq!(throttled["extensions"]["cost"]["requestedQueryCost"], 252);
    assert!(throttled.get("data").is_none());
}

#[tokio::test]
async fn three_503s_are_retried_and_the_page_arrives() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    fake.generate(20, 0, 0, 2);
    fake.fail_next(3, 503);
    let page = within(
        20,
        records::page(&fake.client(), Kind::Customers, None, None, None),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(page.changes.len(), 20);
    assert_eq!(fake.failures_served(), 3);
    assert_eq!(fake.requests(), 4);
}

#[tokio::test]
async fn a_revoked_or_wrong_token_is_unauthorized() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    let wrong = shop_info(&client(&fake, "shpat_wrong")).await.unwrap_err();
    assert!(
        matches!(wrong, ShopifyError::Unauthorized { status: 401 }),
        "{wrong}"
    );

    let c = client(&fake, "shpat_test");
    shop_info(&c).await.unwrap();
    fake.revoke_token();
    let revoked = failure(records::page(&c, Kind::Orders, None, None, None).await);
    assert!(
        matches!(revoked, ShopifyError::Unauthorized { status: 401 }),
        "{revoked}"
    );

    fake.rotate_token("shpat_new");
    assert!(shop_info(&c).await.is_err());
    shop_info(&client(&fake, "shpat_new")).await.unwrap();
    assert_eq!(fake.unauthorized(), 3);
}

#[tokio::test]
async fn a_resource_without_its_scope_is_access_denied() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    fake.set_scopes(&["read_customers", "read_products"]);
    let err = failure(records::page(&fake.client(), Kind::Orders, None, None, None).await);
    assert!(
        matches!(err, ShopifyError::Unauthorized { status: 403 }),
        "{err}"
    );
}

#[tokio::test]
async fn without_read_all_orders_only_the_last_60_days_are_visible() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    let now = Utc::now();
    fake.upsert_order(FakeOrder::new(1, now - chrono::Duration::days(90)));
    fake.upsert_order(FakeOrder::new(2, now - chrono::Duration::days(10)));
    fake.set_scopes(&["read_orders"]);
    let (seen, _) = read_all(&fake.client(), Kind::Orders, None).await;
    assert_eq!(seen.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![2]);
}

#[tokio::test]
async fn shop_info_reads_the_zone_currency_and_scopes() {
    let fake = FakeShopify::start(FakeConfig {
        iana_timezone: "Europe/Paris".into(),
        currency: "EUR".into(),
        ..FakeConfig::default()
    })
    .await;
    let info = shop_info(&fake.client()).await.unwrap();
    assert_eq!(info.domain, "snowdevil.myshopify.com");
    assert_eq!(info.iana_timezone.as_deref(), Some("Europe/Paris"));
    assert_eq!(info.currency.as_deref(), Some("EUR"));
    assert_eq!(
        info.scopes,
        vec![
            "read_orders",
            "read_all_orders",
            "read_customers",
            "read_products"
        ]
    );
}

#[tokio::test]
async fn bad_arguments_are_graphql_errors() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    fake.generate(5, 0, 0, 1);
    let c = fake.client();
    for vars in [
        json!({"first": 251}),
        json!({"first": 0}),
        json!({"first": 10, "after": "not-a-cursor"}),
        json!({"after": null}),
    ] {
        let err = c
            .query(Kind::Customers.query(), vars.clone())
            .await
            .unwrap_err();
        assert!(matches!(err, ShopifyError::Protocol(_)), "{vars}: {err}");
    }
    // Inline literals work as well as variables; an edges selection gets edges.
    let data = c.query("{ customers(first: 2, sortKey: UPDATED_AT) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }", json!({})).await.unwrap();
    assert_eq!(data["customers"]["edges"].as_array().unwrap().len(), 2);
    assert_eq!(data["customers"]["pageInfo"]["hasNextPage"], true);
}

async fn poll(c: &Shopify) -> Value {
    let q = "query { currentBulkOperation { id status errorCode objectCount url partialDataUrl } }";
    c.query(q, json!({})).await.unwrap()["currentBulkOperation"].clone()
}

async fn run_bulk(c: &Shopify, inner: &str) -> Value {
    let m = "mutation Run($query: String!) { bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message } } }";
    c.query(m, json!({"query": inner})).await.unwrap()["bulkOperationRunQuery"].clone()
}

#[tokio::test]
async fn a_bulk_operation_runs_to_completion_and_its_jsonl_regroups_by_parent() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    fake.generate(20, 25, 0, 4);
    let c = fake.client();

    let started = run_bulk(&c, r#"{ products(query: "updated_at:>='2000-01-01T00:00:00Z'") { edges { node { id title updatedAt variants { edges { node { id title price sku } } } } } } }"#).await;
    assert_eq!(started["userErrors"], json!([]));
    assert_eq!(started["bulkOperation"]["status"], "CREATED");
    let id = started["bulkOperation"]["id"].as_str().unwrap().to_owned();
    assert_eq!(id, "gid://shopify/BulkOperation/1");

    let busy = run_bulk(&c, "{ customers { edges { node { id } } } }").await;
    assert!(
        busy["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("A bulk query operation for this app and shop is already in progress")
    );

    assert_eq!(poll(&c).await["status"], "RUNNING");
    let done = poll(&c).await;
    assert_eq!(done["status"], "COMPLETED");
    let url = done["url"].as_str().unwrap();
    assert!(url.starts_with(&fake.base_url()));

    let body = reqwest::get(url).await.unwrap().text().await.unwrap();
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(done["objectCount"], lines.len().to_string());
    let mut products: Vec<(String, usize)> = Vec::new();
    for line in &lines {
        match line.get("__parentId").and_then(Value::as_str) {
            None => products.push((line["id"].as_str().unwrap().to_owned(), 0)),
            Some(parent) => {
                let p = products
                    .iter_mut()
                    .find(|(id, _)| id == parent)
                    .expect("a child after its parent");
                p.1 += 1;
                assert!(
                    line["id"]
                        .as_str()
                        .unwrap()
                        .starts_with("gid://shopify/ProductVariant/")
                );
            }
        }
    }
    assert_eq!(products.len(), 25);
    for (gid, variants) in &products {
        let n: u64 = gid.rsplit('/').next().unwrap().parse().unwrap();
        assert_eq!(*variants, fake.product(n).unwrap().variants.len());
    }

    // Polling by id works too, and a new operation may start once this one is done.
    let by_id = c
        .query(
            "query($id: ID!) { node(id: $id) { ... on BulkOperation { id status url } } }",
            json!({"id": id}),
        )
        .await
        .unwrap();
    assert_eq!(by_id["node"]["status"], "COMPLETED");
    assert_eq!(
        run_bulk(&c, "{ customers { edges { node { id } } } }").await["userErrors"],
        json!([])
    );
}

#[tokio::test]
async fn bulk_order_lines_are_the_paged_nodes_with_their_customer_inline() {
    let fake = FakeShopify::start(FakeConfig {
        bulk_polls_to_complete: 1,
        ..FakeConfig::default()
    })
    .await;
    fake.generate(30, 5, 300, 8);
    let c = fake.client();
    run_bulk(&c, "{ orders { edges { node { id name updatedAt customer { id firstName lastName email updatedAt } } } } }").await;
    let done = poll(&c).await;
    assert_eq!(done["status"], "COMPLETED");
    let body = reqwest::get(done["url"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let changes: Vec<u64> = body
        .lines()
        .map(|l| records::to_change(Kind::Orders, &serde_json::from_str(l).unwrap(), None).unwrap())
        .map(|(c, _)| id_of(&c))
        .collect();
    assert_eq!(changes, fake.ids(Kind::Orders));
    assert_eq!(fake.downloads(), 1);
}

#[tokio::test]
async fn a_failed_bulk_operation_offers_its_partial_data() {
    let fake = FakeShopify::start(FakeConfig {
        bulk_polls_to_complete: 1,
        ..FakeConfig::default()
    })
    .await;
    fake.generate(40, 0, 0, 8);
    fake.fail_next_bulk("INTERNAL_SERVER_ERROR");
    let c = fake.client();
    run_bulk(&c, "{ customers { edges { node { id updatedAt } } } }").await;
    let failed = poll(&c).await;
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failed["errorCode"], "INTERNAL_SERVER_ERROR");
    assert_eq!(failed["url"], Value::Null);
    let partial = reqwest::get(failed["partialDataUrl"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(partial.lines().count(), 20);
}

#[tokio::test]
async fn timestamps_are_utc_with_z_and_ids_are_gids() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    let at = Utc.with_ymd_and_hms(2026, 11, 25, 3, 41, 7).unwrap();
    fake.upsert_customer(115310627314723954, "Jon", "Snow", "jon@example.com", at);
    fake.upsert_order(FakeOrder {
        name: "#9999".into(),
        total: "214.63".into(),
        customer: Some(115310627314723954),
        ..FakeOrder::new(820982911946154508, at)
    });
    let node = fake.node(Kind::Orders, 820982911946154508).unwrap();
    assert_eq!(node["id"], "gid://shopify/Order/820982911946154508");
    assert_eq!(node["createdAt"], "2026-11-25T03:41:07Z");
    assert_eq!(
        node["currentTotalPriceSet"],
        json!({"shopMoney": {"amount": "214.63", "currencyCode": "USD"}})
    );
    assert_eq!(
        node["customer"]["id"],
        "gid://shopify/Customer/115310627314723954"
    );
    assert_eq!(node["cancelledAt"], Value::Null);
    assert_eq!(node["displayFinancialStatus"], "PAID");
}

/// `POST /admin/oauth/access_token` on the fake with a form body: status and JSON answer.
async fn token_endpoint(fake: &FakeShopify, form: &[(&str, &str)]) -> (u16, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let res = reqwest::Client::new()
        .post(format!("{}/admin/oauth/access_token", fake.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (
        status,
        serde_json::from_slice(&res.bytes().await.unwrap()).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_fakes_oauth_codes_are_single_use_and_refresh_rotates_both_tokens() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    fake.expect_client("cid", "csecret");
    let code = fake.approve();
    let exchange = [
        ("client_id", "cid"),
        ("client_secret", "csecret"),
        ("code", code.as_str()),
        ("expiring", "1"),
    ];
    let (status, first) = token_endpoint(&fake, &exchange).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["expires_in"], 3600);
    assert!(first["refresh_token_expires_in"].as_i64().unwrap() > 3600);
    // The granted token is the one the Admin API accepts now.
    let access = first["access_token"].as_str().unwrap();
    assert!(shop_info(&fake.client_with_token(access)).await.is_ok());
    assert!(matches!(
        shop_info(&fake.client_with_token("shpat_test")).await,
        Err(ShopifyError::Unauthorized { .. })
    ));
    // A code works once; other client credentials never.
    assert_eq!(token_endpoint(&fake, &exchange).await.0, 400);
    let other = fake.approve();
    let wrong_secret = [
        ("client_id", "cid"),
        ("client_secret", "nope"),
        ("code", other.as_str()),
        ("expiring", "1"),
    ];
    assert_eq!(token_endpoint(&fake, &wrong_secret).await.0, 400);

    let refresh_with = |token: String| {
        vec![
            ("client_id", "cid".to_owned()),
            ("client_secret", "csecret".to_owned()),
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", token),
        ]
    };
    let old_refresh = first["refresh_token"].as_str().unwrap().to_owned();
    let form = refresh_with(old_refresh.clone());
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, second) = token_endpoint(&fake, &form).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["access_token"], first["access_token"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    // The used refresh token is refused, and so is the old access token.
    assert_eq!(token_endpoint(&fake, &form).await.0, 400);
    assert!(shop_info(&fake.client_with_token(access)).await.is_err());
    assert_eq!(fake.token_exchanges(), 2);
}

#[tokio::test]
async fn a_shopify_that_throttles_every_query_forever_ends_the_call_with_an_error_after_a_bounded_number_of_tries()
 {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    fake.throttle_forever();
    let started = std::time::Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(20), shop_info(&fake.client()))
        .await
        .expect("the call ends on its own");
    assert!(
        matches!(
            answer,
            Err(shared::shopify::ShopifyError::Unreachable { .. })
        ),
        "{answer:?}"
    );
    // Before the bound, one call answered with 622 requests in 15 s and never ended.
    assert!(
        (2..=25).contains(&fake.throttled()),
        "{} throttled answers",
        fake.throttled()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_retry_after_shopify_could_never_mean_is_waited_as_no_wait_and_the_call_goes_on() {
    // A negative, a non-number and a NaN `Retry-After` (a broken proxy in front of Shopify): the
    // client neither panics nor sleeps on them; it retries at once and gets its answer.
    for value in ["-1", "soon", "NaN", "-inf"] {
        let fake = FakeShopify::start(FakeConfig::default()).await;
        fake.fail_next_with_retry_after(2, 429, value);
        let started = std::time::Instant::now();
        let shop = shop_info(&fake.client()).await.unwrap();
        assert_eq!(shop.domain, fake.config().shop_domain, "{value}");
        assert_eq!(fake.failures_served(), 2, "{value}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{value}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn abandoned_checkouts_page_by_id_filter_by_updated_at_and_need_read_orders() {
    let fake = FakeShopify::start(FakeConfig::default()).await;
    // Ids in the reverse order of their updates: the connection pages by id, not by time.
    for id in 1..=300u64 {
        let at = t("2026-11-01T00:00:00Z") + chrono::Duration::minutes(301 - id as i64);
        fake.upsert_checkout(FakeCheckout::new(id, &format!("tok{id}"), at));
    }
    let c = fake.client();
    let tokens = |changes: &[(Change, DateTime<Utc>)]| -> Vec<String> {
        changes
            .iter()
            .map(|(ch, _)| match ch {
                Change::UpsertCheckout(v) => v.token.clone(),
                other => panic!("unexpected change {other:?}"),
            })
            .collect()
    };
    let first = records::page(&c, Kind::Checkouts, None, None, None)
        .await
        .unwrap();
    let next = first.next.clone().expect("a second page");
    let second = records::page(&c, Kind::Checkouts, None, Some(&next), None)
        .await
        .unwrap();
    assert!(second.next.is_none());
    let mut all = tokens(&first.changes);
    all.extend(tokens(&second.changes));
    let expected: Vec<String> = (1..=300).map(|id| format!("tok{id}")).collect();
    assert_eq!(all, expected, "every checkout once, by id");

    // Updated at or after 04:50: ids 1..=11 (updated 04:50 to 05:00).
    let since = t("2026-11-01T04:50:00Z");
    let recent = records::page(&c, Kind::Checkouts, Some(since), None, None)
        .await
        .unwrap();
    assert_eq!(recent.changes.len(), 11);
    assert!(recent.changes.iter().all(|(_, at)| *at >= since));

    // Shopify has no UPDATED_AT sort key for this connection.
    let q = "query { abandonedCheckouts(first: 5, sortKey: UPDATED_AT) { nodes { id } } }";
    let err = failure(c.query(q, json!({})).await);
    assert!(matches!(err, ShopifyError::Protocol(_)), "{err}");

    fake.set_scopes(&["read_customers", "read_products"]);
    let err = failure(records::page(&c, Kind::Checkouts, None, None, None).await);
    assert!(
        matches!(err, ShopifyError::Unauthorized { status: 403 }),
        "{err}"
    );
}
