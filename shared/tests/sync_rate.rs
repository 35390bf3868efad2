//! How close a backfill runs to the rate Shopify's cost throttle allows: never faster (it would be
//! throttled), and not much slower. Prints records/s; docs/benchmarks.md has the figures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_shopify;

use std::time::Instant;

use fake_shopify::{FakeConfig, FakeShopify};
use shared::shopify::records::{Kind, page};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_runs_at_the_rate_the_cost_bucket_allows_and_no_faster() {
    // Shopify Plus-like numbers scaled down: a 1,000-point bucket restoring 1,000 points/s.
    let config = FakeConfig {
        bucket_size: 1000.0,
        restore_rate: 1000.0,
        ..FakeConfig::default()
    };
    let fake = FakeShopify::start(config).await;
    fake.generate(10, 2, 4_000, 9);
    let client = fake.client();
    let zone = Some(chrono_tz::America::New_York);

    let start = Instant::now();
    let mut cursor: Option<String> = None;
    let mut records = 0usize;
    let mut pages = 0u32;
    loop {
        let p = page(&client, Kind::Orders, None, cursor.as_deref(), zone)
            .await
            .unwrap();
        records += p.changes.len();
        pages += 1;
        match p.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(records, 4_000);
    // Each full page costs 2 + 2 × 250 points; the bucket starts full.
    let cost = f64::from(pages) * 502.0;
    let floor = (cost - 1000.0) / 1000.0;
    println!(
        "backfill: {records} orders in {pages} pages, {elapsed:.2} s = {:.0} orders/s; the throttle allows {:.2} s at best ({:.0} orders/s): {:.0}% of it; waited {:.2} s for the bucket",
        records as f64 / elapsed,
        floor,
        records as f64 / floor,
        100.0 * floor / elapsed,
        client.waited().await.as_secs_f64()
    );
    assert!(
        elapsed >= floor * 0.95,
        "faster than the bucket allows: {elapsed} < {floor}"
    );
    assert!(
        elapsed <= floor * 1.5 + 1.0,
        "far slower than the bucket allows: {elapsed} vs {floor}"
    );
    assert_eq!(
        fake.throttled(),
        0,
        "waiting proactively, the client is never throttled"
    );
}
