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

use super::Topic;
use crate::domain::SalesFigures;
use crate::domain::sales::ProductSale;
use crate::domain::{Customer, Order, Product, ShopifyId, TenantId, Version};
use crate::store::items::aggregates::{DayDelta, TotalsDelta};
use crate::store::items::events::AppliedEvent;
pub use crate::store::items::events::EVENT_TTL_SECONDS;
use crate::store::items::resources::{
    CustomerRecord, FirstOrder, OrderRecord, ProductRecord, Revision, Tombstone,
};
use crate::store::items::sales::ProductSalesRecord;
use crate::store::items::storefront::{CheckoutItem, Settings};
use crate::store::keys::TenantItem;
use crate::store::{Item, Store, StoreError, WriteOp};
use crate::storefront::apply::{FunnelDeltas, checkout_writes, funnel_ops};
use crate::storefront::checkout::{Checkout, CheckoutVersion, OrderFact};
/// Attempts before a delivery gives up (and answers 5xx, so Shopify retries later).
const MAX_ATTEMPTS: u32 = 12;

/// One change to a tenant's Shopify data.
// One per delivery, built once and borrowed: an order's size is no cost worth an allocation.
#[allow(clippy::large_enum_variant)]
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
    /// The ledger backfill: adds what a stored order from before the sales ledger adds to it.
    LedgerOrder {
        id: ShopifyId,
    },
    /// A checkout version (`checkouts/create|update`).
    UpsertCheckout(CheckoutVersion),
    DeleteCheckout {
        token: String,
        at: DateTime<Utc>,
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

/// A delivery's identity for deduplication: its topic and event id. One merchant action sends
/// several topics under one event id (`orders/create` and `orders/paid`): each topic applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRef<'a> {
    pub topic: Topic,
    pub id: &'a str,
}

impl EventRef<'_> {
    fn record(&self, now: DateTime<Utc>) -> AppliedEvent {
        AppliedEvent {
            topic: self.topic.as_str().to_owned(),
            event_id: self.id.to_owned(),
            applied_at: now,
        }
    }
}

/// Applies `change` for `tenant`. With an `event` (webhooks), the delivery is recorded and a
/// redelivery of the same topic and event id answers [`Outcome::Duplicate`]; without one (sync),
/// versions alone decide.
pub async fn apply(
    store: &dyn Store,
    now: DateTime<Utc>,
    tenant: TenantId,
    event: Option<EventRef<'_>>,
    change: &Change,
) -> Result<Outcome, StoreError> {
    let event_key = event.map(|e| e.record(now).key(tenant));
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Some(k) = &event_key
            && store.get(k).await?.is_some()
        {
            return Ok(Outcome::Duplicate);
        }
        let mut plan = Plan::new(tenant, now);
        plan.build(store, change).await?;
        if plan.is_empty() {
            return Ok(Outcome::Stale);
        }
        let mut ops = Vec::with_capacity(8);
        if let Some(e) = event {
            // First in the batch: only the first delivery of an event gets past its condition.
            ops.push(e.record(now).record(tenant));
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

/// The most products one order adds to the per-product sales totals (those with the lowest ids):
/// it bounds one delivery's writes within a single transaction. The day figures count every line.
pub const MAX_PRODUCTS_PER_ORDER: usize = 60;

/// What an order adds to the aggregates: nothing when deleted or a test.
#[derive(Clone, Debug, PartialEq)]
struct Contribution {
    date: NaiveDate,
    /// Revenue: 0 when cancelled.
    revenue: Decimal,
    cancelled: bool,
    customer: Option<ShopifyId>,
    /// Where it sits among its customer's orders.
    placed: FirstOrder,
    /// Its ledger parts (customer orders, first orders, sales, products) are in the ledger; an
    /// order stored before the ledger adds none until the backfill ledgers it.
    ledgered: bool,
    /// The sales ledger: per day (the order's and its refunds'), per product.
    sales: BTreeMap<NaiveDate, SalesFigures>,
    products: Vec<(ShopifyId, ProductSale, Option<String>)>,
}

impl Contribution {
    fn of(order: &OrderRecord) -> Option<Contribution> {
        if order.test {
            return None;
        }
        // An order synced without its parts adds none (but counts among its customer's orders);
        // one stored before the ledger adds nothing to it at all.
        let parts = order.sales.clone().unwrap_or_default();
        let products = parts
            .by_product()
            .into_iter()
            .take(MAX_PRODUCTS_PER_ORDER)
            .map(|(id, sale)| (id, sale, parts.title_of(id).map(str::to_owned)))
            .filter(|_| order.ledgered)
            .collect();
        let sales = if order.ledgered {
            parts.by_day(order.local_date, order.customer_id.is_some())
        } else {
            BTreeMap::new()
        };
        Some(Contribution {
            date: order.local_date,
            revenue: if order.cancelled {
                Decimal::ZERO
            } else {
                order.total.amount()
            },
            cancelled: order.cancelled,
            customer: order.customer_id,
            placed: FirstOrder(
                order.created_at.timestamp(),
                order.id.get(),
                order.local_date,
            ),
            ledgered: order.ledgered,
            sales,
            products,
        })
    }
}

/// An order's version as text (what orders a checkout's order fact).
fn new_version_text(order: &crate::domain::Order) -> String {
    order.version().as_str().to_owned()
}

/// Newer than what is stored?
fn supersedes(v: &Version, stored: &Revision) -> bool {
    stored.version.as_ref().is_none_or(|cur| cur < v)
}

/// The order to store when `received` arrives over `stored` (`None`: nothing changes). Two
/// last-writer-wins registers: the order's fields by its version, its sale parts by the version
/// they came with among versions that carry them. A version without sale parts (an older source)
/// keeps the stored ones; an older version that carries them fills in what a newer one lacked.
/// Each register only moves forward, so any order of arrival ends in the same record.
fn merge_order(
    mut received: OrderRecord,
    cur: &Revision,
    stored: Option<&OrderRecord>,
) -> Option<OrderRecord> {
    let fields_newer = supersedes(&received.version, cur);
    let sales_newer = received
        .sales_version
        .as_ref()
        .is_some_and(|v| stored.is_some_and(|s| s.sales_version.as_ref().is_none_or(|sv| sv < v)));
    match (fields_newer, stored) {
        (true, Some(s)) if !sales_newer => {
            received.sales = s.sales.clone();
            received.sales_version = s.sales_version.clone();
            Some(received)
        }
        (true, _) => Some(received),
        // Only a live order takes late sale parts: a deletion stays a deletion.
        (false, Some(s)) if sales_newer && cur.live => Some(OrderRecord {
            sales: received.sales,
            sales_version: received.sales_version,
            ..s.clone()
        }),
        (false, _) => None,
    }
}

/// Reads a resource item: its revision (what the write will be conditioned on) and the item.
async fn read(
    store: &dyn Store,
    tenant: TenantId,
    item: TenantItem,
) -> Result<(Revision, Option<Item>), StoreError> {
    let item = store.get(&item.key(tenant)).await?;
    Ok((Revision::of(item.as_ref()), item))
}

/// The contribution a stored order item makes.
fn stored_contribution(item: Option<&Item>) -> Option<Contribution> {
    Contribution::of(&OrderRecord::from_item(item?)?)
}

/// A customer's meaning: profile (last writer wins) plus aggregates (sums of contributions).
trait CustomerRules {
    /// Counted among the tenant's customers: a customer record was received and not deleted.
    fn counted(&self) -> bool;
    fn apply_profile(&mut self, c: &Customer) -> bool;
    fn delete(&mut self, at: DateTime<Utc>) -> bool;
}

impl CustomerRules for CustomerRecord {
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
}

/// Everything one change writes, computed from what was read.
struct Plan {
    tenant: TenantId,
    now: DateTime<Utc>,
    resource: Option<WriteOp>,
    /// A checkout this change touched (its write, a recovery log entry) and the funnel's deltas.
    checkout: Vec<WriteOp>,
    funnel: FunnelDeltas,
    customers: BTreeMap<ShopifyId, (Revision, CustomerRecord, CustomerRecord)>,
    /// What each product's sales totals gain (commutative adds: a best-selling product is in
    /// many concurrent deliveries, and a conditional write would serialize them all).
    products: BTreeMap<ShopifyId, (ProductSale, Option<String>)>,
    totals: TotalsDelta,
    days: BTreeMap<NaiveDate, DayDelta>,
}

impl Plan {
    fn new(tenant: TenantId, now: DateTime<Utc>) -> Plan {
        Plan {
            tenant,
            now,
            resource: None,
            checkout: Vec::new(),
            funnel: FunnelDeltas::new(),
            customers: BTreeMap::new(),
            products: BTreeMap::new(),
            totals: TotalsDelta::default(),
            days: BTreeMap::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.resource.is_none()
            && self.checkout.is_empty()
            && self.customers.values().all(|(_, old, new)| old == new)
    }

    /// Reads the checkout `token`, lets `change` update it, and plans its writes when it changed.
    async fn checkout(
        &mut self,
        store: &dyn Store,
        token: &str,
        change: impl FnOnce(&mut Checkout) -> bool,
    ) -> Result<(), StoreError> {
        let t = self.tenant;
        let item = store
            .get(&TenantItem::Checkout(token.to_owned()).key(t))
            .await?;
        let (revision, old) = CheckoutItem::read(item.as_ref(), token)?;
        let mut new = old.clone();
        if !change(&mut new) || new == old {
            return Ok(());
        }
        // The abandon-after setting decides when it is listed for the job (a completed or
        // deleted checkout is not listed, so it needs no setting).
        let settings = if new.due(chrono::Duration::zero()).is_some() {
            Settings::from_item(store.get(&TenantItem::Settings.key(t)).await?.as_ref())
        } else {
            Settings::from_item(None)
        };
        self.checkout = checkout_writes(
            t,
            self.now,
            &revision,
            &old,
            &new,
            &settings,
            &mut self.funnel,
        )?;
        Ok(())
    }

    async fn customer<'a>(
        &'a mut self,
        store: &dyn Store,
        id: ShopifyId,
    ) -> Result<&'a mut CustomerRecord, StoreError> {
        if !self.customers.contains_key(&id) {
            let (revision, item) = read(store, self.tenant, TenantItem::Customer(id)).await?;
            let record = item.as_ref().map_or_else(
                || CustomerRecord::empty(id),
                |i| CustomerRecord::from_item(id, i),
            );
            self.customers
                .insert(id, (revision, record.clone(), record));
        }
        let (_, _, new) = self
            .customers
            .get_mut(&id)
            .ok_or_else(|| StoreError::backend("customer vanished from the plan"))?;
        Ok(new)
    }

    fn day(&mut self, date: NaiveDate) -> &mut DayDelta {
        self.days.entry(date).or_insert_with(|| DayDelta {
            date,
            ..DayDelta::default()
        })
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
        self.totals.orders += count(new) - count(old);
        self.totals.paid_orders += paid(new) - paid(old);
        self.totals.revenue += rev(new) - rev(old);
        for (c, sign) in [(old, Decimal::NEGATIVE_ONE), (new, Decimal::ONE)] {
            let Some(c) = c else { continue };
            let signed = |f: SalesFigures| if sign.is_sign_negative() { -f } else { f };
            let day = self.day(c.date);
            day.orders += sign;
            day.revenue += sign * c.revenue;
            for (date, figures) in &c.sales {
                self.day(*date).sales += signed(*figures);
            }
            if let Some(id) = c.customer {
                let cust = self.customer(store, id).await?;
                cust.orders += sign;
                cust.total_spent += sign * c.revenue;
                if c.ledgered {
                    if sign.is_sign_negative() {
                        cust.remove_order(c.placed);
                    } else {
                        cust.add_order(c.placed);
                    }
                }
            }
            for (id, sale, title) in &c.products {
                let (delta, name) = self.products.entry(*id).or_default();
                *delta += ProductSale {
                    quantity: sign * sale.quantity,
                    net_sales: sign * sale.net_sales,
                };
                if name.is_none() {
                    name.clone_from(title);
                }
            }
        }
        Ok(())
    }

    async fn build(&mut self, store: &dyn Store, change: &Change) -> Result<(), StoreError> {
        let t = self.tenant;
        match change {
            Change::UpsertOrder(order, snapshot) => {
                let (cur, item) = read(store, t, TenantItem::Order(order.id)).await?;
                let stored = item.as_ref().and_then(OrderRecord::from_item);
                if let Some(new) = merge_order(OrderRecord::of(order), &cur, stored.as_ref()) {
                    // The order already parsed (its sale parts are JSON text): not a second time.
                    let old = stored.as_ref().and_then(Contribution::of);
                    self.shift(store, old.as_ref(), Contribution::of(&new).as_ref())
                        .await?;
                    if let Some(c) = &order.currency {
                        self.totals.currency = Some(c.clone());
                    }
                    self.resource = Some(cur.put(new.to_item(t)));
                }
                // Test orders count nowhere, their customer snapshots included.
                if let Some(c) = snapshot.as_ref().filter(|_| !order.test) {
                    self.customer(store, c.id).await?.apply_profile(c);
                }
                // The checkout it carries is completed (and recovered if it was abandoned).
                if let Some(token) = order.checkout_token.as_deref().filter(|_| !order.test) {
                    let fact = OrderFact {
                        id: order.id.get(),
                        version: new_version_text(order),
                        total: order.total.amount(),
                        currency: order.currency.clone(),
                    };
                    self.checkout(store, token, |c| c.apply_order(fact)).await?;
                }
            }
            Change::DeleteOrder { id, at } => {
                let (cur, item) = read(store, t, TenantItem::Order(*id)).await?;
                if supersedes(&Version::of_deletion(*at), &cur) {
                    let old = stored_contribution(item.as_ref());
                    self.shift(store, old.as_ref(), None).await?;
                    let tombstone = Tombstone { id: *id, at: *at };
                    let key = TenantItem::Order(*id).key(t);
                    self.resource = Some(cur.put(tombstone.to_item(&key)));
                }
            }
            Change::LedgerOrder { id } => {
                let (cur, item) = read(store, t, TenantItem::Order(*id)).await?;
                if let Some(old) = item.as_ref().and_then(OrderRecord::from_item)
                    && !old.ledgered
                {
                    let new = OrderRecord {
                        ledgered: true,
                        ..old.clone()
                    };
                    self.shift(
                        store,
                        Contribution::of(&old).as_ref(),
                        Contribution::of(&new).as_ref(),
                    )
                    .await?;
                    self.resource = Some(cur.put(new.to_item(t)));
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
            Change::UpsertCheckout(v) => {
                self.checkout(store, &v.token, |c| c.apply_version(v))
                    .await?;
            }
            Change::DeleteCheckout { token, at } => {
                self.checkout(store, token, |c| c.apply_deletion(*at))
                    .await?;
            }
            Change::UpsertProduct(p) => {
                let (cur, _) = read(store, t, TenantItem::Product(p.id)).await?;
                let new = ProductRecord::of(p);
                if supersedes(&new.version, &cur) {
                    self.totals.products += Decimal::from(u8::from(!cur.live));
                    self.resource = Some(cur.put(new.to_item(t)));
                }
            }
            Change::DeleteProduct { id, at } => {
                let (cur, _) = read(store, t, TenantItem::Product(*id)).await?;
                if supersedes(&Version::of_deletion(*at), &cur) {
                    self.totals.products -= Decimal::from(u8::from(cur.live));
                    let tombstone = Tombstone { id: *id, at: *at };
                    let key = TenantItem::Product(*id).key(t);
                    self.resource = Some(cur.put(tombstone.to_item(&key)));
                }
            }
        }
        // Customers entering or leaving the count.
        let delta: i64 = self
            .customers
            .values()
            .map(|(_, old, new)| i64::from(new.counted()) - i64::from(old.counted()))
            .sum();
        self.totals.customers += Decimal::from(delta);
        // A customer is new on the day of its first counted order.
        let moved: Vec<(Option<NaiveDate>, Option<NaiveDate>)> = self
            .customers
            .values()
            .map(|(_, old, new)| (old.first_order_date(), new.first_order_date()))
            .filter(|(old, new)| old != new)
            .collect();
        for (old, new) in moved {
            if let Some(d) = old {
                self.day(d).sales.new_customers -= Decimal::ONE;
            }
            if let Some(d) = new {
                self.day(d).sales.new_customers += Decimal::ONE;
            }
        }
        Ok(())
    }

    fn into_ops(self) -> Vec<WriteOp> {
        let t = self.tenant;
        let mut ops = Vec::new();
        ops.extend(self.resource);
        for (revision, old, new) in self.customers.into_values() {
            if old != new {
                ops.push(revision.put(new.to_item(t)));
            }
        }
        for (id, (delta, title)) in self.products {
            ops.extend(ProductSalesRecord::add(t, id, delta, title.as_deref()));
        }
        ops.extend(self.checkout);
        ops.extend(funnel_ops(t, self.funnel));
        ops.extend(self.totals.into_op(t));
        for day in self.days.into_values() {
            ops.extend(day.into_op(t));
        }
        ops
    }
}
