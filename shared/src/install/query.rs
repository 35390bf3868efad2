//! Shopify's query `hmac` (install and callback URLs): hex HMAC-SHA256, under the app secret, of
//! every other query parameter (URL-decoded) sorted by name, `k=v` joined by `&`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The decoded query parameters, in the order they came.
pub type Params = Vec<(String, String)>;

/// Decodes a raw query string (`a=1&b=%20`).
pub fn parse(raw: Option<&str>) -> Params {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of `name`.
pub fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The message Shopify signs: every parameter but `hmac` (and the legacy `signature`), sorted by
/// name then value, `k=v` joined by `&`.
pub fn message(params: &Params) -> String {
    let mut rest: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "hmac" && k != "signature")
        .collect();
    rest.sort();
    rest.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn mac(secret: &[u8], message: &str) -> Option<Vec<u8>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(message.as_bytes());
    Some(mac.finalize().into_bytes().to_vec())
}

/// The hex `hmac` Shopify would send with these parameters.
pub fn sign(secret: &[u8], params: &Params) -> String {
    mac(secret, &message(params))
        .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
        .unwrap_or_default()
}

/// Whether the parameters carry exactly one `hmac`, and it is theirs (constant-time compare).
pub fn verify(secret: &[u8], params: &Params) -> bool {
    let mut given = params.iter().filter(|(k, _)| k == "hmac");
    let (Some((_, hex)), None) = (given.next(), given.next()) else {
        return false;
    };
    let Some(given) = decode_hex(hex) else {
        return false;
    };
    let Some(expected) = mac(secret, &message(params)) else {
        return false;
    };
    expected.ct_eq(&given).into()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"hush";

    fn signed(mut params: Params) -> Params {
        let h = sign(SECRET, &params);
        params.push(("hmac".into(), h));
        params
    }

    #[test]
    fn shopifys_documented_example_verifies() {
        // shopify.dev "Verify a request": code, shop, state, timestamp under secret "hush".
        let params = parse(Some(
            "code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173",
        ));
        assert!(verify(SECRET, &params));
    }

    #[test]
    fn a_missing_repeated_or_malformed_hmac_is_refused() {
        let p = vec![("shop".to_owned(), "a.myshopify.com".to_owned())];
        assert!(!verify(SECRET, &p));
        let mut twice = signed(p.clone());
        twice.push(twice[1].clone());
        assert!(!verify(SECRET, &twice));
        let mut bad = p;
        bad.push(("hmac".into(), "zz".repeat(32)));
        assert!(!verify(SECRET, &bad));
    }

    fn params() -> impl Strategy<Value = Params> {
        proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{0,12}", 0..6).prop_map(|m| {
            m.into_iter()
                .filter(|(k, _)| k != "hmac" && k != "signature")
                .collect()
        })
    }

    proptest! {
        #[test]
        fn any_params_in_any_order_verify_once_signed(p in params(), seed in any::<u64>()) {
            let mut s = signed(p);
            // Any order: rotate and reverse by the seed.
            let n = s.len();
            s.rotate_left((seed as usize) % n.max(1));
            if seed % 2 == 0 { s.reverse(); }
            // Through the URL and back: values are compared decoded.
            let raw: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(&s).finish();
            prop_assert!(verify(SECRET, &parse(Some(&raw))));
        }

        #[test]
        fn any_single_change_is_refused(p in params(), which in any::<usize>(), kind in 0u8..4, extra in "[a-z0-9]{1,6}") {
            let mut s = signed(p);
            let n = s.len();
            let i = which % n;
            match kind {
                // Change a value (the hmac itself included).
                0 => s[i].1.push_str(&extra),
                // Rename a parameter.
                1 if s[i].0 != "hmac" => s[i].0.push_str(&extra),
                // Drop a parameter other than the hmac.
                2 if s[i].0 != "hmac" => { s.remove(i); }
                // Add one.
                _ => s.push((format!("x{extra}"), extra.clone())),
            }
            prop_assert!(!verify(SECRET, &s));
        }

        #[test]
        fn another_secret_is_refused(p in params()) {
            prop_assert!(!verify(b"other", &signed(p)));
        }
    }
}
