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
use shared::App;
use shared::config::Config;
use shared::demo::{DemoCustomer, DemoOrder, Line, order_json};
use shared::domain::Money;

pub async fn webhooks(senders: &[usize], length: Duration) -> Result<(), super::CliError> {
    let dir = std::env::current_dir()?.join(format!(".bench-webhooks-{}", std::process::id()));
    let (app, _sync_requests) = App::local(&dir, &Config::default()).await?;
    let secret = app.shopify_secret().await?.expose_secret().to_owned();
    let (base, http, server) = serve_in_process(app).await?;
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
        let pct = |p: f64| crate::bench::percentile(&all, p);
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
pub(crate) fn order(id: u64) -> DemoOrder {
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

/// Every route of `app` served on a free loopback port in this process: its base URL, a client
/// with a connection pool for many senders, and the server task (abort it when done).
pub(crate) async fn serve_in_process(
    app: App,
) -> Result<(String, reqwest::Client, tokio::task::JoinHandle<()>), super::CliError> {
    let router = shared::routes::local_router(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    Ok((format!("http://{addr}"), http, server))
}

/// A merchant `<name>@example.com` with the shop `<name>.myshopify.com`, registered in process.
pub(crate) async fn bench_tenant(
    app: &App,
    name: &str,
) -> Result<shared::auth::Registered, super::CliError> {
    Ok(shared::auth::register(
        app.store.as_ref(),
        &app.keys,
        app.clock.now(),
        shared::auth::Registration {
            name: shared::domain::TenantName::parse("Bench")?,
            email: shared::domain::Email::parse(&format!("{name}@example.com"))?,
            password: shared::domain::Password::parse("bench password".into())?,
            shop_domain: shared::domain::ShopDomain::parse(&format!("{name}.myshopify.com"))?,
        },
    )
    .await
    .map_err(|e| e.to_string())?)
}

/// Dashboard read latency over a tenant holding `n` orders: loads them through the same apply path
/// as webhooks (as the sync does, without event records), then times each dashboard endpoint
/// through the full router (authentication included), in process.
pub async fn dashboard(sizes: &[u64], requests: usize) -> Result<(), super::CliError> {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    println!("orders     endpoint                          p50 ms   p99 ms");
    for &n in sizes {
        let dir =
            std::env::current_dir()?.join(format!(".bench-dashboard-{}-{n}", std::process::id()));
        let (app, _sync_requests) = App::local(&dir, &Config::default()).await?;
        let reg = bench_tenant(&app, "bench").await?;
        let tenant = reg.tenant.id;
        let loaded = Instant::now();
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let (app, next) = (app.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok::<_, shared::store::StoreError>(());
                    }
                    let body = order_json(&order(5_000_000_000_000 + i));
                    let Ok((o, c)) = shared::ingest::payload::order(&body) else {
                        continue;
                    };
                    let change = shared::ingest::Change::UpsertOrder(o, c);
                    shared::ingest::apply(
                        app.store.as_ref(),
                        app.clock.now(),
                        tenant,
                        None,
                        &change,
                    )
                    .await?;
                    if (i + 1) % 100_000 == 0 {
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
            t.await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        }
        eprintln!(
            "  {n} orders loaded in {:.1} s",
            loaded.elapsed().as_secs_f64()
        );

        // The read path is measured, not the rate limit (a tenant's 600 a minute would refuse
        // most of the requests); the counter's own cost is one in-memory increment.
        let mut unlimited = app.clone();
        unlimited.limits = shared::limits::RateLimits::unlimited();
        let router = shared::routes::local_router(unlimited);
        let bearer = format!("Bearer {}", reg.token);
        let endpoints = [
            ("/dashboard/metrics", "GET /dashboard/metrics"),
            (
                "/dashboard/top-customers?limit=10",
                "GET /dashboard/top-customers",
            ),
            (
                "/dashboard/orders-by-date?from=2025-11-25&to=2026-11-25&limit=50",
                "orders-by-date, 366 days",
            ),
        ];
        for (path, label) in endpoints {
            let mut lat = Vec::with_capacity(requests);
            for _ in 0..requests {
                let req = http::Request::builder()
                    .uri(path)
                    .header("authorization", &bearer)
                    .body(axum::body::Body::empty())?;
                let t = Instant::now();
                let res = router.clone().oneshot(req).await?;
                let status = res.status();
                let _ = res.into_body().collect().await?;
                lat.push(t.elapsed());
                if status != 200 {
                    return Err(format!("{path} answered {status}").into());
                }
            }
            lat.sort();
            let pct = |p: f64| crate::bench::percentile(&lat, p);
            println!(
                "{:<10} {:<33} {:>6.3} {:>8.3}",
                n,
                label,
                pct(0.5).as_secs_f64() * 1e3,
                pct(0.99).as_secs_f64() * 1e3
            );
        }
        drop(router);
        drop(app);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
