//! The soak: a steady mixed load against a running `insights serve` from its own process, for
//! minutes, reporting each minute what an on-call engineer watches: answers by kind, latency
//! percentiles, errors, and the server's resident memory (read from /proc when its pid is given).
//!
//! Load: signed `orders/create` deliveries at `rate` per second (one in ten a redelivery of an
//! earlier one, which must answer `duplicate`), dashboard reads at 4 per second (under the default
//! per-tenant limit) and a wrong-password login every 5 seconds (answers `401`, later `429`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use shared::demo::order_json;
use tokio::sync::Mutex;

pub struct Soak {
    pub url: String,
    pub secret: String,
    pub minutes: u64,
    pub rate: u64,
    pub senders: u64,
    pub pid: Option<u32>,
}

/// One minute's tally.
#[derive(Default)]
struct Minute {
    webhooks: Vec<Duration>,
    reads: Vec<Duration>,
    logins: u64,
    duplicates: u64,
    limited: u64,
    client_errors: u64,
    server_errors: u64,
    transport_errors: u64,
}

pub async fn run(s: Soak) -> Result<(), super::CliError> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = s.url.trim_end_matches('/').to_owned();
    let stamp = std::process::id();
    let shop = format!("soak-{stamp}.myshopify.com");
    let email = format!("soak-{stamp}@example.com");
    let reg = http
        .post(format!("{base}/auth/register"))
        .json(&json!({"name": "Soak", "email": email, "password": "soak generator pw", "shop_domain": shop}))
        .send()
        .await?;
    if reg.status() != 201 {
        return Err(format!("registration answered {}", reg.status()).into());
    }
    let token = reg.json::<serde_json::Value>().await?["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let minutes = s.minutes.max(1);
    let tally: Arc<Vec<Mutex<Minute>>> = Arc::new(
        (0..minutes)
            .map(|_| Mutex::new(Minute::default()))
            .collect(),
    );
    let start = Instant::now();
    let length = Duration::from_secs(minutes * 60);
    let minute_of = move || (start.elapsed().as_secs() / 60) as usize;
    let next_id = Arc::new(AtomicU64::new(
        9_000_000_000_000 + u64::from(stamp) * 1_000_000_000,
    ));
    let first_id = next_id.load(Ordering::Relaxed);

    let mut tasks = Vec::new();
    // Webhook senders, each paced to its share of the rate.
    let senders = s.senders.max(1);
    let period = Duration::from_secs_f64(senders as f64 / s.rate.max(1) as f64);
    for _ in 0..senders {
        let (http, base, secret, shop, tally, next_id) = (
            http.clone(),
            base.clone(),
            s.secret.clone(),
            shop.clone(),
            tally.clone(),
            next_id.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n = 0u64;
            while start.elapsed() < length {
                tick.tick().await;
                n += 1;
                let fresh = next_id.fetch_add(1, Ordering::Relaxed);
                // One in ten is a redelivery of an earlier delivery (same event id).
                let id = if n.is_multiple_of(10) && fresh > first_id + 100 {
                    fresh - 100
                } else {
                    fresh
                };
                let body = order_json(&crate::loadgen::order(id));
                let sig = shared::ingest::verify::sign(secret.as_bytes(), &body);
                let t = Instant::now();
                let res = http
                    .post(format!("{base}/webhooks/orders"))
                    .header("content-type", "application/json")
                    .header("x-shopify-topic", "orders/create")
                    .header("x-shopify-shop-domain", &shop)
                    .header("x-shopify-event-id", format!("soak-{id}"))
                    .header("x-shopify-hmac-sha256", sig)
                    .body(body)
                    .send()
                    .await;
                let took = t.elapsed();
                let Some(slot) = tally.get(minute_of()) else {
                    break;
                };
                let mut m = slot.lock().await;
                match res {
                    Ok(r) if r.status() == 200 => {
                        let body = r.text().await.unwrap_or_default();
                        if body.contains("duplicate") {
                            m.duplicates += 1;
                        }
                        m.webhooks.push(took);
                    }
                    Ok(r) if r.status().is_server_error() => m.server_errors += 1,
                    Ok(_) => m.client_errors += 1,
                    Err(_) => m.transport_errors += 1,
                }
            }
        }));
    }
    // Dashboard reads, 4 per second.
    {
        let (http, base, token, tally) = (http.clone(), base.clone(), token.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let mut n = 0u64;
            while start.elapsed() < length {
                tick.tick().await;
                n += 1;
                let path = if n.is_multiple_of(2) {
                    "/dashboard/metrics".to_owned()
                } else {
                    "/dashboard/orders-by-date?from=2026-08-01&to=2026-11-30&limit=50".to_owned()
                };
                let t = Instant::now();
                let res = http
                    .get(format!("{base}{path}"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                let took = t.elapsed();
                let Some(slot) = tally.get(minute_of()) else {
                    break;
                };
                let mut m = slot.lock().await;
                match res {
                    Ok(r) if r.status() == 200 => {
                        let _ = r.bytes().await;
                        m.reads.push(took);
                    }
                    Ok(r) if r.status() == 429 => m.limited += 1,
                    Ok(r) if r.status().is_server_error() => m.server_errors += 1,
                    Ok(_) => m.client_errors += 1,
                    Err(_) => m.transport_errors += 1,
                }
            }
        }));
    }
    // A wrong-password login every 5 seconds: 401 until the limit, then 429.
    {
        let (http, base, email, tally) = (http.clone(), base.clone(), email.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            while start.elapsed() < length {
                tick.tick().await;
                let res = http
                    .post(format!("{base}/auth/login"))
                    .json(&json!({"email": email, "password": "not the password"}))
                    .send()
                    .await;
                let Some(slot) = tally.get(minute_of()) else {
                    break;
                };
                let mut m = slot.lock().await;
                match res.map(|r| r.status().as_u16()) {
                    Ok(401) => m.logins += 1,
                    Ok(429) => m.limited += 1,
                    Ok(s) if s >= 500 => m.server_errors += 1,
                    Ok(_) => m.client_errors += 1,
                    Err(_) => m.transport_errors += 1,
                }
            }
        }));
    }
    // Each minute, when it is over: its line.
    println!(
        "minute  webhooks/s  wh p50 ms  wh p99 ms  reads  rd p99 ms  dup  401  429  4xx  5xx  net  RSS MiB"
    );
    let mut worst_rss = 0u64;
    let mut totals = (0usize, 0u64, 0u64);
    for i in 0..minutes as usize {
        let end = start + Duration::from_secs((i as u64 + 1) * 60);
        tokio::time::sleep_until(tokio::time::Instant::from_std(end + Duration::from_secs(2)))
            .await;
        let rss = s.pid.and_then(rss_kib).map(|k| k / 1024);
        worst_rss = worst_rss.max(rss.unwrap_or(0));
        let mut m = tally[i].lock().await;
        m.webhooks.sort();
        m.reads.sort();
        let ms = |v: &[Duration], p: f64| crate::bench::percentile(v, p).as_secs_f64() * 1e3;
        totals.0 += m.webhooks.len();
        totals.1 += m.server_errors + m.transport_errors;
        totals.2 += m.client_errors;
        println!(
            "{:>6} {:>11.0} {:>10.2} {:>10.2} {:>6} {:>10.2} {:>4} {:>4} {:>4} {:>4} {:>4} {:>4} {:>8}",
            i + 1,
            m.webhooks.len() as f64 / 60.0,
            ms(&m.webhooks, 0.5),
            ms(&m.webhooks, 0.99),
            m.reads.len(),
            ms(&m.reads, 0.99),
            m.duplicates,
            m.logins,
            m.limited,
            m.client_errors,
            m.server_errors,
            m.transport_errors,
            rss.map_or("-".to_owned(), |r| r.to_string()),
        );
    }
    for t in tasks {
        let _ = t.await;
    }
    println!(
        "{} webhooks acknowledged; {} 5xx or transport errors; {} unexpected 4xx; peak RSS {} MiB",
        totals.0, totals.1, totals.2, worst_rss
    );
    if totals.1 > 0 || totals.2 > 0 {
        return Err("the soak saw errors".into());
    }
    Ok(())
}

/// Resident memory of a process, KiB (Linux).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
