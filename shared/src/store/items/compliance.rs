//! The record of a `customers/data_request`: which customer, when it arrived, and where its export
//! stands.

use chrono::{DateTime, Utc};

use super::{keyed, text};
use crate::domain::{ShopifyId, TenantId};
use crate::store::keys::TenantItem;
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
