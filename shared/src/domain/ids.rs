//! Identifier newtypes: tenants and Shopify resources, both 64-bit, both shown as strings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A tenant (one merchant account). Random 64-bit, shown as a decimal string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TenantId(u64);

impl TenantId {
    pub fn new(raw: u64) -> TenantId {
        TenantId(raw)
    }

    /// A fresh random id (from the OS's CSPRNG, so ids reveal nothing about each other).
    pub fn random() -> Result<TenantId, getrandom::Error> {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b)?;
        // Keep ids at 1..2^63 so they are positive in every language that reads them.
        Ok(TenantId((u64::from_le_bytes(b) >> 1).max(1)))
    }

    pub fn get(self) -> u64 {
        self.0
    }

    /// Parses the decimal text form.
    pub fn parse(text: &str) -> Option<TenantId> {
        parse_u64(text).map(TenantId)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A Shopify resource id (order, customer, product...): 64-bit, beyond JavaScript's safe
/// integers, so always a string in responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ShopifyId(u64);

impl ShopifyId {
    pub fn new(raw: u64) -> ShopifyId {
        ShopifyId(raw)
    }

    pub fn get(self) -> u64 {
        self.0
    }

    /// Parses the decimal text form, or the numeric tail of a GraphQL id
    /// (`gid://shopify/Order/820982911946154508`).
    pub fn parse(text: &str) -> Option<ShopifyId> {
        let tail = text
            .strip_prefix("gid://shopify/")
            .and_then(|rest| rest.rsplit('/').next())
            .unwrap_or(text);
        parse_u64(tail).map(ShopifyId)
    }
}

impl fmt::Display for ShopifyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Strict decimal: ASCII digits only, no sign, no leading zeros (one text per value), fits u64.
fn parse_u64(text: &str) -> Option<u64> {
    let ok = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if ok { u64::from_str(text).ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_shopify_id_round_trips_through_its_text(n in any::<u64>()) {
            prop_assert_eq!(ShopifyId::parse(&ShopifyId::new(n).to_string()), Some(ShopifyId::new(n)));
            let gid = format!("gid://shopify/Order/{n}");
            prop_assert_eq!(ShopifyId::parse(&gid), Some(ShopifyId::new(n)));
        }

        #[test]
        fn text_that_is_not_a_canonical_number_is_not_an_id(s in "\\PC{0,24}") {
            if let Some(id) = ShopifyId::parse(&s) {
                let canonical = id.to_string();
                let tail = format!("/{}", canonical);
                prop_assert!(s == canonical || s.ends_with(&tail));
            }
        }
    }

    #[test]
    fn ids_past_javascripts_safe_integers_parse_exactly() {
        assert_eq!(
            ShopifyId::parse("820982911946154508").map(ShopifyId::get),
            Some(820982911946154508)
        );
        assert_eq!(ShopifyId::parse("18446744073709551616"), None);
        assert_eq!(ShopifyId::parse("-1"), None);
        assert_eq!(ShopifyId::parse("0012"), None);
    }
}
