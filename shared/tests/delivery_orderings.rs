//! The property behind exactly-once effects: any interleaving of duplicated, reordered and
//! concurrent deliveries of a store's history ends in the same stored state and the same totals as
//! delivering that history once, in order. On the embedded store and on DynamoDB Local.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use shared::demo::Rng;
use shared::domain::sales::{LineSale, OrderSales, RefundLine, RefundSale};
use shared::domain::{Customer, Money, Order, Product, SalesFigures, ShopifyId, TenantId};
use shared::ingest::{Change, EventRef, Topic, apply};
use shared::store::items::aggregates::DayRollup;
use shared::store::items::sales::ProductSalesRecord;

/// Every event of the history has its own id: one topic for all of them dedupes the same way.
fn event(id: &str) -> Option<EventRef<'_>> {
    Some(EventRef {
        topic: Topic::OrdersUpdated,
        id,
    })
}
use shared::store::keys::tenant_partition;
use shared::store::{Attr, Index, Item, Query, SortRange, Store};

const OFFSETS: [i32; 4] = [-5 * 3600, 9 * 3600, 0, -10 * 3600];

/// A generated store history: every change Shopify would send, in the order it happened, each
/// with its event id.
fn history(seed: u64, orders: u64, customers: u64, products: u64) -> Vec<(String, Change)> {
    let mut rng = Rng(seed);
    let start = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
    let mut events: Vec<(DateTime<Utc>, Change)> = Vec::new();
    let customer_ids: Vec<ShopifyId> = (0..customers)
        .map(|i| ShopifyId::new(u64::MAX - 1000 + i))
        .collect();
    let name = |rng: &mut Rng| {
        ["Jon", "Arya", "Sansa", "Bran", "Rickon"][rng.below(5) as usize].to_owned()
    };
    let offset = |rng: &mut Rng| FixedOffset::east_opt(OFFSETS[rng.below(4) as usize]).unwrap();

    for (i, cid) in customer_ids.iter().enumerate() {
        let mut at = start + Duration::minutes(i as i64);
        for _ in 0..1 + rng.below(3) {
            at += Duration::minutes(1 + rng.below(90) as i64);
            let c = Customer {
                id: *cid,
                first_name: Some(name(&mut rng)),
                last_name: Some("Stark".into()),
                email: Some(format!("c{i}@example.com")),
                updated_at: at.with_timezone(&offset(&mut rng)),
            };
            events.push((at, Change::UpsertCustomer(c)));
        }
        if rng.chance(15) {
            at += Duration::minutes(5);
            events.push((at, Change::DeleteCustomer { id: *cid, at }));
        }
    }
    for p in 0..products {
        let id = ShopifyId::new(632910392 + p);
        let mut at = start + Duration::minutes(p as i64);
        for v in 0..1 + rng.below(3) {
            at += Duration::minutes(1 + rng.below(60) as i64);
            let prod = Product {
                id,
                title: format!("Product {p} v{v}"),
                updated_at: at.with_timezone(&offset(&mut rng)),
            };
            events.push((at, Change::UpsertProduct(prod)));
        }
        if rng.chance(20) {
            at += Duration::minutes(3);
            events.push((at, Change::DeleteProduct { id, at }));
        }
    }
    for o in 0..orders {
        let id = ShopifyId::new(820982911946154508 + o);
        let tz = offset(&mut rng);
        // Late evening in the shop's zone: the local date differs from UTC's for some offsets.
        let created =
            start + Duration::hours(rng.below(72) as i64) + Duration::minutes(rng.below(60) as i64);
        let customer = customer_ids.get(rng.below(customers + 1) as usize).copied();
        let test = rng.chance(10);
        let mut at = created;
        let mut cancelled = false;
        let mut cents = 1_000 + rng.below(50_000) as i64;
        let mut sales = sale_parts(&mut rng, o, products);
        for v in 0..1 + rng.below(4) {
            if v > 0 {
                // Sometimes 0: two versions sharing a timestamp (Shopify's are per second).
                at += Duration::minutes(rng.below(120) as i64 / 4);
                match rng.below(4) {
                    0 => cents -= cents / 4, // a partial refund
                    1 => cancelled = true,
                    2 => {
                        // A refund of a line, dated up to 40 days later (another month, often).
                        let refunded = at + Duration::days(rng.below(40) as i64);
                        sales
                            .refunds
                            .push(refund(&mut rng, &sales, refunded.with_timezone(&tz)));
                    }
                    _ => sales.discounts += Decimal::new(rng.below(300) as i64, 2), // an edit
                }
            }
            // Sometimes two versions share a timestamp (Shopify's seconds): the tie-break decides.
            let snapshot = customer.map(|cid| Customer {
                id: cid,
                first_name: Some(name(&mut rng)),
                last_name: Some("Snapshot".into()),
                email: None,
                updated_at: (start + Duration::minutes(rng.below(300) as i64)).with_timezone(&tz),
            });
            let order = Order {
                id,
                name: format!("#{}", 1000 + o),
                created_at: created.with_timezone(&tz),
                updated_at: at.with_timezone(&tz),
                total: Money::new(Decimal::new(cents, 2)),
                currency: Some("USD".into()),
                financial_status: Some(if cancelled { "refunded" } else { "paid" }.into()),
                cancelled,
                test,
                customer_id: customer,
                checkout_token: None,
                // Sometimes a version without sale parts, as an older source sends it.
                sales: (!rng.chance(12)).then(|| sales.clone()),
            };
            events.push((at, Change::UpsertOrder(order, snapshot)));
        }
        if rng.chance(15) {
            at += Duration::minutes(10);
            events.push((at, Change::DeleteOrder { id, at }));
        }
    }
    events.sort_by_key(|(at, _)| *at);
    events
        .into_iter()
        .enumerate()
        .map(|(i, (_, c))| (format!("evt-{seed}-{i}"), c))
        .collect()
}

/// An order's lines (of the generated products, or a custom item), discount, tax and shipping.
fn sale_parts(rng: &mut Rng, order: u64, products: u64) -> OrderSales {
    let lines: Vec<LineSale> = (0..1 + rng.below(3))
        .map(|l| LineSale {
            line: Some(order * 10 + l),
            product: (products > 0 && !rng.chance(15)).then(|| 632910392 + rng.below(products)),
            title: format!("Line {l}"),
            quantity: 1 + rng.below(3) as i64,
            price: Decimal::new(100 + rng.below(20_000) as i64, 2),
            discount: Decimal::new(rng.below(500) as i64, 2),
        })
        .collect();
    OrderSales {
        discounts: lines.iter().map(|l| l.discount).sum(),
        tax: Decimal::new(rng.below(3_000) as i64, 2),
        shipping: Decimal::new(rng.below(2) as i64 * 999, 2),
        lines,
        refunds: Vec::new(),
    }
}

/// A refund of one unit of one line, sometimes with the shipping.
fn refund(rng: &mut Rng, sales: &OrderSales, at: DateTime<FixedOffset>) -> RefundSale {
    let line = &sales.lines[rng.below(sales.lines.len() as u64) as usize];
    RefundSale {
        id: Some(rng.below(1 << 40)),
        date: at.date_naive(),
        lines: vec![RefundLine {
            line: line.line,
            product: None,
            quantity: 1,
            subtotal: line.price - Decimal::new(rng.below(100) as i64, 2),
            tax: Decimal::new(rng.below(200) as i64, 2),
        }],
        shipping: if rng.chance(30) {
            sales.shipping
        } else {
            Decimal::ZERO
        },
    }
}

/// Every delivery of every event 1-3 times, shuffled.
fn deliveries(seed: u64, events: &[(String, Change)]) -> Vec<(String, Change)> {
    let mut rng = Rng(seed ^ 0xDEAD_BEEF);
    let mut all = Vec::new();
    for e in events {
        for _ in 0..1 + rng.below(3) {
            all.push(e.clone());
        }
    }
    for i in (1..all.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        all.swap(i, j);
    }
    all
}

/// The tenant's state, minus bookkeeping that legitimately differs between runs (delivery
/// records, write revisions, TTLs, timestamps of application).
async fn state(store: &dyn Store, tenant: TenantId) -> BTreeMap<String, Item> {
    let mut out = BTreeMap::new();
    let mut q =
        Query::partition(Index::Primary, tenant_partition(tenant), SortRange::All).limit(1000);
    loop {
        let page = store.query(&q).await.unwrap();
        for mut item in page.items {
            let sk = item["sk"].as_s().unwrap().to_owned();
            if sk.starts_with("EVENT#") {
                continue;
            }
            item.remove("rev");
            // A product's fallback title is whichever line title reached it first: cosmetic (a
            // product record's title is what the list shows), not part of the property.
            if sk.starts_with("PSALES#") {
                item.remove("title");
            }
            // A zero counter and an absent one are the same total.
            item.retain(|_, v| !matches!(v, Attr::N(n) if n.is_zero()));
            // A day or a product whose counters all came back to zero reads as absent (days are
            // zero-filled, top products leaves them out): an order edited to drop a product makes
            // its zero item in one order of arrival and never in another.
            if (sk.starts_with("DAY#") || sk.starts_with("PSALES#"))
                && !item.values().any(|v| matches!(v, Attr::N(_)))
            {
                continue;
            }
            out.insert(sk, item);
        }
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    out
}

async fn run_case(
    make: impl Fn() -> Arc<dyn Store>,
    seed: u64,
    concurrency: usize,
    sizes: (u64, u64, u64),
) {
    let tenant = TenantId::new(7);
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    let events = history(seed, sizes.0, sizes.1, sizes.2);

    let reference = make();
    for (id, change) in &events {
        apply(reference.as_ref(), now, tenant, event(id), change)
            .await
            .unwrap();
    }

    let shuffled = make();
    let list = deliveries(seed, &events);
    for chunk in list.chunks(concurrency) {
        let mut tasks = Vec::new();
        for (id, change) in chunk {
            let (id, change) = (id.clone(), change.clone());
            let store = shuffled.clone();
            tasks.push(tokio::spawn(async move {
                apply(store.as_ref(), now, tenant, event(&id), &change)
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    let (want, got) = (
        state(reference.as_ref(), tenant).await,
        state(shuffled.as_ref(), tenant).await,
    );
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "seed {seed}"
    );
    for (k, v) in &want {
        assert_eq!(&got[k], v, "seed {seed}: {k} differs");
    }
    // The totals are the ones computed from the final versions.
    assert!(
        want.contains_key("TOTALS") || events.is_empty(),
        "seed {seed}"
    );
    // And the sales ledger is what a straightforward recomputation from the final orders gives.
    let (days, products) = recomputed(&events);
    let stored_days: Ledger = want
        .values()
        .filter_map(DayRollup::from_item)
        .map(|d| (d.date, (d.orders, d.sales)))
        .filter(|(_, v)| *v != (0, SalesFigures::default()))
        .collect();
    assert_eq!(stored_days, days, "seed {seed}: the ledger's days");
    let stored_products: BTreeMap<ShopifyId, (Decimal, Decimal)> = want
        .values()
        .filter_map(ProductSalesRecord::from_item)
        .map(|p| (p.id, (p.quantity, p.net_sales)))
        .filter(|(_, v)| *v != (Decimal::ZERO, Decimal::ZERO))
        .collect();
    assert_eq!(
        stored_products, products,
        "seed {seed}: the ledger's products"
    );
}

type Ledger = BTreeMap<NaiveDate, (u64, SalesFigures)>;

/// The ledger from the final orders, computed directly: each order's newest version (its sale
/// parts from the newest version that carried them), deleted and test orders left out, sales on
/// the order's date, refunds on theirs, a customer new on the date of its earliest order.
fn recomputed(events: &[(String, Change)]) -> (Ledger, BTreeMap<ShopifyId, (Decimal, Decimal)>) {
    let mut orders: BTreeMap<ShopifyId, (Order, Option<Order>)> = BTreeMap::new();
    let mut deleted = std::collections::BTreeSet::new();
    for (_, change) in events {
        match change {
            Change::UpsertOrder(o, _) => {
                let entry = orders.entry(o.id).or_insert_with(|| (o.clone(), None));
                if o.version() > entry.0.version() {
                    entry.0 = o.clone();
                }
                if o.sales.is_some()
                    && entry
                        .1
                        .as_ref()
                        .is_none_or(|s| s.sales_version() < o.sales_version())
                {
                    entry.1 = Some(o.clone());
                }
            }
            Change::DeleteOrder { id, .. } => {
                deleted.insert(*id);
            }
            _ => {}
        }
    }
    let mut days: Ledger = BTreeMap::new();
    let mut products: BTreeMap<ShopifyId, (Decimal, Decimal)> = BTreeMap::new();
    let mut firsts: BTreeMap<ShopifyId, (i64, u64, NaiveDate)> = BTreeMap::new();
    for (id, (o, with_sales)) in &orders {
        if o.test || deleted.contains(id) {
            continue;
        }
        let date = o.local_date();
        days.entry(date).or_default().0 += 1;
        let parts = with_sales
            .as_ref()
            .and_then(|s| s.sales.clone())
            .unwrap_or_default();
        for (d, f) in parts.by_day(date, o.customer_id.is_some()) {
            days.entry(d).or_default().1 += f;
        }
        for (p, sale) in parts.by_product().into_iter().take(60) {
            let e = products.entry(p).or_default();
            e.0 += sale.quantity;
            e.1 += sale.net_sales;
        }
        if let Some(c) = o.customer_id {
            let placed = (o.created_at.timestamp(), id.get(), date);
            let first = firsts.entry(c).or_insert(placed);
            *first = (*first).min(placed);
        }
    }
    for (_, _, date) in firsts.into_values() {
        days.entry(date).or_default().1.new_customers += Decimal::ONE;
    }
    days.retain(|_, v| *v != (0, SalesFigures::default()));
    products.retain(|_, v| *v != (Decimal::ZERO, Decimal::ZERO));
    (days, products)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_interleaving_of_deliveries_ends_where_in_order_delivery_ends_on_the_embedded_store(
        seed in any::<u64>(),
        concurrency in 1usize..16,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        let dirs = std::sync::Mutex::new(Vec::new());
        rt.block_on(run_case(|| support::embedded_store(&dirs), seed, concurrency, (6, 3, 2)));
    }
}

/// Found by the property above: an edit drops a product, so in order of arrival its sales item is
/// made and comes back to zero, and out of order it is never made. Both read the same.
#[test]
fn a_product_dropped_by_an_edit_reads_the_same_whether_or_not_its_zero_item_was_made() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let dirs = std::sync::Mutex::new(Vec::new());
    rt.block_on(run_case(
        || support::embedded_store(&dirs),
        4961830242957962763,
        1,
        (6, 3, 2),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn any_interleaving_of_deliveries_ends_where_in_order_delivery_ends_on_dynamodb() {
    if support::dynamo_table("probe").await.is_none() {
        return;
    }
    for seed in [1u64, 42, 0xC0FFEE, 7_777_777] {
        // Tables are created inside the closure's futures below; collect them first.
        let mut stores: Vec<Arc<dyn Store>> = Vec::new();
        for _ in 0..2 {
            stores.push(Arc::new(support::dynamo_table("order").await.unwrap()));
        }
        let stores = std::sync::Mutex::new(stores);
        run_case(|| stores.lock().unwrap().pop().unwrap(), seed, 8, (4, 2, 1)).await;
    }
}

#[test]
fn the_generated_histories_exercise_deletes_cancellations_tests_refunds_and_shared_timestamps() {
    // Guards the generator: a property over histories without these would prove little.
    let mut deletes = 0;
    let mut cancelled = 0;
    let mut tests = 0;
    let mut shared_timestamps = 0;
    let (mut refunds, mut without_sales) = (0, 0);
    for seed in 0..40 {
        let mut seen = std::collections::HashSet::new();
        for (_, c) in history(seed, 6, 3, 2) {
            if let Change::UpsertOrder(o, _) = &c
                && !seen.insert((o.id, o.updated_at))
            {
                shared_timestamps += 1;
            }
            if let Change::UpsertOrder(o, _) = &c {
                match &o.sales {
                    Some(s) => refunds += s.refunds.len(),
                    None => without_sales += 1,
                }
            }
            match c {
                Change::DeleteOrder { .. }
                | Change::DeleteCustomer { .. }
                | Change::DeleteProduct { .. } => deletes += 1,
                Change::UpsertOrder(o, _) if o.cancelled => cancelled += 1,
                Change::UpsertOrder(o, _) if o.test => tests += 1,
                _ => {}
            }
        }
    }
    assert!(
        deletes > 10 && cancelled > 10 && tests > 5 && shared_timestamps > 5,
        "{deletes} {cancelled} {tests} {shared_timestamps}"
    );
    assert!(
        refunds > 20 && without_sales > 5,
        "{refunds} {without_sales}"
    );
}
