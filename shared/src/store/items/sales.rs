//! The sales ledger's per-product totals, ranked for `GET /dashboard/top-products`.
//!
//! (The ledger's per-day figures live on the day rollups, `aggregates.rs`; a customer's first
//! counted orders on its customer item, `resources.rs`.)

use rust_decimal::Decimal;

use super::resources::Revision;
use super::{keyed, number, text};
use crate::domain::sales::{MAX_TITLE_CHARS, ProductSale};
use crate::domain::{ShopifyId, TenantId};
use crate::store::keys::{self, TenantItem};
use crate::store::{Attr, Cursor, Item, Key, WriteOp};

const QUANTITY: &str = "quantity";
const NET_SALES: &str = "net_sales";
const TITLE: &str = "title";

/// One product's sales over every counted order.
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
    /// A product nothing was sold of yet.
    pub fn empty(id: ShopifyId) -> ProductSalesRecord {
        ProductSalesRecord {
            id,
            quantity: Decimal::ZERO,
            net_sales: Decimal::ZERO,
            title: None,
        }
    }

    /// The record an item holds (what is missing reads as zero), with the revision its next write
    /// is conditioned on.
    pub fn read(id: ShopifyId, item: Option<&Item>) -> (Revision, ProductSalesRecord) {
        let record = item.map_or_else(
            || ProductSalesRecord::empty(id),
            |i| ProductSalesRecord {
                id,
                quantity: number(i, QUANTITY),
                net_sales: number(i, NET_SALES),
                title: text(i, TITLE),
            },
        );
        (Revision::of(item), record)
    }

    /// The record a ranked item holds (its id from the sort key).
    pub fn from_ranked_item(item: &Item) -> Option<ProductSalesRecord> {
        let sk = text(item, crate::store::SK)?;
        let Some(TenantItem::ProductSales(id)) = TenantItem::parse(&sk) else {
            return None;
        };
        Some(ProductSalesRecord::read(id, Some(item)).1)
    }

    pub fn add(&mut self, sale: ProductSale) {
        self.quantity += sale.quantity;
        self.net_sales += sale.net_sales;
    }

    /// Keeps the first title seen: which line reaches it first depends on arrival order, so it is
    /// only a fallback (the list shows the product record's title when there is one).
    pub fn name(&mut self, title: Option<&str>) {
        if self.title.is_none() {
            self.title = title.map(|t| t.chars().take(MAX_TITLE_CHARS).collect());
        }
    }

    /// The write over exactly the revision read: ranked (gsi1) while anything of it is sold.
    pub fn write(&self, revision: &Revision, tenant: TenantId) -> WriteOp {
        let mut item = keyed(&TenantItem::ProductSales(self.id).key(tenant));
        item.insert(QUANTITY.into(), Attr::N(self.quantity));
        item.insert(NET_SALES.into(), Attr::N(self.net_sales));
        if let Some(t) = &self.title {
            item.insert(TITLE.into(), Attr::from(t.as_str()));
        }
        if !self.quantity.is_zero() || !self.net_sales.is_zero() {
            let (pk, sk) = keys::product_rank(tenant, self.net_sales, self.quantity, self.id);
            item.insert("gsi1pk".into(), Attr::S(pk));
            item.insert("gsi1sk".into(), Attr::S(sk));
        }
        revision.put(item)
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
    use crate::store::{Condition, Key};

    #[test]
    fn a_record_reads_back_what_it_wrote_and_ranks_while_it_sold_anything() {
        let t = TenantId::new(3);
        let (rev, mut r) = ProductSalesRecord::read(ShopifyId::new(632910392), None);
        r.add(ProductSale {
            quantity: Decimal::from(3),
            net_sales: Decimal::new(59700, 2),
        });
        r.name(Some("IPod Nano"));
        r.name(Some("another title"));
        let WriteOp::Put { item, condition } = r.write(&rev, t) else {
            panic!("a put")
        };
        assert_eq!(condition, Some(Condition::NotExists));
        assert_eq!(
            Key::of(&item),
            Some(TenantItem::ProductSales(ShopifyId::new(632910392)).key(t))
        );
        assert!(item.contains_key("gsi1sk"));
        assert_eq!(ProductSalesRecord::from_ranked_item(&item), Some(r.clone()));
        assert_eq!(r.title.as_deref(), Some("IPod Nano"));

        // Everything refunded: no longer ranked.
        let (rev, mut back) = ProductSalesRecord::read(r.id, Some(&item));
        back.add(ProductSale {
            quantity: Decimal::from(-3),
            net_sales: Decimal::new(-59700, 2),
        });
        let WriteOp::Put { item, .. } = back.write(&rev, t) else {
            panic!("a put")
        };
        assert!(!item.contains_key("gsi1sk"));
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
