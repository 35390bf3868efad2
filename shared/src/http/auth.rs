//! Handlers: `POST /auth/register`, `POST /auth/login`.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::ApiError;
use super::body::{Fields, JsonObject};
use super::extract::{self, ClientAddr, ClientLimited};
use crate::auth::{self, Registration};
use crate::deps::Accounts;
use crate::domain::{Email, Password, ShopDomain, Tenant, TenantId, TenantName};

/// A tenant as answers show it.
pub(crate) fn tenant_json(t: &Tenant) -> Value {
    json!({
        "id": t.id.to_string(),
        "name": t.name,
        "email": t.email,
        "shop_domain": t.shop_domain,
        "created_at": t.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

pub async fn register(
    State(a): State<Accounts>,
    ClientLimited(ClientAddr(client)): ClientLimited,
    JsonObject(body): JsonObject,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let subject = crate::limits::Subject::Registrations(&client);
    extract::within(extract::count(&a, subject, a.limits.registrations).await?)?;
    // Presence and length of every field first, then their syntax, so the first problem named is
    // the one a form shows first.
    let name = body.required_str("name", TenantName::MAX)?;
    let email = body.required_str("email", Email::MAX)?;
    let password = body.required_str("password", Password::MAX)?;
    let shop = body.required_str("shop_domain", ShopDomain::MAX)?;
    let registration = Registration {
        name: TenantName::parse(name)?,
        email: Email::parse(email)?,
        password: Password::parse(SecretString::from(password.to_owned()))?,
        shop_domain: ShopDomain::parse(shop)?,
    };
    let r = auth::register(a.store.as_ref(), &a.keys, a.clock.now(), registration).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "tenant": tenant_json(&r.tenant),
            "api_key": r.api_key,
            "token": r.token,
            "token_type": "Bearer",
            "expires_in": r.expires_in,
        })),
    ))
}

pub async fn login(
    State(a): State<Accounts>,
    ClientLimited(ClientAddr(client)): ClientLimited,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let email = body.required_str("email", Email::MAX)?;
    let password = body.required_str("password", Password::MAX)?;
    let r = auth::login(
        a.store.as_ref(),
        &a.keys,
        a.clock.now(),
        email,
        SecretString::from(password.to_owned()),
        &client,
    )
    .await?;
    Ok(Json(json!({
        "token": r.token,
        "token_type": "Bearer",
        "expires_in": r.expires_in,
        "tenant": tenant_json(&r.tenant),
    })))
}

/// `GET /tenants/me`: the caller's own profile.
pub async fn me(State(a): State<Accounts>, tenant: TenantId) -> Result<Json<Value>, ApiError> {
    let t = auth::load_tenant(a.store.as_ref(), tenant)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let status = crate::install::shop_status(a.store.as_ref(), &t).await?;
    let mut json = tenant_json(&t);
    json["shop_status"] = json!(status.as_str());
    Ok(Json(json!({ "tenant": json })))
}

/// `POST /tenants/me/api-key`: a new API key (shown once); the one before stops working.
pub async fn rotate_api_key(
    State(a): State<Accounts>,
    tenant: TenantId,
) -> Result<Json<Value>, ApiError> {
    let api_key = auth::rotate_api_key(a.store.as_ref(), tenant).await?;
    Ok(Json(json!({ "api_key": api_key })))
}
