//! The webhook load generator: an in-process `insights serve` on a fresh embedded store, a tenant
//! registered over HTTP, then N senders posting signed `orders/create` deliveries (each a new order)
//! as fast as the server answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset};
use secrecy::ExposeSecret;
use serde_json::json;
use shared::demo::{DemoCustomer, DemoOrder, Line, order_json};
use shared::domain::Money;
use shared::{App, Endpoint};

pub async fn webhooks(senders: &[usize], length: Duration) -> Result<(), super::CliError> {
    let dir = std::env::current_dir()?.join(format!(".bench-webhooks-{}", std::process::id()));
    let app = App::local(&dir).await?;
    let secret = app.shopify_secret().await?.expose_secret().to_owned();
    let router = shared::http::router(app, Endpoint::ALL);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let shop = "loadgen.myshopify.com";
    let reg = http
        .post(format!("{base}/auth/register"))
        .json(&json!({"name": "Load", "email": "load@example.com", "password": "load generator pw", "shop_domain": shop}))
        .send()
        .await?;
    if reg.status() != 201 {
        return Err(format!("registration failed: {}", reg.status()).into());
    }

    println!("senders  webhooks/s   p50 ms   p99 ms   delivered");
    let next_id = Arc::new(AtomicU64::new(5_000_000_000_000));
    for &n in senders {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..n {
            let (http, base, secret, next_id) =
                (http.clone(), base.clone(), secret.clone(), next_id.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                while start.elapsed() < length {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    let body = order_json(&order(id));
                    let sig = shared::ingest::verify::sign(secret.as_bytes(), &body);
                    let t = Instant::now();
                    let res = http
                        .post(format!("{base}/webhooks/orders"))
                        .header("content-type", "application/json")
                        .header("x-shopify-topic", "orders/create")
                        .header("x-shopify-shop-domain", shop)
                        .header("x-shopify-event-id", format!("evt-{id}"))
                        .header("x-shopify-hmac-sha256", sig)
                        .body(body)
                        .send()
                        .await?;
                    let status = res.status();
                    let _ = res.bytes().await?;
                    if status != 200 {
                        return Err(format!("delivery answered {status}").into());
                    }
                    lat.push(t.elapsed());
                }
                Ok::<_, super::CliError>(lat)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(
                t.await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?,
            );
        }
        let elapsed = start.elapsed();
        all.sort();
        let pct = |p: f64| {
            all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        println!(
            "{:>7} {:>11.0} {:>8.2} {:>8.2} {:>11}",
            n,
            all.len() as f64 / elapsed.as_secs_f64(),
            pct(0.5).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            all.len()
        );
    }
    server.abort();
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A new order for a customer out of a pool of 5,000, placed some time in the last 90 days.
fn order(id: u64) -> DemoOrder {
    // In the shop's zone (-05:00), as Shopify sends them.
    let base: DateTime<FixedOffset> =
        DateTime::parse_from_rfc3339("2026-08-27T09:00:00-05:00").unwrap_or_default();
    let created = base + chrono::Duration::minutes((id % (90 * 24 * 60)) as i64);
    let cust = id % 5000;
    DemoOrder {
        id,
        number: id % 1_000_000,
        created_at: created,
        updated_at: created,
        currency: "USD".into(),
        lines: vec![Line {
            product_id: 632910392 + id % 20,
            variant_id: 808950810 + id % 20,
            title: "Demo product".into(),
            price: Money::new(rust_decimal::Decimal::new(1999 + (id % 50) as i64 * 100, 2)),
            quantity: 1 + (id % 3) as u32,
        }],
        refunded: Money::ZERO,
        cancelled_at: None,
        test: false,
        customer: Some(DemoCustomer {
            id: 7_000_000_000 + cust,
            first_name: "Demo".into(),
            last_name: format!("Customer {cust}"),
            email: format!("customer{cust}@example.com"),
            created_at: base,
            updated_at: base,
        }),
    }
}
