//! The app lifecycle and compliance topics that are not a resource change: what `app/uninstalled`,
//! `shop/redact` and `customers/data_request` do to a tenant (contract: "App lifecycle and privacy
//! compliance"). `customers/redact` is a change like any other ([`super::Change::RedactCustomer`]).
//!
//! Both are idempotent, so a redelivery (or Shopify's retry after a failure half-way) simply does
//! the rest: `shop/redact` erases page by page, and an interrupted erase resumes on the next
//! delivery from whatever is left.

use chrono::{DateTime, Utc};

use super::Outcome;
use crate::domain::{ShopifyId, TenantId};
use std::time::Instant;

use crate::store::items::compliance::{DataRequestRecord, EraseRequest};
use crate::store::items::sync::ConnectionRecord;
use crate::store::keys::{
    ERASES_PENDING, shop_data_prefixes, shop_data_singletons, tenant_partition,
};
use crate::store::{Index, Key, MAX_BATCH_OPS, Query, SortRange, Store, StoreError, WriteOp};
use crate::sync::state::SyncState;
use crate::sync::{TokenVault, VaultError};

/// Why a lifecycle effect could not be made durable (the delivery answers 5xx and is retried).
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("token vault unavailable")]
    Vault(#[from] VaultError),
}

/// `app/uninstalled`: the shop's token destroyed, the shop unlisted (no more scheduled syncs), the
/// sync state `uninstalled`. The data stays until `shop/redact`.
pub async fn uninstalled(
    store: &dyn Store,
    now: DateTime<Utc>,
    vault: &dyn TokenVault,
    tenant: TenantId,
) -> Result<(), LifecycleError> {
    vault.delete(tenant).await?;
    store
        .write(vec![ConnectionRecord::disconnect(tenant, now)])
        .await?;
    SyncState::uninstalled(store, now, tenant).await?;
    tracing::info!(%tenant, "app uninstalled: token destroyed, syncs stopped");
    Ok(())
}

/// How far an erase got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Erase {
    /// Every item erased (this many by this call).
    Done { erased: u64 },
    /// Out of time: this many erased, the rest left for the job (the request stays listed).
    Unfinished { erased: u64 },
}

/// How long a `shop/redact` delivery erases before answering: a small shop is gone when Shopify
/// gets its `200`; a large one is finished by the job (well within API Gateway's 29 s).
pub const INLINE_ERASE: std::time::Duration = std::time::Duration::from_secs(5);

/// `shop/redact`: every item of the shop's data in the tenant's partition erased (orders,
/// customers, products, day rollups, totals, applied events, connection, sync state, token), by
/// Query and batched deletes, never a Scan. The GSI entries (order listing, customer ranking) are
/// attributes of those items and go with them. The account (profile, directory entries, API key)
/// stays.
///
/// The request is recorded first (and listed for the scheduler); it is removed after the last
/// delete. Past `deadline` the erase stops between pages and answers `Unfinished`: the job
/// (`sync-shop`, handed the request by the scheduler) runs it again from what is left.
pub async fn redact_shop(
    store: &dyn Store,
    vault: &dyn TokenVault,
    now: DateTime<Utc>,
    tenant: TenantId,
    deadline: Instant,
) -> Result<Erase, LifecycleError> {
    store
        .write(vec![EraseRequest { requested_at: now }.put(tenant)])
        .await?;
    vault.delete(tenant).await?;
    let mut erased = 0u64;
    let singles: Vec<WriteOp> = shop_data_singletons()
        .iter()
        .map(|item| delete(item.key(tenant)))
        .collect();
    store.write(singles).await?;
    for prefix in shop_data_prefixes() {
        let mut cursor = None;
        loop {
            if Instant::now() >= deadline {
                tracing::info!(%tenant, erased, "shop erase out of time; the job finishes it");
                return Ok(Erase::Unfinished { erased });
            }
            let query = Query::partition(
                Index::Primary,
                tenant_partition(tenant),
                SortRange::Prefix(prefix.to_owned()),
            )
            .limit(MAX_BATCH_OPS as u32)
            .after(cursor);
            let page = store.query(&query).await?;
            let ops: Vec<WriteOp> = page.items.iter().filter_map(Key::of).map(delete).collect();
            if !ops.is_empty() {
                erased += ops.len() as u64;
                store.write(ops).await?;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    store.write(vec![EraseRequest::done(tenant)]).await?;
    tracing::info!(%tenant, erased, "shop data erased");
    Ok(Erase::Done { erased })
}

/// Tenants whose erase is not finished (one Query of the sparse index, never a Scan).
pub async fn pending_erases(store: &dyn Store) -> Result<Vec<TenantId>, StoreError> {
    let mut q = Query::partition(Index::Gsi2, ERASES_PENDING, SortRange::All).limit(500);
    let mut tenants = Vec::new();
    loop {
        let page = store.query(&q).await?;
        tenants.extend(page.items.iter().filter_map(EraseRequest::listed_tenant));
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    Ok(tenants)
}

fn delete(key: Key) -> WriteOp {
    WriteOp::Delete {
        key,
        condition: None,
    }
}

/// `customers/data_request`: the request recorded, ready to be read at
/// `GET /compliance/requests/{id}` (the export is assembled from what is held when it is read, so
/// it is complete and current). A redelivery of the same request id is a duplicate.
pub async fn data_request(
    store: &dyn Store,
    now: DateTime<Utc>,
    tenant: TenantId,
    id: ShopifyId,
    customer: ShopifyId,
) -> Result<Outcome, LifecycleError> {
    let record = DataRequestRecord {
        id,
        customer_id: customer,
        received_at: now,
        status: "ready".into(),
    };
    match store.write(vec![record.record(tenant)]).await {
        Ok(()) => {
            tracing::info!(%tenant, request = %id, "customer data request recorded");
            Ok(Outcome::Applied)
        }
        Err(StoreError::ConditionFailed { .. }) => Ok(Outcome::Duplicate),
        Err(e) => Err(e.into()),
    }
}
