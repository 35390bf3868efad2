//! The merchant's numbers, read from what ingestion maintains: the totals item (O(1)), the day
//! rollups (O(days)), the order listing index and the spend-ranked customer index (O(limit)).
//! Never a scan of orders. Page cursors are sealed here, bound to the tenant and range they were
//! issued for.

pub mod query;
pub mod sales;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::auth::token::TokenKeys;
use crate::domain::{Customer, Money, TenantId};
use crate::store::items::aggregates::Totals;
use crate::store::items::resources::{CustomerRecord, OrderRecord};
use crate::store::keys::{self, TenantItem};
use crate::store::{Cursor, Index, Query, SortRange, Store, StoreError};
pub use query::{DEFAULT_RANGE_DAYS, MAX_RANGE_DAYS, OrdersByDateQuery, TopCustomersQuery};

/// Why the dashboard could not answer.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The page cursor was not issued for this tenant and range, or was altered.
    #[error("the cursor is not valid for this query")]
    InvalidCursor,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal failure: {0}")]
    Internal(&'static str),
}

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

/// One read of the totals item.
pub async fn metrics(store: &dyn Store, tenant: TenantId) -> Result<Metrics, StoreError> {
    let item = store.get(&TenantItem::Totals.key(tenant)).await?;
    let totals = Totals::from_item(item.as_ref());
    let revenue = Money::new(totals.revenue);
    Ok(Metrics {
        customers: totals.customers,
        orders: totals.orders,
        products: totals.products,
        revenue,
        average_order_value: revenue.average_over(totals.paid_orders),
        currency: totals.currency,
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
    let found = sales::rollups(store, tenant, from, to).await?;
    Ok(from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|date| match found.get(&date) {
            Some(day) => Day {
                date,
                orders: day.orders,
                revenue: Money::new(day.revenue),
            },
            None => Day {
                date,
                orders: 0,
                revenue: Money::ZERO,
            },
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
        .filter_map(OrderRecord::from_item)
        .map(|o| ListedOrder {
            id: o.id.to_string(),
            name: o.name,
            created_at: o.created_at.to_rfc3339(),
            total_price: o.total,
            currency: o.currency,
            financial_status: o.financial_status,
            cancelled: o.cancelled,
            customer_id: o.customer_id.map(|c| c.to_string()),
        })
        .collect();
    Ok((orders, page.next))
}

/// What `orders-by-date` answers: the zero-filled days of the range and one page of its orders.
#[derive(Clone, Debug, PartialEq)]
pub struct OrdersPage {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: Vec<Day>,
    pub orders: Vec<ListedOrder>,
    /// Sealed; present exactly when more orders follow.
    pub next_cursor: Option<String>,
}

/// What a page cursor is bound to: the tenant and the range it was issued for.
#[derive(Serialize, Deserialize)]
struct PageCursor {
    t: u64,
    f: NaiveDate,
    to: NaiveDate,
    c: String,
}

/// The days of the requested range and the page of orders after the request's cursor. The cursor
/// must be one this service sealed for the same tenant and range.
pub async fn orders_page(
    store: &dyn Store,
    keys: &TokenKeys,
    tenant: TenantId,
    request: &OrdersByDateQuery,
) -> Result<OrdersPage, DashboardError> {
    let (from, to) = (request.from, request.to);
    let cursor = match &request.cursor {
        None => None,
        Some(text) => {
            let payload = keys.open(text).ok_or(DashboardError::InvalidCursor)?;
            let pc: PageCursor =
                serde_json::from_slice(&payload).map_err(|_| DashboardError::InvalidCursor)?;
            if pc.t != tenant.get() || pc.f != from || pc.to != to {
                return Err(DashboardError::InvalidCursor);
            }
            Some(Cursor::decode(&pc.c).map_err(|_| DashboardError::InvalidCursor)?)
        }
    };
    let days = days(store, tenant, from, to).await?;
    let (orders, next) = orders(store, tenant, from, to, request.limit, cursor)
        .await
        .map_err(|e| match e {
            StoreError::InvalidCursor => DashboardError::InvalidCursor,
            e => e.into(),
        })?;
    let next_cursor = match next {
        None => None,
        Some(c) => {
            let pc = PageCursor {
                t: tenant.get(),
                f: from,
                to,
                c: c.encode(),
            };
            let payload =
                serde_json::to_vec(&pc).map_err(|_| DashboardError::Internal("cursor encoding"))?;
            Some(keys.seal(&payload))
        }
    };
    Ok(OrdersPage {
        from,
        to,
        days,
        orders,
        next_cursor,
    })
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
    request: &TopCustomersQuery,
) -> Result<Vec<TopCustomer>, StoreError> {
    let q = Query::partition(
        Index::Gsi1,
        keys::customer_rank_partition(tenant),
        SortRange::All,
    )
    .backward()
    .limit(request.limit);
    let page = store.query(&q).await?;
    Ok(page
        .items
        .iter()
        .filter_map(CustomerRecord::from_ranked_item)
        .map(|c| TopCustomer {
            id: c.id.to_string(),
            name: Customer::display_name(c.first_name.as_deref(), c.last_name.as_deref()),
            orders: c.order_count(),
            email: c.email,
            total_spent: Money::new(c.total_spent),
        })
        .collect())
}
