//! Extractors: the tenant from credentials (and only from credentials), the client's address.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use http::header;
use http::request::Parts;

use super::ApiError;
use crate::auth;
use crate::deps::{Accounts, ShopLink, SyncRequests};
use crate::domain::TenantId;
use crate::limits;

/// The API key header.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Every tenant endpoint takes a `TenantId`: from `Authorization: Bearer <jwt>` or `X-Api-Key`.
/// No path, query or body field can name a tenant.
impl<S> FromRequestParts<S> for TenantId
where
    S: Send + Sync,
    Accounts: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<TenantId, ApiError> {
        let accounts = Accounts::from_ref(state);
        let tenant = authenticate(parts, &accounts).await?;
        // Limited per tenant, once it is known who asks.
        let subject = limits::Subject::Tenant(tenant);
        let d = count(&accounts, subject, accounts.limits.tenant).await?;
        limited(parts, d)?;
        Ok(tenant)
    }
}

/// Counts one request of `subject` against `limit`.
pub(crate) async fn count(
    accounts: &Accounts,
    subject: limits::Subject<'_>,
    limit: limits::Limit,
) -> Result<limits::Decision, ApiError> {
    let store = accounts.store.as_ref();
    Ok(limits::hit(store, accounts.clock.now(), subject, limit).await?)
}

/// Refuses a request past its limit: `429 rate_limited`, `Retry-After` the window's end.
pub(crate) fn within(d: limits::Decision) -> Result<(), ApiError> {
    if d.allowed {
        return Ok(());
    }
    Err(ApiError::RateLimited {
        retry_after_seconds: d.reset,
    })
}

/// Leaves the decision for the `RateLimit-*` headers; refuses a request past the limit.
fn limited(parts: &Parts, d: limits::Decision) -> Result<(), ApiError> {
    if let Some(slot) = parts.extensions.get::<limits::Slot>() {
        slot.set(d);
    }
    within(d)
}

/// `POST /auth/*`: the request counted against its client address's limit.
pub struct ClientLimited(pub ClientAddr);

impl<S> FromRequestParts<S> for ClientLimited
where
    S: Send + Sync,
    Accounts: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<ClientLimited, ApiError> {
        let accounts = Accounts::from_ref(state);
        let Ok(client) = ClientAddr::from_request_parts(parts, state).await;
        let subject = limits::Subject::Client(&client.0);
        let d = count(&accounts, subject, accounts.limits.auth_client).await?;
        limited(parts, d)?;
        Ok(ClientLimited(client))
    }
}

/// The tenant the credentials name.
async fn authenticate(parts: &Parts, accounts: &Accounts) -> Result<TenantId, ApiError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or_else(ApiError::unauthorized)?;
        let keys = accounts
            .keys
            .get()
            .await
            .map_err(|_| ApiError::Internal("token signing key unavailable"))?;
        return keys.verify(token).map_err(|_| ApiError::unauthorized());
    }
    if let Some(value) = parts.headers.get(API_KEY_HEADER) {
        let key = value.to_str().map_err(|_| ApiError::unauthorized())?;
        return Ok(auth::tenant_for_api_key(accounts.store.as_ref(), key.trim()).await?);
    }
    Err(ApiError::unauthorized())
}

/// The caller's address: API Gateway's `sourceIp` in Lambda, the peer address under
/// `insights serve`. Forwarding headers are not trusted (a client could set them).
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientAddr, Self::Rejection> {
        use lambda_http::request::RequestContext;
        if let Some(RequestContext::ApiGatewayV2(ctx)) = parts.extensions.get::<RequestContext>()
            && let Some(ip) = &ctx.http.source_ip
        {
            return Ok(ClientAddr(ip.clone()));
        }
        if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            return Ok(ClientAddr(addr.ip().to_string()));
        }
        Ok(ClientAddr("unknown".into()))
    }
}

impl FromRef<ShopLink> for Accounts {
    fn from_ref(s: &ShopLink) -> Accounts {
        s.accounts.clone()
    }
}

impl FromRef<crate::deps::ShopConnect> for Accounts {
    fn from_ref(s: &crate::deps::ShopConnect) -> Accounts {
        s.link.accounts.clone()
    }
}

impl FromRef<SyncRequests> for Accounts {
    fn from_ref(s: &SyncRequests) -> Accounts {
        s.accounts.clone()
    }
}

impl FromRef<crate::deps::InstallStart> for Accounts {
    fn from_ref(s: &crate::deps::InstallStart) -> Accounts {
        s.accounts.clone()
    }
}
