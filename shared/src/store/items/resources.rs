//! Resource records: orders, customers, products and their tombstones, with the revision every write of one is conditioned on.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{flag, keyed, number, put_opt, text};
use crate::domain::{Money, Order, OrderSales, Product, ShopifyId, TenantId, Version};
use crate::store::keys::{self, TenantItem};
use crate::store::{Attr, Cmp, Condition, Item, Key, WriteOp};

const ID: &str = "id";
const VERSION: &str = "version";
/// The write counter of a resource item: each write is conditioned on the one it read.
const REV: &str = "rev";
const DELETED: &str = "deleted";
const DATE_FORMAT: &str = "%Y-%m-%d";

/// What a resource item's next write depends on: its revision, its version, whether it is live.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Revision {
    /// The revision read (`None`: no item, so the write must create it).
    pub rev: Option<Decimal>,
    /// The newest version applied (or deleted).
    pub version: Option<Version>,
    /// An item is there and it is not a tombstone.
    pub live: bool,
}

impl Revision {
    /// The revision of a resource item as read (`None`: absent).
    pub fn of(item: Option<&Item>) -> Revision {
        Revision {
            rev: item.and_then(|i| i.get(REV)).and_then(Attr::as_n),
            version: item.and_then(|i| text(i, VERSION)).map(Version::stored),
            live: item.is_some_and(|i| !flag(i, DELETED)),
        }
    }

    /// Writes `item` only over exactly the revision read (or only while still absent), as the
    /// next revision.
    pub fn put(&self, mut item: Item) -> WriteOp {
        let next = self.rev.unwrap_or_default() + Decimal::ONE;
        item.insert(REV.into(), Attr::N(next));
        // Optimistic concurrency: `rev = <read>`, or `attribute_not_exists(pk)` for a first write.
        let condition = match self.rev {
            Some(r) => Condition::compare(REV, Cmp::Eq, r),
            None => Condition::NotExists,
        };
        WriteOp::Put {
            item,
            condition: Some(condition),
        }
    }
}

/// A new resource item: its key, id and version.
fn resource_item(key: &Key, id: ShopifyId, version: &Version) -> Item {
    let mut item = keyed(key);
    item.insert(ID.into(), Attr::S(id.to_string()));
    item.insert(VERSION.into(), Attr::S(version.as_str().to_owned()));
    item
}

fn time(item: &Item, attr: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(&text(item, attr)?).ok()
}

/// A stored order: the compact projection the dashboard lists and the aggregates are computed from.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderRecord {
    pub id: ShopifyId,
    pub version: Version,
    pub name: String,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
    /// The shop-local day it counts on.
    pub local_date: NaiveDate,
    pub total: Money,
    pub currency: Option<String>,
    pub financial_status: Option<String>,
    pub cancelled: bool,
    pub test: bool,
    pub customer_id: Option<ShopifyId>,
    /// Its sale parts (`None` for an order stored before the ledger, or from a source without
    /// them): what it adds to the sales ledger.
    pub sales: Option<OrderSales>,
    /// The version the sale parts came with: they are last-writer-wins among the versions that
    /// carry them, so a version without them never erases them, whatever the order of arrival.
    pub sales_version: Option<Version>,
    /// What it adds to the sales ledger is in the ledger. An order stored before the ledger
    /// existed is not: the ledger backfill adds it (and sets this) once.
    pub ledgered: bool,
}

impl OrderRecord {
    /// The record of an order as received.
    pub fn of(o: &Order) -> OrderRecord {
        let (version, sales_version) = o.versions();
        OrderRecord {
            id: o.id,
            version,
            name: o.name.clone(),
            created_at: o.created_at,
            updated_at: o.updated_at,
            local_date: o.local_date(),
            total: o.total,
            currency: o.currency.clone(),
            financial_status: o.financial_status.clone(),
            cancelled: o.cancelled,
            test: o.test,
            customer_id: o.customer_id,
            sales: o.sales.clone(),
            sales_version,
            ledgered: true,
        }
    }

    /// The item in `tenant`'s partition, listed in gsi2 when it counts (not a test).
    pub fn to_item(&self, tenant: TenantId) -> Item {
        let mut item = resource_item(
            &TenantItem::Order(self.id).key(tenant),
            self.id,
            &self.version,
        );
        item.insert("name".into(), Attr::from(self.name.as_str()));
        item.insert(
            "created_at".into(),
            Attr::from(self.created_at.to_rfc3339()),
        );
        item.insert(
            "updated_at".into(),
            Attr::from(self.updated_at.to_rfc3339()),
        );
        item.insert(
            "local_date".into(),
            Attr::from(self.local_date.format(DATE_FORMAT).to_string()),
        );
        // Text, as the amount was received: set once, never added to.
        item.insert("total".into(), Attr::from(self.total.amount().to_string()));
        put_opt(&mut item, "currency", self.currency.clone());
        put_opt(&mut item, "financial_status", self.financial_status.clone());
        item.insert("cancelled".into(), Attr::Bool(self.cancelled));
        item.insert("test".into(), Attr::Bool(self.test));
        item.insert(DELETED.into(), Attr::Bool(false));
        put_opt(
            &mut item,
            "customer_id",
            self.customer_id.map(|c| c.to_string()),
        );
        // Compact JSON (short field names): read back whole to compute what the order adds.
        put_opt(
            &mut item,
            "sales",
            self.sales
                .as_ref()
                .and_then(|s| serde_json::to_string(s).ok()),
        );
        put_opt(
            &mut item,
            "sales_version",
            self.sales_version.as_ref().map(|v| v.as_str().to_owned()),
        );
        if self.ledgered {
            item.insert("ledger".into(), Attr::Bool(true));
        }
        // Listed (gsi2, newest first by shop-local date then instant) only when it counts.
        if !self.test {
            let (pk, sk) = keys::order_listing(
                tenant,
                self.local_date,
                self.created_at.with_timezone(&Utc),
                self.id,
            );
            item.insert("gsi2pk".into(), Attr::S(pk));
            item.insert("gsi2sk".into(), Attr::S(sk));
        }
        item
    }

    /// The order an item holds; `None` for a tombstone or an item that is not a whole order.
    pub fn from_item(item: &Item) -> Option<OrderRecord> {
        if flag(item, DELETED) {
            return None;
        }
        let total = Decimal::from_str(&text(item, "total")?).ok()?;
        Some(OrderRecord {
            id: ShopifyId::parse(&text(item, ID)?)?,
            version: Version::stored(text(item, VERSION)?),
            name: text(item, "name")?,
            created_at: time(item, "created_at")?,
            updated_at: time(item, "updated_at")?,
            local_date: NaiveDate::parse_from_str(&text(item, "local_date")?, DATE_FORMAT).ok()?,
            total: Money::new(total),
            currency: text(item, "currency"),
            financial_status: text(item, "financial_status"),
            cancelled: flag(item, "cancelled"),
            test: flag(item, "test"),
            customer_id: text(item, "customer_id").and_then(|c| ShopifyId::parse(&c)),
            sales: text(item, "sales").and_then(|s| serde_json::from_str(&s).ok()),
            sales_version: text(item, "sales_version").map(Version::stored),
            ledgered: flag(item, "ledger"),
        })
    }
}

/// A stored product.
#[derive(Clone, Debug, PartialEq)]
pub struct ProductRecord {
    pub id: ShopifyId,
    pub version: Version,
    pub title: String,
    pub updated_at: DateTime<FixedOffset>,
}

impl ProductRecord {
    /// The record of a product as received.
    pub fn of(p: &Product) -> ProductRecord {
        ProductRecord {
            id: p.id,
            version: p.version(),
            title: p.title.clone(),
            updated_at: p.updated_at,
        }
    }

    /// The item in `tenant`'s partition.
    pub fn to_item(&self, tenant: TenantId) -> Item {
        let mut item = resource_item(
            &TenantItem::Product(self.id).key(tenant),
            self.id,
            &self.version,
        );
        item.insert("title".into(), Attr::from(self.title.as_str()));
        item.insert(
            "updated_at".into(),
            Attr::from(self.updated_at.to_rfc3339()),
        );
        item.insert(DELETED.into(), Attr::Bool(false));
        item
    }

    /// The product an item holds; `None` for a tombstone or an item that is not a whole product.
    pub fn from_item(item: &Item) -> Option<ProductRecord> {
        if flag(item, DELETED) {
            return None;
        }
        Some(ProductRecord {
            id: ShopifyId::parse(&text(item, ID)?)?,
            version: Version::stored(text(item, VERSION)?),
            title: text(item, "title")?,
            updated_at: time(item, "updated_at")?,
        })
    }
}

/// What stays of a deleted order or product: its id and when it was deleted (its version), so an
/// older update arriving late cannot bring it back.
#[derive(Clone, Debug, PartialEq)]
pub struct Tombstone {
    pub id: ShopifyId,
    pub at: DateTime<Utc>,
}

impl Tombstone {
    /// The tombstone as the item at `key` (the deleted resource's own key).
    pub fn to_item(&self, key: &Key) -> Item {
        let mut item = resource_item(key, self.id, &Version::of_deletion(self.at));
        item.insert(DELETED.into(), Attr::Bool(true));
        item.insert("deleted_at".into(), Attr::from(self.at.to_rfc3339()));
        item
    }

    /// The tombstone an item holds, if it is one.
    pub fn from_item(item: &Item) -> Option<Tombstone> {
        if !flag(item, DELETED) {
            return None;
        }
        Some(Tombstone {
            id: ShopifyId::parse(&text(item, ID)?)?,
            at: time(item, "deleted_at")?.with_timezone(&Utc),
        })
    }
}

/// A stored customer: the profile (last writer wins on `version`) and the aggregates of its
/// counted orders.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomerRecord {
    pub id: ShopifyId,
    /// The newest profile (or deletion) applied; `None` for a customer known only from orders.
    pub version: Option<Version>,
    pub deleted: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// How many counted orders name this customer.
    pub orders: Decimal,
    /// Their revenue.
    pub total_spent: Decimal,
    /// Its earliest counted orders, oldest first (at most [`FIRST_ORDERS_KEPT`]): the first is
    /// the day it became a new customer; every other counted order is a returning one.
    pub first_orders: Vec<FirstOrder>,
}

/// How many of a customer's earliest counted orders its item keeps: enough that deleting its
/// first orders moves "new" to the next one; only if all of these were deleted would a customer
/// with later orders stop counting as new anywhere.
pub const FIRST_ORDERS_KEPT: usize = 25;

/// One of a customer's counted orders: when it was placed (UTC epoch seconds), its id, and the
/// shop-local date it counts on. Ordered by time, then id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FirstOrder(pub i64, pub u64, pub NaiveDate);

impl CustomerRecord {
    /// Adds a counted order (kept when among the earliest).
    pub fn add_order(&mut self, o: FirstOrder) {
        if let Err(at) = self.first_orders.binary_search(&o) {
            self.first_orders.insert(at, o);
            self.first_orders.truncate(FIRST_ORDERS_KEPT);
        }
    }

    /// Removes a counted order.
    pub fn remove_order(&mut self, o: FirstOrder) {
        self.first_orders.retain(|x| *x != o);
    }

    /// The shop-local date of its first counted order.
    pub fn first_order_date(&self) -> Option<NaiveDate> {
        self.first_orders.first().map(|o| o.2)
    }
}

impl CustomerRecord {
    /// A customer nothing is known of yet.
    pub fn empty(id: ShopifyId) -> CustomerRecord {
        CustomerRecord {
            id,
            version: None,
            deleted: false,
            first_name: None,
            last_name: None,
            email: None,
            orders: Decimal::ZERO,
            total_spent: Decimal::ZERO,
            first_orders: Vec::new(),
        }
    }

    /// The item in `tenant`'s partition, ranked by spend (gsi1) while it has orders and is not
    /// deleted.
    pub fn to_item(&self, tenant: TenantId) -> Item {
        let mut item = keyed(&TenantItem::Customer(self.id).key(tenant));
        item.insert(ID.into(), Attr::S(self.id.to_string()));
        item.insert(DELETED.into(), Attr::Bool(self.deleted));
        // Numbers: ingestion recomputes and sets them, read over the exact revision.
        item.insert("orders".into(), Attr::N(self.orders));
        item.insert("total_spent".into(), Attr::N(self.total_spent));
        if !self.first_orders.is_empty() {
            put_opt(
                &mut item,
                "first_orders",
                serde_json::to_string(&self.first_orders).ok(),
            );
        }
        put_opt(
            &mut item,
            VERSION,
            self.version.as_ref().map(|v| v.as_str().to_owned()),
        );
        put_opt(&mut item, "first_name", self.first_name.clone());
        put_opt(&mut item, "last_name", self.last_name.clone());
        put_opt(&mut item, "email", self.email.clone());
        if !self.deleted && self.orders > Decimal::ZERO {
            let (pk, sk) = keys::customer_rank(tenant, self.total_spent, self.orders, self.id);
            item.insert("gsi1pk".into(), Attr::S(pk));
            item.insert("gsi1sk".into(), Attr::S(sk));
        }
        item
    }

    /// Customer `id` as its item holds it (what is missing reads as empty or zero).
    pub fn from_item(id: ShopifyId, item: &Item) -> CustomerRecord {
        CustomerRecord {
            id,
            version: text(item, VERSION).map(Version::stored),
            deleted: flag(item, DELETED),
            first_name: text(item, "first_name"),
            last_name: text(item, "last_name"),
            email: text(item, "email"),
            orders: number(item, "orders"),
            total_spent: number(item, "total_spent"),
            first_orders: text(item, "first_orders")
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default(),
        }
    }

    /// How many counted orders, as a whole number (0 if the stored count went negative).
    pub fn order_count(&self) -> u64 {
        u64::try_from(self.orders.max(Decimal::ZERO)).unwrap_or(0)
    }

    /// A ranked customer as the spend index returns it (its id read from the item).
    pub fn from_ranked_item(item: &Item) -> Option<CustomerRecord> {
        let id = ShopifyId::parse(&text(item, ID)?)?;
        Some(CustomerRecord::from_item(id, item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Index, PK, SK};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn instant() -> impl Strategy<Value = DateTime<FixedOffset>> {
        // 1970..2100, any nanosecond, any whole-minute offset within ±14 h.
        (0i64..4_102_444_800, 0u32..1_000_000_000, -840i32..=840).prop_map(|(s, ns, m)| {
            let offset = FixedOffset::east_opt(m * 60).unwrap_or(FixedOffset::east_opt(0).unwrap());
            offset.timestamp_opt(s, ns).unwrap()
        })
    }

    fn money() -> impl Strategy<Value = Money> {
        (any::<i64>(), 0u32..=4).prop_map(|(m, scale)| Money::new(Decimal::new(m, scale)))
    }

    fn order() -> impl Strategy<Value = Order> {
        (
            any::<u64>(),
            ".{0,20}",
            instant(),
            instant(),
            money(),
            proptest::option::of("[A-Z]{3}"),
            proptest::option::of("[a-z_]{1,20}"),
            any::<(bool, bool)>(),
            proptest::option::of(any::<u64>()),
        )
            .prop_map(
                |(id, name, created_at, updated_at, total, currency, status, (c, t), cust)| Order {
                    id: ShopifyId::new(id),
                    name,
                    created_at,
                    updated_at,
                    total,
                    currency,
                    financial_status: status,
                    cancelled: c,
                    test: t,
                    customer_id: cust.map(ShopifyId::new),
                    checkout_token: None,
                    sales: None,
                },
            )
    }

    #[test]
    fn a_customer_keeps_its_earliest_orders_sorted_and_bounded() {
        let d = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        let mut c = CustomerRecord::empty(ShopifyId::new(1));
        for i in (0..40i64).rev() {
            c.add_order(FirstOrder(
                1_000 + i,
                i as u64,
                d + chrono::Duration::days(i),
            ));
        }
        c.add_order(FirstOrder(1_005, 5, d + chrono::Duration::days(5)));
        assert_eq!(c.first_orders.len(), FIRST_ORDERS_KEPT);
        assert!(c.first_orders.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(c.first_order_date(), Some(d));
        c.remove_order(FirstOrder(1_000, 0, d));
        assert_eq!(c.first_order_date(), Some(d + chrono::Duration::days(1)));
        // An earlier order arriving late becomes the first.
        c.add_order(FirstOrder(10, 99, d - chrono::Duration::days(9)));
        assert_eq!(c.first_order_date(), Some(d - chrono::Duration::days(9)));
    }

    fn optional_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(".{0,30}")
    }

    proptest! {
        #[test]
        fn any_order_round_trips_through_its_item(t in any::<u64>(), o in order()) {
            let record = OrderRecord::of(&o);
            let item = record.to_item(TenantId::new(t));
            prop_assert_eq!(OrderRecord::from_item(&item), Some(record));
            prop_assert_eq!(Tombstone::from_item(&item), None);
        }

        #[test]
        fn only_orders_that_count_are_listed(o in order()) {
            let item = OrderRecord::of(&o).to_item(TenantId::new(1));
            let (pk, sk) = Index::Gsi2.key_attrs();
            prop_assert_eq!(item.contains_key(pk), !o.test);
            prop_assert_eq!(item.contains_key(sk), !o.test);
        }

        #[test]
        fn any_customer_round_trips_through_its_item(
            t in any::<u64>(),
            id in any::<u64>(),
            version in proptest::option::of("[0-9T:.Z#a-f-]{1,40}"),
            deleted in any::<bool>(),
            (first_name, last_name, email) in (optional_text(), optional_text(), optional_text()),
            orders in 0i64..1_000_000,
            (spent, scale) in (any::<i64>(), 0u32..=4),
            firsts in proptest::collection::vec((any::<i64>(), any::<u64>(), 0i32..3_000_000), 0..30),
        ) {
            let mut first_orders: Vec<FirstOrder> = firsts
                .into_iter()
                .map(|(at, id, d)| FirstOrder(at, id, NaiveDate::from_num_days_from_ce_opt(d.max(1)).unwrap_or_default()))
                .collect();
            first_orders.sort();
            let record = CustomerRecord {
                id: ShopifyId::new(id),
                version: version.map(Version::stored),
                deleted,
                first_name,
                last_name,
                email,
                orders: Decimal::from(orders),
                total_spent: Decimal::new(spent, scale),
                first_orders,
            };
            let item = record.to_item(TenantId::new(t));
            prop_assert_eq!(CustomerRecord::from_item(record.id, &item), record.clone());
            prop_assert_eq!(CustomerRecord::from_ranked_item(&item), Some(record.clone()));
            let ranked = item.contains_key(Index::Gsi1.key_attrs().0);
            prop_assert_eq!(ranked, !deleted && orders > 0);
        }

        #[test]
        fn any_product_round_trips_through_its_item(t in any::<u64>(), id in any::<u64>(), title in ".{0,40}", at in instant()) {
            let record = ProductRecord::of(&Product { id: ShopifyId::new(id), title, updated_at: at });
            let item = record.to_item(TenantId::new(t));
            prop_assert_eq!(ProductRecord::from_item(&item), Some(record));
            prop_assert!(Revision::of(Some(&item)).live);
        }

        #[test]
        fn any_tombstone_round_trips_through_its_item(id in any::<u64>(), at in instant()) {
            let tombstone = Tombstone { id: ShopifyId::new(id), at: at.with_timezone(&Utc) };
            let key = TenantItem::Order(tombstone.id).key(TenantId::new(3));
            let item = tombstone.to_item(&key);
            prop_assert_eq!(Tombstone::from_item(&item), Some(tombstone.clone()));
            prop_assert_eq!(OrderRecord::from_item(&item), None);
            prop_assert_eq!(ProductRecord::from_item(&item), None);
            let revision = Revision::of(Some(&item));
            prop_assert!(!revision.live);
            prop_assert_eq!(revision.version, Some(Version::of_deletion(tombstone.at)));
        }
    }

    #[test]
    fn a_first_write_creates_and_a_later_one_goes_only_over_the_revision_read() {
        let t = TenantId::new(1);
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let item = Tombstone {
            id: ShopifyId::new(9),
            at,
        }
        .to_item(&TenantItem::Product(ShopifyId::new(9)).key(t));

        let absent = Revision::of(None);
        assert_eq!(absent, Revision::default());
        let WriteOp::Put {
            item: first,
            condition,
        } = absent.put(item.clone())
        else {
            panic!("a put")
        };
        assert_eq!(condition, Some(Condition::NotExists));
        assert_eq!(first.get(REV), Some(&Attr::N(Decimal::ONE)));

        let read = Revision::of(Some(&first));
        assert_eq!(read.rev, Some(Decimal::ONE));
        let WriteOp::Put {
            item: second,
            condition,
        } = read.put(item)
        else {
            panic!("a put")
        };
        assert_eq!(
            condition,
            Some(Condition::compare(REV, Cmp::Eq, Decimal::ONE))
        );
        assert_eq!(second.get(REV), Some(&Attr::N(Decimal::TWO)));
        assert_eq!(Key::of(&second), Key::of(&first));
        assert!(second.contains_key(PK) && second.contains_key(SK));
    }
}
