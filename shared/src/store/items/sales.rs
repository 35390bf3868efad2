//! The sales ledger's per-product totals (read and ranked by `GET /dashboard/top-products`), and
//! the ledger backfill's progress.
//!
//! (The ledger's per-day figures live on the day rollups, `aggregates.rs`; a customer's first
//! counted orders on its customer item, `resources.rs`.)

use rust_decimal::Decimal;

use super::{keyed, number, text};
use crate::domain::sales::{MAX_TITLE_CHARS, ProductSale};
use crate::domain::{ShopifyId, TenantId};
use crate::store::keys::{self, TenantItem};
use crate::store::{Attr, Cursor, Item, Key, Update, WriteOp};

const QUANTITY: &str = "quantity";
const NET_SALES: &str = "net_sales";
const TITLE: &str = "title";

/// One product's sales over every counted order: two numbers only ever changed by `ADD`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProductSalesRecord {
    pub id: ShopifyId,
    /// Units sold less units refunded.
    pub quantity: Decimal,
    pub net_sales: Decimal,
    /// A line item's title, for a product without a product record.
    pub title: Option<String>,
}

impl ProductSalesRecord {
    /// The record an item holds (its id from the sort key); `None` for another item.
    pub fn from_item(item: &Item) -> Option<ProductSalesRecord> {
        let Some(TenantItem::ProductSales(id)) = text(item, crate::store::SK)
            .as_deref()
            .and_then(TenantItem::parse)
        else {
            return None;
        };
        Some(ProductSalesRecord {
            id,
            quantity: number(item, QUANTITY),
            net_sales: number(item, NET_SALES),
            title: text(item, TITLE),
        })
    }

    /// Adds `sale` to product `id`'s totals (creating them): commutative and unconditioned, so
    /// concurrent deliveries of one best seller never conflict. The title is a line's (whichever
    /// write comes last: only a fallback for a product without a product record). `None` when it
    /// adds nothing.
    pub fn add(
        tenant: TenantId,
        id: ShopifyId,
        sale: ProductSale,
        title: Option<&str>,
    ) -> Option<WriteOp> {
        if sale == ProductSale::default() {
            return None;
        }
        let mut update = Update::default()
            .add(QUANTITY, sale.quantity)
            .add(NET_SALES, sale.net_sales);
        if let Some(t) = title {
            update = update.set(TITLE, t.chars().take(MAX_TITLE_CHARS).collect::<String>());
        }
        Some(WriteOp::Update {
            key: TenantItem::ProductSales(id).key(tenant),
            update,
            condition: None,
        })
    }
}

/// The ledger backfill's progress (one item): the tenant it is on and the page of its orders to
/// read next, where the scan of tenants resumes, what it did so far, and whether it is done.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LedgerJobState {
    /// The last tenant profile the scan handed out.
    pub scan_after: Option<Key>,
    /// The tenant being backfilled, and the cursor of its next page of orders.
    pub tenant: Option<TenantId>,
    pub cursor: Option<Cursor>,
    pub tenants: u64,
    pub orders: u64,
    pub done: bool,
}

impl LedgerJobState {
    pub fn from_item(item: Option<&Item>) -> LedgerJobState {
        let Some(i) = item else {
            return LedgerJobState::default();
        };
        let scan_after = match (text(i, "after_pk"), text(i, "after_sk")) {
            (Some(pk), Some(sk)) => Some(Key::new(pk, sk)),
            _ => None,
        };
        LedgerJobState {
            scan_after,
            tenant: text(i, "tenant").and_then(|t| TenantId::parse(&t)),
            cursor: text(i, "cursor").and_then(|c| Cursor::decode(&c).ok()),
            tenants: super::count(i, "tenants"),
            orders: super::count(i, "orders"),
            done: super::flag(i, "done"),
        }
    }

    /// The whole state, written over whatever was there (one job runs at a time: a second run
    /// only repeats writes the first made, each of which is idempotent).
    pub fn write(&self) -> WriteOp {
        let mut item = keyed(&keys::ledger_job_state());
        if let Some(k) = &self.scan_after {
            item.insert("after_pk".into(), Attr::from(k.pk.as_str()));
            item.insert("after_sk".into(), Attr::from(k.sk.as_str()));
        }
        if let Some(t) = self.tenant {
            item.insert("tenant".into(), Attr::from(t.to_string()));
        }
        if let Some(c) = &self.cursor {
            item.insert("cursor".into(), Attr::from(c.encode()));
        }
        item.insert("tenants".into(), Attr::from(self.tenants));
        item.insert("orders".into(), Attr::from(self.orders));
        item.insert("done".into(), Attr::Bool(self.done));
        WriteOp::Put {
            item,
            condition: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::items::applied;

    #[test]
    fn product_totals_are_adds_that_read_back_summed() {
        let t = TenantId::new(3);
        let id = ShopifyId::new(632910392);
        let sale = |q: i64, cents: i64| ProductSale {
            quantity: Decimal::from(q),
            net_sales: Decimal::new(cents, 2),
        };
        let add = |s, title| ProductSalesRecord::add(t, id, s, title).unwrap();
        let first = applied(add(sale(3, 59700), Some("IPod Nano")), None);
        let second = applied(add(sale(-1, -19900), None), Some(&first));
        assert_eq!(Key::of(&second), Some(TenantItem::ProductSales(id).key(t)));
        assert_eq!(
            ProductSalesRecord::from_item(&second),
            Some(ProductSalesRecord {
                id,
                quantity: Decimal::from(2),
                net_sales: Decimal::new(39800, 2),
                title: Some("IPod Nano".into()),
            })
        );
        assert!(ProductSalesRecord::add(t, id, ProductSale::default(), Some("x")).is_none());
    }

    #[test]
    fn the_job_state_reads_back_what_it_wrote() {
        let state = LedgerJobState {
            scan_after: Some(Key::new("T#7", "PROFILE")),
            tenant: Some(TenantId::new(7)),
            cursor: None,
            tenants: 3,
            orders: 1_204,
            done: false,
        };
        let WriteOp::Put { item, .. } = state.write() else {
            panic!("a put")
        };
        assert_eq!(LedgerJobState::from_item(Some(&item)), state);
        assert_eq!(LedgerJobState::from_item(None), LedgerJobState::default());
    }
}
