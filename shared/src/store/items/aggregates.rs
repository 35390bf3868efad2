//! Aggregate records: the tenant's running totals and the shop-local day rollups, read whole and changed only by numeric ADD.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{count, number, text};
use crate::domain::{SalesFigures, TenantId};
use crate::store::keys::TenantItem;
use crate::store::{Item, SK, Update, WriteOp};

const ORDERS: &str = "orders";
const PAID_ORDERS: &str = "paid_orders";
const REVENUE: &str = "revenue";
const CUSTOMERS: &str = "customers";
const PRODUCTS: &str = "products";
const CURRENCY: &str = "currency";

/// The tenant's running totals (one item, read in O(1) by the dashboard).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    /// Counted orders (not tests, not deleted), cancelled included.
    pub orders: u64,
    /// Counted orders not cancelled: what the average order value divides by.
    pub paid_orders: u64,
    pub revenue: Decimal,
    pub customers: u64,
    pub products: u64,
    /// The currency of the last order applied.
    pub currency: Option<String>,
}

impl Totals {
    /// The totals an item holds; no item (nothing applied yet) reads as all zero.
    pub fn from_item(item: Option<&Item>) -> Totals {
        let Some(item) = item else {
            return Totals::default();
        };
        Totals {
            orders: count(item, ORDERS),
            paid_orders: count(item, PAID_ORDERS),
            revenue: number(item, REVENUE),
            customers: count(item, CUSTOMERS),
            products: count(item, PRODUCTS),
            currency: text(item, CURRENCY),
        }
    }
}

/// What one change adds to the totals (new − old contribution), and the currency it sets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TotalsDelta {
    pub orders: Decimal,
    pub paid_orders: Decimal,
    pub revenue: Decimal,
    pub customers: Decimal,
    pub products: Decimal,
    pub currency: Option<String>,
}

impl TotalsDelta {
    /// Nothing to add and nothing to set.
    pub fn is_empty(&self) -> bool {
        self.update().is_empty()
    }

    fn update(&self) -> Update {
        let mut update = Update::default();
        for (attr, delta) in [
            (ORDERS, self.orders),
            (PAID_ORDERS, self.paid_orders),
            (REVENUE, self.revenue),
            (PRODUCTS, self.products),
            (CUSTOMERS, self.customers),
        ] {
            if !delta.is_zero() {
                update = update.add(attr, delta);
            }
        }
        if let Some(c) = &self.currency {
            update = update.set(CURRENCY, c.as_str());
        }
        update
    }

    /// The write adding this delta to `tenant`'s totals; `None` when it changes nothing.
    pub fn into_op(self, tenant: TenantId) -> Option<WriteOp> {
        let update = self.update();
        // Commutative adds: no condition, never a conflict to resolve.
        (!update.is_empty()).then(|| WriteOp::Update {
            key: TenantItem::Totals.key(tenant),
            update,
            condition: None,
        })
    }
}

/// One shop-local day's counted orders and revenue, and its sales ledger figures.
#[derive(Clone, Debug, PartialEq)]
pub struct DayRollup {
    pub date: NaiveDate,
    pub orders: u64,
    pub revenue: Decimal,
    pub sales: SalesFigures,
}

impl DayRollup {
    /// The rollup a day item holds (its date read from the sort key); `None` for another item.
    pub fn from_item(item: &Item) -> Option<DayRollup> {
        let Some(TenantItem::Day(date)) = text(item, SK).as_deref().and_then(TenantItem::parse)
        else {
            return None;
        };
        Some(DayRollup {
            date,
            orders: count(item, ORDERS),
            revenue: number(item, REVENUE),
            sales: SalesFigures::from_fields(|attr| number(item, attr)),
        })
    }
}

/// What one change adds to a day rollup.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DayDelta {
    pub date: NaiveDate,
    pub orders: Decimal,
    pub revenue: Decimal,
    pub sales: SalesFigures,
}

impl DayDelta {
    /// The write adding this delta to the day's rollup (creating it); `None` when it adds nothing.
    pub fn into_op(self, tenant: TenantId) -> Option<WriteOp> {
        let mut update = Update::default();
        for (attr, delta) in [(ORDERS, self.orders), (REVENUE, self.revenue)]
            .into_iter()
            .chain(self.sales.fields())
        {
            if !delta.is_zero() {
                update = update.add(attr, delta);
            }
        }
        if update.is_empty() {
            return None;
        }
        // Commutative adds: no condition, never a conflict to resolve.
        Some(WriteOp::Update {
            key: TenantItem::Day(self.date).key(tenant),
            update: update.set("date", self.date.format("%Y-%m-%d").to_string()),
            condition: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;
    use crate::store::items::applied;
    use proptest::prelude::*;

    fn amount() -> impl Strategy<Value = Decimal> {
        (-1_000_000_000i64..1_000_000_000, 0u32..=4).prop_map(|(m, s)| Decimal::new(m, s))
    }

    proptest! {
        #[test]
        fn totals_added_to_nothing_read_back_as_the_delta(
            (orders, paid, customers, products) in (0u32..10_000, 0u32..10_000, 0u32..10_000, 0u32..10_000),
            revenue in amount(),
            currency in proptest::option::of("[A-Z]{3}"),
        ) {
            let t = TenantId::new(5);
            let delta = TotalsDelta {
                orders: orders.into(),
                paid_orders: paid.into(),
                revenue,
                customers: customers.into(),
                products: products.into(),
                currency: currency.clone(),
            };
            let empty = delta == TotalsDelta::default();
            prop_assert_eq!(delta.is_empty(), empty);
            match delta.into_op(t) {
                None => prop_assert!(empty),
                Some(op) => {
                    prop_assert_eq!(op.key().unwrap(), TenantItem::Totals.key(t));
                    let item = applied(op, None);
                    prop_assert_eq!(Totals::from_item(Some(&item)), Totals {
                        orders: orders.into(),
                        paid_orders: paid.into(),
                        revenue,
                        customers: customers.into(),
                        products: products.into(),
                        currency,
                    });
                }
            }
        }

        #[test]
        fn a_day_delta_added_to_nothing_reads_back_as_its_rollup(
            d in 0i64..40_000, orders in 0u32..1_000, revenue in amount(),
        ) {
            let t = TenantId::new(5);
            let date = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap() + chrono::Duration::days(d);
            let sales = SalesFigures { gross: revenue, returns: -revenue, new_customers: orders.into(), ..SalesFigures::default() };
            let delta = DayDelta { date, orders: orders.into(), revenue, sales };
            match delta.into_op(t) {
                None => prop_assert!(orders == 0 && revenue.is_zero()),
                Some(op) => {
                    prop_assert_eq!(op.key().unwrap(), TenantItem::Day(date).key(t));
                    let item = applied(op, None);
                    prop_assert_eq!(DayRollup::from_item(&item), Some(DayRollup { date, orders: orders.into(), revenue, sales }));
                }
            }
        }
    }

    #[test]
    fn no_totals_item_reads_as_zero_and_negative_counters_as_zero() {
        assert_eq!(Totals::from_item(None), Totals::default());
        let t = TenantId::new(1);
        let op = TotalsDelta {
            orders: Decimal::NEGATIVE_ONE,
            ..TotalsDelta::default()
        }
        .into_op(t)
        .unwrap();
        let item = applied(op, None);
        assert_eq!(Totals::from_item(Some(&item)).orders, 0);
    }

    #[test]
    fn deltas_add_to_what_is_stored() {
        let t = TenantId::new(1);
        let date = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        let one = |revenue: i64| DayDelta {
            date,
            orders: Decimal::ONE,
            revenue: Decimal::new(revenue, 2),
            ..DayDelta::default()
        };
        let first = applied(one(1050).into_op(t).unwrap(), None);
        let second = applied(one(-250).into_op(t).unwrap(), Some(&first));
        assert_eq!(
            DayRollup::from_item(&second),
            Some(DayRollup {
                date,
                orders: 2,
                revenue: Decimal::new(800, 2),
                sales: SalesFigures::default(),
            })
        );
        assert_eq!(Key::of(&second), Some(TenantItem::Day(date).key(t)));
    }

    #[test]
    fn an_item_that_is_not_a_day_is_not_a_rollup() {
        let totals = applied(
            TotalsDelta {
                orders: Decimal::ONE,
                ..TotalsDelta::default()
            }
            .into_op(TenantId::new(1))
            .unwrap(),
            None,
        );
        assert_eq!(DayRollup::from_item(&totals), None);
    }
}
