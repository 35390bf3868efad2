//! The resources the sync reads, page by page, and their mapping to the changes webhooks produce.
//!
//! GraphQL gives timestamps in UTC; webhooks carry the shop's offset. The shop's IANA zone turns
//! each instant into the shop-local time (DST included), so an order synced and the same order
//! delivered by webhook land on the same day.

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::{PAGE_SIZE, Shopify, ShopifyError};
use crate::domain::{Customer, Money, Order, Product, ShopifyId};
use crate::ingest::Change;

/// A resource kind the sync reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Customers,
    Orders,
    Products,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Customers, Kind::Products, Kind::Orders];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Orders => "orders",
            Kind::Products => "products",
        }
    }

    /// The paginated, incremental query (variables `first`, `after`, `query`).
    pub fn query(self) -> &'static str {
        match self {
            Kind::Customers => {
                "query Customers($first: Int!, $after: String, $query: String) { customers(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { pageInfo { hasNextPage endCursor } nodes { id firstName lastName email updatedAt } } }"
            }
            Kind::Products => {
                "query Products($first: Int!, $after: String, $query: String) { products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { pageInfo { hasNextPage endCursor } nodes { id title updatedAt } } }"
            }
            Kind::Orders => {
                "query Orders($first: Int!, $after: String, $query: String) { orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { pageInfo { hasNextPage endCursor } nodes { id name createdAt updatedAt cancelledAt test displayFinancialStatus currencyCode currentTotalPriceSet { shopMoney { amount currencyCode } } totalPriceSet { shopMoney { amount currencyCode } } customer { id firstName lastName email updatedAt } } } }"
            }
        }
    }
}

/// One page of a resource.
pub struct Page {
    pub changes: Vec<(Change, DateTime<Utc>)>,
    pub next: Option<String>,
}

/// The Shopify search syntax for "updated at or after".
pub fn since_filter(since: Option<DateTime<Utc>>) -> Option<String> {
    since.map(|t| {
        format!(
            "updated_at:>='{}'",
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    })
}

/// Reads one page of `kind` updated at or after `since`, after `cursor`.
pub async fn page(
    client: &Shopify,
    kind: Kind,
    since: Option<DateTime<Utc>>,
    cursor: Option<&str>,
    zone: Option<Tz>,
) -> Result<Page, ShopifyError> {
    let data = client
        .query(
            kind.query(),
            json!({"first": PAGE_SIZE, "after": cursor, "query": since_filter(since)}),
        )
        .await?;
    let conn = data
        .get(kind.as_str())
        .ok_or_else(|| ShopifyError::Protocol(format!("no {}", kind.as_str())))?;
    let nodes = conn
        .get("nodes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut changes = Vec::with_capacity(nodes.len());
    for n in &nodes {
        match to_change(kind, n, zone) {
            Some(c) => changes.push(c),
            None => tracing::warn!(
                kind = kind.as_str(),
                "skipped a record Shopify sent without an id or timestamps"
            ),
        }
    }
    let has_next = conn
        .pointer("/pageInfo/hasNextPage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let next = conn
        .pointer("/pageInfo/endCursor")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .filter(|_| has_next);
    Ok(Page { changes, next })
}

fn local(t: &str, zone: Option<Tz>) -> Option<DateTime<FixedOffset>> {
    let utc = DateTime::parse_from_rfc3339(t).ok()?.with_timezone(&Utc);
    Some(match zone {
        Some(z) => utc.with_timezone(&z).fixed_offset(),
        None => utc.fixed_offset(),
    })
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn customer(v: &Value, zone: Option<Tz>) -> Option<Customer> {
    Some(Customer {
        id: ShopifyId::parse(v.get("id")?.as_str()?)?,
        first_name: s(v, "firstName"),
        last_name: s(v, "lastName"),
        email: s(v, "email"),
        updated_at: local(v.get("updatedAt")?.as_str()?, zone)?,
    })
}

/// A node as the change a webhook of the same version would make, with its `updatedAt`.
pub fn to_change(kind: Kind, v: &Value, zone: Option<Tz>) -> Option<(Change, DateTime<Utc>)> {
    let updated = DateTime::parse_from_rfc3339(v.get("updatedAt")?.as_str()?)
        .ok()?
        .with_timezone(&Utc);
    let change = match kind {
        Kind::Customers => Change::UpsertCustomer(customer(v, zone)?),
        Kind::Products => Change::UpsertProduct(Product {
            id: ShopifyId::parse(v.get("id")?.as_str()?)?,
            title: s(v, "title").unwrap_or_default(),
            updated_at: local(v.get("updatedAt")?.as_str()?, zone)?,
        }),
        Kind::Orders => {
            let money = |p: &str| v.pointer(p).and_then(Value::as_str).and_then(Money::parse);
            let total = money("/currentTotalPriceSet/shopMoney/amount")
                .or_else(|| money("/totalPriceSet/shopMoney/amount"))?;
            let snapshot = v
                .get("customer")
                .filter(|c| !c.is_null())
                .and_then(|c| customer(c, zone));
            Change::UpsertOrder(
                Order {
                    id: ShopifyId::parse(v.get("id")?.as_str()?)?,
                    name: s(v, "name").unwrap_or_default(),
                    created_at: local(v.get("createdAt")?.as_str()?, zone)?,
                    updated_at: local(v.get("updatedAt")?.as_str()?, zone)?,
                    total,
                    currency: s(v, "currencyCode"),
                    // REST's spelling, so a synced version and a webhook version compare alike.
                    financial_status: s(v, "displayFinancialStatus").map(|f| f.to_lowercase()),
                    cancelled: v.get("cancelledAt").is_some_and(|c| !c.is_null()),
                    test: v.get("test").and_then(Value::as_bool).unwrap_or(false),
                    customer_id: snapshot.as_ref().map(|c| c.id),
                    // The Admin API's orders carry no checkout token; webhooks join them.
                    checkout_token: None,
                },
                snapshot,
            )
        }
    };
    Some((change, updated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synced_order_lands_on_the_same_shop_local_day_as_its_webhook() {
        // The webhook fixture: created 2026-11-24T22:41:07-05:00 (New York), i.e. 03:41:07Z on the 25th.
        let node = json!({
            "id": "gid://shopify/Order/820982911946154508",
            "name": "#9999",
            "createdAt": "2026-11-25T03:41:07Z",
            "updatedAt": "2026-11-25T03:41:09Z",
            "cancelledAt": null,
            "test": false,
            "displayFinancialStatus": "PAID",
            "currencyCode": "USD",
            "currentTotalPriceSet": {"shopMoney": {"amount": "214.63", "currencyCode": "USD"}},
            "customer": {"id": "gid://shopify/Customer/115310627314723954", "firstName": "Jon", "lastName": "Snow", "email": "jon@example.com", "updatedAt": "2026-11-25T03:41:08Z"}
        });
        let (Change::UpsertOrder(o, c), _) =
            to_change(Kind::Orders, &node, Some(chrono_tz::America::New_York)).unwrap()
        else {
            panic!("not an order")
        };
        assert_eq!(o.local_date().to_string(), "2026-11-24");
        assert_eq!(o.created_at.to_rfc3339(), "2026-11-24T22:41:07-05:00");
        assert_eq!(o.id.get(), 820982911946154508);
        assert_eq!(o.total.to_api(), "214.63");
        assert_eq!(o.financial_status.as_deref(), Some("paid"));
        assert_eq!(c.unwrap().id.get(), 115310627314723954);

        // Summer: the same zone is -04:00.
        let mut summer = node.clone();
        summer["createdAt"] = json!("2026-07-01T02:30:00Z");
        let (Change::UpsertOrder(o, _), _) =
            to_change(Kind::Orders, &summer, Some(chrono_tz::America::New_York)).unwrap()
        else {
            panic!()
        };
        assert_eq!(o.created_at.to_rfc3339(), "2026-06-30T22:30:00-04:00");
    }

    #[test]
    fn the_incremental_filter_is_shopifys_search_syntax() {
        let t = DateTime::parse_from_rfc3339("2026-09-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            since_filter(Some(t)).unwrap(),
            "updated_at:>='2026-09-01T00:00:00Z'"
        );
        assert_eq!(since_filter(None), None);
    }
}
