//! A checkout as the funnel sees it: what its webhooks said (last writer wins on `updated_at`),
//! what its pixel events showed (facts that only ever become true), the order that carried its
//! token, and the abandonment the job recorded, merged so that any order of arrival ends in the
//! same state. What a checkout adds to its creation day's funnel counters follows from that state
//! alone ([`Checkout::contribution`]), so every write adds "new − old" as orders do.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::Version;

/// The longest checkout token kept (Shopify's are 32 hex characters).
pub const MAX_TOKEN_CHARS: usize = 128;

/// A checkout token usable in a key: 1 to 128 of `[A-Za-z0-9_-]`.
pub fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A recovery link is only kept when it is Shopify's own https address, and not overlong.
pub fn keep_recovery_url(url: String) -> Option<String> {
    (url.starts_with("https://") && url.len() <= 2048 && !url.chars().any(char::is_control))
        .then_some(url)
}

/// The checkout token in a recovery link: the path segment before the final `recover`, after a
/// `checkouts` segment (`https://{shop}/{shop id}/checkouts/{token}/recover?key=..`, or with a
/// prefix segment as in `/checkouts/ac/{token}/recover`). The Admin API's `AbandonedCheckout`
/// carries no `token` field: this is how a synced checkout joins its webhooks, pixel events and
/// order.
pub fn token_from_recovery_url(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let path = rest.split(['?', '#']).next()?;
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let recover = segments.iter().rposition(|s| *s == "recover")?;
    let token = *segments.get(recover.checked_sub(1)?)?;
    let checkouts = segments[..recover - 1].contains(&"checkouts");
    (checkouts && valid_token(token)).then(|| token.to_owned())
}

/// One `checkouts/create|update` delivery (or a synced `AbandonedCheckout`), projected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutVersion {
    pub token: String,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
    pub completed_at: Option<DateTime<FixedOffset>>,
    /// It carries an email or a phone.
    pub contact: bool,
    pub total: Option<Decimal>,
    pub currency: Option<String>,
    pub recovery_url: Option<String>,
}

impl CheckoutVersion {
    pub fn version(&self) -> Version {
        let content = format!(
            "{}|{:?}|{}|{:?}|{:?}|{:?}",
            self.created_at.to_rfc3339(),
            self.completed_at.map(|t| t.to_rfc3339()),
            self.contact,
            self.total,
            self.currency,
            self.recovery_url,
        );
        Version::of_update(self.updated_at.with_timezone(&Utc), &content)
    }
}

/// What a checkout pixel event tells about its checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutSighting {
    pub token: String,
    pub at: DateTime<Utc>,
    /// The shop zone's offset at `at` (a pixel's time is UTC, dated in the shop's zone).
    pub offset: FixedOffset,
    pub contact: bool,
    pub completed: bool,
    pub total: Option<Decimal>,
    pub currency: Option<String>,
}

/// The webhook side: the newest version received (or its deletion, which clears it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookState {
    pub version: String,
    pub updated_at: Option<DateTime<FixedOffset>>,
    pub contact: bool,
    pub total: Option<Decimal>,
    pub currency: Option<String>,
    pub recovery_url: Option<String>,
    pub deleted: bool,
}

/// The pixel side: facts that only become true, the newest time, the newest total.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PixelFacts {
    pub contact: bool,
    pub completed: bool,
    pub last_at: Option<DateTime<Utc>>,
    /// The total of the newest sighting that carried one (ties: the larger amount).
    pub total: Option<(DateTime<Utc>, Decimal, Option<String>)>,
}

/// The order that carried this checkout's token (last writer wins on the order's version).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFact {
    pub id: u64,
    pub version: String,
    pub total: Decimal,
    pub currency: Option<String>,
}

/// Recorded by the abandonment job, once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Abandonment {
    pub at: DateTime<Utc>,
    pub value: Decimal,
    pub currency: Option<String>,
}

/// A checkout, merged from every source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkout {
    pub token: String,
    /// The earliest creation any checkout source gave (webhook `created_at`, or a pixel event's
    /// time in the shop's zone), with its offset: its date is the day the checkout counts on.
    pub created_at: Option<DateTime<FixedOffset>>,
    /// The earliest `completed_at` any version carried: completion is a fact, not a field a later
    /// version (or a deletion) takes back.
    pub completed_at: Option<DateTime<FixedOffset>>,
    pub webhook: Option<WebhookState>,
    #[serde(default)]
    pub pixel: PixelFacts,
    pub order: Option<OrderFact>,
    pub abandoned: Option<Abandonment>,
}

/// What a checkout adds to its creation day's funnel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckoutCounts {
    pub date: NaiveDate,
    pub completed: bool,
    pub abandoned: Option<Decimal>,
    pub recovered: Option<Decimal>,
}

/// The earlier of two creation times (ties: the smaller offset, so the choice never depends on
/// which arrived first).
fn earliest(
    a: Option<DateTime<FixedOffset>>,
    b: DateTime<FixedOffset>,
) -> Option<DateTime<FixedOffset>> {
    Some(match a {
        Some(a) if (a, a.offset().local_minus_utc()) <= (b, b.offset().local_minus_utc()) => a,
        _ => b,
    })
}

impl Checkout {
    pub fn new(token: &str) -> Checkout {
        Checkout {
            token: token.to_owned(),
            ..Checkout::default()
        }
    }

    /// Applies a webhook version: its creation and completion always (facts), the rest only when
    /// newer than what is held. False when nothing changed.
    pub fn apply_version(&mut self, v: &CheckoutVersion) -> bool {
        let before = self.clone();
        self.created_at = earliest(self.created_at, v.created_at);
        if let Some(done) = v.completed_at {
            self.completed_at = earliest(self.completed_at, done);
        }
        let version = v.version();
        let newer = self
            .webhook
            .as_ref()
            .is_none_or(|w| w.version.as_str() < version.as_str());
        if newer {
            self.webhook = Some(WebhookState {
                version: version.as_str().to_owned(),
                updated_at: Some(v.updated_at),
                contact: v.contact,
                total: v.total,
                currency: v.currency.clone(),
                recovery_url: v.recovery_url.clone(),
                deleted: false,
            });
        }
        *self != before
    }

    /// Applies a `checkouts/delete` at `at`; false when a newer version is already in. A deleted
    /// checkout still started (and maybe completed) on its day; it is only never abandoned.
    pub fn apply_deletion(&mut self, at: DateTime<Utc>) -> bool {
        let version = Version::of_deletion(at);
        if self
            .webhook
            .as_ref()
            .is_some_and(|w| w.version.as_str() >= version.as_str())
        {
            return false;
        }
        self.webhook = Some(WebhookState {
            version: version.as_str().to_owned(),
            updated_at: None,
            contact: false,
            total: None,
            currency: None,
            recovery_url: None,
            deleted: true,
        });
        true
    }

    /// Applies what a pixel event showed; false when it adds nothing.
    pub fn apply_sighting(&mut self, s: &CheckoutSighting) -> bool {
        let before = self.clone();
        self.created_at = earliest(self.created_at, s.at.with_timezone(&s.offset));
        let p = &mut self.pixel;
        p.contact |= s.contact;
        p.completed |= s.completed;
        p.last_at = p.last_at.max(Some(s.at));
        if let Some(amount) = s.total {
            let newer = p
                .total
                .as_ref()
                .is_none_or(|(at, held, _)| (s.at, amount) > (*at, *held));
            if newer {
                p.total = Some((s.at, amount, s.currency.clone()));
            }
        }
        *self != before
    }

    /// Applies the order carrying this token; false when the same or a newer version of it (or of
    /// a higher order id, should two orders name one checkout) is already in.
    pub fn apply_order(&mut self, fact: OrderFact) -> bool {
        let newer = self
            .order
            .as_ref()
            .is_none_or(|o| (fact.id, fact.version.as_str()) > (o.id, o.version.as_str()));
        if newer {
            self.order = Some(fact);
        }
        newer
    }

    pub fn deleted(&self) -> bool {
        self.webhook.as_ref().is_some_and(|w| w.deleted)
    }

    /// Completed: `completed_at`, a `checkout_completed` event, or an order with its token.
    pub fn completed(&self) -> bool {
        self.completed_at.is_some() || self.pixel.completed || self.order.is_some()
    }

    /// The buyer gave an email or a phone.
    pub fn contact(&self) -> bool {
        self.webhook.as_ref().is_some_and(|w| w.contact) || self.pixel.contact
    }

    /// Its `total_price`: the webhook's, else the newest pixel event's.
    pub fn total(&self) -> Option<(Decimal, Option<String>)> {
        self.webhook
            .as_ref()
            .and_then(|w| w.total.map(|t| (t, w.currency.clone())))
            .or_else(|| self.pixel.total.as_ref().map(|(_, t, c)| (*t, c.clone())))
    }

    pub fn recovery_url(&self) -> Option<&str> {
        self.webhook
            .as_ref()
            .and_then(|w| w.recovery_url.as_deref())
    }

    /// Its last update: the newest webhook `updated_at` or pixel event.
    pub fn last_update(&self) -> Option<DateTime<Utc>> {
        let hooked = self
            .webhook
            .as_ref()
            .and_then(|w| w.updated_at)
            .map(|t| t.with_timezone(&Utc));
        hooked.max(self.pixel.last_at)
    }

    /// When the job may abandon it: `abandon_after` after its last update, while it has contact
    /// details, is not completed, not deleted and not abandoned yet.
    pub fn due(&self, abandon_after: chrono::Duration) -> Option<DateTime<Utc>> {
        if !self.contact() || self.completed() || self.deleted() || self.abandoned.is_some() {
            return None;
        }
        self.last_update().map(|t| t + abandon_after)
    }

    /// Abandoned and then completed.
    pub fn recovered(&self) -> bool {
        self.abandoned.is_some() && self.completed()
    }

    /// What it adds to the funnel of its creation day (`None` before any checkout source dated it).
    pub fn contribution(&self) -> Option<CheckoutCounts> {
        let date = self.created_at?.date_naive();
        let recovered = self.recovered().then(|| {
            self.order
                .as_ref()
                .map(|o| o.total)
                .or_else(|| self.total().map(|(t, _)| t))
                .or_else(|| self.abandoned.as_ref().map(|a| a.value))
                .unwrap_or_default()
        });
        Some(CheckoutCounts {
            date,
            completed: self.completed(),
            abandoned: self.abandoned.as_ref().map(|a| a.value),
            recovered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap_or_default()
    }

    fn version(updated: &str, completed: bool) -> CheckoutVersion {
        CheckoutVersion {
            token: "tok".into(),
            created_at: at("2026-11-20T10:00:00-05:00"),
            updated_at: at(updated),
            completed_at: completed.then(|| at(updated)),
            contact: true,
            total: Some(Decimal::new(4200, 2)),
            currency: Some("USD".into()),
            recovery_url: None,
        }
    }

    #[test]
    fn a_checkout_without_contact_details_is_never_due() {
        let mut c = Checkout::new("tok");
        let mut v = version("2026-11-20T10:05:00-05:00", false);
        v.contact = false;
        c.apply_version(&v);
        assert_eq!(c.due(chrono::Duration::minutes(60)), None);
        v.contact = true;
        v.updated_at = at("2026-11-20T10:06:00-05:00");
        c.apply_version(&v);
        assert_eq!(
            c.due(chrono::Duration::minutes(60)),
            Some(at("2026-11-20T16:06:00Z").with_timezone(&Utc))
        );
    }

    #[test]
    fn an_older_version_arriving_late_changes_nothing() {
        let mut c = Checkout::new("tok");
        assert!(c.apply_version(&version("2026-11-20T10:10:00-05:00", true)));
        assert!(!c.apply_version(&version("2026-11-20T10:05:00-05:00", false)));
        assert!(c.completed());
    }

    #[test]
    fn a_deletion_keeps_the_start_and_stops_abandonment() {
        let mut c = Checkout::new("tok");
        c.apply_version(&version("2026-11-20T10:05:00-05:00", false));
        assert!(c.apply_deletion(at("2026-11-20T15:10:00Z").with_timezone(&Utc)));
        assert!(c.deleted());
        assert_eq!(c.due(chrono::Duration::minutes(1)), None);
        assert!(c.contribution().is_some());
        // An update older than the deletion does not bring it back.
        assert!(!c.apply_version(&version("2026-11-20T10:09:00-05:00", false)));
    }

    #[test]
    fn recovery_is_valued_at_the_order_total() {
        let mut c = Checkout::new("tok");
        c.apply_version(&version("2026-11-20T10:05:00-05:00", false));
        c.abandoned = Some(Abandonment {
            at: Utc::now(),
            value: Decimal::new(4200, 2),
            currency: Some("USD".into()),
        });
        assert!(!c.recovered());
        c.apply_order(OrderFact {
            id: 7,
            version: "v".into(),
            total: Decimal::new(3999, 2),
            currency: Some("USD".into()),
        });
        assert!(c.recovered());
        assert_eq!(
            c.contribution().unwrap().recovered,
            Some(Decimal::new(3999, 2))
        );
    }

    #[derive(Clone, Debug)]
    enum Fact {
        Version(u8, bool, bool),
        Delete(u8),
        Sighting(u8, bool, bool, u16),
        Order(u8, u16),
    }

    fn fact() -> impl Strategy<Value = Fact> {
        prop_oneof![
            (0u8..20, any::<bool>(), any::<bool>()).prop_map(|(m, c, k)| Fact::Version(m, c, k)),
            (0u8..20).prop_map(Fact::Delete),
            (0u8..20, any::<bool>(), any::<bool>(), 0u16..500)
                .prop_map(|(m, k, c, t)| Fact::Sighting(m, k, c, t)),
            (0u8..20, 0u16..500).prop_map(|(m, t)| Fact::Order(m, t)),
        ]
    }

    fn apply(c: &mut Checkout, f: &Fact) {
        let base = at("2026-11-20T10:00:00-05:00");
        let minute = |m: u8| base + chrono::Duration::minutes(i64::from(m));
        match f {
            Fact::Version(m, completed, contact) => {
                c.apply_version(&CheckoutVersion {
                    token: "tok".into(),
                    created_at: base,
                    updated_at: minute(*m),
                    completed_at: completed.then(|| minute(*m)),
                    contact: *contact,
                    total: Some(Decimal::from(*m)),
                    currency: Some("USD".into()),
                    recovery_url: None,
                });
            }
            Fact::Delete(m) => {
                c.apply_deletion(minute(*m).with_timezone(&Utc));
            }
            Fact::Sighting(m, contact, completed, total) => {
                c.apply_sighting(&CheckoutSighting {
                    token: "tok".into(),
                    at: minute(*m).with_timezone(&Utc),
                    offset: *base.offset(),
                    contact: *contact,
                    completed: *completed,
                    total: Some(Decimal::from(*total)),
                    currency: Some("USD".into()),
                });
            }
            Fact::Order(m, total) => {
                c.apply_order(OrderFact {
                    id: 1,
                    // An order's version covers its content (the total included).
                    version: format!("{m:03}#{total}"),
                    total: Decimal::from(*total),
                    currency: None,
                });
            }
        }
    }

    #[test]
    fn the_token_of_a_recovery_link_is_the_segment_before_recover() {
        let cases = [
            (
                "https://snowdevil.myshopify.com/548380009/checkouts/b490a9220cd14d7344024f4874f640a6/recover?key=abc",
                Some("b490a9220cd14d7344024f4874f640a6"),
            ),
            (
                "https://shop.example/60000000000/checkouts/ac/Z2NwLXVz_0-1/recover?key=k#top",
                Some("Z2NwLXVz_0-1"),
            ),
            ("https://shop.example/checkouts/tok/recover", Some("tok")),
            // Not a recovery link, not Shopify's form, not https, or no usable token.
            ("https://shop.example/checkouts/tok", None),
            ("https://shop.example/carts/tok/recover", None),
            ("http://shop.example/checkouts/tok/recover", None),
            ("https://shop.example/checkouts/to%20k/recover", None),
            ("https://shop.example/checkouts//recover", None),
            ("https://shop.example/recover", None),
            ("", None),
        ];
        for (url, token) in cases {
            assert_eq!(token_from_recovery_url(url).as_deref(), token, "{url}");
        }
    }

    proptest! {
        #[test]
        fn any_order_of_arrival_ends_in_the_same_checkout(
            facts in proptest::collection::vec(fact(), 1..12),
            seed in any::<u64>(),
        ) {
            let mut in_order = Checkout::new("tok");
            for f in &facts {
                apply(&mut in_order, f);
            }
            // A shuffled, partly duplicated delivery of the same facts.
            let mut shuffled: Vec<&Fact> = facts.iter().chain(facts.iter().step_by(2)).collect();
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            let mut other = Checkout::new("tok");
            for f in shuffled {
                apply(&mut other, f);
            }
            prop_assert_eq!(other, in_order);
        }

        #[test]
        fn a_recovery_link_gives_back_its_token_and_nothing_panics(
            token in "[A-Za-z0-9_-]{1,64}",
            shop_id in any::<u64>(),
            prefix in proptest::option::of("[a-z]{1,3}"),
            query in "[a-z0-9=&]{0,40}",
            junk in ".{0,80}",
        ) {
            let middle = prefix.map(|p| format!("{p}/")).unwrap_or_default();
            let url = format!("https://s.myshopify.com/{shop_id}/checkouts/{middle}{token}/recover?{query}");
            prop_assert_eq!(token_from_recovery_url(&url), Some(token));
            if let Some(t) = token_from_recovery_url(&junk) {
                prop_assert!(valid_token(&t));
            }
        }
    }
}
