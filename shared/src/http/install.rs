//! Handlers of the install: `POST /tenants/me/shopify/install`, `GET /shopify/install`,
//! `GET /shopify/callback`, `POST /auth/signin-code`, `PUT /tenants/me/login`.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::ApiError;
use super::auth::tenant_json;
use super::body::{Fields, JsonObject};
use super::error::redirect;
use crate::deps::{Accounts, InstallCallback, InstallLaunch, InstallStart};
use crate::domain::{Email, Password, TenantId};
use crate::install::{self, CallbackPorts, query};

/// The longest sign-in code accepted (they are 43 characters).
const MAX_CODE: usize = 128;

pub async fn start(
    State(s): State<InstallStart>,
    tenant: TenantId,
) -> Result<Json<Value>, ApiError> {
    let a = &s.accounts;
    let url = install::begin_for_tenant(a.store.as_ref(), a.clock.now(), &s.oauth, tenant).await?;
    Ok(Json(json!({ "authorize_url": url })))
}

fn app_secret_unavailable<E>(_: E) -> ApiError {
    ApiError::Internal("Shopify API secret unavailable")
}

pub async fn launch(
    State(s): State<InstallLaunch>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let secret = s.app_secret.get().await.map_err(app_secret_unavailable)?;
    let url = install::launch(
        s.store.as_ref(),
        s.clock.now(),
        secret.expose_secret().as_bytes(),
        &s.oauth,
        &query::parse(raw.as_deref()),
    )
    .await?;
    Ok(redirect(&url))
}

pub async fn callback(
    State(s): State<InstallCallback>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let secret = s.app_secret.get().await.map_err(app_secret_unavailable)?;
    let done = install::callback(
        s.store.as_ref(),
        s.clock.now(),
        CallbackPorts {
            secret,
            vault: s.vault.as_ref(),
            queue: s.queue.as_ref(),
            shopify: &s.shopify,
            oauth: &s.oauth,
        },
        &query::parse(raw.as_deref()),
    )
    .await?;
    Ok(redirect(&format!("/#signin={}", done.signin_code)))
}

pub async fn signin_code(
    State(a): State<Accounts>,
    _: super::extract::ClientLimited,
    JsonObject(body): JsonObject,
) -> Result<Json<Value>, ApiError> {
    let code = body.required_str("code", MAX_CODE)?;
    let r = install::signin(a.store.as_ref(), &a.keys, a.clock.now(), code.trim()).await?;
    Ok(Json(json!({
        "token": r.token,
        "token_type": "Bearer",
        "expires_in": r.expires_in,
        "tenant": tenant_json(&r.tenant),
    })))
}

pub async fn set_login(
    State(a): State<Accounts>,
    tenant: TenantId,
    JsonObject(body): JsonObject,
) -> Result<StatusCode, ApiError> {
    let email = body.required_str("email", Email::MAX)?;
    let password = body.required_str("password", Password::MAX)?;
    let email = Email::parse(email)?;
    let password = Password::parse(SecretString::from(password.to_owned()))?;
    install::set_tenant_login(a.store.as_ref(), tenant, email, password).await?;
    Ok(StatusCode::NO_CONTENT)
}
