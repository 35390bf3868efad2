//! Applying one change to a tenant's data with exactly-once effects.
//!
//! One delivery is one atomic batch: (a) the event id, recorded so a redelivery is a no-op;
//! (b) the resource's new version, written only over the exact version read (`rev`), and only if
//! newer (LWW on [`Version`]); (c) the deltas (new − old contribution) added to the tenant's totals,
//! the shop-local day rollup, and the affected customers' spend and order counts. A lost race fails
//! a condition; the whole thing re-reads and retries. Because every effect is "new minus old" of a
//! last-writer-wins state, any interleaving of duplicated, reordered, concurrent deliveries ends in
//! the state in-order delivery reaches.
//!
//! Webhooks and the scheduled sync both come through [`apply`].

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::domain::{Customer, Order, Product, ShopifyId, TenantId, Version};
use crate::store::keys::{self, TenantItem};
use crate::store::{
    Attr, Cmp, Condition, Item, Key, PK, SK, Store, StoreError, TTL, Update, WriteOp,
};

/// How long an applied event id is remembered: Shopify retries for 4 hours; a week also covers
/// EventBridge replays and manual re-sends.
pub const EVENT_TTL_SECONDS: i64 = 7 * 24 * 3600;
/// Attempts before a delivery gives up (and answers 5xx, so Shopify retries later).
const MAX_ATTEMPTS: u32 = 12;

/// One change to a tenant's Shopify data.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// An order, with the customer snapshot it carried.
    UpsertOrder(Order, Option<Customer>),
    DeleteOrder {
        id: ShopifyId,
        at: DateTime<Utc>,
    },
    UpsertCustomer(Customer),
    DeleteCustomer {
        id: ShopifyId,
        at: DateTime<Utc>,
    },
    UpsertProduct(Product),
    DeleteProduct {
        id: ShopifyId,
        at: DateTime<Utc>,
    },
    /// Compliance: forget a customer's personal data (the aggregates stay, anonymous).
    RedactCustomer {
        id: ShopifyId,
    },
}

/// What applying a delivery did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// This event id was applied before.
    Duplicate,
    /// The stored state is already as new or newer: nothing changed.
    Stale,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
        }
    }
}

/// Applies `change` for `tenant`. With an `event_id` (webhooks), the delivery is recorded and a
/// redelivery answers [`Outcome::Duplicate`]; without one (sync), versions alone decide.
pub async fn apply(
    store: &dyn Store,
    now: DateTime<Utc>,
    tenant: TenantId,
    event_id: Option<&str>,
    change: &Change,
) -> Result<Outcome, StoreError> {
    let event_key = event_id.map(|e| TenantItem::Event(e.to_owned()).key(tenant));
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Some(k) = &event_key
            && store.get(k).await?.is_some()
        {
            return Ok(Outcome::Duplicate);
        }
        let mut plan = Plan::new(tenant);
        plan.build(store, change).await?;
        if plan.is_empty() {
            return Ok(Outcome::Stale);
        }
        let mut ops = Vec::with_capacity(8);
        if let (Some(k), Some(e)) = (&event_key, event_id) {
            let mut item = Item::from([
                (PK.to_owned(), Attr::S(k.pk.clone())),
                (SK.to_owned(), Attr::S(k.sk.clone())),
                ("event_id".to_owned(), Attr::from(e)),
                ("applied_at".to_owned(), Attr::from(now.to_rfc3339())),
            ]);
            // TTL: DynamoDB deletes the record a week after it was applied.
            item.insert(TTL.into(), Attr::from(now.timestamp() + EVENT_TTL_SECONDS));
            // Only the first delivery of an event gets here (attribute_not_exists(pk)).
            ops.push(WriteOp::Put {
                item,
                condition: Some(Condition::NotExists),
            });
        }
        ops.extend(plan.into_ops());
        match store.write(ops).await {
            Ok(()) => return Ok(Outcome::Applied),
            Err(StoreError::ConditionFailed { index: 0 }) if event_key.is_some() => {
                return Ok(Outcome::Duplicate);
            }
            Err(e @ (StoreError::ConditionFailed { .. } | StoreError::Throttled { .. }))
                if attempt < MAX_ATTEMPTS =>
            {
                // Lost a race with a concurrent delivery (or the store asked us to slow down):
                // back off a little, re-read, recompute.
                tracing::debug!(error = %e, attempt, "apply retry");
                let ms = (1u64 << attempt.min(6)) + jitter_ms();
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn jitter_ms() -> u64 {
    let mut b = [0u8; 1];
    let _ = getrandom::fill(&mut b);
    u64::from(b[0] % 8)
}

/// What an order adds to the aggregates: nothing when deleted or a test.
#[derive(Clone, Debug, PartialEq)]
struct Contribution {
    date: NaiveDate,
    /// Revenue: 0 when cancelled.
    revenue: Decimal,
    cancelled: bool,
    customer: Option<ShopifyId>,
}

impl Contribution {
    fn of(order: &Order) -> Option<Contribution> {
        if order.test {
            return None;
        }
        Some(Contribution {
            date: order.local_date(),
            revenue: if order.cancelled {
                Decimal::ZERO
            } else {
                order.total.amount()
            },
            cancelled: order.cancelled,
            customer: order.customer_id,
        })
    }
}

/// The stored state of one resource item: its revision (for the write condition) and version.
#[derive(Clone, Debug)]
struct Stored {
    rev: Option<Decimal>,
    version: Option<Version>,
    item: Option<Item>,
}

impl Stored {
    fn read(item: Option<Item>) -> Stored {
        let rev = item
            .as_ref()
            .and_then(|i| i.get("rev"))
            .and_then(Attr::as_n);
        let version = item
            .as_ref()
            .and_then(|i| i.get("version"))
            .and_then(Attr::as_s)
            .map(|s| Version::stored(s.to_owned()));
        Stored { rev, version, item }
    }

    /// Newer than what is stored?
    fn superseded_by(&self, v: &Version) -> bool {
        self.version.as_ref().is_none_or(|cur| cur < v)
    }

    /// Write `new` only over exactly the revision read (or only if still absent).
    fn put(&self, mut new: Item) -> WriteOp {
        let next = self.rev.unwrap_or_default() + Decimal::ONE;
        new.insert("rev".into(), Attr::N(next));
        let condition = match self.rev {
            Some(r) => Condition::compare("rev", Cmp::Eq, r),
            None => Condition::NotExists,
        };
        WriteOp::Put {
            item: new,
            condition: Some(condition),
        }
    }
}

fn s(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(Attr::as_s).map(str::to_owned)
}

fn b(item: &Item, k: &str) -> bool {
    matches!(item.get(k), Some(Attr::Bool(true)))
}

fn n(item: &Item, k: &str) -> Decimal {
    item.get(k).and_then(Attr::as_n).unwrap_or_default()
}

fn base(key: &Key, id: ShopifyId, version: &Version) -> Item {
    Item::from([
        (PK.to_owned(), Attr::S(key.pk.clone())),
        (SK.to_owned(), Attr::S(key.sk.clone())),
        ("id".to_owned(), Attr::S(id.to_string())),
        ("version".to_owned(), Attr::S(version.as_str().to_owned())),
    ])
}

/// The contribution a stored order item makes.
fn stored_contribution(item: &Item) -> Option<Contribution> {
    if b(item, "deleted") || b(item, "test") {
        return None;
    }
    let date = NaiveDate::parse_from_str(&s(item, "local_date")?, "%Y-%m-%d").ok()?;
    let cancelled = b(item, "cancelled");
    let total: Decimal = s(item, "total")?.parse().ok()?;
    Some(Contribution {
        date,
        revenue: if cancelled { Decimal::ZERO } else { total },
        cancelled,
        customer: s(item, "customer_id").and_then(|c| ShopifyId::parse(&c)),
    })
}

/// The item for an order (the compact projection the dashboard lists).
fn order_item(tenant: TenantId, key: &Key, o: &Order) -> Item {
    let version = o.version();
    let mut item = base(key, o.id, &version);
    let created_utc = o.created_at.with_timezone(&Utc);
    let date = o.local_date().format("%Y-%m-%d").to_string();
    let put = |item: &mut Item, k: &str, v: Attr| {
        item.insert(k.to_owned(), v);
    };
    put(&mut item, "name", Attr::from(o.name.as_str()));
    put(
        &mut item,
        "created_at",
        Attr::from(o.created_at.to_rfc3339()),
    );
    put(
        &mut item,
        "updated_at",
        Attr::from(o.updated_at.to_rfc3339()),
    );
    put(&mut item, "local_date", Attr::from(date.as_str()));
    put(&mut item, "total", Attr::from(o.total.amount().to_string()));
    if let Some(c) = &o.currency {
        put(&mut item, "currency", Attr::from(c.as_str()));
    }
    if let Some(f) = &o.financial_status {
        put(&mut item, "financial_status", Attr::from(f.as_str()));
    }
    put(&mut item, "cancelled", Attr::Bool(o.cancelled));
    put(&mut item, "test", Attr::Bool(o.test));
    put(&mut item, "deleted", Attr::Bool(false));
    if let Some(c) = o.customer_id {
        put(&mut item, "customer_id", Attr::S(c.to_string()));
    }
    // Listed (gsi2, newest first by shop-local date then instant) only when it counts.
    if !o.test {
        let (pk, sk) = keys::order_listing(tenant, o.local_date(), created_utc, o.id);
        put(&mut item, "gsi2pk", Attr::S(pk));
        put(&mut item, "gsi2sk", Attr::S(sk));
    }
    item
}

fn tombstone(key: &Key, id: ShopifyId, at: DateTime<Utc>) -> Item {
    let mut item = base(key, id, &Version::of_deletion(at));
    item.insert("deleted".into(), Attr::Bool(true));
    item.insert("deleted_at".into(), Attr::from(at.to_rfc3339()));
    item
}

/// A customer item's meaning: profile (last writer wins) plus aggregates (sums of contributions).
#[derive(Clone, Debug, PartialEq)]
struct CustomerState {
    id: ShopifyId,
    /// The newest profile (or deletion) applied; `None` for a customer known only from orders.
    version: Option<Version>,
    deleted: bool,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    orders: Decimal,
    total_spent: Decimal,
}

impl CustomerState {
    fn empty(id: ShopifyId) -> CustomerState {
        CustomerState {
            id,
            version: None,
            deleted: false,
            first_name: None,
            last_name: None,
            email: None,
            orders: Decimal::ZERO,
            total_spent: Decimal::ZERO,
        }
    }

    fn read(id: ShopifyId, item: &Item) -> CustomerState {
        CustomerState {
            id,
            version: s(item, "version").map(Version::stored),
            deleted: b(item, "deleted"),
            first_name: s(item, "first_name"),
            last_name: s(item, "last_name"),
            email: s(item, "email"),
            orders: n(item, "orders"),
            total_spent: n(item, "total_spent"),
        }
    }

    /// Counted among the tenant's customers: a customer record was received and not deleted.
    fn counted(&self) -> bool {
        self.version.is_some() && !self.deleted
    }

    fn apply_profile(&mut self, c: &Customer) -> bool {
        let v = c.version();
        if self.version.as_ref().is_some_and(|cur| cur >= &v) {
            return false;
        }
        self.version = Some(v);
        self.deleted = false;
        self.first_name = c.first_name.clone();
        self.last_name = c.last_name.clone();
        self.email = c.email.clone();
        true
    }

    fn delete(&mut self, at: DateTime<Utc>) -> bool {
        let v = Version::of_deletion(at);
        if self.version.as_ref().is_some_and(|cur| cur >= &v) {
            return false;
        }
        self.version = Some(v);
        self.deleted = true;
        self.first_name = None;
        self.last_name = None;
        self.email = None;
        true
    }

    fn item(&self, tenant: TenantId, key: &Key) -> Item {
        let mut item = Item::from([
            (PK.to_owned(), Attr::S(key.pk.clone())),
            (SK.to_owned(), Attr::S(key.sk.clone())),
            ("id".to_owned(), Attr::S(self.id.to_string())),
            ("deleted".to_owned(), Attr::Bool(self.deleted)),
            ("orders".to_owned(), Attr::N(self.orders)),
            ("total_spent".to_owned(), Attr::N(self.total_spent)),
        ]);
        if let Some(v) = &self.version {
            item.insert("version".into(), Attr::S(v.as_str().to_owned()));
        }
        for (k, v) in [
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("email", &self.email),
        ] {
            if let Some(v) = v {
                item.insert(k.into(), Attr::S(v.clone()));
            }
        }
        // Ranked by spend (gsi1) while it has orders and is not deleted.
        if !self.deleted && self.orders > Decimal::ZERO {
            let (pk, sk) = keys::customer_rank(tenant, self.total_spent, self.orders, self.id);
            item.insert("gsi1pk".into(), Attr::S(pk));
            item.insert("gsi1sk".into(), Attr::S(sk));
        }
        item
    }
}

/// Everything one change writes, computed from what was read.
struct Plan {
    tenant: TenantId,
    resource: Option<WriteOp>,
    customers: BTreeMap<ShopifyId, (Stored, CustomerState, CustomerState)>,
    totals: Update,
    days: BTreeMap<NaiveDate, (Decimal, Decimal)>,
}

impl Plan {
    fn new(tenant: TenantId) -> Plan {
        Plan {
            tenant,
            resource: None,
            customers: BTreeMap::new(),
            totals: Update::default(),
            days: BTreeMap::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.resource.is_none() && self.customers.values().all(|(_, old, new)| old == new)
    }

    async fn customer<'a>(
        &'a mut self,
        store: &dyn Store,
        id: ShopifyId,
    ) -> Result<&'a mut CustomerState, StoreError> {
        if !self.customers.contains_key(&id) {
            let item = store
                .get(&TenantItem::Customer(id).key(self.tenant))
                .await?;
            let state = item
                .as_ref()
                .map_or_else(|| CustomerState::empty(id), |i| CustomerState::read(id, i));
            self.customers
                .insert(id, (Stored::read(item), state.clone(), state));
        }
        let (_, _, new) = self
            .customers
            .get_mut(&id)
            .ok_or_else(|| StoreError::backend("customer vanished from the plan"))?;
        Ok(new)
    }

    fn add_total(&mut self, attr: &str, delta: Decimal) {
        if !delta.is_zero() {
            self.totals.add.push((attr.to_owned(), delta));
        }
    }

    /// Moves the aggregates from `old` to `new` contribution.
    async fn shift(
        &mut self,
        store: &dyn Store,
        old: Option<&Contribution>,
        new: Option<&Contribution>,
    ) -> Result<(), StoreError> {
        let count = |c: Option<&Contribution>| Decimal::from(u8::from(c.is_some()));
        let paid =
            |c: Option<&Contribution>| Decimal::from(u8::from(c.is_some_and(|c| !c.cancelled)));
        let rev = |c: Option<&Contribution>| c.map(|c| c.revenue).unwrap_or_default();
        self.add_total("orders", count(new) - count(old));
        self.add_total("paid_orders", paid(new) - paid(old));
        self.add_total("revenue", rev(new) - rev(old));
        for (c, sign) in [(old, Decimal::NEGATIVE_ONE), (new, Decimal::ONE)] {
            let Some(c) = c else { continue };
            let day = self.days.entry(c.date).or_default();
            day.0 += sign;
            day.1 += sign * c.revenue;
            if let Some(id) = c.customer {
                let cust = self.customer(store, id).await?;
                cust.orders += sign;
                cust.total_spent += sign * c.revenue;
            }
        }
        Ok(())
    }

    async fn build(&mut self, store: &dyn Store, change: &Change) -> Result<(), StoreError> {
        let t = self.tenant;
        match change {
            Change::UpsertOrder(order, snapshot) => {
                let key = TenantItem::Order(order.id).key(t);
                let cur = Stored::read(store.get(&key).await?);
                if cur.superseded_by(&order.version()) {
                    let old = cur.item.as_ref().and_then(stored_contribution);
                    let new = Contribution::of(order);
                    self.shift(store, old.as_ref(), new.as_ref()).await?;
                    if let Some(c) = &order.currency {
                        self.totals
                            .set
                            .push(("currency".into(), Attr::from(c.as_str())));
                    }
                    self.resource = Some(cur.put(order_item(t, &key, order)));
                }
                // Test orders count nowhere, their customer snapshots included.
                if let Some(c) = snapshot.as_ref().filter(|_| !order.test) {
                    self.customer(store, c.id).await?.apply_profile(c);
                }
            }
            Change::DeleteOrder { id, at } => {
                let key = TenantItem::Order(*id).key(t);
                let cur = Stored::read(store.get(&key).await?);
                if cur.superseded_by(&Version::of_deletion(*at)) {
                    let old = cur.item.as_ref().and_then(stored_contribution);
                    self.shift(store, old.as_ref(), None).await?;
                    self.resource = Some(cur.put(tombstone(&key, *id, *at)));
                }
            }
            Change::UpsertCustomer(c) => {
                self.customer(store, c.id).await?.apply_profile(c);
            }
            Change::DeleteCustomer { id, at } => {
                self.customer(store, *id).await?.delete(*at);
            }
            Change::RedactCustomer { id } => {
                let cust = self.customer(store, *id).await?;
                cust.first_name = None;
                cust.last_name = None;
                cust.email = None;
            }
            Change::UpsertProduct(p) => {
                let key = TenantItem::Product(p.id).key(t);
                let cur = Stored::read(store.get(&key).await?);
                if cur.superseded_by(&p.version()) {
                    let was = cur.item.as_ref().is_some_and(|i| !b(i, "deleted"));
                    self.add_total("products", Decimal::from(u8::from(!was)));
                    let mut item = base(&key, p.id, &p.version());
                    item.insert("title".into(), Attr::from(p.title.as_str()));
                    item.insert("updated_at".into(), Attr::from(p.updated_at.to_rfc3339()));
                    item.insert("deleted".into(), Attr::Bool(false));
                    self.resource = Some(cur.put(item));
                }
            }
            Change::DeleteProduct { id, at } => {
                let key = TenantItem::Product(*id).key(t);
                let cur = Stored::read(store.get(&key).await?);
                if cur.superseded_by(&Version::of_deletion(*at)) {
                    let was = cur.item.as_ref().is_some_and(|i| !b(i, "deleted"));
                    self.add_total("products", -Decimal::from(u8::from(was)));
                    self.resource = Some(cur.put(tombstone(&key, *id, *at)));
                }
            }
        }
        // Customers entering or leaving the count.
        let delta: i64 = self
            .customers
            .values()
            .map(|(_, old, new)| i64::from(new.counted()) - i64::from(old.counted()))
            .sum();
        self.add_total("customers", Decimal::from(delta));
        Ok(())
    }

    fn into_ops(self) -> Vec<WriteOp> {
        let t = self.tenant;
        let mut ops = Vec::new();
        ops.extend(self.resource);
        for (id, (stored, old, new)) in self.customers {
            if old != new {
                let key = TenantItem::Customer(id).key(t);
                ops.push(stored.put(new.item(t, &key)));
            }
        }
        if !self.totals.is_empty() {
            // Totals and days are commutative adds: no condition, never a conflict to resolve.
            ops.push(WriteOp::Update {
                key: TenantItem::Totals.key(t),
                update: self.totals,
                condition: None,
            });
        }
        for (date, (orders, revenue)) in self.days {
            if orders.is_zero() && revenue.is_zero() {
                continue;
            }
            ops.push(WriteOp::Update {
                key: TenantItem::Day(date).key(t),
                update: Update::default()
                    .add("orders", orders)
                    .add("revenue", revenue)
                    .set("date", date.format("%Y-%m-%d").to_string()),
                condition: None,
            });
        }
        ops
    }
}
