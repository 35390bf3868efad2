//! The applied-event record: a delivery's topic and event id, kept for a week (TTL) so a
//! redelivery is a no-op.

use chrono::{DateTime, Utc};

use super::{keyed, text};
use crate::domain::TenantId;
use crate::store::keys::TenantItem;
use crate::store::{Attr, Condition, Item, Key, TTL, WriteOp};

/// How long an applied event id is remembered: Shopify retries for 4 hours; a week also covers
/// EventBridge replays and manual re-sends.
pub const EVENT_TTL_SECONDS: i64 = 7 * 24 * 3600;

/// One delivery, applied.
#[derive(Clone, Debug, PartialEq)]
pub struct AppliedEvent {
    /// Shopify's topic name (`orders/paid`): the same event id under another topic is another record.
    pub topic: String,
    pub event_id: String,
    pub applied_at: DateTime<Utc>,
}

impl AppliedEvent {
    /// The epoch second DynamoDB's TTL sweeper may delete the record after.
    pub fn expires_at(&self) -> i64 {
        self.applied_at.timestamp() + EVENT_TTL_SECONDS
    }

    /// Its key in `tenant`'s partition.
    pub fn key(&self, tenant: TenantId) -> Key {
        TenantItem::Event {
            topic: self.topic.clone(),
            id: self.event_id.clone(),
        }
        .key(tenant)
    }

    /// The item in `tenant`'s partition.
    pub fn to_item(&self, tenant: TenantId) -> Item {
        let mut item = keyed(&self.key(tenant));
        item.insert("topic".into(), Attr::from(self.topic.as_str()));
        item.insert("event_id".into(), Attr::from(self.event_id.as_str()));
        item.insert(
            "applied_at".into(),
            Attr::from(self.applied_at.to_rfc3339()),
        );
        // TTL: DynamoDB deletes the record a week after it was applied.
        item.insert(TTL.into(), Attr::from(self.expires_at()));
        item
    }

    /// The write recording it: only the first delivery of an event gets it through
    /// (`attribute_not_exists(pk)`).
    pub fn record(&self, tenant: TenantId) -> WriteOp {
        WriteOp::Put {
            item: self.to_item(tenant),
            condition: Some(Condition::NotExists),
        }
    }

    /// The event an item records.
    pub fn from_item(item: &Item) -> Option<AppliedEvent> {
        let applied_at = DateTime::parse_from_rfc3339(&text(item, "applied_at")?).ok()?;
        Some(AppliedEvent {
            topic: text(item, "topic")?,
            event_id: text(item, "event_id")?,
            applied_at: applied_at.with_timezone(&Utc),
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
        fn any_applied_event_round_trips_through_its_item_and_expires_a_week_later(
            t in any::<u64>(),
            topic in "[a-z_]{1,20}/[a-z_]{1,20}",
            id in "[A-Za-z0-9:_.-]{1,64}",
            secs in 0i64..4_102_444_800,
            nanos in 0u32..1_000_000_000,
        ) {
            let event = AppliedEvent {
                topic,
                event_id: id,
                applied_at: Utc.timestamp_opt(secs, nanos).unwrap(),
            };
            let item = event.to_item(TenantId::new(t));
            prop_assert_eq!(AppliedEvent::from_item(&item), Some(event.clone()));
            prop_assert_eq!(item.get(TTL), Some(&Attr::from(secs + EVENT_TTL_SECONDS)));
        }
    }

    #[test]
    fn an_event_is_recorded_only_where_none_is() {
        let event = AppliedEvent {
            topic: "orders/paid".into(),
            event_id: "e-1".into(),
            applied_at: Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap(),
        };
        let op = event.record(TenantId::new(2));
        assert_eq!(op.condition(), Some(&Condition::NotExists));
        assert_eq!(
            op.key().unwrap(),
            TenantItem::Event {
                topic: "orders/paid".into(),
                id: "e-1".into()
            }
            .key(TenantId::new(2))
        );
    }
}
