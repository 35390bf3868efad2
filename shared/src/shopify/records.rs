//! The resources the sync reads, page by page, and their mapping to the changes webhooks produce.
//!
//! GraphQL gives timestamps in UTC; webhooks carry the shop's offset. The shop's IANA zone turns
//! each instant into the shop-local time (DST included), so an order synced and the same order
//! delivered by webhook land on the same day.

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::{PAGE_SIZE, Shopify, ShopifyError};
use crate::domain::sales::{LineSale, MAX_TITLE_CHARS, OrderSales, RefundLine, RefundSale};
use crate::domain::{Customer, Money, Order, Product, ShopifyId};
use crate::ingest::Change;
use crate::storefront::checkout::{CheckoutVersion, keep_recovery_url, token_from_recovery_url};
use rust_decimal::Decimal;

/// A resource kind the sync reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Customers,
    Orders,
    Products,
    /// Shopify's abandoned checkouts (recovered ones included): a shop connected late gets its
    /// checkout history. Not one of the kinds `GET /sync/status` reports.
    Checkouts,
}

impl Kind {
    /// In the order a run reads them.
    pub const ALL: [Kind; 4] = [
        Kind::Customers,
        Kind::Products,
        Kind::Orders,
        Kind::Checkouts,
    ];

    /// The name in state attributes, checkpoints and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Orders => "orders",
            Kind::Products => "products",
            Kind::Checkouts => "checkouts",
        }
    }

    /// The Admin API's root field for this kind.
    pub fn field(self) -> &'static str {
        match self {
            Kind::Checkouts => "abandonedCheckouts",
            other => other.as_str(),
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
            // No `UPDATED_AT` sort key exists for this connection: by id (the default), filtered
            // by `updated_at`; the run's overlap and the webhooks cover a checkout updated while
            // the run pages.
            Kind::Checkouts => {
                "query AbandonedCheckouts($first: Int!, $after: String, $query: String) { abandonedCheckouts(first: $first, after: $after, query: $query) { pageInfo { hasNextPage endCursor } nodes { id abandonedCheckoutUrl createdAt updatedAt completedAt totalPriceSet { shopMoney { amount currencyCode } } } } }"
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
        .get(kind.field())
        .ok_or_else(|| ShopifyError::Protocol(format!("no {}", kind.field())))?;
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
                "skipped a record Shopify sent without an id, a checkout token or timestamps"
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
                    sales: order_sales(v, zone),
                },
                snapshot,
            )
        }
        Kind::Checkouts => Change::UpsertCheckout(checkout(v, zone)?),
    };
    Some((change, updated))
}

/// An order node's sale parts, when its query asked for them (the bulk import's does; the paged
/// query's cost budget cannot hold nested line items and refunds, so its orders carry none and
/// leave the stored parts as they are). Nested connections come either inline (`lineItems {
/// nodes }`) or, from a bulk operation's JSONL, as the order's `__children` lines, each naming its
/// parent (the order, or one of its refunds) in `__parentId` and its type in `__typename`.
pub fn order_sales(v: &Value, zone: Option<Tz>) -> Option<OrderSales> {
    let shop_amount = |n: &Value, p: &str| -> Option<Decimal> {
        n.pointer(&format!("{p}/shopMoney/amount"))
            .and_then(Value::as_str)
            .and_then(Money::parse)
            .map(Money::amount)
    };
    // The marker: a source that carries sale parts asks for the order's discounts.
    let discounts = v.get("totalDiscountsSet")?;
    let children: Vec<&Value> = v
        .get("__children")
        .and_then(Value::as_array)
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    let of_type = |t: &str, parent: &str, inline: Option<&Value>| -> Vec<Value> {
        let mut out: Vec<Value> = children
            .iter()
            .filter(|c| c.get("__typename").and_then(Value::as_str) == Some(t))
            .filter(|c| c.get("__parentId").and_then(Value::as_str) == Some(parent))
            .map(|c| (*c).clone())
            .collect();
        if let Some(nodes) = inline
            .and_then(|c| c.get("nodes").or_else(|| c.get("edges")))
            .and_then(Value::as_array)
        {
            out.extend(nodes.iter().map(|n| n.get("node").unwrap_or(n).clone()));
        }
        out
    };
    let id = v.get("id")?.as_str()?;
    let gid_number = |n: &Value| n.as_str().and_then(ShopifyId::parse).map(ShopifyId::get);
    let mut sales = OrderSales {
        discounts: shop_amount(discounts, "").unwrap_or_default(),
        tax: v
            .get("totalTaxSet")
            .and_then(|t| shop_amount(t, ""))
            .unwrap_or_default(),
        ..OrderSales::default()
    };
    for l in of_type("LineItem", id, v.get("lineItems")) {
        sales.lines.push(LineSale {
            line: l.get("id").and_then(gid_number),
            product: l.pointer("/product/id").and_then(gid_number),
            title: s(&l, "title")
                .unwrap_or_default()
                .chars()
                .take(MAX_TITLE_CHARS)
                .collect(),
            quantity: l
                .get("quantity")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .max(0),
            price: shop_amount(&l, "/originalUnitPriceSet").unwrap_or_default(),
            discount: shop_amount(&l, "/totalDiscountSet").unwrap_or_default(),
        });
    }
    for sl in of_type("ShippingLine", id, v.get("shippingLines")) {
        sales.shipping += shop_amount(&sl, "/originalPriceSet").unwrap_or_default();
    }
    for r in v
        .get("refunds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let rid = r.get("id").and_then(Value::as_str).unwrap_or_default();
        let date = r
            .get("createdAt")
            .and_then(Value::as_str)
            .and_then(|t| local(t, zone))?
            .date_naive();
        let mut refund = RefundSale {
            id: r.get("id").and_then(gid_number),
            date,
            lines: Vec::new(),
            shipping: Decimal::ZERO,
        };
        for l in of_type("RefundLineItem", rid, r.get("refundLineItems")) {
            refund.lines.push(RefundLine {
                line: l.pointer("/lineItem/id").and_then(gid_number),
                product: l.pointer("/lineItem/product/id").and_then(gid_number),
                quantity: l
                    .get("quantity")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .max(0),
                subtotal: shop_amount(&l, "/subtotalSet").unwrap_or_default(),
                tax: shop_amount(&l, "/totalTaxSet").unwrap_or_default(),
            });
        }
        for sl in of_type("RefundShippingLine", rid, r.get("refundShippingLines")) {
            refund.shipping += shop_amount(&sl, "/subtotalAmountSet").unwrap_or_default();
        }
        sales.refunds.push(refund);
    }
    Some(sales)
}

/// An `AbandonedCheckout` as the version its `checkouts/update` webhook would carry. Its token
/// comes from the recovery link; Shopify lists only checkouts whose buyer gave contact details.
fn checkout(v: &Value, zone: Option<Tz>) -> Option<CheckoutVersion> {
    let url = s(v, "abandonedCheckoutUrl")?;
    let token = token_from_recovery_url(&url)?;
    let completed_at = match v.get("completedAt").and_then(Value::as_str) {
        Some(t) => Some(local(t, zone)?),
        None => None,
    };
    Some(CheckoutVersion {
        token,
        created_at: local(v.get("createdAt")?.as_str()?, zone)?,
        updated_at: local(v.get("updatedAt")?.as_str()?, zone)?,
        completed_at,
        contact: true,
        total: v
            .pointer("/totalPriceSet/shopMoney/amount")
            .and_then(Value::as_str)
            .and_then(Money::parse)
            .map(|m| m.amount()),
        currency: v
            .pointer("/totalPriceSet/shopMoney/currencyCode")
            .and_then(Value::as_str)
            .filter(|c| c.len() <= 8)
            .map(str::to_owned),
        recovery_url: keep_recovery_url(url),
    })
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
    fn a_synced_abandoned_checkout_is_the_version_its_webhook_would_carry() {
        let node = json!({
            "id": "gid://shopify/AbandonedCheckout/33811231621335",
            "abandonedCheckoutUrl": "https://snowdevil.myshopify.com/548380009/checkouts/ac/b490a9220cd14d7344024f4874f640a6/recover?key=5a1c",
            "createdAt": "2026-11-25T03:10:00Z",
            "updatedAt": "2026-11-25T03:20:00Z",
            "completedAt": null,
            "totalPriceSet": {"shopMoney": {"amount": "88.5", "currencyCode": "USD"}}
        });
        let (Change::UpsertCheckout(c), updated) =
            to_change(Kind::Checkouts, &node, Some(chrono_tz::America::New_York)).unwrap()
        else {
            panic!("not a checkout")
        };
        assert_eq!(c.token, "b490a9220cd14d7344024f4874f640a6");
        assert_eq!(c.created_at.to_rfc3339(), "2026-11-24T22:10:00-05:00");
        assert_eq!(updated.to_rfc3339(), "2026-11-25T03:20:00+00:00");
        assert_eq!(c.completed_at, None);
        assert!(
            c.contact,
            "Shopify lists only checkouts with contact details"
        );
        assert_eq!(c.total.map(|t| t.to_string()).as_deref(), Some("88.5"));
        assert_eq!(c.currency.as_deref(), Some("USD"));
        assert!(c.recovery_url.unwrap().ends_with("/recover?key=5a1c"));

        let mut completed = node.clone();
        completed["completedAt"] = json!("2026-11-25T04:00:00Z");
        let (Change::UpsertCheckout(c), _) = to_change(Kind::Checkouts, &completed, None).unwrap()
        else {
            panic!("not a checkout")
        };
        assert_eq!(
            c.completed_at.unwrap().to_rfc3339(),
            "2026-11-25T04:00:00+00:00"
        );

        // Without a recovery link there is no token to join it by: skipped.
        let mut no_link = node.clone();
        no_link["abandonedCheckoutUrl"] =
            json!("https://snowdevil.myshopify.com/admin/checkouts/1");
        assert!(to_change(Kind::Checkouts, &no_link, None).is_none());
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
