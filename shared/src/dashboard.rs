//! The merchant's numbers, read from what ingestion maintains: the totals item (O(1)), the day
//! rollups (O(days)), the order listing index and the spend-ranked customer index (O(limit)).
//! Never a scan of orders.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::{Customer, Money, TenantId};
use crate::store::keys::{self, TenantItem};
use crate::store::{Attr, Cursor, Index, Item, Query, SortRange, Store, StoreError};

/// The dashboard's headline numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    pub customers: u64,
    pub orders: u64,
    pub products: u64,
    pub revenue: Money,
    pub average_order_value: Money,
    pub currency: Option<String>,
}

fn count(item: Option<&Item>, attr: &str) -> u64 {
    item.and_then(|i| i.get(attr))
        .and_then(Attr::as_n)
        .and_then(|n| u64::try_from(n.max(Decimal::ZERO)).ok())
        .unwrap_or(0)
}

fn amount(item: &Item, attr: &str) -> Decimal {
    item.get(attr).and_then(Attr::as_n).unwrap_or_default()
}

fn text(item: &Item, attr: &str) -> Option<String> {
    item.get(attr).and_then(Attr::as_s).map(str::to_owned)
}

/// One read of the totals item.
pub async fn metrics(store: &dyn Store, tenant: TenantId) -> Result<Metrics, StoreError> {
    let totals = store.get(&TenantItem::Totals.key(tenant)).await?;
    let revenue = Money::new(
        totals
            .as_ref()
            .map(|t| amount(t, "revenue"))
            .unwrap_or_default(),
    );
    let paid = count(totals.as_ref(), "paid_orders");
    Ok(Metrics {
        customers: count(totals.as_ref(), "customers"),
        orders: count(totals.as_ref(), "orders"),
        products: count(totals.as_ref(), "products"),
        revenue,
        average_order_value: revenue.average_over(paid),
        currency: totals.as_ref().and_then(|t| text(t, "currency")),
    })
}

/// One shop-local day.
#[derive(Clone, Debug, PartialEq)]
pub struct Day {
    pub date: NaiveDate,
    pub orders: u64,
    pub revenue: Money,
}

/// Every day from `from` to `to` inclusive, zero-filled: one query of at most 366 small items.
pub async fn days(
    store: &dyn Store,
    tenant: TenantId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Day>, StoreError> {
    let mut found: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    let mut q = Query::partition(
        Index::Primary,
        keys::tenant_partition(tenant),
        keys::day_range(from, to),
    )
    .limit(400);
    loop {
        let page = store.query(&q).await?;
        for item in &page.items {
            let Some(TenantItem::Day(date)) = item
                .get("sk")
                .and_then(Attr::as_s)
                .and_then(TenantItem::parse)
            else {
                continue;
            };
            found.insert(
                date,
                Day {
                    date,
                    orders: count(Some(item), "orders"),
                    revenue: Money::new(amount(item, "revenue")),
                },
            );
        }
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    Ok(from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|date| {
            found.remove(&date).unwrap_or(Day {
                date,
                orders: 0,
                revenue: Money::ZERO,
            })
        })
        .collect())
}

/// An order as the list shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedOrder {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub total_price: Money,
    pub currency: Option<String>,
    pub financial_status: Option<String>,
    pub cancelled: bool,
    pub customer_id: Option<String>,
}

/// One page of the counted orders of days `from..=to`, newest first.
pub async fn orders(
    store: &dyn Store,
    tenant: TenantId,
    from: NaiveDate,
    to: NaiveDate,
    limit: u32,
    cursor: Option<Cursor>,
) -> Result<(Vec<ListedOrder>, Option<Cursor>), StoreError> {
    let q = Query::partition(
        Index::Gsi2,
        keys::order_listing_partition(tenant),
        keys::order_listing_range(from, to),
    )
    .backward()
    .limit(limit)
    .after(cursor);
    let page = store.query(&q).await?;
    let orders = page
        .items
        .iter()
        .map(|i| ListedOrder {
            id: text(i, "id").unwrap_or_default(),
            name: text(i, "name").unwrap_or_default(),
            created_at: text(i, "created_at").unwrap_or_default(),
            total_price: text(i, "total")
                .and_then(|t| Money::parse(&t))
                .unwrap_or_default(),
            currency: text(i, "currency"),
            financial_status: text(i, "financial_status"),
            cancelled: matches!(i.get("cancelled"), Some(Attr::Bool(true))),
            customer_id: text(i, "customer_id"),
        })
        .collect();
    Ok((orders, page.next))
}

/// A customer in the top list.
#[derive(Clone, Debug, PartialEq)]
pub struct TopCustomer {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub orders: u64,
    pub total_spent: Money,
}

/// The `limit` customers with the highest spend (ties: more orders, then lower id).
pub async fn top_customers(
    store: &dyn Store,
    tenant: TenantId,
    limit: u32,
) -> Result<Vec<TopCustomer>, StoreError> {
    let q = Query::partition(
        Index::Gsi1,
        keys::customer_rank_partition(tenant),
        SortRange::All,
    )
    .backward()
    .limit(limit);
    let page = store.query(&q).await?;
    Ok(page
        .items
        .iter()
        .map(|i| TopCustomer {
            id: text(i, "id").unwrap_or_default(),
            name: Customer::display_name(
                text(i, "first_name").as_deref(),
                text(i, "last_name").as_deref(),
            ),
            email: text(i, "email"),
            orders: count(Some(i), "orders"),
            total_spent: Money::new(amount(i, "total_spent")),
        })
        .collect())
}
