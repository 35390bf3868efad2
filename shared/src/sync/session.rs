//! A shop's Admin API session: the access token kept in the vault, refreshed before it expires.
//!
//! An installed app holds an expiring offline token (an hour) and a refresh token. Before every
//! Admin API call the client asks the session for a token ([`AccessToken::current`]); one that
//! expires within [`REFRESH_MARGIN`] is refreshed first. Shopify rotates both tokens on a refresh
//! and refuses a spent refresh token, so:
//! - one refresh at a time per shop in a process (a lock per tenant), and the vault re-read under
//!   it: whoever waited finds the pair the first one stored;
//! - the new pair is stored before either token is used: a crash after the refresh loses nothing
//!   that was not already kept;
//! - a refused refresh re-reads the vault once (another process may have rotated the pair: its
//!   pair is the one to use) and otherwise answers `Unauthorized`, which ends the sync in
//!   `needs_reauth`.
//!
//! Across processes, the sync's claim (one run per shop at a time) is what keeps two refreshes of
//! one shop apart; the re-read on refusal covers a connect racing a run.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Weak};

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::vault::{ShopTokens, TokenVault, VaultError};
use crate::clock::Clock;
use crate::deps::{AppSecret, ShopifyApi};
use crate::domain::{ShopDomain, TenantId};
use crate::shopify::oauth::{self, ExchangeError};
use crate::shopify::{AccessToken, Shopify, ShopifyError};

/// A token expiring sooner than this is refreshed before it is used.
pub const REFRESH_MARGIN: Duration = Duration::minutes(5);

/// Attempts to keep a refreshed pair (the old refresh token is already spent).
const STORE_ATTEMPTS: usize = 3;

/// What refreshing needs besides the shop: the app's client id and secret.
#[derive(Clone)]
pub struct Refresher {
    pub client_id: String,
    pub secret: AppSecret,
}

/// One shop's tokens for the length of a run.
pub struct ShopSession {
    tenant: TenantId,
    shop: ShopDomain,
    vault: Arc<dyn TokenVault>,
    api: ShopifyApi,
    clock: Arc<dyn Clock>,
    refresher: Refresher,
    held: tokio::sync::Mutex<ShopTokens>,
}

/// The ports a session uses.
pub struct SessionPorts<'a> {
    pub vault: &'a Arc<dyn TokenVault>,
    pub api: &'a ShopifyApi,
    pub clock: &'a Arc<dyn Clock>,
    pub refresher: &'a Refresher,
}

impl ShopSession {
    /// The shop's session, or `None` when the vault holds no token for it.
    pub async fn open(
        ports: SessionPorts<'_>,
        tenant: TenantId,
        shop: &ShopDomain,
    ) -> Result<Option<Arc<ShopSession>>, VaultError> {
        let Some(kept) = ports.vault.get(tenant).await? else {
            return Ok(None);
        };
        Ok(Some(Arc::new(ShopSession {
            tenant,
            shop: shop.clone(),
            vault: ports.vault.clone(),
            api: ports.api.clone(),
            clock: ports.clock.clone(),
            refresher: ports.refresher.clone(),
            held: tokio::sync::Mutex::new(ShopTokens::decode(&kept)),
        })))
    }

    /// An Admin API client that asks this session for its token before every call.
    pub fn client(self: &Arc<Self>) -> Shopify {
        Shopify::with_tokens(
            self.api.http.clone(),
            self.api.base_url.as_deref(),
            &self.shop,
            self.clone(),
        )
    }

    async fn reread(&self) -> Result<Option<ShopTokens>, ShopifyError> {
        Ok(self
            .vault
            .reload(self.tenant)
            .await
            .map_err(token_store)?
            .map(|k| ShopTokens::decode(&k)))
    }

    async fn keep(&self, tokens: &ShopTokens) -> Result<(), ShopifyError> {
        let mut last = None;
        for _ in 0..STORE_ATTEMPTS {
            match self.vault.put(self.tenant, &tokens.encode()).await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        let e = last
            .map(token_store)
            .unwrap_or_else(|| ShopifyError::TokenStore {
                source: "no attempt".into(),
            });
        tracing::error!(tenant = %self.tenant, "a refreshed token pair could not be kept; the shop needs to be connected again");
        Err(e)
    }
}

/// Usable at `now` for at least the margin.
fn fresh(t: &ShopTokens, now: DateTime<Utc>) -> bool {
    t.expires_at.is_none_or(|at| at - REFRESH_MARGIN > now)
}

fn same_refresh(a: &ShopTokens, b: &ShopTokens) -> bool {
    match (&a.refresh_token, &b.refresh_token) {
        (Some(x), Some(y)) => x.expose_secret() == y.expose_secret(),
        (None, None) => true,
        _ => false,
    }
}

fn token_store(e: VaultError) -> ShopifyError {
    ShopifyError::TokenStore {
        source: Box::new(e),
    }
}

/// One refresh at a time per tenant in this process.
fn flight(tenant: TenantId) -> Arc<tokio::sync::Mutex<()>> {
    static FLIGHTS: LazyLock<std::sync::Mutex<HashMap<TenantId, Weak<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Default::default);
    let mut map = FLIGHTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(lock) = map.get(&tenant).and_then(Weak::upgrade) {
        return lock;
    }
    map.retain(|_, w| w.strong_count() > 0);
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    map.insert(tenant, Arc::downgrade(&lock));
    lock
}

#[async_trait::async_trait]
impl AccessToken for ShopSession {
    async fn current(&self) -> Result<SecretString, ShopifyError> {
        let mut held = self.held.lock().await;
        if fresh(&held, self.clock.now()) {
            return Ok(held.access_token.clone());
        }
        let flight = flight(self.tenant);
        let _one = flight.lock().await;
        // Whoever refreshed while this waited has stored its pair.
        if let Some(kept) = self.reread().await? {
            *held = kept;
            if fresh(&held, self.clock.now()) {
                return Ok(held.access_token.clone());
            }
        }
        let now = self.clock.now();
        let refresh = held
            .refresh_token
            .clone()
            .filter(|_| held.refresh_token_expires_at.is_none_or(|at| at > now))
            .ok_or(ShopifyError::Unauthorized { status: 401 })?;
        let secret = self
            .refresher
            .secret
            .get()
            .await
            .map_err(|e| ShopifyError::TokenStore {
                source: Box::new(e),
            })?;
        let client = oauth::Client {
            id: &self.refresher.client_id,
            secret,
        };
        let base = self.api.base_url.as_deref();
        match oauth::refresh(&self.api.http, base, &self.shop, client, &refresh, now).await {
            Ok(grant) => {
                let pair = ShopTokens {
                    access_token: grant.access_token,
                    refresh_token: grant.refresh_token.or(Some(refresh)),
                    expires_at: grant.expires_at,
                    refresh_token_expires_at: grant
                        .refresh_token_expires_at
                        .or(held.refresh_token_expires_at),
                };
                // Kept before it is used.
                self.keep(&pair).await?;
                *held = pair;
                tracing::info!(tenant = %self.tenant, "access token refreshed");
                Ok(held.access_token.clone())
            }
            Err(ExchangeError::Refused { status }) => {
                // Spent by another process? Its pair is in the vault.
                if let Some(kept) = self.reread().await?
                    && !same_refresh(&kept, &held)
                    && fresh(&kept, self.clock.now())
                {
                    *held = kept;
                    return Ok(held.access_token.clone());
                }
                tracing::warn!(tenant = %self.tenant, status, "Shopify refused the refresh token");
                Err(ShopifyError::Unauthorized { status })
            }
            Err(ExchangeError::Shopify(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiring(at: Option<DateTime<Utc>>) -> ShopTokens {
        ShopTokens {
            expires_at: at,
            ..ShopTokens::access_only(SecretString::from("shpua_1"))
        }
    }

    #[test]
    fn a_token_is_refreshed_from_five_minutes_before_it_expires() {
        let now = Utc::now();
        assert!(fresh(&expiring(None), now));
        assert!(fresh(&expiring(Some(now + Duration::minutes(6))), now));
        assert!(!fresh(&expiring(Some(now + Duration::minutes(5))), now));
        assert!(!fresh(&expiring(Some(now - Duration::minutes(1))), now));
    }

    #[test]
    fn one_flight_per_tenant_is_shared_while_it_is_held() {
        let a = TenantId::new(7);
        let first = flight(a);
        assert!(Arc::ptr_eq(&first, &flight(a)));
        assert!(!Arc::ptr_eq(&first, &flight(TenantId::new(8))));
    }
}
