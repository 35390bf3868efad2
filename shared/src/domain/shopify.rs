//! Shopify resources as the service keeps them: compact projections of what the dashboard and the
//! sync need, each with the version that orders its deliveries.

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use super::{Money, OrderSales, ShopifyId};

/// Orders deliveries of one resource: later `updated_at` wins; equal timestamps are ordered by a
/// hash of the content, so the winner never depends on arrival order; a deletion at time T beats
/// every version updated at or before T. Compared as text (fixed-width UTC, then the tie-break).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(String);

impl Version {
    fn utc(at: DateTime<Utc>) -> String {
        at.to_rfc3339_opts(SecondsFormat::Nanos, true)
    }

    /// The version of content updated at `at`, tie-broken by `content`.
    pub fn of_update(at: DateTime<Utc>, content: &str) -> Version {
        let digest = Sha256::digest(content.as_bytes());
        let tie: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Version(format!("{}#{tie}", Version::utc(at)))
    }

    /// The version of a deletion at `at`: `~` sorts above every hex tie-break.
    pub fn of_deletion(at: DateTime<Utc>) -> Version {
        Version(format!("{}#~", Version::utc(at)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A version read back from storage.
    pub fn stored(text: String) -> Version {
        Version(text)
    }
}

/// An order, projected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: ShopifyId,
    pub name: String,
    /// As Shopify sent it, offset included: the offset decides the shop-local date.
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
    /// `current_total_price` (after edits and refunds), else `total_price`.
    pub total: Money,
    pub currency: Option<String>,
    pub financial_status: Option<String>,
    pub cancelled: bool,
    pub test: bool,
    pub customer_id: Option<ShopifyId>,
    /// The checkout it completed (`checkout_token`), which joins it to the funnel.
    pub checkout_token: Option<String>,
    /// Its sale parts for the sales ledger; `None` when the source did not carry them.
    pub sales: Option<OrderSales>,
}

impl Order {
    /// The calendar date of `created_at` in the offset Shopify sent (the shop's time zone).
    pub fn local_date(&self) -> NaiveDate {
        self.created_at.date_naive()
    }

    /// The version of its fields (not its sale parts, which some sources do not carry: a synced
    /// version and a webhook version of the same update compare equal).
    pub fn version(&self) -> Version {
        Version::of_update(self.updated_at.with_timezone(&Utc), &self.content())
    }

    /// The version of its sale parts: the same instant, tie-broken by the parts too.
    pub fn sales_version(&self) -> Option<Version> {
        self.versions().1
    }

    /// [`Order::version`] and [`Order::sales_version`], formatting the order's content once.
    pub fn versions(&self) -> (Version, Option<Version>) {
        let at = self.updated_at.with_timezone(&Utc);
        let content = self.content();
        let sales = self
            .sales
            .as_ref()
            .map(|sales| Version::of_update(at, &format!("{content}|{sales:?}")));
        (Version::of_update(at, &content), sales)
    }

    fn content(&self) -> String {
        format!(
            "{}|{}|{}|{}|{:?}|{:?}|{}|{}|{:?}",
            self.name,
            self.created_at.to_rfc3339(),
            self.total.to_api(),
            self.total.amount(),
            self.currency,
            self.financial_status,
            self.cancelled,
            self.test,
            self.customer_id,
        )
    }
}

/// A customer's profile, projected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Customer {
    pub id: ShopifyId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub updated_at: DateTime<FixedOffset>,
}

impl Customer {
    pub fn version(&self) -> Version {
        let content = format!(
            "{:?}|{:?}|{:?}",
            self.first_name, self.last_name, self.email
        );
        Version::of_update(self.updated_at.with_timezone(&Utc), &content)
    }

    /// "first last", skipping what is missing.
    pub fn display_name(first: Option<&str>, last: Option<&str>) -> String {
        [first, last]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A product, projected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub id: ShopifyId,
    pub title: String,
    pub updated_at: DateTime<FixedOffset>,
}

impl Product {
    pub fn version(&self) -> Version {
        Version::of_update(self.updated_at.with_timezone(&Utc), &self.title)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_later_update_has_a_greater_version_whatever_the_offsets() {
        let a = Version::of_update(at("2026-11-24T22:41:09-05:00"), "x");
        let b = Version::of_update(at("2026-11-25T03:41:10Z"), "x");
        assert!(a < b);
    }

    #[test]
    fn a_deletion_beats_an_update_at_the_same_instant_but_not_a_later_one() {
        let t = at("2026-11-25T10:00:00Z");
        assert!(Version::of_update(t, "zzz") < Version::of_deletion(t));
        assert!(Version::of_deletion(t) < Version::of_update(at("2026-11-25T10:00:01Z"), "a"));
    }

    #[test]
    fn an_order_placed_late_in_the_evening_west_of_utc_belongs_to_its_local_day() {
        let created = DateTime::parse_from_rfc3339("2026-11-24T22:41:07-05:00").unwrap();
        let o = Order {
            id: ShopifyId::new(1),
            name: "#1".into(),
            created_at: created,
            updated_at: created,
            total: Money::ZERO,
            currency: None,
            financial_status: None,
            cancelled: false,
            test: false,
            customer_id: None,
            checkout_token: None,
            sales: None,
        };
        assert_eq!(o.local_date().to_string(), "2026-11-24");
        assert_eq!(
            created.with_timezone(&Utc).date_naive().to_string(),
            "2026-11-25"
        );
    }
}
