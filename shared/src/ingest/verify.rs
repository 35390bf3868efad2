//! Webhook authenticity: Shopify's HMAC-SHA256 of the raw body, base64, compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use sha2::Sha256;

/// True when `signature_b64` is the base64 HMAC-SHA256 of exactly `body` under `secret`.
pub fn hmac_matches(secret: &[u8], body: &[u8], signature_b64: &str) -> bool {
    let Ok(tag) = STANDARD.decode(signature_b64.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&tag).is_ok()
}

/// The signature Shopify would send for `body` (tests, `insights seed`, the load generator).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Shopify's headers by short name (`topic`, `hmac-sha256`, ...), accepting both the webhook
/// form (`X-Shopify-Topic`) and the newer events form (`shopify-topic`); names are case-insensitive.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let with_x = format!("x-shopify-{name}");
    let without = format!("shopify-{name}");
    headers
        .get(with_x.as_str())
        .or_else(|| headers.get(without.as_str()))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Whether the request carries `X-Shopify-{name}` or `shopify-{name}` at all, even empty.
pub fn present(headers: &HeaderMap, name: &str) -> bool {
    headers.contains_key(format!("x-shopify-{name}").as_str())
        || headers.contains_key(format!("shopify-{name}").as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_shared_hmac_vector_verifies_over_the_fixture_bytes() {
        let root = format!(
            "{}/../../shared/fixtures/shopify",
            env!("CARGO_MANIFEST_DIR")
        );
        let vector: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{root}/hmac-vector.json")).unwrap())
                .unwrap();
        let body = std::fs::read(format!("{root}/{}", vector["file"].as_str().unwrap())).unwrap();
        let secret = vector["secret"].as_str().unwrap().as_bytes();
        let expected = vector["hmac_sha256_base64"].as_str().unwrap();
        assert!(hmac_matches(secret, &body, expected));
        assert_eq!(sign(secret, &body), expected);
        // Re-serialized JSON is not the raw body and must not verify.
        let reserialized =
            serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(&body).unwrap())
                .unwrap();
        assert!(!hmac_matches(secret, &reserialized, expected));
        assert!(!hmac_matches(b"another secret", &body, expected));
    }

    proptest! {
        #[test]
        fn a_signature_verifies_only_its_own_body(body in proptest::collection::vec(any::<u8>(), 0..256), flip in any::<usize>()) {
            let sig = sign(b"secret", &body);
            prop_assert!(hmac_matches(b"secret", &body, &sig));
            if !body.is_empty() {
                let mut other = body.clone();
                let i = flip % other.len();
                other[i] ^= 0x01;
                prop_assert!(!hmac_matches(b"secret", &other, &sig));
            }
        }

        #[test]
        fn garbage_signatures_never_verify(sig in "\\PC{0,60}") {
            let body: &[u8] = b"{}";
            prop_assert!(!hmac_matches(b"secret", body, &sig) || sig.trim() == sign(b"secret", body));
        }
    }

    #[test]
    fn headers_are_found_with_or_without_the_x_prefix() {
        let mut h = HeaderMap::new();
        h.insert("X-Shopify-Topic", "orders/create".parse().unwrap());
        h.insert("shopify-event-id", "e1".parse().unwrap());
        assert_eq!(header(&h, "topic"), Some("orders/create"));
        assert_eq!(header(&h, "event-id"), Some("e1"));
        assert_eq!(header(&h, "hmac-sha256"), None);
    }
}
