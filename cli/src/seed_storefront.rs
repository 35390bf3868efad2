//! `insights seed`'s storefront: visitors over the seeded days sent as Web Pixels events to
//! `POST /events` (with the merchant's ingest key), and their checkouts as signed
//! `checkouts/create` webhooks, so the demo shows a funnel; once the server's abandonment job has
//! abandoned the idle ones, some of them come back (`checkouts/update` with `completed_at`) and
//! count as recovered.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::demo::Rng;

use super::CliError;

/// What the storefront seeding sent.
#[derive(Default)]
pub struct Seeded {
    pub events: u64,
    pub checkouts: u64,
    pub recovered: u64,
}

struct Checkout {
    token: String,
    started: DateTime<Utc>,
    total: String,
    completed: bool,
}

/// Everything the seeded days' visitors did: their events (time order) and their checkouts.
fn plan(seed: u64, days: i64, now: DateTime<Utc>) -> (Vec<Value>, Vec<Checkout>) {
    let mut rng = Rng(seed ^ 0x5709_EF0E);
    let (mut events, mut checkouts) = (Vec::new(), Vec::new());
    let mut n = 0u64;
    for d in 0..days {
        // The last visits end two hours ago, so every idle checkout is due for abandonment.
        let day_start = now - chrono::Duration::hours(2) - chrono::Duration::days(d + 1);
        for s in 0..40 + rng.below(40) {
            let client = format!("seed-{seed}-{d}-{s}");
            let mut at = day_start + chrono::Duration::minutes(rng.below(23 * 60) as i64);
            let mut ev = |name: &str, at: DateTime<Utc>, data: Value| {
                n += 1;
                json!({"id": format!("seed-{seed}-ev-{n}"), "name": name,
                       "timestamp": at.to_rfc3339(), "clientId": client, "data": data})
            };
            for _ in 0..1 + rng.below(4) {
                at += chrono::Duration::minutes(1 + rng.below(6) as i64);
                events.push(ev("page_viewed", at, json!({})));
            }
            if !rng.chance(35) {
                continue;
            }
            at += chrono::Duration::minutes(1);
            events.push(ev("product_added_to_cart", at, json!({})));
            if !rng.chance(45) {
                continue;
            }
            let token = format!("seed{seed}d{d}s{s}");
            let total = format!("{}.{:02}", 12 + rng.below(180), rng.below(100));
            let checkout = |email: Option<&str>| {
                json!({"checkout": {"token": token, "email": email,
                    "totalPrice": {"amount": total.parse::<f64>().unwrap_or_default(), "currencyCode": "USD"}}})
            };
            at += chrono::Duration::minutes(1);
            let started = at;
            events.push(ev("checkout_started", at, checkout(None)));
            if !rng.chance(70) {
                continue;
            }
            at += chrono::Duration::minutes(2);
            let email = format!("visitor{d}x{s}@example.com");
            events.push(ev(
                "checkout_contact_info_submitted",
                at,
                checkout(Some(&email)),
            ));
            let completed = rng.chance(55);
            if completed {
                at += chrono::Duration::minutes(3);
                events.push(ev("checkout_completed", at, checkout(Some(&email))));
            }
            checkouts.push(Checkout {
                token,
                started,
                total,
                completed,
            });
        }
    }
    events.sort_by(|a, b| a["timestamp"].as_str().cmp(&b["timestamp"].as_str()));
    (events, checkouts)
}

fn checkout_body(c: &Checkout, completed_at: Option<DateTime<Utc>>) -> Vec<u8> {
    let updated = completed_at.unwrap_or(c.started + chrono::Duration::minutes(3));
    serde_json::to_vec(&json!({
        "token": c.token,
        "created_at": c.started.to_rfc3339(),
        "updated_at": updated.to_rfc3339(),
        "completed_at": completed_at.map(|t| t.to_rfc3339()),
        "email": "buyer@example.com",
        "total_price": c.total,
        "currency": "USD",
        "abandoned_checkout_url": format!("https://demo-store.myshopify.com/checkouts/{}/recover", c.token),
    }))
    .unwrap_or_default()
}

async fn webhook(
    http: &reqwest::Client,
    base: &str,
    secret: &str,
    shop: &str,
    topic: &str,
    event_id: &str,
    body: Vec<u8>,
) -> Result<(), CliError> {
    let sig = shared::ingest::verify::sign(secret.as_bytes(), &body);
    let res = http
        .post(format!("{base}/webhooks"))
        .header("content-type", "application/json")
        .header("x-shopify-topic", topic)
        .header("x-shopify-shop-domain", shop)
        .header("x-shopify-event-id", event_id)
        .header("x-shopify-hmac-sha256", sig)
        .body(body)
        .send()
        .await?;
    if res.status() != 200 {
        return Err(format!("{topic} answered {}", res.status()).into());
    }
    Ok(())
}

/// Sends the storefront of the seeded days for the merchant signed in with `token`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    secret: &str,
    shop: &str,
    seed: u64,
    days: i64,
    wait_for_abandonment: Duration,
) -> Result<Seeded, CliError> {
    let key: Value = http
        .get(format!("{base}/tenants/me/ingest-key"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let key = key["ingest_key"]
        .as_str()
        .ok_or("no ingest key in the answer")?
        .to_owned();
    let now = Utc::now();
    let (events, checkouts) = plan(seed, days.min(90), now);
    let mut seeded = Seeded::default();
    for batch in events.chunks(20) {
        let res = http
            .post(format!("{base}/events?key={key}"))
            .header("content-type", "text/plain")
            .body(json!({"events": batch}).to_string())
            .send()
            .await?;
        if res.status() != 202 {
            return Err(format!("POST /events answered {}", res.status()).into());
        }
        let counts: Value = res.json().await?;
        seeded.events += counts["accepted"].as_u64().unwrap_or(0);
    }
    for c in &checkouts {
        let completed_at = c
            .completed
            .then(|| c.started + chrono::Duration::minutes(6));
        webhook(
            http,
            base,
            secret,
            shop,
            "checkouts/create",
            &format!("seed-co-{}", c.token),
            checkout_body(c, completed_at),
        )
        .await?;
        seeded.checkouts += 1;
    }
    // The server abandons the idle checkouts within a minute; a few buyers then come back.
    let deadline = Instant::now() + wait_for_abandonment;
    let abandoned = loop {
        let log: Value = http
            .get(format!(
                "{base}/dashboard/events?type=checkout_abandoned&limit=250"
            ))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        let n = log["events"].as_array().map_or(0, Vec::len);
        if n > 0 || Instant::now() > deadline {
            break log["events"].as_array().cloned().unwrap_or_default();
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    };
    for (i, e) in abandoned.iter().enumerate() {
        let Some(token) = e["metadata"]["checkout_token"].as_str() else {
            continue;
        };
        if i % 5 != 0 {
            continue;
        }
        let Some(c) = checkouts.iter().find(|c| c.token == token) else {
            continue;
        };
        let back = now - chrono::Duration::minutes(30);
        webhook(
            http,
            base,
            secret,
            shop,
            "checkouts/update",
            &format!("seed-back-{token}"),
            checkout_body(c, Some(back)),
        )
        .await?;
        seeded.recovered += 1;
    }
    Ok(seeded)
}
