//! Reading customer data requests (`GET /compliance/requests`, `GET /compliance/requests/{id}`):
//! the requests a tenant received, and the export of everything held about a request's customer.

use crate::domain::{ShopifyId, TenantId};
use crate::store::items::compliance::DataRequestRecord;
use crate::store::items::resources::{CustomerRecord, OrderRecord};
use crate::store::keys::{DATA_REQUESTS, TenantItem, all_orders, tenant_partition};
use crate::store::{Index, MAX_QUERY_LIMIT, Query, SortRange, Store, StoreError};

/// Everything held about a customer.
#[derive(Clone, Debug, PartialEq)]
pub struct Export {
    /// The customer record (`None` when nothing is held).
    pub customer: Option<CustomerRecord>,
    /// The customer's orders, by id.
    pub orders: Vec<OrderRecord>,
}

/// Every data request of the tenant, oldest request id first.
pub async fn requests(
    store: &dyn Store,
    tenant: TenantId,
) -> Result<Vec<DataRequestRecord>, StoreError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let q = Query::partition(
            Index::Primary,
            tenant_partition(tenant),
            SortRange::Prefix(DATA_REQUESTS.into()),
        )
        .limit(MAX_QUERY_LIMIT)
        .after(cursor);
        let page = store.query(&q).await?;
        out.extend(page.items.iter().filter_map(DataRequestRecord::from_item));
        match page.next {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// The export of request `id` (`None`: no such request for this tenant). Orders are found by
/// reading the tenant's orders (there is no index by customer): O(orders), acceptable for a
/// request Shopify allows 30 days to answer.
pub async fn export(
    store: &dyn Store,
    tenant: TenantId,
    id: ShopifyId,
) -> Result<Option<Export>, StoreError> {
    let Some(request) = store
        .get(&TenantItem::DataRequest(id).key(tenant))
        .await?
        .as_ref()
        .and_then(DataRequestRecord::from_item)
    else {
        return Ok(None);
    };
    let who = request.customer_id;
    let customer = store
        .get(&TenantItem::Customer(who).key(tenant))
        .await?
        .map(|item| CustomerRecord::from_item(who, &item));
    let mut orders = Vec::new();
    let mut cursor = None;
    loop {
        let q = Query::partition(Index::Primary, tenant_partition(tenant), all_orders())
            .limit(MAX_QUERY_LIMIT)
            .after(cursor);
        let page = store.query(&q).await?;
        orders.extend(
            page.items
                .iter()
                .filter_map(OrderRecord::from_item)
                .filter(|o| o.customer_id == Some(who)),
        );
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(Some(Export { customer, orders }))
}
