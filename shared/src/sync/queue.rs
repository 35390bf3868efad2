//! How a sync request reaches a worker: one `SyncRequested` event per shop on the app's EventBridge
//! bus (a rule invokes `sync-shop` once per event), or an in-process channel under `insights serve`.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::domain::TenantId;

/// The EventBridge `source` and `detail-type` of a sync request.
pub const SOURCE: &str = "insights.sync";
pub const DETAIL_TYPE: &str = "SyncRequested";
/// PutEvents takes at most 10 entries.
const BATCH: usize = 10;
const ATTEMPTS: u32 = 4;

/// One shop's background work (the event's `detail`): a sync, or the rest of a shop erase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    pub tenant: TenantId,
    pub sync_id: String,
    /// Absent in a sync request (as before erases were queued).
    #[serde(default, skip_serializing_if = "Work::is_sync")]
    pub work: Work,
}

/// What a request asks of the shop's job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// Read the shop's changes from the Admin API.
    #[default]
    Sync,
    /// Finish a `shop/redact` erase that did not fit its delivery.
    EraseShop,
}

impl Work {
    fn is_sync(&self) -> bool {
        *self == Work::Sync
    }
}

impl SyncRequest {
    /// A sync of `tenant`'s shop under the claim `sync_id`.
    pub fn sync(tenant: TenantId, sync_id: String) -> SyncRequest {
        SyncRequest {
            tenant,
            sync_id,
            work: Work::Sync,
        }
    }

    /// The rest of `tenant`'s shop erase.
    pub fn erase(tenant: TenantId) -> SyncRequest {
        SyncRequest {
            tenant,
            sync_id: "erase".into(),
            work: Work::EraseShop,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("could not queue {failed} sync request(s)")]
pub struct QueueError {
    pub failed: usize,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// Where sync requests go.
#[async_trait::async_trait]
pub trait SyncQueue: Send + Sync {
    async fn enqueue(&self, requests: &[SyncRequest]) -> Result<(), QueueError>;
}

/// EventBridge PutEvents through the real SDK client: batches of 10, failed entries retried.
pub struct EventBridgeQueue {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeQueue {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> EventBridgeQueue {
        EventBridgeQueue {
            client,
            bus: bus.into(),
        }
    }
}

#[async_trait::async_trait]
impl SyncQueue for EventBridgeQueue {
    async fn enqueue(&self, requests: &[SyncRequest]) -> Result<(), QueueError> {
        let mut failed_total = 0;
        for chunk in requests.chunks(BATCH) {
            let mut pending: Vec<&SyncRequest> = chunk.iter().collect();
            for attempt in 1..=ATTEMPTS {
                let entries = pending
                    .iter()
                    .map(|r| {
                        PutEventsRequestEntry::builder()
                            .event_bus_name(&self.bus)
                            .source(SOURCE)
                            .detail_type(DETAIL_TYPE)
                            .detail(serde_json::to_string(r).unwrap_or_default())
                            .build()
                    })
                    .collect::<Vec<_>>();
                let out = self
                    .client
                    .put_events()
                    .set_entries(Some(entries))
                    .send()
                    .await;
                match out {
                    Ok(o) if o.failed_entry_count() == 0 => {
                        pending.clear();
                        break;
                    }
                    Ok(o) => {
                        // Entries answer in order; keep those that carry an error code.
                        let results = o.entries();
                        pending = pending
                            .into_iter()
                            .zip(results.iter().map(Some).chain(std::iter::repeat(None)))
                            .filter(|(_, r)| r.is_none_or(|r| r.error_code().is_some()))
                            .map(|(p, _)| p)
                            .collect();
                        tracing::warn!(
                            failed = pending.len(),
                            attempt,
                            "PutEvents had failed entries; retrying them"
                        );
                    }
                    Err(e) if attempt == ATTEMPTS => {
                        return Err(QueueError {
                            failed: pending.len(),
                            source: Some(Box::new(e)),
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, attempt, "PutEvents failed; retrying"),
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            failed_total += pending.len();
        }
        if failed_total > 0 {
            return Err(QueueError {
                failed: failed_total,
                source: None,
            });
        }
        Ok(())
    }
}

/// The in-process queue of `insights serve`: a channel its sync worker reads.
pub struct LocalQueue(pub mpsc::UnboundedSender<SyncRequest>);

#[async_trait::async_trait]
impl SyncQueue for LocalQueue {
    async fn enqueue(&self, requests: &[SyncRequest]) -> Result<(), QueueError> {
        for r in requests {
            self.0.send(r.clone()).map_err(|_| QueueError {
                failed: requests.len(),
                source: None,
            })?;
        }
        Ok(())
    }
}

/// No queue configured (functions that never request syncs).
pub struct NoQueue;

#[async_trait::async_trait]
impl SyncQueue for NoQueue {
    async fn enqueue(&self, requests: &[SyncRequest]) -> Result<(), QueueError> {
        Err(QueueError {
            failed: requests.len(),
            source: Some("no sync queue is configured".into()),
        })
    }
}
