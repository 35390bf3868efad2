//! Connecting a shop: the token checked with Shopify and kept in the vault, the shop listed for the
//! scheduler; disconnecting destroys the token and unlists it.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::state::SyncState;
use super::{SyncError, TokenVault};
use crate::deps::ShopifyApi;
use crate::domain::{ShopDomain, TenantId};
use crate::shopify::{ShopifyError, shop_info};
use crate::store::Store;
use crate::store::items::sync::ConnectionRecord;
use crate::store::keys::TenantItem;

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
    vault.put(tenant, &token).await?;
    let record = ConnectionRecord {
        shop_domain: shop.as_str().to_owned(),
        connected: true,
        scopes: info.scopes.clone(),
        iana_timezone: info.iana_timezone,
        currency: info.currency,
    };
    store.write(vec![record.put(tenant, now)]).await?;
    SyncState::reauthorized(store, tenant).await?;
    tracing::info!(%tenant, "shop connected");
    Ok(Connection {
        shop_domain: record.shop_domain,
        scopes: info.scopes,
    })
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
