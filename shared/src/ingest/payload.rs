//! Webhook bodies (Shopify's REST representation) parsed into the projections the service keeps.
//! Ids are u64 (numbers or numeric strings), money exact, timestamps with their offsets kept.

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::domain::sales::{LineSale, MAX_TITLE_CHARS, OrderSales, RefundLine, RefundSale};
use crate::domain::{Customer, Money, Order, Product, ShopifyId};
use crate::storefront::checkout::{CheckoutVersion, keep_recovery_url, valid_token};

/// Why a body was refused: `code` is the API's `error.code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PayloadError {
    pub code: &'static str,
    pub message: String,
}

fn invalid(message: impl Into<String>) -> PayloadError {
    PayloadError {
        code: "invalid_payload",
        message: message.into(),
    }
}

/// A Shopify id: a JSON number or a string of digits (or a `gid://` id), exactly, as u64.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ShopifyId>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw<'a> {
        N(u64),
        S(&'a str),
        Owned(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::N(n)) => Ok(Some(ShopifyId::new(n))),
        Some(Raw::S(s)) => ShopifyId::parse(s)
            .map(Some)
            .ok_or_else(|| de::Error::custom("id is not a 64-bit id")),
        Some(Raw::Owned(s)) => ShopifyId::parse(&s)
            .map(Some)
            .ok_or_else(|| de::Error::custom("id is not a 64-bit id")),
    }
}

#[derive(Deserialize)]
struct IdOnly {
    #[serde(default, deserialize_with = "id")]
    id: Option<ShopifyId>,
}

#[derive(Deserialize)]
struct CustomerBody {
    #[serde(default, deserialize_with = "id")]
    id: Option<ShopifyId>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    updated_at: Option<String>,
}

#[derive(Deserialize)]
struct OrderBody {
    #[serde(default, deserialize_with = "id")]
    id: Option<ShopifyId>,
    name: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    current_total_price: Option<String>,
    total_price: Option<String>,
    currency: Option<String>,
    financial_status: Option<String>,
    cancelled_at: Option<String>,
    #[serde(default)]
    test: bool,
    customer: Option<CustomerBody>,
    checkout_token: Option<String>,
    /// Sale parts: absent in a body that does not carry them (the ledger then takes none).
    line_items: Option<Vec<LineItemBody>>,
    #[serde(default, deserialize_with = "amount")]
    total_discounts: Option<Amount>,
    #[serde(default, deserialize_with = "amount")]
    total_tax: Option<Amount>,
    #[serde(default)]
    shipping_lines: Vec<ShippingLineBody>,
    #[serde(default)]
    refunds: Vec<RefundBody>,
}

/// An amount as Shopify writes it: decimal text, or a bare JSON number whose exact digits are
/// taken from the body (never through a float).
#[derive(Clone, Debug)]
struct Amount(String);

fn amount<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Amount>, D::Error> {
    let raw = Option::<&serde_json::value::RawValue>::deserialize(d)?;
    let Some(raw) = raw.map(serde_json::value::RawValue::get) else {
        return Ok(None);
    };
    if raw == "null" {
        return Ok(None);
    }
    if raw.starts_with('"') {
        let text: String = serde_json::from_str(raw).map_err(de::Error::custom)?;
        return Ok(Some(Amount(text)));
    }
    Ok(Some(Amount(raw.to_owned())))
}

/// `{"shop_money": {"amount": "1.00"}}`: the shop-currency amount.
#[derive(Deserialize)]
struct MoneySet {
    shop_money: Option<MoneyBody>,
}

#[derive(Deserialize)]
struct MoneyBody {
    #[serde(default, deserialize_with = "amount")]
    amount: Option<Amount>,
}

impl MoneySet {
    fn shop(self) -> Option<Amount> {
        self.shop_money.and_then(|m| m.amount)
    }
}

#[derive(Deserialize)]
struct LineItemBody {
    #[serde(default, deserialize_with = "id")]
    id: Option<ShopifyId>,
    #[serde(default, deserialize_with = "id")]
    product_id: Option<ShopifyId>,
    title: Option<String>,
    #[serde(default)]
    quantity: i64,
    #[serde(default, deserialize_with = "amount")]
    price: Option<Amount>,
    #[serde(default, deserialize_with = "amount")]
    total_discount: Option<Amount>,
}

#[derive(Deserialize)]
struct ShippingLineBody {
    #[serde(default, deserialize_with = "amount")]
    price: Option<Amount>,
}

#[derive(Deserialize)]
struct RefundBody {
    #[serde(default, deserialize_with = "id")]
    id: Option<ShopifyId>,
    created_at: Option<String>,
    #[serde(default)]
    refund_line_items: Vec<RefundLineBody>,
    #[serde(default)]
    order_adjustments: Vec<AdjustmentBody>,
}

#[derive(Deserialize)]
struct RefundLineBody {
    #[serde(default, deserialize_with = "id")]
    line_item_id: Option<ShopifyId>,
    #[serde(default)]
    quantity: i64,
    #[serde(default, deserialize_with = "amount")]
    subtotal: Option<Amount>,
    subtotal_set: Option<MoneySet>,
    #[serde(default, deserialize_with = "amount")]
    total_tax: Option<Amount>,
    total_tax_set: Option<MoneySet>,
    line_item: Option<RefundedLineBody>,
}

#[derive(Deserialize)]
struct RefundedLineBody {
    #[serde(default, deserialize_with = "id")]
    product_id: Option<ShopifyId>,
}

#[derive(Deserialize)]
struct AdjustmentBody {
    kind: Option<String>,
    #[serde(default, deserialize_with = "amount")]
    amount: Option<Amount>,
    amount_set: Option<MoneySet>,
}

/// The most line items, refunds and refund lines an order may carry (Shopify's own limits are
/// far lower): past them the order is refused with a `400`, not half-counted.
pub const MAX_SALE_LINES: usize = 2_000;

/// An exact amount; absent reads as zero.
fn decimal(field: &str, a: Option<Amount>) -> Result<rust_decimal::Decimal, PayloadError> {
    match a {
        None => Ok(rust_decimal::Decimal::ZERO),
        Some(Amount(text)) => Money::parse(&text)
            .map(Money::amount)
            .ok_or_else(|| invalid(format!("{field} is not a decimal amount"))),
    }
}

/// The order's sale parts; refunds dated in the offset Shopify wrote them with (the shop's).
fn sales(b: &mut OrderBody) -> Result<Option<OrderSales>, PayloadError> {
    let Some(lines) = b.line_items.take() else {
        return Ok(None);
    };
    let refund_lines: usize = b.refunds.iter().map(|r| r.refund_line_items.len()).sum();
    if lines.len() + b.refunds.len() + refund_lines + b.shipping_lines.len() > MAX_SALE_LINES {
        return Err(invalid(format!(
            "the order carries more than {MAX_SALE_LINES} line items, refunds and shipping lines"
        )));
    }
    let quantity = |q: i64| {
        (0..=1_000_000_000)
            .contains(&q)
            .then_some(q)
            .ok_or_else(|| invalid("a quantity is not between 0 and 1000000000"))
    };
    let mut out = OrderSales {
        discounts: decimal("total_discounts", b.total_discounts.take())?,
        tax: decimal("total_tax", b.total_tax.take())?,
        ..OrderSales::default()
    };
    for l in lines {
        out.lines.push(LineSale {
            line: l.id.map(ShopifyId::get),
            product: l.product_id.map(ShopifyId::get),
            title: l
                .title
                .unwrap_or_default()
                .chars()
                .take(MAX_TITLE_CHARS)
                .collect(),
            quantity: quantity(l.quantity)?,
            price: decimal("line_items[].price", l.price)?,
            discount: decimal("line_items[].total_discount", l.total_discount)?,
        });
    }
    for s in std::mem::take(&mut b.shipping_lines) {
        out.shipping += decimal("shipping_lines[].price", s.price)?;
    }
    for r in std::mem::take(&mut b.refunds) {
        let at = timestamp("refunds[].created_at", r.created_at.as_deref())?;
        let mut refund = RefundSale {
            id: r.id.map(ShopifyId::get),
            date: at.date_naive(),
            lines: Vec::with_capacity(r.refund_line_items.len()),
            shipping: rust_decimal::Decimal::ZERO,
        };
        for l in r.refund_line_items {
            let subtotal = l.subtotal_set.and_then(MoneySet::shop).or(l.subtotal);
            let tax = l.total_tax_set.and_then(MoneySet::shop).or(l.total_tax);
            refund.lines.push(RefundLine {
                line: l.line_item_id.map(ShopifyId::get),
                product: l.line_item.and_then(|i| i.product_id).map(ShopifyId::get),
                quantity: quantity(l.quantity)?,
                subtotal: decimal("refund_line_items[].subtotal", subtotal)?,
                tax: decimal("refund_line_items[].total_tax", tax)?,
            });
        }
        for a in r.order_adjustments {
            if a.kind.as_deref() == Some("shipping_refund") {
                let amount = a.amount_set.and_then(MoneySet::shop).or(a.amount);
                // Shopify writes it negative; the ledger keeps what was refunded.
                refund.shipping -= decimal("order_adjustments[].amount", amount)?;
            }
        }
        out.refunds.push(refund);
    }
    Ok(Some(out))
}

#[derive(Deserialize)]
struct ProductBody {
    #[serde(default, deserialize_with = "id")]
    id: Option<ShopifyId>,
    title: Option<String>,
    updated_at: Option<String>,
}

fn json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, PayloadError> {
    serde_json::from_slice(body).map_err(|e| {
        let code = if e.is_data() {
            "invalid_payload"
        } else {
            "invalid_json"
        };
        PayloadError {
            code,
            // Position only: the message must not quote customer data back.
            message: format!(
                "the body does not parse (line {}, column {})",
                e.line(),
                e.column()
            ),
        }
    })
}

fn require_id(id: Option<ShopifyId>) -> Result<ShopifyId, PayloadError> {
    id.ok_or_else(|| PayloadError {
        code: "missing_id",
        message: "the body has no id".into(),
    })
}

/// A timestamp with its offset (RFC 3339, as Shopify sends them).
pub fn timestamp(field: &str, v: Option<&str>) -> Result<DateTime<FixedOffset>, PayloadError> {
    let v = v.ok_or_else(|| invalid(format!("{field} is missing")))?;
    DateTime::parse_from_rfc3339(v)
        .map_err(|_| invalid(format!("{field} is not an RFC 3339 timestamp")))
}

fn customer_from(b: CustomerBody) -> Result<Customer, PayloadError> {
    Ok(Customer {
        id: require_id(b.id)?,
        first_name: b.first_name,
        last_name: b.last_name,
        email: b.email,
        updated_at: timestamp("updated_at", b.updated_at.as_deref())?,
    })
}

/// The id of a delete body (`{"id": ...}`).
pub fn deleted_id(body: &[u8]) -> Result<ShopifyId, PayloadError> {
    require_id(json::<IdOnly>(body)?.id)
}

pub fn customer(body: &[u8]) -> Result<Customer, PayloadError> {
    let b: CustomerBody = json(body)?;
    require_id(b.id)?;
    customer_from(b)
}

/// An order and the customer snapshot it carries, if any.
pub fn order(body: &[u8]) -> Result<(Order, Option<Customer>), PayloadError> {
    let mut b: OrderBody = json(body)?;
    let sales = sales(&mut b)?;
    let id = require_id(b.id)?;
    let price = b
        .current_total_price
        .as_deref()
        .or(b.total_price.as_deref())
        .ok_or_else(|| invalid("current_total_price and total_price are missing"))?;
    let total =
        Money::parse(price).ok_or_else(|| invalid("the order total is not a decimal amount"))?;
    // A snapshot without a usable timestamp cannot be ordered against the customer record: skip it
    // rather than refuse the order.
    let snapshot = b.customer.and_then(|c| customer_from(c).ok());
    let order = Order {
        id,
        name: b.name.unwrap_or_else(|| format!("#{id}")),
        created_at: timestamp("created_at", b.created_at.as_deref())?,
        updated_at: timestamp("updated_at", b.updated_at.as_deref())?,
        total,
        currency: b.currency,
        financial_status: b.financial_status,
        cancelled: b.cancelled_at.is_some(),
        test: b.test,
        customer_id: snapshot.as_ref().map(|c| c.id),
        // An unusable token joins nothing; the order itself is fine.
        checkout_token: b.checkout_token.filter(|t| valid_token(t)),
        sales,
    };
    Ok((order, snapshot))
}

#[derive(Deserialize)]
struct CheckoutBody {
    token: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
    completed_at: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    total_price: Option<String>,
    currency: Option<String>,
    abandoned_checkout_url: Option<String>,
}

fn checkout_token(token: Option<String>) -> Result<String, PayloadError> {
    let token = token.ok_or_else(|| PayloadError {
        code: "missing_token",
        message: "the checkout has no token".into(),
    })?;
    if !valid_token(&token) {
        return Err(PayloadError {
            code: "invalid_token",
            message: "the checkout token is not 1 to 128 letters, digits, - or _".into(),
        });
    }
    Ok(token)
}

/// `checkouts/create|update`, keyed by `token` (Shopify removed `id` from them in 2026-04).
pub fn checkout(body: &[u8]) -> Result<CheckoutVersion, PayloadError> {
    let b: CheckoutBody = json(body)?;
    let token = checkout_token(b.token)?;
    let updated_at = timestamp("updated_at", b.updated_at.as_deref())?;
    let created_at = match b.created_at.as_deref() {
        Some(_) => timestamp("created_at", b.created_at.as_deref())?,
        None => updated_at,
    };
    let completed_at = match b.completed_at.as_deref() {
        None => None,
        Some(_) => Some(timestamp("completed_at", b.completed_at.as_deref())?),
    };
    let total = match b.total_price.as_deref() {
        None => None,
        Some(p) => Some(
            Money::parse(p)
                .ok_or_else(|| invalid("total_price is not a decimal amount"))?
                .amount(),
        ),
    };
    let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    let recovery_url = b.abandoned_checkout_url.and_then(keep_recovery_url);
    Ok(CheckoutVersion {
        token,
        created_at,
        updated_at,
        completed_at,
        contact: present(&b.email) || present(&b.phone),
        total,
        currency: b.currency.filter(|c| c.len() <= 8),
        recovery_url,
    })
}

/// `checkouts/delete`: the token.
pub fn deleted_checkout(body: &[u8]) -> Result<String, PayloadError> {
    #[derive(Deserialize)]
    struct Deleted {
        token: Option<String>,
    }
    let b: Deleted = json(body)?;
    checkout_token(b.token)
}

pub fn product(body: &[u8]) -> Result<Product, PayloadError> {
    let b: ProductBody = json(body)?;
    Ok(Product {
        id: require_id(b.id)?,
        title: b.title.unwrap_or_default(),
        updated_at: timestamp("updated_at", b.updated_at.as_deref())?,
    })
}

/// `customers/redact`: the customer whose personal data must go.
pub fn redacted_customer(body: &[u8]) -> Result<ShopifyId, PayloadError> {
    #[derive(Deserialize)]
    struct Redact {
        customer: Option<IdOnly>,
    }
    let r: Redact = json(body)?;
    require_id(r.customer.and_then(|c| c.id))
}

/// `customers/data_request`: the request's id and the customer it is about.
pub fn data_request(body: &[u8]) -> Result<(ShopifyId, ShopifyId), PayloadError> {
    #[derive(Deserialize)]
    struct Request {
        customer: Option<IdOnly>,
        data_request: Option<IdOnly>,
    }
    let r: Request = json(body)?;
    Ok((
        require_id(r.data_request.and_then(|d| d.id))?,
        require_id(r.customer.and_then(|c| c.id))?,
    ))
}

/// Any JSON object (bodies the service acknowledges without reading).
pub fn parse_any_object(body: &[u8]) -> Result<(), PayloadError> {
    json::<serde_json::Map<String, serde_json::Value>>(body).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../shared/fixtures/shopify/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn the_order_fixture_parses_with_its_64_bit_id_exact_total_and_local_date() {
        let (o, c) = order(&fixture("orders-create.json")).unwrap();
        assert_eq!(o.id.get(), 820982911946154508);
        assert_eq!(o.total.to_api(), "214.63");
        assert_eq!(o.local_date().to_string(), "2026-11-24");
        assert_eq!(o.currency.as_deref(), Some("USD"));
        assert!(!o.cancelled && !o.test);
        let c = c.unwrap();
        assert_eq!(c.id.get(), 115310627314723954);
        assert_eq!(o.customer_id, Some(c.id));
    }

    #[test]
    fn a_partial_refund_lowers_the_current_total_and_a_cancellation_is_seen() {
        let (o, _) = order(&fixture("orders-updated-partial-refund.json")).unwrap();
        assert_eq!(o.total.to_api(), "150.24");
        let (o, _) = order(&fixture("orders-cancelled.json")).unwrap();
        assert!(o.cancelled);
    }

    #[test]
    fn delete_bodies_carry_only_the_id() {
        assert_eq!(
            deleted_id(&fixture("orders-delete.json")).unwrap().get(),
            820982911946154508
        );
        assert_eq!(
            deleted_id(&fixture("products-delete.json")).unwrap().get(),
            632910392
        );
    }

    #[test]
    fn bodies_without_an_id_or_with_bad_fields_get_their_own_codes() {
        assert_eq!(order(b"{\"name\":\"#1\"}").unwrap_err().code, "missing_id");
        assert_eq!(order(b"{not json").unwrap_err().code, "invalid_json");
        assert_eq!(order(b"[]").unwrap_err().code, "invalid_payload");
        assert_eq!(order(br#"{"id": -4}"#).unwrap_err().code, "invalid_payload");
        assert_eq!(
            order(br#"{"id": 1.5}"#).unwrap_err().code,
            "invalid_payload"
        );
        let bad_money = br#"{"id":1,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","total_price":"1e3"}"#;
        assert_eq!(order(bad_money).unwrap_err().code, "invalid_payload");
        let bad_time = br#"{"id":1,"created_at":"yesterday","updated_at":"2026-01-01T00:00:00Z","total_price":"1.00"}"#;
        assert_eq!(order(bad_time).unwrap_err().code, "invalid_payload");
    }

    #[test]
    fn ids_may_come_as_strings_or_graphql_ids() {
        assert_eq!(
            deleted_id(br#"{"id":"820982911946154508"}"#).unwrap().get(),
            820982911946154508
        );
        assert_eq!(
            deleted_id(br#"{"id":"gid://shopify/Order/7"}"#)
                .unwrap()
                .get(),
            7
        );
    }

    proptest! {
        #[test]
        fn any_u64_id_survives_parsing_exactly(n in any::<u64>()) {
            let body = format!("{{\"id\":{n}}}");
            prop_assert_eq!(deleted_id(body.as_bytes()).unwrap().get(), n);
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_parsers(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = order(&body);
            let _ = customer(&body);
            let _ = product(&body);
            let _ = deleted_id(&body);
        }
    }
}
