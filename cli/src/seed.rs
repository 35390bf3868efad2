//! `insights seed`: a realistic demo store sent to a running `insights serve` as signed webhooks,
//! through the real ingestion path: products, customers, a few thousand orders over the last 90
//! days with refunds, cancellations, test orders, deletions and Shopify-style redeliveries.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use shared::demo::{DemoCustomer, DemoOrder, Line, Rng, customer_json, order_json, product_json};
use shared::domain::Money;
use tokio::sync::Semaphore;

use super::CliError;

/// What to seed, from the command line.
#[derive(clap::Args)]
pub struct SeedArgs {
    /// The running `insights serve`.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// The server's data dir (where it keeps the webhook secret it generated).
    #[arg(long, default_value = "./data", env = "INSIGHTS_DATA_DIR")]
    pub data_dir: PathBuf,
    #[arg(long, default_value = "demo@example.com")]
    pub email: String,
    #[arg(long, default_value = "demo-password-123")]
    pub password: String,
    #[arg(long, default_value = "demo-store.myshopify.com")]
    pub shop: String,
    /// Orders to create.
    #[arg(long, default_value_t = 3000)]
    pub orders: u64,
    /// Spread over this many days up to today (at least 1).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(i64).range(1..))]
    pub days: i64,
    /// Same seed, same store.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Also the storefront: visitors' pixel events, their checkouts, abandonments and recoveries.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub storefront: bool,
    /// How long to wait for the server to abandon the idle checkouts before some come back.
    #[arg(long, default_value_t = 75)]
    pub abandonment_wait_seconds: u64,
}

/// One webhook to send.
struct Send {
    topic: &'static str,
    event_id: String,
    triggered_at: Option<String>,
    body: Vec<u8>,
}

const FIRST: [&str; 12] = [
    "Ava", "Liam", "Noah", "Emma", "Mia", "Lucas", "Zoe", "Ethan", "Aria", "Leo", "Nora", "Kai",
];
const LAST: [&str; 10] = [
    "Smith", "Garcia", "Chen", "Okafor", "Müller", "Rossi", "Tanaka", "Silva", "Novak", "Dubois",
];
const PRODUCTS: [&str; 8] = [
    "Ceramic Mug",
    "Linen Tote",
    "Wool Beanie",
    "Desk Lamp",
    "Notebook",
    "Tea Sampler",
    "Candle",
    "Water Bottle",
];

fn plan(a: &SeedArgs, now: DateTime<Utc>) -> Vec<Send> {
    let mut rng = Rng(a.seed);
    // The demo shop is in New York (UTC−05:00 in winter).
    let Some(tz) = FixedOffset::west_opt(5 * 3600) else {
        return Vec::new();
    };
    let now = now.with_timezone(&tz);
    let start = now - chrono::Duration::days(a.days);
    let mut sends = Vec::new();
    let mut event = 0u64;
    let mut next_event = |prefix: &str| {
        event += 1;
        format!("seed-{}-{prefix}-{event}", a.seed)
    };

    let products: Vec<(u64, String, Money)> = (0..40u64)
        .map(|i| {
            let title = format!(
                "{} {}",
                PRODUCTS[(i % 8) as usize],
                ["Classic", "Large", "Limited", "Mini", "Pro"][(i / 8) as usize]
            );
            (
                8_000_000_000 + i * 7,
                title,
                Money::new(rust_decimal::Decimal::new(899 + 250 * (i as i64 % 17), 2)),
            )
        })
        .collect();
    for (id, title, price) in &products {
        sends.push(Send {
            topic: "products/create",
            event_id: next_event("p"),
            triggered_at: None,
            body: product_json(*id, title, *price, start),
        });
    }

    let customers: Vec<DemoCustomer> = (0..400u64)
        .map(|i| {
            let first = FIRST[rng.below(12) as usize];
            let last = LAST[rng.below(10) as usize];
            let created = start + chrono::Duration::minutes(rng.below(60 * 24 * 30) as i64);
            DemoCustomer {
                id: 7_300_000_000_000_000_000 + i * 13, // far past JavaScript's safe integers
                first_name: first.into(),
                last_name: last.into(),
                email: format!(
                    "{}.{}{i}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase().replace('ü', "u")
                ),
                created_at: created,
                updated_at: created,
            }
        })
        .collect();
    for c in &customers {
        let body = serde_json::to_vec(&customer_json(c)).unwrap_or_default();
        sends.push(Send {
            topic: "customers/create",
            event_id: next_event("c"),
            triggered_at: None,
            body,
        });
    }

    for i in 0..a.orders {
        // Orders cluster in the shop's afternoons and evenings, a little busier on recent days.
        let day = (a.days as f64 * (1.0 - (rng.below(10_000) as f64 / 10_000.0).powf(1.3))) as i64;
        let created = start
            + chrono::Duration::days(day.min(a.days - 1))
            + chrono::Duration::minutes(9 * 60 + rng.below(14 * 60) as i64);
        if created > now {
            continue;
        }
        let cust = customers[(rng.below(400) * rng.below(400) / 400) as usize].clone();
        let lines = (0..1 + rng.below(3))
            .map(|_| {
                let (pid, title, price) = &products[rng.below(40) as usize];
                Line {
                    product_id: *pid,
                    variant_id: pid + 1,
                    title: title.clone(),
                    price: *price,
                    quantity: 1 + rng.below(3) as u32,
                }
            })
            .collect();
        let mut o = DemoOrder {
            id: 5_500_000_000_000 + i * 17,
            number: 1001 + i,
            created_at: created,
            updated_at: created,
            currency: "USD".into(),
            lines,
            refunded: Money::ZERO,
            cancelled_at: None,
            test: rng.chance(3),
            customer: Some(cust),
        };
        let create = Send {
            topic: "orders/create",
            event_id: next_event("o"),
            triggered_at: None,
            body: order_json(&o),
        };
        // Shopify redelivers: the same event again.
        if rng.chance(4) {
            sends.push(Send {
                topic: create.topic,
                event_id: create.event_id.clone(),
                triggered_at: None,
                body: create.body.clone(),
            });
        }
        sends.push(create);
        if rng.chance(8) {
            o.updated_at = o.created_at + chrono::Duration::hours(1 + rng.below(72) as i64);
            let (_, _, total) = shared::demo::order_totals(&o);
            o.refunded =
                Money::new(total.amount() * rust_decimal::Decimal::new(25, 2)).average_over(1);
            sends.push(Send {
                topic: "orders/updated",
                event_id: next_event("r"),
                triggered_at: None,
                body: order_json(&o),
            });
        }
        if rng.chance(4) {
            o.updated_at += chrono::Duration::hours(2);
            o.cancelled_at = Some(o.updated_at);
            sends.push(Send {
                topic: "orders/cancelled",
                event_id: next_event("x"),
                triggered_at: None,
                body: order_json(&o),
            });
        }
        if rng.chance(1) {
            let at = o.updated_at + chrono::Duration::days(1);
            sends.push(Send {
                topic: "orders/delete",
                event_id: next_event("d"),
                triggered_at: Some(at.to_rfc3339()),
                body: format!("{{\"id\":{}}}", o.id).into_bytes(),
            });
        }
    }
    sends
}

/// The webhook secret `insights serve` uses: `SHOPIFY_API_SECRET`, else the one it generated.
fn secret(data_dir: &std::path::Path) -> Result<String, CliError> {
    if let Ok(s) = std::env::var("SHOPIFY_API_SECRET")
        && !s.is_empty()
    {
        return Ok(s);
    }
    let path = data_dir.join("secrets").join("SHOPIFY_API_SECRET");
    std::fs::read_to_string(&path).map(|s| s.trim().to_owned()).map_err(|e| {
        format!(
            "cannot read the webhook secret at {} ({e}): start `insights serve --data-dir {}` first, or set SHOPIFY_API_SECRET",
            path.display(),
            data_dir.display()
        )
        .into()
    })
}

pub async fn run(a: SeedArgs) -> Result<(), CliError> {
    let secret = secret(&a.data_dir)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = a.url.trim_end_matches('/').to_owned();

    // The demo merchant: registered once, logged in on later runs.
    let reg = http
        .post(format!("{base}/auth/register"))
        .json(&json!({"name": "Demo Store", "email": a.email, "password": a.password, "shop_domain": a.shop}))
        .send()
        .await
        .map_err(|e| format!("cannot reach {base}: is `insights serve` running? ({e})"))?;
    let status = reg.status();
    let body: Value = reg.json().await.unwrap_or(Value::Null);
    let api_key = match status.as_u16() {
        201 => body["api_key"].as_str().map(str::to_owned),
        409 => None,
        _ => return Err(format!("registering the demo merchant failed: {status} {body}").into()),
    };
    let token = match body["token"].as_str() {
        Some(t) => t.to_owned(),
        None => {
            let login: Value = http
                .post(format!("{base}/auth/login"))
                .json(&json!({"email": a.email, "password": a.password}))
                .send()
                .await?
                .json()
                .await?;
            login["token"]
                .as_str()
                .ok_or("the demo merchant exists with another password")?
                .to_owned()
        }
    };

    let sends = plan(&a, Utc::now());
    let bar = ProgressBar::new(sends.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} webhooks  {per_sec}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let counts: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let gate = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::with_capacity(sends.len());
    // Products and customers first (in order), then the orders.
    for (i, s) in sends.into_iter().enumerate() {
        let permit = gate.clone().acquire_owned().await?;
        let (http, base, secret, shop, counts, bar) = (
            http.clone(),
            base.clone(),
            secret.clone(),
            a.shop.clone(),
            counts.clone(),
            bar.clone(),
        );
        let task = tokio::spawn(async move {
            let _permit = permit;
            let sig = shared::ingest::verify::sign(secret.as_bytes(), &s.body);
            let mut req = http
                .post(format!("{base}/webhooks"))
                .header("content-type", "application/json")
                .header("x-shopify-topic", s.topic)
                .header("x-shopify-shop-domain", shop)
                .header("x-shopify-api-version", "2026-01")
                .header("x-shopify-event-id", &s.event_id)
                .header("x-shopify-webhook-id", format!("wh-{i}"))
                .header("x-shopify-hmac-sha256", sig);
            if let Some(t) = &s.triggered_at {
                req = req.header("x-shopify-triggered-at", t);
            }
            let res = req.body(s.body).send().await.map_err(|e| e.to_string())?;
            let status = res.status();
            let v: Value = res.json().await.unwrap_or(Value::Null);
            let slot = match v["result"].as_str() {
                Some("applied") => 0,
                Some("duplicate") => 1,
                Some("stale") => 2,
                _ => 3,
            };
            counts[slot].fetch_add(1, Ordering::Relaxed);
            bar.inc(1);
            if slot == 3 {
                return Err(format!("{} answered {status}: {v}", s.topic));
            }
            Ok(())
        });
        tasks.push(task);
        // Keep catalogue and customers ahead of the orders that reference them.
        if i == 439 {
            for t in tasks.drain(..) {
                t.await.map_err(|e| e.to_string())??;
            }
        }
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    bar.finish_with_message("done");
    let c = |i: usize| counts[i].load(Ordering::Relaxed);
    println!(
        "\nSeeded {} as {}: {} applied, {} duplicates (redeliveries), {} stale.",
        a.shop,
        a.email,
        c(0),
        c(1),
        c(2)
    );
    if a.storefront {
        println!("Storefront: pixel events, checkouts, then waiting for the abandonment job...");
        let s = crate::seed_storefront::run(
            &http,
            &base,
            &token,
            &secret,
            &a.shop,
            a.seed,
            a.days,
            Duration::from_secs(a.abandonment_wait_seconds),
        )
        .await?;
        println!(
            "Storefront: {} events, {} checkouts, {} recovered after abandonment.",
            s.events, s.checkouts, s.recovered
        );
    }
    println!("Open {base}/ and log in with {} / {}", a.email, a.password);
    if let Some(k) = api_key {
        println!("API key (shown once): {k}");
    }
    Ok(())
}
