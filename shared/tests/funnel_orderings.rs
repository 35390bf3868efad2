//! The funnel's exactly-once property: any interleaving and duplication of a generated
//! storefront's pixel events (in batches of any shape), checkout webhooks and orders carrying
//! checkout tokens, delivered concurrently, yields the same funnel and the same checkouts as
//! delivering each once, in order. On the embedded store and on DynamoDB Local.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use shared::demo::Rng;
use shared::domain::{Money, Order, ShopifyId, TenantId};
use shared::ingest::{Change, EventRef, Topic, apply};
use shared::store::Store;
use shared::store::items::storefront::{CheckoutItem, Settings};
use shared::store::keys::TenantItem;
use shared::storefront::checkout::CheckoutVersion;
use shared::storefront::read::{FunnelQuery, funnel};
use shared::storefront::zone::ShopZone;

const ZONE: ShopZone = ShopZone::Iana(chrono_tz::America::New_York);

/// One thing the service receives.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // a test's list of deliveries; size is no concern
enum Delivery {
    /// A Web Pixels event (JSON as the pixel sends it).
    Pixel(Value),
    /// A webhook: its event id and change.
    Webhook(String, Change),
}

/// A generated storefront: visitors browsing around midnight in the shop's zone, some carts, some
/// checkouts (seen by the pixel, by webhooks, or both), contact details, completions by event,
/// by `completed_at` and by order, deletions; in the order it happened.
fn history(seed: u64, visitors: u64) -> (Vec<(DateTime<Utc>, Delivery)>, Vec<String>) {
    let mut rng = Rng(seed);
    // 03:00Z to 07:00Z spans midnight in New York.
    let start = Utc.with_ymd_and_hms(2026, 11, 21, 3, 0, 0).unwrap();
    let mut out = Vec::new();
    let mut tokens = Vec::new();
    let ny = chrono_tz::America::New_York;
    for v in 0..visitors {
        let client = format!("client-{seed}-{v}");
        let mut at = start + Duration::minutes(rng.below(240) as i64);
        let ev = |name: &str, at: DateTime<Utc>, checkout: Option<Value>, n: &mut u64| {
            *n += 1;
            let mut data = json!({});
            if let Some(c) = checkout {
                data["checkout"] = c;
            }
            Delivery::Pixel(json!({
                "id": format!("{client}-e{n}"), "name": name,
                "timestamp": at.to_rfc3339(), "clientId": client, "data": data,
            }))
        };
        let mut n = 0u64;
        for _ in 0..1 + rng.below(3) {
            at += Duration::minutes(1 + rng.below(20) as i64);
            out.push((at, ev("page_viewed", at, None, &mut n)));
        }
        if !rng.chance(60) {
            continue;
        }
        at += Duration::minutes(1);
        out.push((at, ev("product_added_to_cart", at, None, &mut n)));
        if !rng.chance(70) {
            continue;
        }
        let token = format!("tok{seed:x}v{v}");
        tokens.push(token.clone());
        let cents = 1000 + rng.below(50_000) as i64;
        let total = Decimal::new(cents, 2);
        let contact = rng.chance(70);
        let email = contact.then(|| format!("buyer{v}@example.com"));
        let pixel_checkout = |email: Option<&str>| {
            json!({"token": token, "email": email,
                   "totalPrice": {"amount": total.to_string().parse::<f64>().unwrap(), "currencyCode": "USD"}})
        };
        let started = at + Duration::minutes(1);
        let seen_by_pixel = rng.chance(75);
        if seen_by_pixel {
            out.push((
                started,
                ev(
                    "checkout_started",
                    started,
                    Some(pixel_checkout(None)),
                    &mut n,
                ),
            ));
            if contact {
                let c = started + Duration::minutes(1);
                out.push((
                    c,
                    ev(
                        "checkout_contact_info_submitted",
                        c,
                        Some(pixel_checkout(email.as_deref())),
                        &mut n,
                    ),
                ));
            }
        }
        let version = |updated: DateTime<Utc>, completed: Option<DateTime<Utc>>| CheckoutVersion {
            token: token.clone(),
            created_at: started.with_timezone(&ny).fixed_offset(),
            updated_at: updated.with_timezone(&ny).fixed_offset(),
            completed_at: completed.map(|c| c.with_timezone(&ny).fixed_offset()),
            contact,
            total: Some(total),
            currency: Some("USD".into()),
            recovery_url: None,
        };
        let hooked = !seen_by_pixel || rng.chance(70);
        let mut last = started + Duration::minutes(2);
        if hooked {
            out.push((
                last,
                Delivery::Webhook(
                    format!("{token}-c"),
                    Change::UpsertCheckout(version(last, None)),
                ),
            ));
            if rng.chance(50) {
                last += Duration::minutes(3);
                out.push((
                    last,
                    Delivery::Webhook(
                        format!("{token}-u"),
                        Change::UpsertCheckout(version(last, None)),
                    ),
                ));
            }
        }
        // Completion: none, by event, by completed_at, by order; sometimes several.
        let done = last + Duration::minutes(4);
        match rng.below(5) {
            0 => {}
            1 => out.push((
                done,
                ev(
                    "checkout_completed",
                    done,
                    Some(pixel_checkout(None)),
                    &mut n,
                ),
            )),
            2 if hooked => out.push((
                done,
                Delivery::Webhook(
                    format!("{token}-d"),
                    Change::UpsertCheckout(version(done, Some(done))),
                ),
            )),
            _ => {
                out.push((
                    done,
                    ev(
                        "checkout_completed",
                        done,
                        Some(pixel_checkout(None)),
                        &mut n,
                    ),
                ));
                let order = Order {
                    id: ShopifyId::new(9_000_000 + seed % 1000 * 1000 + v),
                    name: format!("#{v}"),
                    created_at: done.with_timezone(&ny).fixed_offset(),
                    updated_at: done.with_timezone(&ny).fixed_offset(),
                    total: Money::new(total),
                    currency: Some("USD".into()),
                    financial_status: Some("paid".into()),
                    cancelled: false,
                    test: false,
                    customer_id: None,
                    checkout_token: Some(token.clone()),
                    sales: None,
                };
                out.push((
                    done,
                    Delivery::Webhook(format!("{token}-o"), Change::UpsertOrder(order, None)),
                ));
            }
        }
        if hooked && rng.chance(15) {
            let gone = done + Duration::minutes(30);
            out.push((
                gone,
                Delivery::Webhook(
                    format!("{token}-x"),
                    Change::DeleteCheckout {
                        token: token.clone(),
                        at: gone,
                    },
                ),
            ));
        }
    }
    out.sort_by_key(|(at, _)| *at);
    (out, tokens)
}

/// Every delivery once or more, shuffled, then pixel events batched in runs of 1 to 20.
fn shuffled(seed: u64, history: &[(DateTime<Utc>, Delivery)]) -> Vec<Vec<Delivery>> {
    let mut rng = Rng(seed ^ 0x5EED_F00D);
    let mut all: Vec<Delivery> = Vec::new();
    for (_, d) in history {
        for _ in 0..1 + rng.below(3) {
            all.push(d.clone());
        }
    }
    for i in (1..all.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        all.swap(i, j);
    }
    let mut out: Vec<Vec<Delivery>> = Vec::new();
    let mut pixels: Vec<Delivery> = Vec::new();
    for d in all {
        match d {
            Delivery::Pixel(_) => {
                pixels.push(d);
                if pixels.len() as u64 > rng.below(20) {
                    out.push(std::mem::take(&mut pixels));
                }
            }
            w => out.push(vec![w]),
        }
    }
    if !pixels.is_empty() {
        out.push(pixels);
    }
    out
}

async fn deliver(store: &dyn Store, now: DateTime<Utc>, tenant: TenantId, batch: &[Delivery]) {
    let settings = Settings::from_item(None);
    let mut events = Vec::new();
    for d in batch {
        match d {
            Delivery::Pixel(v) => events.push(shared::storefront::pixel::parse_event(v, now)),
            Delivery::Webhook(id, change) => {
                let topic = match change {
                    Change::UpsertOrder(..) => Topic::OrdersCreate,
                    Change::DeleteCheckout { .. } => Topic::CheckoutsDelete,
                    _ => Topic::CheckoutsUpdate,
                };
                apply(store, now, tenant, Some(EventRef { topic, id }), change)
                    .await
                    .unwrap();
            }
        }
    }
    if !events.is_empty() {
        assert!(
            events.iter().all(Option::is_some),
            "the generator makes valid events"
        );
        shared::storefront::apply::ingest_events(store, now, tenant, ZONE, &settings, events)
            .await
            .unwrap();
    }
}

/// The funnel of the generated days and every checkout's merged state.
async fn observed(
    store: &dyn Store,
    tenant: TenantId,
    tokens: &[String],
) -> (Value, BTreeMap<String, String>) {
    let q = FunnelQuery {
        from: chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
        to: chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
    };
    let f = funnel(store, tenant, &q).await.unwrap();
    let days: Vec<Value> = f
        .days
        .iter()
        .map(|(d, c)| json!({"date": d.to_string(), "counts": c.0.iter().map(Decimal::normalize).map(|x| x.to_string()).collect::<Vec<_>>()}))
        .collect();
    let mut checkouts = BTreeMap::new();
    for t in tokens {
        let item = store
            .get(&TenantItem::Checkout(t.clone()).key(tenant))
            .await
            .unwrap();
        let (_, c) = CheckoutItem::read(item.as_ref(), t).unwrap();
        checkouts.insert(t.clone(), format!("{c:?}"));
    }
    (
        json!({"days": days, "rate": f.conversion_rate().to_string()}),
        checkouts,
    )
}

async fn run_case(make: impl Fn() -> Arc<dyn Store>, seed: u64, concurrency: usize, visitors: u64) {
    let tenant = TenantId::new(11);
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
    let (history, tokens) = history(seed, visitors);

    let reference = make();
    for (_, d) in &history {
        deliver(reference.as_ref(), now, tenant, std::slice::from_ref(d)).await;
    }
    let other = make();
    let batches = shuffled(seed, &history);
    for group in batches.chunks(concurrency) {
        let mut tasks = Vec::new();
        for batch in group {
            let (store, batch) = (other.clone(), batch.clone());
            tasks.push(tokio::spawn(async move {
                deliver(store.as_ref(), now, tenant, &batch).await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    let (want, got) = (
        observed(reference.as_ref(), tenant, &tokens).await,
        observed(other.as_ref(), tenant, &tokens).await,
    );
    assert_eq!(got.0, want.0, "seed {seed}: funnel");
    assert_eq!(got.1, want.1, "seed {seed}: checkouts");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_interleaving_of_storefront_deliveries_yields_the_in_order_funnel_on_the_embedded_store(
        seed in any::<u64>(),
        concurrency in 1usize..8,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        let dirs = std::sync::Mutex::new(Vec::new());
        rt.block_on(run_case(|| support::embedded_store(&dirs), seed, concurrency, 12));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn any_interleaving_of_storefront_deliveries_yields_the_in_order_funnel_on_dynamodb() {
    if support::dynamo_table("probe").await.is_none() {
        return;
    }
    for seed in [3u64, 0xFACADE, 99_991] {
        let mut stores: Vec<Arc<dyn Store>> = Vec::new();
        for _ in 0..2 {
            stores.push(Arc::new(support::dynamo_table("funnel").await.unwrap()));
        }
        let stores = std::sync::Mutex::new(stores);
        run_case(|| stores.lock().unwrap().pop().unwrap(), seed, 6, 8).await;
    }
}

#[test]
fn the_generated_storefronts_cross_midnight_and_complete_checkouts_every_way() {
    // Guards the generator: a property over storefronts without these would prove little.
    let (mut dates, mut orders, mut completed_at, mut completed_events, mut deletions) =
        (std::collections::BTreeSet::new(), 0, 0, 0, 0);
    for seed in 0..30 {
        for (at, d) in history(seed, 12).0 {
            dates.insert(ZONE.date_of(at));
            match d {
                Delivery::Webhook(_, Change::UpsertOrder(..)) => orders += 1,
                Delivery::Webhook(_, Change::UpsertCheckout(v)) if v.completed_at.is_some() => {
                    completed_at += 1
                }
                Delivery::Webhook(_, Change::DeleteCheckout { .. }) => deletions += 1,
                Delivery::Pixel(v) if v["name"] == "checkout_completed" => completed_events += 1,
                _ => {}
            }
        }
    }
    assert!(dates.len() >= 2, "{dates:?}");
    assert!(
        orders > 5 && completed_at > 5 && completed_events > 5 && deletions > 2,
        "{orders} {completed_at} {completed_events} {deletions}"
    );
}
