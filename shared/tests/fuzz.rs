//! Fuzz drivers (proptest; no nightly toolchain here for cargo-fuzz): every parser that takes
//! bytes from a client or from Shopify, fed arbitrary and near-valid input, must answer (an `Ok` or
//! an error) without panicking. CI runs a bounded pass (`FUZZ_CASES`, 2,000 per target by default);
//! a long run is `FUZZ_CASES=1000000 cargo test --release -p shared --test fuzz` (docs/fuzzing.md).
//! Failures proptest finds are kept in `fuzz.proptest-regressions` and replayed first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{NaiveDate, Utc};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use secrecy::SecretString;
use shared::auth::token::TokenKeys;
use shared::dashboard::query::{OrdersByDateQuery, TopCustomersQuery};
use shared::ingest::{Family, payload, verify};
use shared::install::query;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    }
}

/// Bytes that are sometimes JSON-shaped: a valid order with one field replaced by anything, or
/// anything at all.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let fixture: serde_json::Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/shopify/orders-create.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let keys: Vec<String> = fixture.as_object().unwrap().keys().cloned().collect();
    let json_value = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        ".{0,40}".prop_map(serde_json::Value::from),
        prop::collection::vec(".{0,10}", 0..4).prop_map(|v| serde_json::json!(v)),
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2_000),
        ".{0,400}".prop_map(String::into_bytes),
        (prop::sample::select(keys), json_value).prop_map(move |(k, v)| {
            let mut o = fixture.clone();
            o[k.as_str()] = v;
            serde_json::to_vec(&o).unwrap()
        }),
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,80}",
        Just("orders/create".to_owned()),
        Just("orders/delete".to_owned()),
        Just("customers/redact".to_owned()),
        Just("shop/redact".to_owned()),
        Just("2026-11-25T03:41:07-05:00".to_owned()),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn webhook_parsing_never_panics(
        body in body(),
        topic in header_value(),
        event_id in header_value(),
        triggered in header_value(),
        family in prop::option::of(prop::sample::select(vec![
            Family::Orders, Family::Customers, Family::Products, Family::Compliance,
        ])),
        legacy in any::<bool>(),
    ) {
        let mut h = HeaderMap::new();
        let name = |n: &str| {
            let n = if legacy { format!("X-Shopify-{n}") } else { format!("shopify-{n}") };
            HeaderName::from_bytes(n.as_bytes()).unwrap()
        };
        for (n, v) in [("Topic", &topic), ("Event-Id", &event_id), ("Triggered-At", &triggered)] {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(name(n), v);
            }
        }
        let _ = shared::ingest::parse_delivery(family, &h, &body, Utc::now());
        let _ = payload::order(&body);
        let _ = payload::customer(&body);
        let _ = payload::product(&body);
        let _ = payload::deleted_id(&body);
        let _ = payload::redacted_customer(&body);
        let _ = payload::data_request(&body);
    }

    #[test]
    fn hmac_checks_in_either_header_form_never_panic_and_only_the_right_signature_passes(
        body in prop::collection::vec(any::<u8>(), 0..512),
        sig in "[ -~]{0,100}",
        legacy in any::<bool>(),
    ) {
        let secret = b"fuzz-secret";
        let mut h = HeaderMap::new();
        let n = if legacy { "X-Shopify-Hmac-Sha256" } else { "shopify-hmac-sha256" };
        if let Ok(v) = HeaderValue::from_str(&sig) {
            h.insert(HeaderName::from_bytes(n.as_bytes()).unwrap(), v);
        }
        let given = verify::header(&h, "hmac-sha256").unwrap_or_default();
        let right = verify::sign(secret, &body);
        prop_assert_eq!(verify::hmac_matches(secret, &body, given), given == right);
        prop_assert!(verify::hmac_matches(secret, &body, &right));
    }

    #[test]
    fn token_and_cursor_decoding_never_panic_nor_accept_garbage(
        text in prop_oneof!["[ -~]{0,300}", "[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,60}"],
    ) {
        let keys = TokenKeys::from_secret(&SecretString::from("fuzz-signing-secret-of-32-bytes!!")).unwrap();
        prop_assert!(keys.verify(&text).is_err());
        prop_assert!(keys.open(&text).is_none());
        // What was sealed opens, and only under its own key.
        let sealed = keys.seal(text.as_bytes());
        prop_assert_eq!(keys.open(&sealed), Some(text.as_bytes().to_vec()));
    }

    #[test]
    fn query_parsing_never_panics(
        q in prop_oneof![
            "[ -~]{0,200}",
            "(from=[0-9-]{0,12}&)?(to=[0-9-]{0,12}&)?(limit=-?[0-9]{0,25}&)?(cursor=[ -~]{0,20})?",
        ],
    ) {
        let today = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let _ = OrdersByDateQuery::parse(Some(&q), today);
        let _ = TopCustomersQuery::parse(Some(&q));
        let params = query::parse(Some(&q));
        let _ = query::verify(b"fuzz-secret", &params);
        let _ = query::message(&params);
    }

    #[test]
    fn the_bulk_jsonl_splitter_never_panics_and_never_holds_more_than_its_bound(
        chunks in prop::collection::vec(
            "[a-z{}\\n]{0,100}".prop_map(String::into_bytes),
            0..8,
        ),
    ) {
        let mut lines = shared::sync::bulk::Lines::new(256);
        let mut total = 0usize;
        for c in &chunks {
            match lines.push(c) {
                Ok(done) => total += done.iter().map(|l| l.len() + 1).sum::<usize>(),
                Err(_) => return Ok(()),
            }
        }
        let rest = lines.finish().map_or(0, |l| l.len());
        prop_assert!(rest <= 256);
        prop_assert_eq!(total + rest, chunks.iter().map(Vec::len).sum::<usize>());
    }
}
