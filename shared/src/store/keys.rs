//! The key layout: the only place keys are spelled.
//!
//! Tenant data lives in the tenant's partition `T#<tenant>`, with the item type first in the sort
//! key; GSI partitions start with the tenant too (`T#<tenant>#...`), so an IAM
//! `dynamodb:LeadingKeys` condition could fence one tenant. The only keys that do not start with a
//! tenant are the directory entries that find a tenant from what a request carries before the
//! tenant is known (an email at login, a shop domain on a webhook, an API key): `DIR#...`.
//! See `docs/data-model.md` for the access patterns.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;

use super::{Key, SortRange};
use crate::domain::{ShopifyId, TenantId};

const TENANT: &str = "T#";
const DIRECTORY: &str = "DIR#";

/// The partition holding all of a tenant's items.
pub fn tenant_partition(t: TenantId) -> String {
    format!("{TENANT}{t}")
}

/// What a sort key in a tenant partition names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantItem {
    /// The tenant's profile and credentials.
    Profile,
    /// Running totals for the dashboard.
    Totals,
    /// One shop-local day's orders and revenue.
    Day(NaiveDate),
    Order(ShopifyId),
    Customer(ShopifyId),
    Product(ShopifyId),
    /// One product's sales over every counted order (the sales ledger), ranked in gsi1.
    ProductSales(ShopifyId),
    /// An applied delivery (idempotency record, with TTL): one per topic and event id, since one
    /// merchant action sends several topics under one event id.
    Event {
        topic: String,
        id: String,
    },
    /// The shop connection (Admin API access), listed in gsi2 while connected.
    Connection,
    /// The sync's state, watermarks and checkpoint.
    SyncState,
    /// The shop's access token, encrypted (embedded store only; on AWS it is in Secrets Manager).
    ShopifyToken,
    /// A `customers/data_request`, by Shopify's data request id.
    DataRequest(ShopifyId),
    /// A `shop/redact` whose erase is not finished, listed in gsi2 until it is.
    EraseRequest,
    /// The tenant's request counter for the rate-limit window starting at this epoch second.
    RateWindow(i64),
    /// The hash of the tenant's current API key (its directory entry is the one that counts).
    ApiKey,
    /// The tenant's settings (abandon-after minutes).
    Settings,
    /// The tenant's current storefront ingest key (public; its directory entry is the one that counts).
    IngestKey,
    /// A checkout, by its token.
    Checkout(String),
    /// A storefront session: one `clientId` on one shop-local date, and what it reached.
    Session {
        date: NaiveDate,
        client: String,
    },
    /// One shop-local day's funnel counters.
    FunnelDay(NaiveDate),
    /// One entry of the event log (a storefront event or a recorded checkout event), by event id.
    LoggedEvent(String),
}

impl TenantItem {
    /// The sort key. Ids are zero-padded to 20 digits so byte order is numeric order.
    pub fn sort_key(&self) -> String {
        match self {
            TenantItem::Profile => "PROFILE".into(),
            TenantItem::Totals => "TOTALS".into(),
            TenantItem::Day(d) => format!("DAY#{}", d.format("%Y-%m-%d")),
            TenantItem::Order(id) => format!("ORDER#{:020}", id.get()),
            TenantItem::Customer(id) => format!("CUST#{:020}", id.get()),
            TenantItem::Product(id) => format!("PROD#{:020}", id.get()),
            TenantItem::ProductSales(id) => format!("PSALES#{:020}", id.get()),
            TenantItem::Event { topic, id } => format!("EVENT#{topic}#{id}"),
            TenantItem::Connection => "CONNECTION".into(),
            TenantItem::SyncState => "SYNC".into(),
            TenantItem::ShopifyToken => "SHOPIFY_TOKEN".into(),
            TenantItem::DataRequest(id) => format!("DATAREQ#{:020}", id.get()),
            TenantItem::EraseRequest => "ERASE".into(),
            TenantItem::RateWindow(start) => format!("RATE#{start}"),
            TenantItem::ApiKey => "APIKEY".into(),
            TenantItem::Settings => "SETTINGS".into(),
            TenantItem::IngestKey => "INGESTKEY".into(),
            TenantItem::Checkout(token) => format!("CHECKOUT#{token}"),
            TenantItem::Session { date, client } => {
                format!("SESSION#{}#{client}", date.format("%Y-%m-%d"))
            }
            TenantItem::FunnelDay(d) => format!("FUNNEL#{}", d.format("%Y-%m-%d")),
            TenantItem::LoggedEvent(id) => format!("EV#{id}"),
        }
    }

    /// Parses a sort key made by [`TenantItem::sort_key`].
    pub fn parse(sk: &str) -> Option<TenantItem> {
        let id = |s: &str| {
            (s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok().map(ShopifyId::new))
                .flatten()
        };
        match sk.split_once('#') {
            None => match sk {
                "PROFILE" => Some(TenantItem::Profile),
                "TOTALS" => Some(TenantItem::Totals),
                "ERASE" => Some(TenantItem::EraseRequest),
                "APIKEY" => Some(TenantItem::ApiKey),
                "SETTINGS" => Some(TenantItem::Settings),
                "INGESTKEY" => Some(TenantItem::IngestKey),
                "CONNECTION" => Some(TenantItem::Connection),
                "SYNC" => Some(TenantItem::SyncState),
                "SHOPIFY_TOKEN" => Some(TenantItem::ShopifyToken),
                _ => None,
            },
            Some(("DAY", d)) if d.len() == 10 => NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .ok()
                .map(TenantItem::Day),
            Some(("ORDER", s)) => id(s).map(TenantItem::Order),
            Some(("CUST", s)) => id(s).map(TenantItem::Customer),
            Some(("PROD", s)) => id(s).map(TenantItem::Product),
            Some(("PSALES", s)) => id(s).map(TenantItem::ProductSales),
            Some(("DATAREQ", s)) => id(s).map(TenantItem::DataRequest),
            Some(("RATE", n)) => n.parse::<i64>().ok().map(TenantItem::RateWindow),
            Some(("CHECKOUT", t)) if !t.is_empty() => Some(TenantItem::Checkout(t.to_owned())),
            Some(("FUNNEL", d)) if d.len() == 10 => NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .ok()
                .map(TenantItem::FunnelDay),
            Some(("EV", id)) if !id.is_empty() => Some(TenantItem::LoggedEvent(id.to_owned())),
            Some(("SESSION", rest)) => match rest.split_at_checked(10) {
                Some((d, c)) if c.len() > 1 && c.starts_with('#') => {
                    NaiveDate::parse_from_str(d, "%Y-%m-%d")
                        .ok()
                        .map(|date| TenantItem::Session {
                            date,
                            client: c[1..].to_owned(),
                        })
                }
                _ => None,
            },
            Some(("EVENT", e)) => match e.split_once('#') {
                Some((topic, id)) if !topic.is_empty() && !id.is_empty() => {
                    Some(TenantItem::Event {
                        topic: topic.to_owned(),
                        id: id.to_owned(),
                    })
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The item's key in tenant `t`'s partition.
    pub fn key(&self, t: TenantId) -> Key {
        Key::new(tenant_partition(t), self.sort_key())
    }
}

/// The sort-key prefixes of the shop's many-item data in a tenant partition (what `shop/redact`
/// queries and erases page by page): day rollups, orders, customers, products, applied events,
/// data requests, the storefront's items, product sales.
pub fn shop_data_prefixes() -> [&'static str; 11] {
    [
        "DAY#",
        "ORDER#",
        "CUST#",
        "PROD#",
        PRODUCT_SALES,
        "EVENT#",
        DATA_REQUESTS,
        "CHECKOUT#",
        "SESSION#",
        "FUNNEL#",
        "EV#",
    ]
}

/// Every order item (tombstones included) of a tenant partition, by id.
pub fn all_orders() -> SortRange {
    SortRange::Prefix("ORDER#".into())
}

/// The sort-key prefix of the tenant's data requests (newest id last).
pub const DATA_REQUESTS: &str = "DATAREQ#";

/// The shop's single items in a tenant partition (erased by key): totals, connection, sync state,
/// the embedded store's sealed token.
pub fn shop_data_singletons() -> [TenantItem; 4] {
    [
        TenantItem::Totals,
        TenantItem::Connection,
        TenantItem::SyncState,
        TenantItem::ShopifyToken,
    ]
}

/// The funnel days `from..=to`.
pub fn funnel_range(from: NaiveDate, to: NaiveDate) -> SortRange {
    SortRange::Between(
        TenantItem::FunnelDay(from).sort_key(),
        TenantItem::FunnelDay(to).sort_key(),
    )
}

/// The event log's listing of an event (gsi1: every type; gsi2: its type), newest first by the
/// event's UTC instant, then id.
pub fn event_listing(
    t: TenantId,
    kind: &str,
    at: DateTime<Utc>,
    id: &str,
) -> [(String, String); 2] {
    let sk = format!("{}#{id}", at.to_rfc3339_opts(SecondsFormat::Nanos, true));
    [
        (event_listing_partition(t, None), sk.clone()),
        (event_listing_partition(t, Some(kind)), sk),
    ]
}

/// The gsi1 partition of every logged event (`None`) or the gsi2 partition of one type.
pub fn event_listing_partition(t: TenantId, kind: Option<&str>) -> String {
    match kind {
        None => format!("{TENANT}{t}#EV"),
        Some(k) => format!("{TENANT}{t}#EV#{k}"),
    }
}

/// Logged events between two UTC instants (inclusive; `None`: unbounded), in listing order.
pub fn event_listing_range(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> SortRange {
    SortRange::Between(
        // DynamoDB refuses an empty key value: "0" is below every year.
        from.map_or_else(
            || "0".to_owned(),
            |f| f.to_rfc3339_opts(SecondsFormat::Nanos, true),
        ),
        to.map_or_else(
            || "~".to_owned(),
            |t| format!("{}#~", t.to_rfc3339_opts(SecondsFormat::Nanos, true)),
        ),
    )
}

/// The abandonment index entry of a checkout that may be abandoned at `due` (gsi2, a directory
/// partition per UTC hour, so the job Queries the hours it has not finished, never Scans).
pub fn abandon_due(due: DateTime<Utc>, t: TenantId, token: &str) -> (String, String) {
    (
        abandon_due_partition(due),
        format!(
            "{}#{t}#{token}",
            due.to_rfc3339_opts(SecondsFormat::Nanos, true)
        ),
    )
}

/// The gsi2 partition of the checkouts due in `at`'s UTC hour.
pub fn abandon_due_partition(at: DateTime<Utc>) -> String {
    format!("{DIRECTORY}ABANDON#{}", at.format("%Y-%m-%dT%H"))
}

/// The due entries of one hour up to `now` (inclusive).
pub fn abandon_due_until(now: DateTime<Utc>) -> SortRange {
    SortRange::Between(
        // DynamoDB refuses an empty key value: "0" is below every year.
        "0".to_owned(),
        format!("{}#~", now.to_rfc3339_opts(SecondsFormat::Nanos, true)),
    )
}

/// Parses an abandonment index sort key back to its tenant and checkout token.
pub fn parse_abandon_due(sk: &str) -> Option<(TenantId, String)> {
    let mut parts = sk.splitn(3, '#');
    let (_due, t, token) = (parts.next()?, parts.next()?, parts.next()?);
    let tenant = TenantId::parse(t)?;
    (!token.is_empty()).then(|| (tenant, token.to_owned()))
}

/// The ledger backfill's progress: the tenant it is on, where in its orders, where the scan of
/// tenants resumes.
pub fn ledger_job_state() -> Key {
    Key::new(format!("{DIRECTORY}JOB#LEDGER"), "STATE")
}

/// The abandonment job's progress: the first UTC hour not yet finished.
pub fn abandon_job_state() -> Key {
    Key::new(format!("{DIRECTORY}JOB#ABANDON"), "STATE")
}

/// The day rollups from `from` to `to` inclusive.
pub fn day_range(from: NaiveDate, to: NaiveDate) -> SortRange {
    SortRange::Between(
        TenantItem::Day(from).sort_key(),
        TenantItem::Day(to).sort_key(),
    )
}

/// Parses a tenant partition key back to its tenant.
pub fn parse_tenant_partition(pk: &str) -> Option<TenantId> {
    pk.strip_prefix(TENANT).and_then(TenantId::parse)
}

/// Directory entries: how a request finds its tenant before it knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Directory {
    /// A login email (lower-cased) → tenant. Claimed once, atomically, at registration.
    Email(String),
    /// A shop domain → the tenant holding it: claimed atomically at registration (or by the
    /// install that creates a tenant), proven when the tenant connects the shop; a proof replaces
    /// another tenant's entry (under a condition on the tenant it replaces).
    Shop(String),
    /// The SHA-256 (hex) of an API key → tenant.
    ApiKey(String),
    /// An OAuth `state` nonce (SHA-256 hex) → its shop and tenant, single-use, with an expiry.
    InstallState(String),
    /// A one-time sign-in code (SHA-256 hex) → tenant, single-use, with an expiry.
    SigninCode(String),
    /// A storefront ingest key (its SHA-256 hex) → tenant.
    IngestKey(String),
}

impl Directory {
    pub fn key(&self) -> Key {
        let (kind, value) = match self {
            Directory::Email(e) => ("EMAIL", e),
            Directory::Shop(s) => ("SHOP", s),
            Directory::ApiKey(h) => ("APIKEY", h),
            Directory::InstallState(h) => ("STATE", h),
            Directory::SigninCode(h) => ("SIGNIN", h),
            Directory::IngestKey(h) => ("INGEST", h),
        };
        Key::new(format!("{DIRECTORY}{kind}#{value}"), kind)
    }

    pub fn parse(key: &Key) -> Option<Directory> {
        let rest = key.pk.strip_prefix(DIRECTORY)?;
        let (kind, value) = rest.split_once('#')?;
        if kind != key.sk || value.is_empty() {
            return None;
        }
        match kind {
            "EMAIL" => Some(Directory::Email(value.to_owned())),
            "SHOP" => Some(Directory::Shop(value.to_owned())),
            "APIKEY" => Some(Directory::ApiKey(value.to_owned())),
            "STATE" => Some(Directory::InstallState(value.to_owned())),
            "SIGNIN" => Some(Directory::SigninCode(value.to_owned())),
            "INGEST" => Some(Directory::IngestKey(value.to_owned())),
            _ => None,
        }
    }
}

/// The gsi2 keys listing a counted order: newest first is a backward query; within a shop-local
/// day, by the instant it was created; ties by id.
pub fn order_listing(
    t: TenantId,
    date: NaiveDate,
    created: DateTime<Utc>,
    id: ShopifyId,
) -> (String, String) {
    (
        order_listing_partition(t),
        format!(
            "{}#{}#{:020}",
            date.format("%Y-%m-%d"),
            created.to_rfc3339_opts(SecondsFormat::Nanos, true),
            id.get()
        ),
    )
}

pub fn order_listing_partition(t: TenantId) -> String {
    format!("{TENANT}{t}#ORDERS")
}

/// The listed orders of shop-local days `from..=to`.
pub fn order_listing_range(from: NaiveDate, to: NaiveDate) -> SortRange {
    // `~` sorts above the digits that follow `<date>#`.
    SortRange::Between(
        from.format("%Y-%m-%d").to_string(),
        format!("{}#~", to.format("%Y-%m-%d")),
    )
}

/// The gsi1 keys ranking a customer: a backward query gives the highest spend first, then more
/// orders, then the lower id (the id is stored inverted). Spend is fixed-point with 4 decimals.
pub fn customer_rank(
    t: TenantId,
    spent: Decimal,
    orders: Decimal,
    id: ShopifyId,
) -> (String, String) {
    let units = (spent.max(Decimal::ZERO) * Decimal::from(10_000))
        .trunc()
        .to_string();
    let orders = orders.max(Decimal::ZERO).trunc().to_string();
    (
        customer_rank_partition(t),
        format!("{units:0>24}#{orders:0>10}#{:020}", u64::MAX - id.get()),
    )
}

pub fn customer_rank_partition(t: TenantId) -> String {
    format!("{TENANT}{t}#SPEND")
}

/// The sort-key prefix of the tenant's per-product sales totals.
pub const PRODUCT_SALES: &str = "PSALES#";

/// The gsi2 partition listing every connected shop (one entry per tenant, sort key = tenant):
/// the scheduler's Query. Like the directory, it spans tenants by design.
pub const CONNECTED_SHOPS: &str = "DIR#CONNECTED";

/// The gsi2 partition listing every tenant whose shop erase (`shop/redact`) is not finished: the
/// scheduler's Query that hands them to the job.
pub const ERASES_PENDING: &str = "DIR#ERASE";

/// A rate-limit counter of a subject that is not a tenant (a client address, hashed) for the
/// window starting at `window_start`.
pub fn rate_counter(kind: &str, subject: &str, window_start: i64) -> Key {
    Key::new(
        format!("{DIRECTORY}RATE#{kind}#{subject}"),
        format!("W#{window_start}"),
    )
}

/// Failed logins for one subject (`kind` is `email` or `client`, `subject` a SHA-256 hex of it)
/// in the throttling window that starts at `window_start` (epoch seconds).
pub fn login_failures(kind: &str, subject: &str, window_start: i64) -> Key {
    Key::new(
        format!("{DIRECTORY}THROTTLE#{kind}#{subject}"),
        format!("W#{window_start}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tenant_item() -> impl Strategy<Value = TenantItem> {
        let id = any::<u64>().prop_map(ShopifyId::new);
        prop_oneof![
            Just(TenantItem::Profile),
            Just(TenantItem::Totals),
            Just(TenantItem::Connection),
            Just(TenantItem::SyncState),
            Just(TenantItem::ShopifyToken),
            (0i32..3_000_000).prop_map(|d| TenantItem::Day(
                NaiveDate::from_num_days_from_ce_opt(d.max(1)).unwrap_or_default()
            )),
            id.clone().prop_map(TenantItem::Order),
            id.clone().prop_map(TenantItem::Customer),
            id.clone().prop_map(TenantItem::DataRequest),
            id.clone().prop_map(TenantItem::Product),
            id.prop_map(TenantItem::ProductSales),
            ("[a-z_]{1,20}/[a-z_]{1,20}", "[A-Za-z0-9:_#/.-]{1,64}")
                .prop_map(|(topic, id)| TenantItem::Event { topic, id }),
            Just(TenantItem::Settings),
            Just(TenantItem::IngestKey),
            "[A-Za-z0-9_-]{1,64}".prop_map(TenantItem::Checkout),
            "[A-Za-z0-9#:._-]{1,64}".prop_map(TenantItem::LoggedEvent),
            (0i32..3_000_000).prop_map(|d| TenantItem::FunnelDay(
                NaiveDate::from_num_days_from_ce_opt(d.max(1)).unwrap_or_default()
            )),
            (0i32..3_000_000, "[A-Za-z0-9#:._-]{1,64}").prop_map(|(d, client)| {
                TenantItem::Session {
                    date: NaiveDate::from_num_days_from_ce_opt(d.max(1)).unwrap_or_default(),
                    client,
                }
            }),
        ]
    }

    proptest! {
        #[test]
        fn every_tenant_key_round_trips_and_starts_with_its_tenant(t in any::<u64>(), item in tenant_item()) {
            let tenant = TenantId::new(t);
            let key = item.key(tenant);
            let prefix = format!("T#{}", t);
            prop_assert!(key.pk.starts_with(&prefix));
            prop_assert_eq!(parse_tenant_partition(&key.pk), Some(tenant));
            prop_assert_eq!(TenantItem::parse(&key.sk), Some(item));
        }

        #[test]
        fn order_keys_sort_in_numeric_id_order(a in any::<u64>(), b in any::<u64>()) {
            let ka = TenantItem::Order(ShopifyId::new(a)).sort_key();
            let kb = TenantItem::Order(ShopifyId::new(b)).sort_key();
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
        }

        #[test]
        fn day_keys_sort_in_date_order(a in 0i32..3_000_000, b in 0i32..3_000_000) {
            let da = NaiveDate::from_num_days_from_ce_opt(a.max(1)).unwrap();
            let db = NaiveDate::from_num_days_from_ce_opt(b.max(1)).unwrap();
            // Four-digit years: the layout covers 0001..=9999.
            prop_assume!(da.format("%Y").to_string().len() == 4 && db.format("%Y").to_string().len() == 4);
            prop_assert_eq!(TenantItem::Day(da).sort_key().cmp(&TenantItem::Day(db).sort_key()), da.cmp(&db));
        }

        #[test]
        fn customer_ranks_sort_by_spend_then_orders_then_lower_id(
            a in (0i64..10_000_000, 0u32..500, any::<u64>()),
            b in (0i64..10_000_000, 0u32..500, any::<u64>()),
        ) {
            let t = TenantId::new(1);
            let rank = |(cents, orders, id): (i64, u32, u64)| {
                customer_rank(t, Decimal::new(cents, 2), Decimal::from(orders), ShopifyId::new(id)).1
            };
            // Expected order, highest first: spend desc, orders desc, id asc.
            let expected = (b.0, b.1, std::cmp::Reverse(b.2)).cmp(&(a.0, a.1, std::cmp::Reverse(a.2)));
            prop_assert_eq!(rank(b).cmp(&rank(a)), expected);
        }

        #[test]
        fn order_listings_sort_by_local_date_then_instant(d1 in 0i64..20000, d2 in 0i64..20000, s1 in 0i64..86400, s2 in 0i64..86400) {
            let t = TenantId::new(1);
            let base = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
            let day = |d: i64| base + chrono::Duration::days(d);
            let at = |d: i64, s: i64| day(d).and_hms_opt(0, 0, 0).unwrap().and_utc() + chrono::Duration::seconds(s);
            let k1 = order_listing(t, day(d1), at(d1, s1), ShopifyId::new(1)).1;
            let k2 = order_listing(t, day(d2), at(d2, s2), ShopifyId::new(1)).1;
            prop_assert_eq!(k1.cmp(&k2), (d1, s1).cmp(&(d2, s2)));
            // And the day range covers exactly its days.
            let SortRange::Between(lo, hi) = order_listing_range(day(d1), day(d1)) else { unreachable!() };
            prop_assert!(lo <= k1 && k1 <= hi);
        }

        #[test]
        fn directory_keys_round_trip(v in "[a-z0-9@._-]{1,40}", kind in 0u8..5) {
            let d = match kind {
                0 => Directory::Email(v),
                1 => Directory::Shop(v),
                2 => Directory::ApiKey(v),
                3 => Directory::InstallState(v),
                _ => Directory::SigninCode(v),
            };
            prop_assert_eq!(Directory::parse(&d.key()), Some(d));
        }

        #[test]
        fn one_event_id_under_two_topics_is_two_records_and_two_ids_under_one_topic_too(
            t1 in "[a-z_]{1,20}/[a-z_]{1,20}", t2 in "[a-z_]{1,20}/[a-z_]{1,20}",
            e1 in "[A-Za-z0-9:_#.-]{1,64}", e2 in "[A-Za-z0-9:_#.-]{1,64}",
        ) {
            let key = |topic: &str, id: &str| TenantItem::Event { topic: topic.into(), id: id.into() }.key(TenantId::new(1));
            prop_assert_eq!(key(&t1, &e1) == key(&t2, &e2), t1 == t2 && e1 == e2);
        }

        #[test]
        fn every_tenant_item_but_the_merchants_own_is_shop_data_found_by_a_prefix_or_its_key(t in any::<u64>(), item in tenant_item()) {
            let sk = item.sort_key();
            let by_prefix = shop_data_prefixes().iter().any(|p| sk.starts_with(p));
            let by_key = shop_data_singletons().contains(&item);
            // The merchant's profile, settings and ingest key are theirs, not the shop's: they stay.
            let merchants = [TenantItem::Profile, TenantItem::Settings, TenantItem::IngestKey];
            prop_assert_eq!(by_prefix || by_key, !merchants.contains(&item), "{}", sk);
            prop_assert!(!(by_prefix && by_key));
            // No prefix reaches the profile.
            let profile = TenantItem::Profile.key(TenantId::new(t)).sk;
            prop_assert!(shop_data_prefixes().iter().all(|p| !profile.starts_with(p)));
        }

        #[test]
        fn sort_keys_that_were_not_made_here_do_not_parse_as_orders(s in "ORDER#[0-9]{0,25}") {
            if let Some(TenantItem::Order(id)) = TenantItem::parse(&s) {
                prop_assert_eq!(TenantItem::Order(id).sort_key(), s);
            }
        }
    }
}
