//! Connecting a shop: the token checked with Shopify and kept in the vault, the tenant's claim on
//! the shop proven (releasing any other tenant's), the shop listed for the scheduler;
//! disconnecting destroys the token and unlists it.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::state::SyncState;
use super::vault::ShopTokens;
use super::{SyncError, SyncQueue, TokenVault};
use crate::deps::ShopifyApi;
use crate::domain::{ShopDomain, TenantId};
use crate::shopify::{ShopInfo, Shopify, ShopifyError, shop_info, subscriptions};
use crate::store::items::sync::ConnectionRecord;
use crate::store::items::tenant::DirectoryEntry;
use crate::store::keys::{Directory, TenantItem};
use crate::store::{Store, StoreError, WriteOp};

/// A connected shop, as `PUT /tenants/me/shopify` answers it.
#[derive(Clone, Debug)]
pub struct Connection {
    pub shop_domain: String,
    pub scopes: Vec<String>,
}

/// Checks the token against the shop's Admin API, keeps it in the vault and lists the shop for the
/// scheduler.
pub async fn connect(
    store: &dyn Store,
    now: DateTime<Utc>,
    vault: &dyn TokenVault,
    queue: &dyn SyncQueue,
    shopify: &ShopifyApi,
    tenant: TenantId,
    token: SecretString,
) -> Result<Connection, SyncError> {
    let profile = crate::auth::load_tenant(store, tenant)
        .await
        .map_err(|_| SyncError::NotConnected)?
        .ok_or(SyncError::NotConnected)?;
    let shop = ShopDomain::parse(&profile.shop_domain).map_err(|_| SyncError::NotConnected)?;
    let client = shopify.client(&shop, token.clone());
    let info = match shop_info(&client).await {
        Ok(i) => i,
        Err(ShopifyError::Unauthorized { .. }) => return Err(SyncError::Rejected),
        Err(e) => return Err(SyncError::Unreachable(e)),
    };
    let scopes = info.scopes.clone();
    link(
        store,
        now,
        Linked { vault, queue },
        tenant,
        &shop,
        &ShopTokens::access_only(token),
        info,
        Vec::new(),
    )
    .await?;
    subscribe(&client, &shopify.webhook_uri, tenant).await;
    Ok(Connection {
        shop_domain: shop.as_str().to_owned(),
        scopes,
    })
}

/// Where a connection's token goes, and where its first sync is queued.
pub struct Linked<'a> {
    pub vault: &'a dyn TokenVault,
    pub queue: &'a dyn SyncQueue,
}

/// How often a proof is retried when the shop's entry changed between its read and the write.
const PROOF_ATTEMPTS: usize = 3;

/// Connects `tenant` to `shop` with tokens the shop accepted (`info` was read with them): keeps
/// them in the vault, then in one atomic batch with `extra` (a new tenant's profile, a sign-in
/// code...) proves the tenant's claim on the shop (replacing another tenant's entry, whose
/// connection is unlisted: it no longer holds the shop, its data stays its own) and lists the shop
/// for the scheduler; then queues the first sync (unless one is running).
#[allow(clippy::too_many_arguments)]
pub async fn link(
    store: &dyn Store,
    now: DateTime<Utc>,
    ports: Linked<'_>,
    tenant: TenantId,
    shop: &ShopDomain,
    tokens: &ShopTokens,
    info: ShopInfo,
    extra: Vec<WriteOp>,
) -> Result<(), SyncError> {
    ports.vault.put(tenant, &tokens.encode()).await?;
    let record = ConnectionRecord {
        shop_domain: shop.as_str().to_owned(),
        connected: true,
        scopes: info.scopes,
        iana_timezone: info.iana_timezone,
        currency: info.currency,
    };
    let entry_key = Directory::Shop(shop.as_str().to_owned());
    for _ in 0..PROOF_ATTEMPTS {
        let held = match store.get(&entry_key.key()).await? {
            Some(item) => DirectoryEntry::from_item(&item),
            None => None,
        };
        let mut ops = extra.clone();
        let proof = DirectoryEntry {
            tenant,
            // A secret the merchant set for admin-created webhooks is this tenant's to keep.
            webhook_secret: held
                .as_ref()
                .filter(|h| h.tenant == tenant)
                .and_then(|h| h.webhook_secret.clone()),
            proven: true,
        };
        let proof_at = ops.len();
        ops.push(proof.replace(&entry_key, held.as_ref().map(|h| h.tenant)));
        if let Some(released) = held.as_ref().map(|h| h.tenant).filter(|t| *t != tenant)
            && store
                .get(&TenantItem::Connection.key(released))
                .await?
                .is_some()
        {
            ops.push(ConnectionRecord::disconnect(released, now));
        }
        ops.push(record.put(tenant, now));
        match store.write(ops).await {
            Ok(()) => {
                if let Some(released) = held.map(|h| h.tenant).filter(|t| *t != tenant) {
                    tracing::info!(%tenant, %released, "shop proven; another claim released");
                }
                SyncState::reauthorized(store, tenant).await?;
                tracing::info!(%tenant, "shop connected");
                // The first sync: what happened before the webhooks were subscribed.
                match super::request(store, now, ports.queue, tenant).await {
                    Ok(_) | Err(SyncError::Running) => {}
                    // Connected all the same: the scheduler syncs it on its next round.
                    Err(e) => tracing::warn!(%tenant, error = %e, "could not queue the first sync"),
                }
                return Ok(());
            }
            Err(StoreError::ConditionFailed { index }) if index == proof_at => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(SyncError::Store(StoreError::ConditionFailed {
        index: extra.len(),
    }))
}

/// Subscribes the shop to every handled topic at `uri` (idempotent). Never fails the caller: a
/// shop that could not be subscribed now is subscribed by its next sync, and the sync reads what
/// webhooks would have brought meanwhile.
pub async fn subscribe(client: &Shopify, uri: &str, tenant: TenantId) {
    match subscriptions::ensure(client, uri).await {
        Ok(s) if s.created > 0 => {
            tracing::info!(%tenant, created = s.created, existing = s.existing, "webhook subscriptions created");
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(%tenant, error = %e, "webhook subscriptions could not be created now; the next sync retries");
        }
    }
}

/// Destroys the token and unlists the shop; its data stays.
pub async fn disconnect(
    store: &dyn Store,
    now: DateTime<Utc>,
    vault: &dyn TokenVault,
    tenant: TenantId,
) -> Result<(), SyncError> {
    vault.delete(tenant).await?;
    store
        .write(vec![ConnectionRecord::disconnect(tenant, now)])
        .await?;
    tracing::info!(%tenant, "shop disconnected");
    Ok(())
}

/// The shop's connection, while connected.
pub async fn connected(
    store: &dyn Store,
    tenant: TenantId,
) -> Result<Option<ConnectionRecord>, SyncError> {
    let item = store.get(&TenantItem::Connection.key(tenant)).await?;
    Ok(item
        .as_ref()
        .map(ConnectionRecord::from_item)
        .filter(|c| c.connected))
}
