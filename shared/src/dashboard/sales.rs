//! Sales as Shopify's reports count them, read from the ledger ingestion maintains: the day
//! rollups' sales figures (O(days)) and the per-product totals (O(products)).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};

use super::query::{limit, params, range};
use crate::domain::{FieldError, Money, SalesFigures, ShopifyId, TenantId};
use crate::store::items::aggregates::{DayRollup, Totals};
use crate::store::items::resources::ProductRecord;
use crate::store::items::sales::ProductSalesRecord;
use crate::store::keys::{self, TenantItem};
use crate::store::{Index, Query, SortRange, Store, StoreError};

/// `GET /dashboard/sales?from&to[&compare=previous_period]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SalesQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Also the equally long period just before `from`.
    pub previous: bool,
}

impl SalesQuery {
    /// Parses `from`, `to` (as every ranged read) and `compare`.
    pub fn parse(query: Option<&str>, today: NaiveDate) -> Result<SalesQuery, FieldError> {
        let p = params(query);
        let (from, to) = range(&p, today)?;
        let previous = match p.get("compare").map(String::as_str) {
            None | Some("") => false,
            Some("previous_period") => true,
            Some(_) => {
                return Err(FieldError::new(
                    "invalid_compare",
                    "compare must be previous_period.",
                ));
            }
        };
        Ok(SalesQuery { from, to, previous })
    }
}

/// One period's (or one day's) figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Counted orders: not tests, not deleted; cancelled ones included.
    pub orders: u64,
    pub sales: SalesFigures,
}

impl Figures {
    fn add(&mut self, day: &DayRollup) {
        self.orders += day.orders;
        self.sales += day.sales;
    }

    /// (gross − discounts) ÷ orders, half-even to cents; 0 without orders.
    pub fn average_order_value(&self) -> Money {
        Money::new(self.sales.gross - self.sales.discounts).average_over(self.orders)
    }

    /// Returning customer orders ÷ orders, four decimals, half-even; 0 without orders.
    pub fn returning_customer_rate(&self) -> Decimal {
        if self.orders == 0 {
            return Decimal::new(0, 4);
        }
        let mut r = (self.sales.returning_customer_orders() / Decimal::from(self.orders))
            .round_dp_with_strategy(4, RoundingStrategy::MidpointNearestEven);
        r.rescale(4);
        r
    }
}

/// What `/dashboard/sales` answers.
#[derive(Clone, Debug, PartialEq)]
pub struct SalesReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub currency: Option<String>,
    pub totals: Figures,
    /// Every day of the range, zero-filled.
    pub days: Vec<(NaiveDate, Figures)>,
    pub previous: Option<Figures>,
}

/// The day rollups of `from..=to` that exist: one query of at most 366 small items.
pub async fn rollups(
    store: &dyn Store,
    tenant: TenantId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<BTreeMap<NaiveDate, DayRollup>, StoreError> {
    let mut found = BTreeMap::new();
    let mut q = Query::partition(
        Index::Primary,
        keys::tenant_partition(tenant),
        keys::day_range(from, to),
    )
    .limit(400);
    loop {
        let page = store.query(&q).await?;
        for day in page.items.iter().filter_map(DayRollup::from_item) {
            found.insert(day.date, day);
        }
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => return Ok(found),
        }
    }
}

pub async fn sales(
    store: &dyn Store,
    tenant: TenantId,
    q: &SalesQuery,
) -> Result<SalesReport, StoreError> {
    let found = rollups(store, tenant, q.from, q.to).await?;
    let mut totals = Figures::default();
    let days = q
        .from
        .iter_days()
        .take_while(|d| *d <= q.to)
        .map(|date| {
            let mut f = Figures::default();
            if let Some(day) = found.get(&date) {
                f.add(day);
            }
            totals.orders += f.orders;
            totals.sales += f.sales;
            (date, f)
        })
        .collect();
    let previous = if q.previous {
        let len = (q.to - q.from).num_days() + 1;
        let (from, to) = (q.from - Duration::days(len), q.from - Duration::days(1));
        let mut f = Figures::default();
        for day in rollups(store, tenant, from, to).await?.values() {
            f.add(day);
        }
        Some(f)
    } else {
        None
    };
    let currency =
        Totals::from_item(store.get(&TenantItem::Totals.key(tenant)).await?.as_ref()).currency;
    Ok(SalesReport {
        from: q.from,
        to: q.to,
        currency,
        totals,
        days,
        previous,
    })
}

/// `GET /dashboard/top-products[?limit=5]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopProductsQuery {
    pub limit: u32,
}

impl TopProductsQuery {
    pub const DEFAULT_LIMIT: u32 = 5;
    pub const MAX_LIMIT: u32 = 50;

    pub fn parse(query: Option<&str>) -> Result<TopProductsQuery, FieldError> {
        Ok(TopProductsQuery {
            limit: limit(&params(query), Self::DEFAULT_LIMIT, Self::MAX_LIMIT)?,
        })
    }
}

/// A product in the top list.
#[derive(Clone, Debug, PartialEq)]
pub struct TopProduct {
    pub id: ShopifyId,
    pub title: String,
    pub quantity: Decimal,
    pub net_sales: Money,
}

/// The `limit` products with the highest net sales (ties: more units, then the lower id): the
/// tenant's product totals (one small item per product ever sold, read in pages of 1,000),
/// ranked here, then the product records of the `limit` for their titles. O(products), never
/// O(orders): the totals are commutative adds, so a best seller in many concurrent deliveries
/// never serializes them, which an index sorted on the totals would (each write would have to
/// read and condition on the previous total to rewrite its sort key).
pub async fn top_products(
    store: &dyn Store,
    tenant: TenantId,
    q: &TopProductsQuery,
) -> Result<Vec<TopProduct>, StoreError> {
    let mut all: Vec<ProductSalesRecord> = Vec::new();
    let mut query = Query::partition(
        Index::Primary,
        keys::tenant_partition(tenant),
        SortRange::Prefix(keys::PRODUCT_SALES.into()),
    )
    .limit(1000);
    loop {
        let page = store.query(&query).await?;
        all.extend(
            page.items
                .iter()
                .filter_map(ProductSalesRecord::from_item)
                .filter(|r| !r.quantity.is_zero() || !r.net_sales.is_zero()),
        );
        match page.next {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    all.sort_by(|a, b| {
        b.net_sales
            .cmp(&a.net_sales)
            .then(b.quantity.cmp(&a.quantity))
            .then(a.id.cmp(&b.id))
    });
    all.truncate(q.limit as usize);
    let mut out = Vec::with_capacity(all.len());
    for r in all {
        let product = store.get(&TenantItem::Product(r.id).key(tenant)).await?;
        let title = product
            .as_ref()
            .and_then(ProductRecord::from_item)
            .map(|p| p.title)
            .or(r.title)
            .unwrap_or_default();
        out.push(TopProduct {
            id: r.id,
            title,
            quantity: r.quantity,
            net_sales: Money::new(r.net_sales),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn compare_is_previous_period_or_nothing() {
        let today = d("2026-11-29");
        let q = SalesQuery::parse(
            Some("from=2026-11-01&to=2026-11-30&compare=previous_period"),
            today,
        );
        assert_eq!(
            q.ok(),
            Some(SalesQuery {
                from: d("2026-11-01"),
                to: d("2026-11-30"),
                previous: true
            })
        );
        let err = SalesQuery::parse(Some("compare=last_year"), today).err();
        assert_eq!(err.map(|e| e.code), Some("invalid_compare"));
        assert_eq!(
            SalesQuery::parse(None, today).ok().map(|q| q.previous),
            Some(false)
        );
    }

    #[test]
    fn the_returning_rate_and_aov_round_half_even() {
        let f = Figures {
            orders: 3,
            sales: SalesFigures {
                gross: Decimal::new(1000, 2),
                discounts: Decimal::new(1, 2),
                customer_orders: Decimal::from(3),
                new_customers: Decimal::from(2),
                ..SalesFigures::default()
            },
        };
        assert_eq!(f.returning_customer_rate().to_string(), "0.3333");
        assert_eq!(f.average_order_value().to_api(), "3.33");
        assert_eq!(
            Figures::default().returning_customer_rate().to_string(),
            "0.0000"
        );
        assert_eq!(Figures::default().average_order_value().to_api(), "0.00");
    }

    #[test]
    fn top_products_take_one_to_fifty() {
        assert_eq!(TopProductsQuery::parse(None).ok().map(|q| q.limit), Some(5));
        assert_eq!(
            TopProductsQuery::parse(Some("limit=50"))
                .ok()
                .map(|q| q.limit),
            Some(50)
        );
        for bad in ["limit=0", "limit=51", "limit=x", "limit=-1"] {
            assert_eq!(
                TopProductsQuery::parse(Some(bad)).err().map(|e| e.code),
                Some("invalid_limit"),
                "{bad}"
            );
        }
    }
}
