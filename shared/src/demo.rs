//! Realistic Shopify webhook bodies (REST representation, API version 2026-01) for the demo seed
//! and the load generator: the same shape and size as Shopify's, so they exercise the real parser.

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde_json::{Value, json};

use crate::domain::Money;

/// SplitMix64: a small deterministic generator, so the same seed gives the same demo store,
/// test history or fake shop. Not for anything secret.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One line of an order.
#[derive(Clone, Debug)]
pub struct Line {
    pub product_id: u64,
    pub variant_id: u64,
    pub title: String,
    pub price: Money,
    pub quantity: u32,
}

/// The customer an order embeds (and `customers/*` bodies carry).
#[derive(Clone, Debug)]
pub struct DemoCustomer {
    pub id: u64,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
}

/// What varies between demo orders.
#[derive(Clone, Debug)]
pub struct DemoOrder {
    pub id: u64,
    pub number: u64,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
    pub currency: String,
    pub lines: Vec<Line>,
    /// Refunded so far (lowers `current_total_price`).
    pub refunded: Money,
    pub cancelled_at: Option<DateTime<FixedOffset>>,
    pub test: bool,
    pub customer: Option<DemoCustomer>,
}

fn ts(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn money_set(m: Money, currency: &str) -> Value {
    json!({
        "shop_money": {"amount": m.to_api(), "currency_code": currency},
        "presentment_money": {"amount": m.to_api(), "currency_code": currency}
    })
}

/// Subtotal, tax (a flat 7.5%, rounded half-even) and total of an order, exactly.
pub fn order_totals(o: &DemoOrder) -> (Money, Money, Money) {
    let subtotal: rust_decimal::Decimal = o
        .lines
        .iter()
        .map(|l| l.price.amount() * rust_decimal::Decimal::from(l.quantity))
        .sum();
    let tax = Money::new(subtotal * rust_decimal::Decimal::new(75, 3)).average_over(1);
    let total = Money::new(subtotal + tax.amount());
    (Money::new(subtotal), tax, total)
}

impl DemoOrder {
    /// `current_total_price`: the total after refunds, or 0 once cancelled (fully refunded).
    pub fn current_total(&self) -> Money {
        let (_, _, total) = order_totals(self);
        if self.cancelled_at.is_some() {
            return Money::ZERO;
        }
        Money::new(total.amount() - self.refunded.amount())
    }
}

/// A customer body as `customers/create|update` sends it.
pub fn customer_json(c: &DemoCustomer) -> Value {
    json!({
        "id": c.id,
        "email": c.email,
        "created_at": ts(&c.created_at),
        "updated_at": ts(&c.updated_at),
        "first_name": c.first_name,
        "last_name": c.last_name,
        "state": "enabled",
        "note": null,
        "verified_email": true,
        "multipass_identifier": null,
        "tax_exempt": false,
        "phone": null,
        "tags": "",
        "currency": "USD",
        "tax_exemptions": [],
        "admin_graphql_api_id": format!("gid://shopify/Customer/{}", c.id),
        "addresses": [],
        "default_address": null
    })
}

/// An order body as `orders/create|updated|cancelled` sends it.
pub fn order_json(o: &DemoOrder) -> Vec<u8> {
    let (subtotal, tax, total) = order_totals(o);
    let current = o.current_total();
    let c = &o.currency;
    let financial_status = if o.cancelled_at.is_some() {
        "refunded"
    } else if o.refunded.amount().is_zero() {
        "paid"
    } else {
        "partially_refunded"
    };
    let lines: Vec<Value> = o
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({
                "id": o.id.wrapping_mul(31).wrapping_add(i as u64),
                "admin_graphql_api_id": format!("gid://shopify/LineItem/{}", o.id.wrapping_mul(31).wrapping_add(i as u64)),
                "current_quantity": l.quantity,
                "fulfillable_quantity": l.quantity,
                "fulfillment_status": null,
                "gift_card": false,
                "grams": 250,
                "name": l.title,
                "price": l.price.to_api(),
                "price_set": money_set(l.price, c),
                "product_exists": true,
                "product_id": l.product_id,
                "properties": [],
                "quantity": l.quantity,
                "requires_shipping": true,
                "sku": format!("SKU-{}", l.variant_id),
                "taxable": true,
                "title": l.title,
                "total_discount": "0.00",
                "variant_id": l.variant_id,
                "variant_title": null,
                "vendor": "Demo Supply Co.",
                "tax_lines": [],
                "discount_allocations": []
            })
        })
        .collect();
    let mut body = json!({
        "id": o.id,
        "admin_graphql_api_id": format!("gid://shopify/Order/{}", o.id),
        "app_id": null,
        "browser_ip": null,
        "buyer_accepts_marketing": false,
        "cancel_reason": o.cancelled_at.map(|_| "customer"),
        "cancelled_at": o.cancelled_at.as_ref().map(ts),
        "closed_at": null,
        "confirmation_number": format!("DEMO{}", o.number),
        "confirmed": true,
        "contact_email": o.customer.as_ref().map(|c| c.email.clone()),
        "created_at": ts(&o.created_at),
        "currency": c,
        "current_subtotal_price": subtotal.to_api(),
        "current_total_discounts": "0.00",
        "current_total_price": current.to_api(),
        "current_total_tax": tax.to_api(),
        "current_total_price_set": money_set(current, c),
        "email": o.customer.as_ref().map(|c| c.email.clone()),
        "estimated_taxes": false,
        "financial_status": financial_status,
        "fulfillment_status": null,
        "name": format!("#{}", o.number),
        "note": null,
        "number": o.number,
        "order_number": o.number,
        "presentment_currency": c,
        "processed_at": ts(&o.created_at),
        "source_name": "web",
        "subtotal_price": subtotal.to_api(),
        "tags": "",
        "test": o.test,
        "total_discounts": "0.00",
        "total_line_items_price": subtotal.to_api(),
        "total_outstanding": "0.00",
        "total_price": total.to_api(),
        "total_tax": tax.to_api(),
        "total_price_set": money_set(total, c),
        "total_weight": 0,
        "updated_at": ts(&o.updated_at),
        "user_id": null,
        "line_items": lines,
        "shipping_lines": [],
        "refunds": refunds(o, tax),
        "discount_codes": [],
        "fulfillments": [],
        "note_attributes": [],
        "payment_gateway_names": ["shopify_payments"]
    });
    if let Some(cust) = &o.customer {
        body["customer"] = customer_json(cust);
    }
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The refunds that explain `refunded` (one unit's worth of the first line, dated at the last
/// update), or a cancellation's (every line, with the tax): what Shopify's refund objects carry.
fn refunds(o: &DemoOrder, tax: Money) -> Value {
    let line_id = |i: usize| o.id.wrapping_mul(31).wrapping_add(i as u64);
    let line = |i: usize, quantity: u32, subtotal: Money, tax: Money| {
        json!({"line_item_id": line_id(i), "quantity": quantity,
               "subtotal": subtotal.to_api(), "total_tax": tax.to_api(),
               "line_item": {"id": line_id(i), "product_id": o.lines[i].product_id}})
    };
    let lines: Vec<Value> = if o.cancelled_at.is_some() {
        o.lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let subtotal =
                    Money::new(l.price.amount() * rust_decimal::Decimal::from(l.quantity));
                line(
                    i,
                    l.quantity,
                    subtotal,
                    if i == 0 { tax } else { Money::ZERO },
                )
            })
            .collect()
    } else if o.refunded.amount().is_zero() || o.lines.is_empty() {
        return json!([]);
    } else {
        vec![line(0, 1, o.refunded, Money::ZERO)]
    };
    if lines.is_empty() {
        return json!([]);
    }
    json!([{
        "id": o.id.wrapping_add(7),
        "order_id": o.id,
        "created_at": ts(o.cancelled_at.as_ref().unwrap_or(&o.updated_at)),
        "note": null,
        "restock": false,
        "refund_line_items": lines,
        "order_adjustments": [],
        "transactions": []
    }])
}

/// A product body as `products/create|update` sends it.
pub fn product_json(
    id: u64,
    title: &str,
    price: Money,
    updated_at: DateTime<FixedOffset>,
) -> Vec<u8> {
    let body = json!({
        "id": id,
        "admin_graphql_api_id": format!("gid://shopify/Product/{id}"),
        "title": title,
        "body_html": format!("<p>{title}</p>"),
        "vendor": "Demo Supply Co.",
        "product_type": "Goods",
        "created_at": ts(&updated_at),
        "updated_at": ts(&updated_at),
        "published_at": ts(&updated_at),
        "handle": title.to_lowercase().replace(' ', "-"),
        "status": "active",
        "tags": "",
        "variants": [{
            "id": id.wrapping_add(1),
            "product_id": id,
            "title": "Default Title",
            "price": price.to_api(),
            "sku": format!("SKU-{id}"),
            "position": 1,
            "inventory_policy": "deny",
            "inventory_quantity": 100,
            "created_at": ts(&updated_at),
            "updated_at": ts(&updated_at),
            "taxable": true
        }],
        "options": [],
        "images": [],
        "image": null
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::payload;

    #[test]
    fn a_demo_order_parses_back_to_its_own_numbers() {
        let t = DateTime::parse_from_rfc3339("2026-11-24T22:41:07-05:00").unwrap();
        let o = DemoOrder {
            id: 820982911946154508,
            number: 1001,
            created_at: t,
            updated_at: t,
            currency: "USD".into(),
            lines: vec![Line {
                product_id: 1,
                variant_id: 2,
                title: "Mug".into(),
                price: Money::parse("19.99").unwrap(),
                quantity: 2,
            }],
            refunded: Money::parse("5.00").unwrap(),
            cancelled_at: None,
            test: false,
            customer: None,
        };
        let (order, _) = payload::order(&order_json(&o)).unwrap();
        // 39.98 + 7.5% tax (3.00, half-even from 2.9985) − 5.00 refunded.
        assert_eq!(order.total.to_api(), "37.98");
        assert_eq!(order.total, o.current_total());
        assert_eq!(order.local_date().to_string(), "2026-11-24");
        // Its sale parts: 39.98 sold, 3.00 tax, 5.00 returned.
        let sales = order.sales.clone().unwrap();
        let days = sales.by_day(order.local_date(), false);
        let sale = days
            .values()
            .fold(crate::domain::SalesFigures::default(), |mut a, d| {
                a += *d;
                a
            });
        assert_eq!(sale.gross.to_string(), "39.98");
        assert_eq!(sale.taxes.to_string(), "3.00");
        assert_eq!(sale.returns.to_string(), "5.00");
    }
}
