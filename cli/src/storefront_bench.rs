//! Storefront load generators (docs/benchmarks.md): `POST /events` throughput through an
//! in-process `insights serve` on a fresh embedded store, and funnel read latency over a store
//! holding many events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::App;
use shared::config::Config;

use crate::loadgen::serve_in_process;

/// No limit gets in the way of a benchmark (the limits have their own tests).
pub(crate) fn unlimited() -> Config {
    Config {
        ingest_rate_limit_per_minute: Some(u64::MAX.to_string()),
        rate_limit_per_minute: Some(u64::MAX.to_string()),
        ..Config::default()
    }
}

/// A storefront's event `i`: 70% page views, 20% add-to-carts, 10% checkouts started, from one
/// of 20,000 visitors, spread over the last `days` days.
fn event(i: u64, now: DateTime<Utc>, days: u64) -> Value {
    let client = format!("visitor-{}", i % 20_000);
    let at = now - chrono::Duration::seconds(((i * 7919) % (days * 86_400)) as i64);
    let (name, data) = match i % 10 {
        0 => (
            "checkout_started",
            json!({"checkout": {"token": format!("t{}", i % 50_000), "totalPrice": {"amount": 42.5, "currencyCode": "USD"}}}),
        ),
        1 | 2 => ("product_added_to_cart", json!({})),
        _ => ("page_viewed", json!({})),
    };
    json!({"id": format!("bench-{i}"), "name": name, "timestamp": at.to_rfc3339(),
           "clientId": client, "data": data})
}

/// `POST /events` at full speed, `senders` concurrent, for each batch size.
pub async fn events(
    batches: &[usize],
    senders: usize,
    length: Duration,
) -> Result<(), super::CliError> {
    let dir = std::env::current_dir()?.join(format!(".bench-events-{}", std::process::id()));
    let (app, _sync_requests) = App::local(&dir, &unlimited()).await?;
    let (base, http, server) = serve_in_process(app).await?;
    let reg: Value = http
        .post(format!("{base}/auth/register"))
        .json(&json!({"name": "Bench", "email": "events@example.com", "password": "bench password", "shop_domain": "events.myshopify.com"}))
        .send()
        .await?
        .json()
        .await?;
    let token = reg["token"].as_str().unwrap_or_default().to_owned();
    let key: Value = http
        .get(format!("{base}/tenants/me/ingest-key"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let key = key["ingest_key"].as_str().unwrap_or_default().to_owned();

    println!("batch  senders   events/s  requests/s   p50 ms   p99 ms   accepted");
    let next = Arc::new(AtomicU64::new(0));
    let now = Utc::now();
    for &batch in batches {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..senders {
            let (http, url, next) = (
                http.clone(),
                format!("{base}/events?key={key}"),
                next.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut accepted = 0u64;
                while start.elapsed() < length {
                    let first = next.fetch_add(batch as u64, Ordering::Relaxed);
                    let events: Vec<Value> = (first..first + batch as u64)
                        .map(|i| event(i, now, 1))
                        .collect();
                    let t = Instant::now();
                    let res = http
                        .post(&url)
                        .header("content-type", "text/plain")
                        .body(json!({"events": events}).to_string())
                        .send()
                        .await?;
                    let status = res.status();
                    let body: Value = res.json().await?;
                    if status != 202 {
                        return Err(format!("events answered {status}: {body}").into());
                    }
                    accepted += body["accepted"].as_u64().unwrap_or(0);
                    lat.push(t.elapsed());
                }
                Ok::<_, super::CliError>((lat, accepted))
            }));
        }
        let (mut all, mut accepted) = (Vec::new(), 0u64);
        for t in tasks {
            let (lat, a) = t
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            all.extend(lat);
            accepted += a;
        }
        let elapsed = start.elapsed().as_secs_f64();
        all.sort();
        let pct = |p: f64| crate::bench::percentile(&all, p).as_secs_f64() * 1e3;
        println!(
            "{:>5} {:>8} {:>10.0} {:>11.0} {:>8.2} {:>8.2} {:>10}",
            batch,
            senders,
            accepted as f64 / elapsed,
            all.len() as f64 / elapsed,
            pct(0.5),
            pct(0.99),
            accepted
        );
    }
    server.abort();
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `requests` sequential `GET uri`s through the whole router (authentication included): their
/// p50 and p99 in milliseconds. Any answer but 200 is an error.
pub(crate) async fn timed_gets(
    router: &axum::Router,
    token: &str,
    uri: &str,
    requests: usize,
) -> Result<(f64, f64), super::CliError> {
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let mut lat = Vec::with_capacity(requests);
    for _ in 0..requests {
        let req = http::Request::builder()
            .uri(uri)
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())?;
        let t = Instant::now();
        let res = router.clone().oneshot(req).await?;
        let status = res.status();
        let _ = res.into_body().collect().await;
        if status != 200 {
            return Err(format!("{uri} answered {status}").into());
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    let pct = |p: f64| crate::bench::percentile(&lat, p).as_secs_f64() * 1e3;
    Ok((pct(0.5), pct(0.99)))
}

/// Loads `n` events over a year through the ingest path, then times `GET /dashboard/funnel`
/// (30 and 366 days) through the full router, authentication included.
pub async fn funnel(n: u64, requests: usize) -> Result<(), super::CliError> {
    let dir = std::env::current_dir()?.join(format!(".bench-funnel-{}", std::process::id()));
    let (app, _sync_requests) = App::local(&dir, &unlimited()).await?;
    let reg = crate::loadgen::bench_tenant(&app, "funnel").await?;
    let tenant = reg.tenant.id;
    let now = Utc::now();
    let loaded = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let settings = shared::store::items::storefront::Settings::from_item(None);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (app, next) = (app.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let first = next.fetch_add(20, Ordering::Relaxed);
                if first >= n {
                    return Ok::<_, shared::store::StoreError>(());
                }
                let events = (first..(first + 20).min(n))
                    .map(|i| shared::storefront::pixel::parse_event(&event(i, now, 365), now))
                    .collect();
                shared::storefront::apply::ingest_events(
                    app.store.as_ref(),
                    now,
                    tenant,
                    shared::storefront::zone::ShopZone::UTC,
                    &settings,
                    events,
                )
                .await?;
                if (first / 20 + 1) % 5_000 == 0 {
                    eprintln!(
                        "  loaded {} events ({:.0}/s)",
                        first + 20,
                        (first + 20) as f64 / loaded.elapsed().as_secs_f64()
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    eprintln!(
        "loaded {n} events in {:.1} s",
        loaded.elapsed().as_secs_f64()
    );
    let router = shared::routes::local_router(app.clone());
    println!("events      range      p50 ms   p99 ms");
    let today = now.date_naive();
    for days in [30i64, 366] {
        let from = today - chrono::Duration::days(days - 1);
        let uri = format!("/dashboard/funnel?from={from}&to={today}");
        let (p50, p99) = timed_gets(&router, &reg.token, &uri, requests).await?;
        println!("{n:>9} {days:>6} days {p50:>8.3} {p99:>8.3}");
    }
    drop(router);
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
