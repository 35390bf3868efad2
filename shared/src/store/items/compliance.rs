//! The record of a `customers/data_request`: which customer, when it arrived, and where its export
//! stands.

use chrono::{DateTime, Utc};

use super::{keyed, text};
use crate::domain::{ShopifyId, TenantId};
use crate::store::keys::{self, TenantItem};
use crate::store::{Attr, Condition, Item, WriteOp};

/// One data request, as received.
#[derive(Clone, Debug, PartialEq)]
pub struct DataRequestRecord {
    /// Shopify's data request id.
    pub id: ShopifyId,
    pub customer_id: ShopifyId,
    pub received_at: DateTime<Utc>,
    /// `ready`: the export can be read.
    pub status: String,
}

impl DataRequestRecord {
    pub fn to_item(&self, tenant: TenantId) -> Item {
        let mut item = keyed(&TenantItem::DataRequest(self.id).key(tenant));
        item.insert("id".into(), Attr::S(self.id.to_string()));
        item.insert("customer_id".into(), Attr::S(self.customer_id.to_string()));
        item.insert(
            "received_at".into(),
            Attr::from(self.received_at.to_rfc3339()),
        );
        item.insert("status".into(), Attr::from(self.status.as_str()));
        item
    }

    /// The write recording it: only the first delivery of a request gets through.
    pub fn record(&self, tenant: TenantId) -> WriteOp {
        WriteOp::Put {
            item: self.to_item(tenant),
            condition: Some(Condition::NotExists),
        }
    }

    pub fn from_item(item: &Item) -> Option<DataRequestRecord> {
        let received_at = DateTime::parse_from_rfc3339(&text(item, "received_at")?).ok()?;
        Some(DataRequestRecord {
            id: ShopifyId::parse(&text(item, "id")?)?,
            customer_id: ShopifyId::parse(&text(item, "customer_id")?)?,
            received_at: received_at.with_timezone(&Utc),
            status: text(item, "status")?,
        })
    }
}

/// A `shop/redact` whose erase is under way: written before the first delete, removed after the
/// last, listed in gsi2 ([`keys::ERASES_PENDING`]) meanwhile so the scheduler hands an erase that
/// did not finish in its delivery to the job.
#[derive(Clone, Debug, PartialEq)]
pub struct EraseRequest {
    pub requested_at: DateTime<Utc>,
}

impl EraseRequest {
    /// Records the request at `requested_at` (written again by every delivery and every run of
    /// the job: the item says when the erase was last taken up).
    pub fn put(&self, tenant: TenantId) -> WriteOp {
        let mut item = keyed(&TenantItem::EraseRequest.key(tenant));
        item.insert(
            "requested_at".into(),
            Attr::from(self.requested_at.to_rfc3339()),
        );
        item.insert("gsi2pk".into(), Attr::from(keys::ERASES_PENDING));
        item.insert("gsi2sk".into(), Attr::S(tenant.to_string()));
        WriteOp::Put {
            item,
            condition: None,
        }
    }

    /// The erase is finished.
    pub fn done(tenant: TenantId) -> WriteOp {
        WriteOp::Delete {
            key: TenantItem::EraseRequest.key(tenant),
            condition: None,
        }
    }

    /// The tenant of an entry in the pending-erases listing.
    pub fn listed_tenant(listing: &Item) -> Option<TenantId> {
        text(listing, "gsi2sk").and_then(|t| TenantId::parse(&t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_data_request_round_trips_through_its_item(
            t in any::<u64>(), id in any::<u64>(), customer in any::<u64>(), secs in 0i64..4_102_444_800,
        ) {
            let r = DataRequestRecord {
                id: ShopifyId::new(id),
                customer_id: ShopifyId::new(customer),
                received_at: Utc.timestamp_opt(secs, 0).unwrap(),
                status: "ready".into(),
            };
            prop_assert_eq!(DataRequestRecord::from_item(&r.to_item(TenantId::new(t))), Some(r));
        }
    }
}
