//! The machine's no-durability ceiling for signed webhooks, measured beside `insights serve` by the
//! same external load generator (`insights bench webhooks --url`, docs/benchmarks.md): HTTP/1.1 on
//! axum, the Shopify HMAC of the raw body checked, the order parsed into a typed projection, and the
//! projection inserted into a map keyed by event id (a redelivery answers `duplicate`). No store, no
//! fsync, no tenant lookup, no logging: whatever `insights serve` spends beyond this is the price of
//! durability and of the service's rules.
//!
//! `SHOPIFY_API_SECRET=... ceiling --port 18610`

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;

#[derive(Deserialize)]
#[allow(dead_code)] // held, never read: the insert is the point
struct Customer {
    id: u64,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Line {
    product_id: Option<u64>,
    quantity: u32,
    price: String,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Order {
    id: u64,
    created_at: String,
    updated_at: String,
    currency: String,
    total_price: String,
    cancelled_at: Option<String>,
    customer: Option<Customer>,
    line_items: Vec<Line>,
}

#[derive(Clone)]
struct Ceiling {
    secret: Arc<Vec<u8>>,
    orders: Arc<Mutex<HashMap<String, Order>>>,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn orders(
    State(c): State<Ceiling>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let signed = header(&headers, "x-shopify-hmac-sha256")
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .is_some_and(|tag| {
            Hmac::<sha2::Sha256>::new_from_slice(&c.secret)
                .map(|mac| mac.chain_update(&body).verify_slice(&tag).is_ok())
                .unwrap_or(false)
        });
    if !signed {
        return (StatusCode::UNAUTHORIZED, r#"{"error":"invalid_signature"}"#);
    }
    let Some(event) = header(&headers, "x-shopify-event-id") else {
        return (StatusCode::BAD_REQUEST, r#"{"error":"missing_event_id"}"#);
    };
    let Ok(order) = serde_json::from_slice::<Order>(&body) else {
        return (StatusCode::BAD_REQUEST, r#"{"error":"invalid_payload"}"#);
    };
    let mut map = match c.orders.lock() {
        Ok(m) => m,
        Err(poisoned) => poisoned.into_inner(),
    };
    if map.contains_key(event) {
        return (StatusCode::OK, r#"{"result":"duplicate"}"#);
    }
    map.insert(event.to_owned(), order);
    (StatusCode::OK, r#"{"result":"applied"}"#)
}

/// The load generator registers a merchant first; here there is nobody to register.
async fn register() -> (StatusCode, &'static str) {
    (StatusCode::CREATED, "{}")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("SHOPIFY_API_SECRET")
        .map_err(|_| "set SHOPIFY_API_SECRET (the secret the load generator signs with)")?;
    let mut port = 18610u16;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--port", Some(p)) => port = p.parse()?,
            _ => return Err("usage: ceiling [--port N]".into()),
        }
    }
    let state = Ceiling {
        secret: Arc::new(secret.into_bytes()),
        orders: Arc::default(),
    };
    let app = Router::new()
        .route("/webhooks/orders", post(orders))
        .route("/auth/register", post(register))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    eprintln!("ceiling listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
