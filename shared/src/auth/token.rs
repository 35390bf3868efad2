//! Access tokens: HS256 JWTs with `sub` (tenant), `iat`, `exp` and `iss`, all required.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::domain::TenantId;

/// The issuer every token carries and every check requires.
pub const ISSUER: &str = "shopify-insights";
/// How long a token lives: a working day.
pub const TOKEN_TTL_SECONDS: i64 = 8 * 3600;

fn mac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut h = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(h) => h,
        Err(_) => return [0; 32],
    };
    h.update(data);
    h.finalize().into_bytes().into()
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
    iss: String,
}

/// The signing key and the validation rules, built once per process.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// A key derived from the signing key for sealing opaque values (page cursors).
    seal_key: Vec<u8>,
}

/// Why a token was refused. Deliberately coarse: the client learns only "401".
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token refused")]
    Refused,
    #[error("token could not be signed")]
    Sign,
}

/// The shortest signing secret accepted: HS256's key should be at least as long as its hash.
pub const MIN_SECRET_BYTES: usize = 32;

impl TokenKeys {
    /// Keys from the HS256 secret, refused when shorter than [`MIN_SECRET_BYTES`].
    pub fn from_secret(secret: &SecretString) -> Result<TokenKeys, &'static str> {
        if secret.expose_secret().len() < MIN_SECRET_BYTES {
            return Err("a token signing secret needs at least 32 bytes");
        }
        Ok(TokenKeys::new(secret))
    }

    /// Keys from the HS256 secret (use [`TokenKeys::from_secret`] for one read from outside).
    pub fn new(secret: &SecretString) -> TokenKeys {
        let bytes = secret.expose_secret().as_bytes();
        // Only HS256: a token naming any other algorithm (or `none`) fails before its signature
        // is looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 30;
        validation.validate_exp = true;
        let seal_key = mac(bytes, b"insights/seal/v1").to_vec();
        TokenKeys {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            seal_key,
        }
    }

    /// `payload` made opaque and tamper-evident: base64url(payload).base64url(HMAC).
    pub fn seal(&self, payload: &[u8]) -> String {
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(mac(&self.seal_key, payload))
        )
    }

    /// The payload of a value made by [`TokenKeys::seal`] with this key; `None` if altered.
    pub fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        let (p, m) = sealed.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(p).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(m).ok()?;
        let mut h = Hmac::<Sha256>::new_from_slice(&self.seal_key).ok()?;
        h.update(&payload);
        // Constant-time comparison.
        h.verify_slice(&tag).ok()?;
        Some(payload)
    }

    /// A token for `tenant` issued at `now`, and its lifetime in seconds.
    pub fn issue(&self, tenant: TenantId, now: DateTime<Utc>) -> Result<(String, i64), TokenError> {
        let iat = now.timestamp();
        let claims = Claims {
            sub: tenant.to_string(),
            iat,
            exp: iat + TOKEN_TTL_SECONDS,
            iss: ISSUER.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Sign)?;
        Ok((token, TOKEN_TTL_SECONDS))
    }

    /// The tenant a valid token names.
    pub fn verify(&self, token: &str) -> Result<TenantId, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Refused)?;
        TenantId::parse(&data.claims.sub).ok_or(TokenError::Refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signing_secret_shorter_than_32_bytes_is_refused() {
        assert!(TokenKeys::from_secret(&SecretString::from("a")).is_err());
        assert!(TokenKeys::from_secret(&SecretString::from("x".repeat(31))).is_err());
        assert!(TokenKeys::from_secret(&SecretString::from("x".repeat(32))).is_ok());
    }

    #[test]
    fn a_sealed_value_opens_only_unaltered_and_only_under_its_key() {
        let k = keys(SECRET);
        let sealed = k.seal(b"page 2");
        assert_eq!(k.open(&sealed).as_deref(), Some(&b"page 2"[..]));
        let (p, m) = sealed.split_once('.').unwrap();
        let forged = format!("{}.{m}", URL_SAFE_NO_PAD.encode(b"page 3"));
        assert_eq!(k.open(&forged), None);
        assert_eq!(k.open(p), None);
        assert_eq!(
            keys("another key of thirty-two bytes!!").open(&sealed),
            None
        );
    }

    fn keys(secret: &str) -> TokenKeys {
        TokenKeys::new(&SecretString::from(secret.to_owned()))
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_token_names_the_tenant_it_was_issued_for() {
        let k = keys(SECRET);
        let (t, ttl) = k.issue(TenantId::new(42), Utc::now()).unwrap();
        assert_eq!(k.verify(&t).unwrap(), TenantId::new(42));
        assert_eq!(ttl, TOKEN_TTL_SECONDS);
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let (t, _) = keys("another key of thirty-two bytes!!")
            .issue(TenantId::new(1), Utc::now())
            .unwrap();
        assert!(keys(SECRET).verify(&t).is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let k = keys(SECRET);
        let (t, _) = k
            .issue(TenantId::new(1), Utc::now() - chrono::Duration::hours(9))
            .unwrap();
        assert!(k.verify(&t).is_err());
    }

    #[test]
    fn an_unsigned_alg_none_token_is_refused() {
        let k = keys(SECRET);
        let (t, _) = k.issue(TenantId::new(1), Utc::now()).unwrap();
        let payload = t.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(k.verify(&format!("{header}.{payload}.")).is_err());
        assert!(k.verify(&format!("{header}.{payload}")).is_err());
    }

    #[test]
    fn a_token_missing_its_issuer_is_refused() {
        #[derive(Serialize)]
        struct NoIss {
            sub: String,
            iat: i64,
            exp: i64,
        }
        let now = Utc::now().timestamp();
        let t = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &NoIss {
                sub: "1".into(),
                iat: now,
                exp: now + 60,
            },
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert!(keys(SECRET).verify(&t).is_err());
    }

    #[test]
    fn a_token_of_another_hmac_algorithm_is_refused() {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: "1".into(),
            iat: now,
            exp: now + 60,
            iss: ISSUER.into(),
        };
        let t = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert!(keys(SECRET).verify(&t).is_err());
    }
}
