//! Sales read latency (docs/benchmarks.md): a store holding many orders with their sale parts,
//! loaded through the apply path, then `GET /dashboard/sales` (30 and 366 days, with the previous
//! period) and `GET /dashboard/top-products` timed through the whole router.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use shared::App;
use shared::domain::sales::{LineSale, OrderSales, RefundLine, RefundSale};
use shared::domain::{Money, Order, ShopifyId};
use shared::ingest::{Change, apply};

use crate::storefront_bench::{timed_gets, unlimited};

/// Order `i` of a store spread over the last 365 days: two lines of 200 products, 80% from one
/// of 50,000 customers, every twentieth refunded (one unit) up to 20 days later.
fn order(i: u64, now: DateTime<Utc>) -> Order {
    let at = (now - Duration::seconds(((i * 7919) % (365 * 86_400)) as i64)).fixed_offset();
    let line = |k: u64| LineSale {
        line: Some(i * 2 + k),
        product: Some(1_000 + (i * 31 + k * 17) % 200),
        title: format!("Product {}", (i * 31 + k * 17) % 200),
        quantity: 1 + (i % 3) as i64,
        price: Decimal::new(1_000 + ((i * 13 + k) % 9_000) as i64, 2),
        discount: Decimal::ZERO,
    };
    let lines = vec![line(0), line(1)];
    let gross: Decimal = lines
        .iter()
        .map(|l| l.price * Decimal::from(l.quantity))
        .sum();
    let refunds = if i.is_multiple_of(20) {
        vec![RefundSale {
            id: Some(i),
            date: (at + Duration::days((i % 21) as i64)).date_naive(),
            lines: vec![RefundLine {
                line: lines[0].line,
                product: None,
                quantity: 1,
                subtotal: lines[0].price,
                tax: Decimal::ZERO,
            }],
            shipping: Decimal::ZERO,
        }]
    } else {
        Vec::new()
    };
    Order {
        id: ShopifyId::new(5_000_000_000_000 + i),
        name: format!("#{i}"),
        created_at: at,
        updated_at: at,
        total: Money::new(gross),
        currency: Some("USD".into()),
        financial_status: Some("paid".into()),
        cancelled: false,
        test: false,
        customer_id: (!i.is_multiple_of(5)).then(|| ShopifyId::new(7_000_000 + (i * 7) % 50_000)),
        checkout_token: None,
        sales: Some(OrderSales {
            lines,
            discounts: Decimal::ZERO,
            tax: Decimal::ZERO,
            shipping: Decimal::ZERO,
            refunds,
        }),
    }
}

/// Loads `n` orders, then times the sales reads.
pub async fn sales(n: u64, requests: usize) -> Result<(), super::CliError> {
    let dir = std::env::current_dir()?.join(format!(".bench-sales-{}", std::process::id()));
    let (app, _sync_requests) = App::local(&dir, &unlimited()).await?;
    let reg = crate::loadgen::bench_tenant(&app, "sales").await?;
    let tenant = reg.tenant.id;
    let now = Utc::now();
    let loaded = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (app, next) = (app.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, shared::store::StoreError>(());
                }
                let change = Change::UpsertOrder(order(i, now), None);
                apply(app.store.as_ref(), now, tenant, None, &change).await?;
                if (i + 1).is_multiple_of(100_000) {
                    eprintln!(
                        "  loaded {} orders ({:.0}/s)",
                        i + 1,
                        (i + 1) as f64 / loaded.elapsed().as_secs_f64()
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    eprintln!(
        "loaded {n} orders in {:.1} s",
        loaded.elapsed().as_secs_f64()
    );
    let router = shared::routes::local_router(app.clone());
    println!("orders     read                                      p50 ms   p99 ms");
    let today = now.date_naive();
    for (days, compare) in [(30i64, false), (30, true), (366, false), (366, true)] {
        let from = today - Duration::days(days - 1);
        let (query, label) = if compare {
            ("&compare=previous_period", "+ previous period")
        } else {
            ("", "                 ")
        };
        let uri = format!("/dashboard/sales?from={from}&to={today}{query}");
        let (p50, p99) = timed_gets(&router, &reg.token, &uri, requests).await?;
        println!("{n:>9}  sales, {days:>3} days {label}      {p50:>8.3} {p99:>8.3}");
    }
    let (p50, p99) = timed_gets(
        &router,
        &reg.token,
        "/dashboard/top-products?limit=50",
        requests,
    )
    .await?;
    println!("{n:>9}  top products (50)                         {p50:>8.3} {p99:>8.3}");
    drop(router);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
