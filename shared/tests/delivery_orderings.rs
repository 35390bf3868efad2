//! The property behind exactly-once effects: any interleaving of duplicated, reordered and
//! concurrent deliveries of a store's history ends in the same stored state and the same totals as
//! delivering that history once, in order. On the embedded store and on DynamoDB Local.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use shared::demo::Rng;
use shared::domain::{Customer, Money, Order, Product, ShopifyId, TenantId};
use shared::ingest::{Change, EventRef, Topic, apply};

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
        for v in 0..1 + rng.below(4) {
            if v > 0 {
                // Sometimes 0: two versions sharing a timestamp (Shopify's are per second).
                at += Duration::minutes(rng.below(120) as i64 / 4);
                match rng.below(3) {
                    0 => cents -= cents / 4, // a partial refund
                    1 => cancelled = true,
                    _ => {}
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
            // A zero counter and an absent one are the same total.
            item.retain(|_, v| !matches!(v, Attr::N(n) if n.is_zero()));
            // A day whose counters all came back to zero reads as an absent day (zero-filled).
            if sk.starts_with("DAY#")
                && item
                    .keys()
                    .all(|k| ["pk", "sk", "date"].contains(&k.as_str()))
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
fn the_generated_histories_exercise_deletes_cancellations_tests_and_shared_timestamps() {
    // Guards the generator: a property over histories without these would prove little.
    let mut deletes = 0;
    let mut cancelled = 0;
    let mut tests = 0;
    let mut shared_timestamps = 0;
    for seed in 0..40 {
        let mut seen = std::collections::HashSet::new();
        for (_, c) in history(seed, 6, 3, 2) {
            if let Change::UpsertOrder(o, _) = &c
                && !seen.insert((o.id, o.updated_at))
            {
                shared_timestamps += 1;
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
}
