//! Onboarding and authentication: registration, login, tokens, API keys, login throttling.
//!
//! The use cases here know neither HTTP nor AWS; `http::auth` parses requests into the parsed
//! types they take and maps [`AuthError`] to statuses.

pub mod api_key;
pub mod password;
pub mod throttle;
pub mod token;

use secrecy::SecretString;

use chrono::{DateTime, Utc};

use crate::deps::SigningKey;
use crate::domain::{Email, Password, ShopDomain, Tenant, TenantId, TenantName};
use crate::store::items::tenant::{
    CurrentApiKey, DirectoryEntry, profile_from_item, profile_to_item,
};
use crate::store::keys::{Directory, TenantItem};
use crate::store::{Condition, Item, Store, StoreError, WriteOp};

/// Why an auth use case refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("this shop is already registered")]
    ShopTaken,
    #[error("email or password is wrong")]
    InvalidCredentials,
    #[error("too many failed logins")]
    Throttled { retry_after_seconds: u64 },
    #[error("credentials missing or invalid")]
    Unauthorized,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Every password slot is taken: come back in a second.
    #[error("too many password checks at once")]
    Busy,
    #[error("internal failure: {0}")]
    Internal(&'static str),
}

impl From<password::PoolError> for AuthError {
    fn from(e: password::PoolError) -> AuthError {
        match e {
            password::PoolError::Busy => AuthError::Busy,
            password::PoolError::Failed => AuthError::Internal("password task failed"),
        }
    }
}

/// What registration asks for, parsed.
#[derive(Debug)]
pub struct Registration {
    pub name: TenantName,
    pub email: Email,
    pub password: Password,
    pub shop_domain: ShopDomain,
}

/// A new tenant with its one-time API key and a first token.
pub struct Registered {
    pub tenant: Tenant,
    pub api_key: String,
    pub token: String,
    pub expires_in: i64,
}

/// A successful login.
pub struct LoggedIn {
    pub tenant: Tenant,
    pub token: String,
    pub expires_in: i64,
}

/// Creates the tenant. The profile, the email claim, the shop claim and the API key go in one
/// atomic batch, each conditioned on not existing, so two concurrent registrations of one email or
/// one shop can never both succeed.
pub async fn register(
    store: &dyn Store,
    keys: &SigningKey,
    now: DateTime<Utc>,
    r: Registration,
) -> Result<Registered, AuthError> {
    let pw = r.password.expose().to_owned();
    let password_hash = password::in_pool(move || password::hash(&pw))
        .await?
        .map_err(|_| AuthError::Internal("hashing failed"))?;
    // A fresh tenant id or API key colliding with an existing one is astronomically unlikely;
    // if it happens the condition catches it and we draw again.
    for _ in 0..3 {
        let id = TenantId::random().map_err(|_| AuthError::Internal("no randomness"))?;
        let (api_key, key_hash) =
            api_key::generate().map_err(|_| AuthError::Internal("no randomness"))?;
        let tenant = Tenant {
            id,
            name: r.name.as_str().to_owned(),
            email: Some(r.email.as_str().to_owned()),
            shop_domain: r.shop_domain.as_str().to_owned(),
            created_at: now,
            password_hash: password_hash.clone(),
        };
        let profile = profile_to_item(&tenant)?;
        let entry = DirectoryEntry::of(id);
        // Every write: only if nothing is there yet (attribute_not_exists(pk)).
        let claim = |item: Item| WriteOp::Put {
            item,
            condition: Some(Condition::NotExists),
        };
        let ops = vec![
            claim(profile),
            claim(entry.to_item(&Directory::Email(r.email.as_str().to_owned()))),
            claim(entry.to_item(&Directory::Shop(tenant.shop_domain.clone()))),
            claim(entry.to_item(&Directory::ApiKey(key_hash.clone()))),
            CurrentApiKey { hash: key_hash }.replace(id, None),
        ];
        match store.write(ops).await {
            Ok(()) => {
                let (token, expires_in) = keys
                    .get()
                    .await
                    .map_err(|_| AuthError::Internal("token signing key unavailable"))?
                    .issue(id, now)
                    .map_err(|_| AuthError::Internal("token signing failed"))?;
                tracing::info!(tenant = %id, "tenant registered");
                return Ok(Registered {
                    tenant,
                    api_key,
                    token,
                    expires_in,
                });
            }
            Err(StoreError::ConditionFailed { index: 1 }) => return Err(AuthError::EmailTaken),
            Err(StoreError::ConditionFailed { index: 2 }) => return Err(AuthError::ShopTaken),
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AuthError::Internal("could not draw a unique tenant id"))
}

/// Logs in by email and password. An unknown email and a wrong password are indistinguishable:
/// same error, same work (a full Argon2 verification either way). `client` is the caller's
/// address, for the per-client throttle.
pub async fn login(
    store: &dyn Store,
    keys: &SigningKey,
    now: DateTime<Utc>,
    email: &str,
    password: SecretString,
    client: &str,
) -> Result<LoggedIn, AuthError> {
    use secrecy::ExposeSecret;
    // A malformed email cannot have an account; it is throttled and refused like any other.
    let email_key = Email::parse(email)
        .map(|e| e.as_str().to_owned())
        .unwrap_or_else(|_| email.trim().to_lowercase());
    let subjects = [
        throttle::Subject::email(&email_key),
        throttle::Subject::client(client),
    ];
    // Reserved before the password is looked at: a burst gets at most the limit through.
    for (i, s) in subjects.iter().enumerate() {
        if let Err(wait) = throttle::reserve(store, now, s).await? {
            for taken in &subjects[..i] {
                throttle::release(store, now, taken).await?;
            }
            tracing::warn!("login throttled");
            return Err(AuthError::Throttled {
                retry_after_seconds: wait,
            });
        }
    }
    let tenant = find_by_email(store, &email_key).await?;
    let pw = password.expose_secret().to_owned();
    let hash = tenant.as_ref().map(|t| t.password_hash.clone());
    let checked = password::in_pool(move || match hash {
        Some(h) => password::verify(&pw, &h),
        None => {
            password::verify_against_nothing(&pw);
            false
        }
    })
    .await;
    let ok = match checked {
        Ok(ok) => ok,
        // Not checked (every slot busy): the attempt is given back.
        Err(e) => {
            for s in &subjects {
                throttle::release(store, now, s).await?;
            }
            return Err(e.into());
        }
    };
    match (ok, tenant) {
        (true, Some(tenant)) => {
            for s in &subjects {
                throttle::release(store, now, s).await?;
            }
            let (token, expires_in) = keys
                .get()
                .await
                .map_err(|_| AuthError::Internal("token signing key unavailable"))?
                .issue(tenant.id, now)
                .map_err(|_| AuthError::Internal("token signing failed"))?;
            tracing::info!(tenant = %tenant.id, "login");
            Ok(LoggedIn {
                tenant,
                token,
                expires_in,
            })
        }
        _ => {
            // The reserved attempts stay counted.
            tracing::info!("login refused");
            Err(AuthError::InvalidCredentials)
        }
    }
}

async fn find_by_email(store: &dyn Store, email: &str) -> Result<Option<Tenant>, AuthError> {
    let Some(entry) = store.get(&Directory::Email(email.to_owned()).key()).await? else {
        return Ok(None);
    };
    let Some(entry) = DirectoryEntry::from_item(&entry) else {
        return Ok(None);
    };
    load_tenant(store, entry.tenant).await
}

/// A tenant's profile.
pub async fn load_tenant(store: &dyn Store, id: TenantId) -> Result<Option<Tenant>, AuthError> {
    match store.get(&TenantItem::Profile.key(id)).await? {
        Some(item) => Ok(Some(profile_from_item(&item)?)),
        None => Ok(None),
    }
}

/// The tenant an API key belongs to.
pub async fn tenant_for_api_key(store: &dyn Store, key: &str) -> Result<TenantId, AuthError> {
    if !api_key::looks_like_key(key) {
        return Err(AuthError::Unauthorized);
    }
    let hash = api_key::hash(key);
    let entry = store
        .get(&Directory::ApiKey(hash.clone()).key())
        .await?
        .ok_or(AuthError::Unauthorized)?;
    let tenant = DirectoryEntry::from_item(&entry)
        .map(|e| e.tenant)
        .ok_or(AuthError::Unauthorized)?;
    // A key that was replaced no longer counts (the current key is recorded once one was).
    let current = store.get(&TenantItem::ApiKey.key(tenant)).await?;
    match current.as_ref().and_then(CurrentApiKey::from_item) {
        Some(c) if c.hash != hash => Err(AuthError::Unauthorized),
        _ => Ok(tenant),
    }
}

/// `POST /tenants/me/api-key`: a new API key for the tenant; the one before stops working. The
/// key is shown once, in this answer.
pub async fn rotate_api_key(store: &dyn Store, tenant: TenantId) -> Result<String, AuthError> {
    for _ in 0..3 {
        let previous = store
            .get(&TenantItem::ApiKey.key(tenant))
            .await?
            .as_ref()
            .and_then(CurrentApiKey::from_item);
        let (api_key, hash) =
            api_key::generate().map_err(|_| AuthError::Internal("no randomness"))?;
        let mut ops = vec![
            WriteOp::Put {
                item: DirectoryEntry::of(tenant).to_item(&Directory::ApiKey(hash.clone())),
                condition: Some(Condition::NotExists),
            },
            CurrentApiKey { hash }.replace(tenant, previous.as_ref().map(|p| p.hash.as_str())),
        ];
        if let Some(p) = previous {
            ops.push(WriteOp::Delete {
                key: Directory::ApiKey(p.hash).key(),
                condition: None,
            });
        }
        match store.write(ops).await {
            Ok(()) => {
                tracing::info!(%tenant, "API key replaced");
                return Ok(api_key);
            }
            // A concurrent rotation won (or the new key collided): draw again.
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(AuthError::Internal("could not replace the API key"))
}
