//! The storefront ingest key: a public key (it ships in the storefront's pixel) that names the
//! tenant `POST /events` writes to. It grants nothing but sending events, so it is kept readable
//! (`GET /tenants/me/ingest-key` shows it again); replacing it stops the old one at once.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::auth::api_key::hash;
use crate::domain::TenantId;
use crate::store::items::storefront::IngestKeyRecord;
use crate::store::items::tenant::DirectoryEntry;
use crate::store::keys::{Directory, TenantItem};
use crate::store::{Store, StoreError};

pub const PREFIX: &str = "ik_";

fn fresh() -> Result<String, StoreError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::backend(e.to_string()))?;
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Cheap shape check before any lookup.
pub fn looks_like_key(key: &str) -> bool {
    key.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == 32
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The tenant's key, made on first use.
pub async fn current(store: &dyn Store, tenant: TenantId) -> Result<String, StoreError> {
    for _ in 0..4 {
        let item = store.get(&TenantItem::IngestKey.key(tenant)).await?;
        let (revision, held) = IngestKeyRecord::read(item.as_ref());
        if let Some(k) = held {
            return Ok(k);
        }
        let key = fresh()?;
        match store
            .write(IngestKeyRecord::replace(tenant, &revision, None, &key))
            .await
        {
            Ok(()) => return Ok(key),
            // Another request made it first: read theirs.
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::backend("ingest key kept changing"))
}

/// Replaces the tenant's key; the old one stops working in the same write.
pub async fn replace(store: &dyn Store, tenant: TenantId) -> Result<String, StoreError> {
    for _ in 0..4 {
        let item = store.get(&TenantItem::IngestKey.key(tenant)).await?;
        let (revision, held) = IngestKeyRecord::read(item.as_ref());
        let key = fresh()?;
        match store
            .write(IngestKeyRecord::replace(
                tenant,
                &revision,
                held.as_deref(),
                &key,
            ))
            .await
        {
            Ok(()) => return Ok(key),
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::backend("ingest key kept changing"))
}

/// The tenant a key belongs to, if it is a current key.
pub async fn tenant_of(store: &dyn Store, key: &str) -> Result<Option<TenantId>, StoreError> {
    if !looks_like_key(key) {
        return Ok(None);
    }
    let entry = store.get(&Directory::IngestKey(hash(key)).key()).await?;
    Ok(entry
        .as_ref()
        .and_then(DirectoryEntry::from_item)
        .map(|e| e.tenant))
}
