//! The external webhook load generator (`insights bench webhooks --url`): run in its own process
//! against a server in another (`insights serve`, or the `ceiling` server measured beside it),
//! N senders each holding one HTTP/1.1 connection, posting signed `orders/create` deliveries (each
//! a new order and a new event id) back to back for a fixed time. Every answer is checked: a status
//! other than 200 or a body other than `{"result":"applied"}` ends the run with an error.
//!
//! The generator's own cost is kept small and equal for every server measured: the order bodies
//! are rendered once per template (5,000 of them, one per customer of the pool), and each delivery
//! copies a template, writes its new order id into the template's id digits and signs the result.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::json;

/// Templates (one per customer of the load generator's pool of 5,000).
const TEMPLATES: u64 = 5_000;
/// Order ids start here: 13 digits, the width every template's id is written in.
const FIRST_ID: u64 = 5_000_000_000_000;

/// An order body with the places its id is written, to stamp a new id into a copy.
struct Template {
    body: Vec<u8>,
    id_at: Vec<usize>,
}

impl Template {
    fn new(k: u64) -> Template {
        let id = FIRST_ID + k;
        let body = shared::demo::order_json(&crate::loadgen::order(id));
        let digits = id.to_string();
        let id_at = body
            .windows(digits.len())
            .enumerate()
            .filter(|(_, w)| *w == digits.as_bytes())
            .map(|(i, _)| i)
            .collect();
        Template { body, id_at }
    }

    /// The template's order as order `id` (same width: `FIRST_ID..FIRST_ID * 2`).
    fn stamp(&self, id: u64) -> Vec<u8> {
        let mut body = self.body.clone();
        let digits = id.to_string();
        for &at in &self.id_at {
            body[at..at + digits.len()].copy_from_slice(digits.as_bytes());
        }
        body
    }
}

/// One run's answers.
pub struct Run {
    pub senders: usize,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub delivered: usize,
}

/// Registers a merchant for `shop` (a `201`; the ceiling server answers it too), then runs each
/// sender count for `length` and prints a line per run.
pub async fn run(
    url: &str,
    secret: &str,
    shop: &str,
    senders: &[usize],
    length: Duration,
) -> Result<Vec<Run>, super::CliError> {
    let base = url.trim_end_matches('/').to_owned();
    let authority = base
        .strip_prefix("http://")
        .ok_or("the load generator speaks plain HTTP: --url http://host:port")?
        .to_owned();
    let reg = reqwest::Client::new()
        .post(format!("{base}/auth/register"))
        .json(&json!({"name": "Load", "email": format!("load@{shop}"),
                      "password": "load generator pw", "shop_domain": shop}))
        .send()
        .await?;
    if reg.status() != 201 {
        return Err(format!("registering {shop} answered {}", reg.status()).into());
    }
    let templates: Arc<Vec<Template>> = Arc::new((0..TEMPLATES).map(Template::new).collect());
    let next = Arc::new(AtomicU64::new(0));
    let secret = Arc::new(secret.as_bytes().to_vec());
    println!("senders  webhooks/s   p50 ms   p99 ms   delivered");
    let mut runs = Vec::new();
    for &n in senders {
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let stream = tokio::net::TcpStream::connect(&authority).await?;
            stream.set_nodelay(true)?;
            let (sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let (templates, next, secret) = (templates.clone(), next.clone(), secret.clone());
            let (authority, shop) = (authority.clone(), shop.to_owned());
            tasks.push(tokio::spawn(async move {
                send_for(
                    sender, &templates, &next, &secret, &authority, &shop, start, length,
                )
                .await
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.map_err(|e| e.to_string())??);
        }
        let elapsed = start.elapsed();
        all.sort();
        let pct = |p: f64| crate::bench::percentile(&all, p);
        let run = Run {
            senders: n,
            per_second: all.len() as f64 / elapsed.as_secs_f64(),
            p50: pct(0.5),
            p99: pct(0.99),
            delivered: all.len(),
        };
        println!(
            "{:>7} {:>11.0} {:>8.2} {:>8.2} {:>11}",
            run.senders,
            run.per_second,
            run.p50.as_secs_f64() * 1e3,
            run.p99.as_secs_f64() * 1e3,
            run.delivered
        );
        runs.push(run);
    }
    Ok(runs)
}

#[allow(clippy::too_many_arguments)]
async fn send_for(
    mut sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    templates: &[Template],
    next: &AtomicU64,
    secret: &[u8],
    authority: &str,
    shop: &str,
    start: Instant,
    length: Duration,
) -> Result<Vec<Duration>, super::CliError> {
    let mut latencies = Vec::new();
    while start.elapsed() < length {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let body = templates[(n % TEMPLATES) as usize].stamp(FIRST_ID + n);
        let signature = shared::ingest::verify::sign(secret, &body);
        let req = http::Request::post("/webhooks/orders")
            .header("host", authority)
            .header("content-type", "application/json")
            .header("x-shopify-topic", "orders/create")
            .header("x-shopify-shop-domain", shop)
            .header("x-shopify-event-id", format!("load-{n}"))
            .header("x-shopify-hmac-sha256", signature)
            .body(Full::new(Bytes::from(body)))?;
        let t = Instant::now();
        sender.ready().await?;
        let res = sender.send_request(req).await?;
        let status = res.status();
        let answer = res.into_body().collect().await?.to_bytes();
        latencies.push(t.elapsed());
        if status != 200 || answer.as_ref() != br#"{"result":"applied"}"# {
            return Err(format!(
                "delivery {n} answered {status}: {}",
                String::from_utf8_lossy(&answer)
            )
            .into());
        }
    }
    Ok(latencies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamped_template_is_the_order_rendered_with_that_id_apart_from_derived_numbers() {
        let t = Template::new(7);
        assert!(
            t.id_at.len() >= 2,
            "the id appears in id and admin_graphql_api_id"
        );
        let body: serde_json::Value =
            serde_json::from_slice(&t.stamp(FIRST_ID + 123_456)).unwrap_or_default();
        assert_eq!(body["id"], json!(FIRST_ID + 123_456));
        assert_eq!(
            body["admin_graphql_api_id"],
            json!(format!("gid://shopify/Order/{}", FIRST_ID + 123_456))
        );
        assert_eq!(body["customer"]["id"], json!(7_000_000_007u64));
    }
}
