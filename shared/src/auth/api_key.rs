//! API keys: 32 random bytes behind a recognizable prefix, shown once, stored only as a SHA-256.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Every key starts with this, so a leaked key is easy to recognize (and for secret scanners).
pub const PREFIX: &str = "sik_";

/// A fresh key and the hash to store. The key itself is returned to the merchant once.
pub fn generate() -> Result<(String, String), getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let key = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let h = hash(&key);
    Ok((key, h))
}

/// The stored form of a key: lowercase hex SHA-256. A fast hash is right here: the key has 256
/// bits of entropy, so there is nothing to brute-force.
pub fn hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Cheap shape check before any lookup.
pub fn looks_like_key(key: &str) -> bool {
    key.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_random_and_stored_only_as_their_hash() {
        let (k1, h1) = generate().unwrap();
        let (k2, _) = generate().unwrap();
        assert!(looks_like_key(&k1), "{k1}");
        assert_ne!(k1, k2);
        assert_eq!(h1, hash(&k1));
        assert_eq!(h1.len(), 64);
        assert!(!h1.contains(&k1[PREFIX.len()..]));
    }
}
