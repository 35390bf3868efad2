//! Tenants and the fields a merchant types at registration, parsed once at the edge.

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::TenantId;

/// Why a field was refused; `code` is the API's `error.code`, `message` never echoes the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(code: &'static str, message: impl Into<String>) -> FieldError {
        FieldError {
            code,
            message: message.into(),
        }
    }

    fn too_long(field: &str, max: usize) -> FieldError {
        FieldError::new(
            "field_too_long",
            format!("{field} must be at most {max} characters"),
        )
    }
}

/// A login email: trimmed, lower-cased, one `@`, a dotted domain, at most 254 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    pub const MAX: usize = 254;

    pub fn parse(raw: &str) -> Result<Email, FieldError> {
        // Lower-cased before the checks: lower-casing can lengthen text ('Ⱥ' is 2 bytes, 'ⱥ' 3),
        // so what is checked is what is kept, and parsing a parsed address gives it back.
        let s = raw.trim().to_lowercase();
        let s = s.as_str();
        if s.chars().count() > Self::MAX {
            return Err(FieldError::too_long("email", Self::MAX));
        }
        let bad = || FieldError::new("invalid_email", "email is not a valid address");
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let ok = !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && s.chars().all(|c| !c.is_whitespace() && !c.is_control());
        if !ok {
            return Err(bad());
        }
        Ok(Email(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A shop's permanent domain, `<name>.myshopify.com`, lower-cased.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShopDomain(String);

impl ShopDomain {
    pub const MAX: usize = 255;

    pub fn parse(raw: &str) -> Result<ShopDomain, FieldError> {
        let s = raw.trim().to_ascii_lowercase();
        if s.len() > Self::MAX {
            return Err(FieldError::too_long("shop_domain", Self::MAX));
        }
        let name = s.strip_suffix(".myshopify.com").unwrap_or_default();
        let ok = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !ok {
            return Err(FieldError::new(
                "invalid_shop_domain",
                "shop_domain must look like your-shop.myshopify.com",
            ));
        }
        Ok(ShopDomain(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShopDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The merchant's display name: 1 to 200 characters after trimming.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantName(String);

impl TenantName {
    pub const MAX: usize = 200;

    pub fn parse(raw: &str) -> Result<TenantName, FieldError> {
        let s = raw.trim();
        if s.chars().count() > Self::MAX {
            return Err(FieldError::too_long("name", Self::MAX));
        }
        if s.is_empty() || s.chars().any(char::is_control) {
            return Err(FieldError::new(
                "invalid_name",
                "name must be non-empty text",
            ));
        }
        Ok(TenantName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 10 to 256 characters. Never logged, never echoed (its Debug is redacted).
pub struct Password(SecretString);

impl Password {
    pub const MIN: usize = 10;
    pub const MAX: usize = 256;

    pub fn parse(raw: SecretString) -> Result<Password, FieldError> {
        let n = raw.expose_secret().chars().count();
        if n > Self::MAX {
            return Err(FieldError::too_long("password", Self::MAX));
        }
        if n < Self::MIN {
            return Err(FieldError::new(
                "invalid_password",
                format!("password must be at least {} characters", Self::MIN),
            ));
        }
        Ok(Password(raw))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// A tenant as stored (the profile item).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    /// The login email; `None` for a tenant created by an install until its login is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub shop_domain: String,
    pub created_at: DateTime<Utc>,
    /// Argon2id PHC string; empty while the tenant has no login (nothing verifies against it).
    pub password_hash: String,
}

/// Where a tenant stands with the shop it names (`GET /tenants/me`'s `shop_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShopStatus {
    /// Registered with the shop, not proven yet.
    Claimed,
    /// Proven: the tenant connected the shop (OAuth, or a token the shop accepted).
    Connected,
    /// Another tenant proved the shop; this one no longer holds it.
    Released,
}

impl ShopStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ShopStatus::Claimed => "claimed",
            ShopStatus::Connected => "connected",
            ShopStatus::Released => "released",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Jon@Example.COM ").unwrap().as_str(),
            "jon@example.com"
        );
    }

    #[test]
    fn malformed_emails_are_refused_with_a_code() {
        for bad in [
            "",
            "jon",
            "@example.com",
            "jon@",
            "jon@example",
            "jo n@example.com",
            "a@b@c.com",
            "jon@.com",
            "jon@example..com",
        ] {
            assert_eq!(
                Email::parse(bad).unwrap_err().code,
                "invalid_email",
                "{bad}"
            );
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long).unwrap_err().code, "field_too_long");
    }

    #[test]
    fn only_myshopify_domains_are_shops() {
        assert_eq!(
            ShopDomain::parse("Snow-Devil.myshopify.com")
                .unwrap()
                .as_str(),
            "snow-devil.myshopify.com"
        );
        for bad in [
            "snowdevil.com",
            ".myshopify.com",
            "a.b.myshopify.com",
            "-x.myshopify.com",
            "snowdevil.myshopify.com.evil.com",
            "x_y.myshopify.com",
        ] {
            assert_eq!(
                ShopDomain::parse(bad).unwrap_err().code,
                "invalid_shop_domain",
                "{bad}"
            );
        }
    }

    #[test]
    fn passwords_under_ten_characters_are_refused_and_never_shown() {
        let e = Password::parse("short".into()).unwrap_err();
        assert_eq!(e.code, "invalid_password");
        assert!(!e.message.contains("short"));
        let p = Password::parse("long enough password".into()).unwrap();
        assert!(!format!("{p:?}").contains("long enough"));
    }

    #[test]
    fn an_address_that_lower_casing_lengthens_parses_to_itself() {
        // 'Ⱥ' lower-cases to a longer 'ⱥ': 32 of them fit 64 bytes only before lower-casing.
        let raw = format!("{}@example.com", "Ⱥ".repeat(32));
        assert!(Email::parse(&raw).is_err());
        let fits = format!("{}@example.com", "Ⱥ".repeat(21));
        let e = Email::parse(&fits).unwrap();
        assert_eq!(Email::parse(e.as_str()).unwrap(), e);
    }

    proptest! {
        #[test]
        fn email_parsing_never_panics_and_is_idempotent(s in "\\PC{0,80}") {
            if let Ok(e) = Email::parse(&s) {
                prop_assert_eq!(Email::parse(e.as_str()).unwrap(), e);
            }
        }

        #[test]
        fn shop_domain_parsing_never_panics_and_is_idempotent(s in "[a-zA-Z0-9.-]{0,40}(\\.myshopify\\.com)?") {
            if let Ok(d) = ShopDomain::parse(&s) {
                prop_assert_eq!(ShopDomain::parse(d.as_str()).unwrap(), d);
            }
        }
    }
}
