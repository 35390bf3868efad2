//! Installing the app on a shop (OAuth authorization code grant, expiring offline tokens): the
//! `state` an install starts with, the callback that exchanges the code and connects the shop to
//! the right tenant, the one-time sign-in code it hands the browser, and the login a tenant created
//! by an install sets afterwards.
//!
//! The use cases know neither HTTP nor AWS; `http::install` parses requests and maps
//! [`InstallError`] to statuses.

pub mod query;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;

use crate::auth::{self, AuthError, LoggedIn, api_key, password};
use crate::config::ShopifyApp;
use crate::deps::{ShopifyApi, SigningKey};
use crate::domain::{Email, Password, ShopDomain, ShopStatus, Tenant, TenantId};
use crate::shopify::oauth::{self, ExchangeError};
use crate::shopify::{ShopifyError, shop_info};
use crate::store::items::install::{InstallState, SigninCode};
use crate::store::items::tenant::{DirectoryEntry, create_profile, set_login};
use crate::store::keys::Directory;
use crate::store::{Condition, Store, StoreError, WriteOp};
use crate::sync::vault::ShopTokens;
use crate::sync::{SyncError, TokenVault, connection};

/// A `state` is good for this long.
pub const STATE_MINUTES: i64 = 10;
/// A sign-in code is good for this long.
pub const SIGNIN_MINUTES: i64 = 10;

/// Why an install step refused.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("the query hmac is missing or wrong")]
    BadHmac,
    #[error("shop is not a *.myshopify.com host")]
    InvalidShop,
    #[error("the state is unknown, used, expired or for another shop")]
    InvalidState,
    #[error("Shopify refused the authorization code")]
    InvalidCode,
    #[error("a required scope was not granted")]
    MissingScopes,
    #[error("Shopify could not be reached")]
    Unreachable(#[source] ShopifyError),
    #[error("the sign-in code is unknown, used or expired")]
    InvalidSigninCode,
    #[error("this tenant already has a login")]
    LoginAlreadySet,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal failure: {0}")]
    Internal(&'static str),
}

/// The OAuth side of the app: its settings and where shops answer (`SHOPIFY_API_BASE_URL`).
#[derive(Clone, Debug, Default)]
pub struct OAuthApp {
    pub app: ShopifyApp,
    pub base_url: Option<String>,
}

/// 32 random bytes, URL-safe.
fn nonce() -> Result<String, InstallError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|_| InstallError::Internal("no randomness"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Starts an install of `shop`: a fresh single-use `state` (bound to the shop, and to `tenant` when
/// a signed-in tenant started it), and the authorize URL carrying it.
pub async fn begin(
    store: &dyn Store,
    now: DateTime<Utc>,
    oauth: &OAuthApp,
    shop: &ShopDomain,
    tenant: Option<TenantId>,
) -> Result<String, InstallError> {
    let state = nonce()?;
    let record = InstallState {
        shop: shop.as_str().to_owned(),
        tenant,
        expires_at: now + Duration::minutes(STATE_MINUTES),
    };
    // Only the nonce's hash is stored: a leaked table does not hand out live states.
    store
        .write(vec![
            record.put(&Directory::InstallState(api_key::hash(&state))),
        ])
        .await?;
    Ok(oauth::authorize_url(
        oauth.base_url.as_deref(),
        shop,
        &oauth.app.client_id,
        &oauth.app.scopes,
        &oauth.app.redirect_uri(),
        &state,
    ))
}

/// `POST /tenants/me/shopify/install`: an install of the caller's shop, bound to the caller.
pub async fn begin_for_tenant(
    store: &dyn Store,
    now: DateTime<Utc>,
    oauth: &OAuthApp,
    tenant: TenantId,
) -> Result<String, InstallError> {
    let profile = auth::load_tenant(store, tenant)
        .await?
        .ok_or(AuthError::Unauthorized)?;
    let shop = ShopDomain::parse(&profile.shop_domain).map_err(|_| InstallError::InvalidShop)?;
    begin(store, now, oauth, &shop, Some(tenant)).await
}

/// `GET /shopify/install` (Shopify's install and launch URL): checks the query `hmac` and the shop,
/// then starts an install bound to no tenant.
pub async fn launch(
    store: &dyn Store,
    now: DateTime<Utc>,
    secret: &[u8],
    oauth: &OAuthApp,
    params: &query::Params,
) -> Result<String, InstallError> {
    if !query::verify(secret, params) {
        return Err(InstallError::BadHmac);
    }
    let shop = query::param(params, "shop")
        .and_then(|s| ShopDomain::parse(s).ok())
        .ok_or(InstallError::InvalidShop)?;
    begin(store, now, oauth, &shop, None).await
}

/// What the callback needs besides the store and the clock.
pub struct CallbackPorts<'a> {
    pub secret: &'a SecretString,
    pub vault: &'a dyn TokenVault,
    pub queue: &'a dyn crate::sync::SyncQueue,
    pub shopify: &'a ShopifyApi,
    pub oauth: &'a OAuthApp,
}

/// A finished install: the tenant connected and the one-time sign-in code for the browser.
pub struct Installed {
    pub tenant: TenantId,
    pub signin_code: String,
}

/// `GET /shopify/callback`: verifies the `hmac`, the shop and the `state` (and uses it up),
/// exchanges the code for an expiring offline token, checks the granted scopes, connects the shop
/// to the tenant it belongs to (the state's; else the one holding a proven claim; else a new
/// tenant) and issues a sign-in code. Nothing is connected on any failure.
pub async fn callback(
    store: &dyn Store,
    now: DateTime<Utc>,
    ports: CallbackPorts<'_>,
    params: &query::Params,
) -> Result<Installed, InstallError> {
    use secrecy::ExposeSecret;
    if !query::verify(ports.secret.expose_secret().as_bytes(), params) {
        return Err(InstallError::BadHmac);
    }
    let shop = query::param(params, "shop")
        .and_then(|s| ShopDomain::parse(s).ok())
        .ok_or(InstallError::InvalidShop)?;
    let state_key = query::param(params, "state")
        .filter(|s| !s.is_empty())
        .map(|s| Directory::InstallState(api_key::hash(s)))
        .ok_or(InstallError::InvalidState)?;
    let state = store
        .get(&state_key.key())
        .await?
        .as_ref()
        .and_then(InstallState::from_item)
        .filter(|s| s.shop == shop.as_str() && s.expires_at > now)
        .ok_or(InstallError::InvalidState)?;
    // Bound to a tenant: that tenant must still name this shop.
    if let Some(t) = state.tenant {
        let named = auth::load_tenant(store, t)
            .await?
            .is_some_and(|p| p.shop_domain == shop.as_str());
        if !named {
            return Err(InstallError::InvalidState);
        }
    }
    // Single use: taken before anything else happens, so a replay finds nothing.
    match store.write(vec![InstallState::take(&state_key, now)]).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Err(InstallError::InvalidState),
        Err(e) => return Err(e.into()),
    }
    let code = query::param(params, "code")
        .filter(|c| !c.is_empty())
        .ok_or(InstallError::InvalidCode)?;
    let grant = oauth::exchange(
        &ports.shopify.http,
        ports.oauth.base_url.as_deref(),
        &shop,
        oauth::Client {
            id: &ports.oauth.app.client_id,
            secret: ports.secret,
        },
        code,
        now,
    )
    .await
    .map_err(|e| match e {
        ExchangeError::Refused { .. } => InstallError::InvalidCode,
        ExchangeError::Shopify(s) => InstallError::Unreachable(s),
    })?;
    if !oauth::missing_scopes(&ports.oauth.app.scopes, &grant.scopes).is_empty() {
        tracing::info!(shop = %shop, "install refused: a required scope was not granted");
        return Err(InstallError::MissingScopes);
    }
    let tokens = ShopTokens {
        access_token: grant.access_token,
        refresh_token: grant.refresh_token,
        expires_at: grant.expires_at,
        refresh_token_expires_at: grant.refresh_token_expires_at,
    };
    let client = ports.shopify.client(&shop, tokens.access_token.clone());
    let info = shop_info(&client)
        .await
        .map_err(InstallError::Unreachable)?;

    let mut extra = Vec::new();
    let tenant = match state.tenant {
        Some(t) => t,
        None => match holder(store, &shop).await? {
            Some(entry) if entry.proven => entry.tenant,
            _ => {
                let t = new_tenant(&shop, now)?;
                extra.push(create_profile(&t)?);
                t.id
            }
        },
    };
    let signin_code = nonce()?;
    extra.push(
        SigninCode {
            tenant,
            expires_at: now + Duration::minutes(SIGNIN_MINUTES),
        }
        .put(&Directory::SigninCode(api_key::hash(&signin_code))),
    );
    let linked = connection::Linked {
        vault: ports.vault,
        queue: ports.queue,
    };
    connection::link(store, now, linked, tenant, &shop, &tokens, info, extra).await?;
    connection::subscribe(&client, &ports.shopify.webhook_uri, tenant).await;
    tracing::info!(%tenant, shop = %shop, "app installed");
    Ok(Installed {
        tenant,
        signin_code,
    })
}

/// Whoever holds the shop now.
async fn holder(
    store: &dyn Store,
    shop: &ShopDomain,
) -> Result<Option<DirectoryEntry>, StoreError> {
    Ok(store
        .get(&Directory::Shop(shop.as_str().to_owned()).key())
        .await?
        .as_ref()
        .and_then(DirectoryEntry::from_item))
}

/// A tenant for a shop installed by someone with no account: named after the shop, no login yet.
fn new_tenant(shop: &ShopDomain, now: DateTime<Utc>) -> Result<Tenant, InstallError> {
    let id = TenantId::random().map_err(|_| InstallError::Internal("no randomness"))?;
    let name = shop
        .as_str()
        .strip_suffix(".myshopify.com")
        .unwrap_or(shop.as_str())
        .to_owned();
    Ok(Tenant {
        id,
        name,
        email: None,
        shop_domain: shop.as_str().to_owned(),
        created_at: now,
        password_hash: String::new(),
    })
}

/// `POST /auth/signin-code`: a one-time code for a token, like a login; once, within its time.
pub async fn signin(
    store: &dyn Store,
    keys: &SigningKey,
    now: DateTime<Utc>,
    code: &str,
) -> Result<LoggedIn, InstallError> {
    let key = Directory::SigninCode(api_key::hash(code));
    let record = store
        .get(&key.key())
        .await?
        .as_ref()
        .and_then(SigninCode::from_item)
        .filter(|c| c.expires_at > now)
        .ok_or(InstallError::InvalidSigninCode)?;
    match store.write(vec![SigninCode::take(&key, now)]).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => return Err(InstallError::InvalidSigninCode),
        Err(e) => return Err(e.into()),
    }
    let tenant = auth::load_tenant(store, record.tenant)
        .await?
        .ok_or(InstallError::InvalidSigninCode)?;
    let (token, expires_in) = keys
        .get()
        .await
        .map_err(|_| InstallError::Internal("token signing key unavailable"))?
        .issue(tenant.id, now)
        .map_err(|_| InstallError::Internal("token signing failed"))?;
    tracing::info!(tenant = %tenant.id, "signed in with a one-time code");
    Ok(LoggedIn {
        tenant,
        token,
        expires_in,
    })
}

/// `PUT /tenants/me/login`: the email and password of a tenant created by an install. The profile
/// (only while it has no email) and the email's directory entry (only if no one has it) are
/// written in one atomic batch.
pub async fn set_tenant_login(
    store: &dyn Store,
    tenant: TenantId,
    email: Email,
    password: Password,
) -> Result<(), InstallError> {
    let mut profile = auth::load_tenant(store, tenant)
        .await?
        .ok_or(AuthError::Unauthorized)?;
    if profile.email.is_some() {
        return Err(InstallError::LoginAlreadySet);
    }
    let pw = password.expose().to_owned();
    profile.password_hash = password::in_pool(move || password::hash(&pw))
        .await
        .map_err(AuthError::from)?
        .map_err(|_| InstallError::Internal("hashing failed"))?;
    profile.email = Some(email.as_str().to_owned());
    let ops = vec![
        set_login(&profile)?,
        WriteOp::Put {
            item: DirectoryEntry::of(tenant).to_item(&Directory::Email(email.as_str().to_owned())),
            condition: Some(Condition::NotExists),
        },
    ];
    match store.write(ops).await {
        Ok(()) => {
            tracing::info!(%tenant, "login set");
            Ok(())
        }
        Err(StoreError::ConditionFailed { index: 0 }) => Err(InstallError::LoginAlreadySet),
        Err(StoreError::ConditionFailed { .. }) => Err(AuthError::EmailTaken.into()),
        Err(e) => Err(e.into()),
    }
}

/// Where the tenant stands with the shop it names.
pub async fn shop_status(store: &dyn Store, tenant: &Tenant) -> Result<ShopStatus, StoreError> {
    let Ok(shop) = ShopDomain::parse(&tenant.shop_domain) else {
        return Ok(ShopStatus::Released);
    };
    Ok(match holder(store, &shop).await? {
        Some(e) if e.tenant == tenant.id && e.proven => ShopStatus::Connected,
        Some(e) if e.tenant == tenant.id => ShopStatus::Claimed,
        _ => ShopStatus::Released,
    })
}
