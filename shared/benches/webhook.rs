//! Handler CPU for one `orders/create` delivery without storage: signature check over the raw body,
//! header lookups, topic routing and parsing into the projection that gets applied.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderMap;
use shared::ingest::{Parsed, parse_delivery, verify};
use std::hint::black_box;

fn fixture() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/shopify/orders-create.json"
    ))
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let body = fixture();
    let secret = b"hush-this-is-a-test-secret";
    let mut headers = HeaderMap::new();
    headers.insert("x-shopify-topic", "orders/create".parse().unwrap());
    headers.insert(
        "x-shopify-shop-domain",
        "snowdevil.myshopify.com".parse().unwrap(),
    );
    headers.insert(
        "x-shopify-event-id",
        "b5bd6a8e-8ef5-4a3e-8b6c-6b9d3f6c6a9a".parse().unwrap(),
    );
    headers.insert(
        "x-shopify-hmac-sha256",
        verify::sign(secret, &body).parse().unwrap(),
    );
    let now = chrono::Utc::now();

    c.bench_function("webhook orders/create: verify + parse (no storage)", |b| {
        b.iter(|| {
            let sig = verify::header(&headers, "hmac-sha256").unwrap();
            assert!(verify::hmac_matches(secret, black_box(&body), sig));
            let parsed = parse_delivery(None, &headers, black_box(&body), now).unwrap();
            assert!(matches!(parsed, Parsed::Change { .. }));
            black_box(parsed)
        })
    });
    c.bench_function("hmac-sha256 of orders-create.json", |b| {
        b.iter(|| verify::sign(secret, black_box(&body)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
