//! Sales as Shopify's reports count them: what one order version adds to the sales ledger.
//!
//! An order's sale parts (gross, discounts, taxes, shipping) count on the order's shop-local date;
//! each refund's parts (returns, refunded taxes, refunded shipping) on the refund's own date, so a
//! refund made in November never rewrites October. Line items feed per-product totals. Every
//! figure here is a function of one order version alone: the ledger adds "new − old" like every
//! other aggregate, so any order of deliveries ends in the same numbers.

use std::collections::BTreeMap;
use std::ops::{AddAssign, Neg};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::ShopifyId;

/// The longest line title kept (what top products falls back on without a product record).
pub const MAX_TITLE_CHARS: usize = 255;

/// One line item, as the ledger needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineSale {
    /// The line item's id (a refund line names it).
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Its product (none for a custom item or a deleted product).
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub product: Option<u64>,
    #[serde(rename = "t", default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(rename = "q")]
    pub quantity: i64,
    /// The unit price before discounts.
    #[serde(rename = "u")]
    pub price: Decimal,
    /// The line's `total_discount`.
    #[serde(rename = "d", default, skip_serializing_if = "Decimal::is_zero")]
    pub discount: Decimal,
}

/// One refunded line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub product: Option<u64>,
    #[serde(rename = "q")]
    pub quantity: i64,
    /// What the refunded units were sold for (after their discount), before tax.
    #[serde(rename = "s")]
    pub subtotal: Decimal,
    #[serde(rename = "x", default, skip_serializing_if = "Decimal::is_zero")]
    pub tax: Decimal,
}

/// One refund, dated in the shop's zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundSale {
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(rename = "d")]
    pub date: NaiveDate,
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<RefundLine>,
    /// Shipping refunded (`order_adjustments` of kind `shipping_refund`), as a positive amount.
    #[serde(rename = "s", default, skip_serializing_if = "Decimal::is_zero")]
    pub shipping: Decimal,
}

/// An order's sale parts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSales {
    #[serde(rename = "l", default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<LineSale>,
    /// `total_discounts`.
    #[serde(rename = "d", default, skip_serializing_if = "Decimal::is_zero")]
    pub discounts: Decimal,
    /// `total_tax`.
    #[serde(rename = "x", default, skip_serializing_if = "Decimal::is_zero")]
    pub tax: Decimal,
    /// Σ `shipping_lines[].price`.
    #[serde(rename = "s", default, skip_serializing_if = "Decimal::is_zero")]
    pub shipping: Decimal,
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub refunds: Vec<RefundSale>,
}

/// The ledger's sums for one day (or a range, or a change to either). Orders are counted by the
/// day rollup itself; these are the rest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SalesFigures {
    pub gross: Decimal,
    pub discounts: Decimal,
    pub returns: Decimal,
    pub taxes: Decimal,
    pub shipping: Decimal,
    /// Counted orders that have a customer (each is its customer's first or a returning one).
    pub customer_orders: Decimal,
    /// Customers whose first counted order is on this day.
    pub new_customers: Decimal,
}

impl SalesFigures {
    pub fn is_zero(&self) -> bool {
        *self == SalesFigures::default()
    }

    /// `(attribute, value)` pairs, in a fixed order (what a day item stores).
    pub fn fields(&self) -> [(&'static str, Decimal); 7] {
        [
            ("gross", self.gross),
            ("discounts", self.discounts),
            ("returns", self.returns),
            ("taxes", self.taxes),
            ("shipping", self.shipping),
            ("customer_orders", self.customer_orders),
            ("new_customers", self.new_customers),
        ]
    }

    /// The figures from `(attribute, value)` pairs named as [`SalesFigures::fields`] names them.
    pub fn from_fields(get: impl Fn(&str) -> Decimal) -> SalesFigures {
        SalesFigures {
            gross: get("gross"),
            discounts: get("discounts"),
            returns: get("returns"),
            taxes: get("taxes"),
            shipping: get("shipping"),
            customer_orders: get("customer_orders"),
            new_customers: get("new_customers"),
        }
    }

    /// gross − discounts − returns.
    pub fn net_sales(&self) -> Decimal {
        self.gross - self.discounts - self.returns
    }

    /// net sales + taxes + shipping.
    pub fn total_sales(&self) -> Decimal {
        self.net_sales() + self.taxes + self.shipping
    }

    /// Orders from a customer who had an earlier counted order.
    pub fn returning_customer_orders(&self) -> Decimal {
        self.customer_orders - self.new_customers
    }
}

impl AddAssign for SalesFigures {
    fn add_assign(&mut self, o: SalesFigures) {
        self.gross += o.gross;
        self.discounts += o.discounts;
        self.returns += o.returns;
        self.taxes += o.taxes;
        self.shipping += o.shipping;
        self.customer_orders += o.customer_orders;
        self.new_customers += o.new_customers;
    }
}

impl Neg for SalesFigures {
    type Output = SalesFigures;
    fn neg(self) -> SalesFigures {
        SalesFigures {
            gross: -self.gross,
            discounts: -self.discounts,
            returns: -self.returns,
            taxes: -self.taxes,
            shipping: -self.shipping,
            customer_orders: -self.customer_orders,
            new_customers: -self.new_customers,
        }
    }
}

/// What an order adds to one product's totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProductSale {
    /// Units sold less units refunded.
    pub quantity: Decimal,
    /// Σ price × quantity less the line's discount less refunded line subtotals.
    pub net_sales: Decimal,
}

impl AddAssign for ProductSale {
    fn add_assign(&mut self, o: ProductSale) {
        self.quantity += o.quantity;
        self.net_sales += o.net_sales;
    }
}

impl OrderSales {
    /// What the order adds to each day: its sale parts on `date` (the order's), each refund's on
    /// the refund's date. `customer`: the order has one (it then counts among customer orders).
    pub fn by_day(&self, date: NaiveDate, customer: bool) -> BTreeMap<NaiveDate, SalesFigures> {
        let mut days = BTreeMap::new();
        let sale: &mut SalesFigures = days.entry(date).or_default();
        sale.gross += self
            .lines
            .iter()
            .map(|l| l.price * Decimal::from(l.quantity))
            .sum::<Decimal>();
        sale.discounts += self.discounts;
        sale.taxes += self.tax;
        sale.shipping += self.shipping;
        sale.customer_orders += Decimal::from(u8::from(customer));
        for r in &self.refunds {
            let day: &mut SalesFigures = days.entry(r.date).or_default();
            day.returns += r.lines.iter().map(|l| l.subtotal).sum::<Decimal>();
            day.taxes -= r.lines.iter().map(|l| l.tax).sum::<Decimal>();
            day.shipping -= r.shipping;
        }
        days
    }

    /// What the order adds to each product it sold.
    pub fn by_product(&self) -> BTreeMap<ShopifyId, ProductSale> {
        let mut products: BTreeMap<ShopifyId, ProductSale> = BTreeMap::new();
        let product_of_line = |line: Option<u64>| {
            self.lines
                .iter()
                .find(|l| l.line.is_some() && l.line == line)
                .and_then(|l| l.product)
        };
        for l in &self.lines {
            if let Some(p) = l.product {
                *products.entry(ShopifyId::new(p)).or_default() += ProductSale {
                    quantity: Decimal::from(l.quantity),
                    net_sales: l.price * Decimal::from(l.quantity) - l.discount,
                };
            }
        }
        for r in &self.refunds {
            for l in &r.lines {
                if let Some(p) = l.product.or_else(|| product_of_line(l.line)) {
                    *products.entry(ShopifyId::new(p)).or_default() += ProductSale {
                        quantity: -Decimal::from(l.quantity),
                        net_sales: -l.subtotal,
                    };
                }
            }
        }
        products
    }

    /// The title of a product's line, for top products without a product record.
    pub fn title_of(&self, product: ShopifyId) -> Option<&str> {
        self.lines
            .iter()
            .find(|l| l.product == Some(product.get()) && !l.title.is_empty())
            .map(|l| l.title.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    fn order() -> OrderSales {
        OrderSales {
            lines: vec![
                LineSale {
                    line: Some(1),
                    product: Some(10),
                    title: "Board".into(),
                    quantity: 2,
                    price: dec("100.00"),
                    discount: dec("20.00"),
                },
                LineSale {
                    line: Some(2),
                    product: None,
                    title: "Gift wrap".into(),
                    quantity: 1,
                    price: dec("5.00"),
                    discount: Decimal::ZERO,
                },
            ],
            discounts: dec("20.00"),
            tax: dec("18.50"),
            shipping: dec("9.99"),
            refunds: vec![RefundSale {
                id: Some(7),
                date: d("2026-11-03"),
                lines: vec![RefundLine {
                    line: Some(1),
                    product: None,
                    quantity: 1,
                    subtotal: dec("90.00"),
                    tax: dec("8.10"),
                }],
                shipping: dec("9.99"),
            }],
        }
    }

    #[test]
    fn sales_count_on_the_order_date_and_a_refund_on_its_own() {
        let days = order().by_day(d("2026-10-30"), true);
        let sale = days[&d("2026-10-30")];
        assert_eq!(sale.gross, dec("205.00"));
        assert_eq!(sale.discounts, dec("20.00"));
        assert_eq!(sale.taxes, dec("18.50"));
        assert_eq!(sale.shipping, dec("9.99"));
        assert_eq!(sale.returns, Decimal::ZERO);
        assert_eq!(sale.customer_orders, Decimal::ONE);
        assert_eq!(sale.net_sales(), dec("185.00"));
        let refund = days[&d("2026-11-03")];
        assert_eq!(refund.returns, dec("90.00"));
        assert_eq!(refund.taxes, dec("-8.10"));
        assert_eq!(refund.shipping, dec("-9.99"));
        assert_eq!(refund.gross, Decimal::ZERO);
        assert_eq!(refund.customer_orders, Decimal::ZERO);
        assert_eq!(refund.net_sales(), dec("-90.00"));
        assert_eq!(refund.total_sales(), dec("-108.09"));
    }

    #[test]
    fn a_refund_line_finds_its_product_through_the_line_it_names() {
        let products = order().by_product();
        assert_eq!(
            products[&ShopifyId::new(10)],
            ProductSale {
                quantity: Decimal::ONE,
                net_sales: dec("90.00"),
            }
        );
        assert_eq!(products.len(), 1, "a custom item is no product");
        assert_eq!(order().title_of(ShopifyId::new(10)), Some("Board"));
    }

    #[test]
    fn the_stored_form_reads_back_the_same_and_stays_short() {
        let o = order();
        let text = serde_json::to_string(&o).unwrap_or_default();
        assert_eq!(serde_json::from_str::<OrderSales>(&text).ok(), Some(o));
        assert!(text.len() < 260, "{text}");
        assert_eq!(
            serde_json::to_string(&OrderSales::default())
                .ok()
                .as_deref(),
            Some("{}")
        );
    }
}
