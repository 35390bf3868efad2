//! Shopify's OAuth endpoints (authorization code grant, expiring offline tokens): the authorize
//! URL a merchant approves at, and the code exchange.

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::ShopifyError;
use crate::domain::ShopDomain;

/// `https://{shop}`, or `base_url` in its place (`SHOPIFY_API_BASE_URL`).
pub fn shop_origin(base_url: Option<&str>, shop: &ShopDomain) -> String {
    match base_url {
        Some(b) => b.trim_end_matches('/').to_owned(),
        None => format!("https://{shop}"),
    }
}

/// `{origin}/admin/oauth/authorize?client_id&scope&redirect_uri&state`.
pub fn authorize_url(
    base_url: Option<&str>,
    shop: &ShopDomain,
    client_id: &str,
    scopes: &[String],
    redirect_uri: &str,
    state: &str,
) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("scope", &scopes.join(","))
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .finish();
    format!(
        "{}/admin/oauth/authorize?{query}",
        shop_origin(base_url, shop)
    )
}

/// What a code exchange grants: an expiring offline access token and its refresh token.
pub struct Grant {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// The scopes granted.
    pub scopes: Vec<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    scope: String,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
    refresh_token_expires_in: Option<i64>,
}

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Shopify refused the code (unknown, used, or for another app): a 4xx.
    #[error("Shopify refused the authorization code ({status})")]
    Refused { status: u16 },
    #[error(transparent)]
    Shopify(#[from] ShopifyError),
}

fn unreachable(e: impl std::error::Error + Send + Sync + 'static) -> ShopifyError {
    ShopifyError::Unreachable {
        source: Box::new(e),
    }
}

/// The app's credentials at the token endpoint.
pub struct Client<'a> {
    pub id: &'a str,
    pub secret: &'a SecretString,
}

/// `POST {origin}/admin/oauth/access_token` with `client_id`, `client_secret`, `code` and
/// `expiring=1`: an expiring offline token and its refresh token.
pub async fn exchange(
    http: &reqwest::Client,
    base_url: Option<&str>,
    shop: &ShopDomain,
    client: Client<'_>,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Grant, ExchangeError> {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client.id)
        .append_pair("client_secret", client.secret.expose_secret())
        .append_pair("code", code)
        .append_pair("expiring", "1")
        .finish();
    token_endpoint(http, base_url, shop, body, now).await
}

/// `POST {origin}/admin/oauth/access_token` with `grant_type=refresh_token`: a new access token and
/// a new refresh token (the one given is spent: store both before using either).
pub async fn refresh(
    http: &reqwest::Client,
    base_url: Option<&str>,
    shop: &ShopDomain,
    client: Client<'_>,
    refresh_token: &SecretString,
    now: DateTime<Utc>,
) -> Result<Grant, ExchangeError> {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client.id)
        .append_pair("client_secret", client.secret.expose_secret())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token.expose_secret())
        .finish();
    token_endpoint(http, base_url, shop, body, now).await
}

async fn token_endpoint(
    http: &reqwest::Client,
    base_url: Option<&str>,
    shop: &ShopDomain,
    body: String,
    now: DateTime<Utc>,
) -> Result<Grant, ExchangeError> {
    let res = http
        .post(format!(
            "{}/admin/oauth/access_token",
            shop_origin(base_url, shop)
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body)
        .timeout(std::time::Duration::from_secs(15))
        .send()
        .await
        .map_err(unreachable)?;
    let status = res.status();
    if status.is_client_error() {
        return Err(ExchangeError::Refused {
            status: status.as_u16(),
        });
    }
    if !status.is_success() {
        return Err(ShopifyError::Protocol(format!("token endpoint answered {status}")).into());
    }
    let bytes = res.bytes().await.map_err(unreachable)?;
    let a: TokenAnswer = serde_json::from_slice(&bytes)
        .map_err(|_| ShopifyError::Protocol("token endpoint answered no token".into()))?;
    // A lifetime Shopify could never send (negative, or past what a timestamp holds) is "none".
    let after = |s: Option<i64>| {
        s.filter(|s| (0..=100 * 365 * 86_400).contains(s))
            .map(|s| now + Duration::seconds(s))
    };
    Ok(Grant {
        scopes: a
            .scope
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        access_token: SecretString::from(a.access_token),
        refresh_token: a.refresh_token.map(SecretString::from),
        expires_at: after(a.expires_in),
        refresh_token_expires_at: after(a.refresh_token_expires_in),
    })
}

/// The required scopes not among the granted ones (a `write_x` grant covers `read_x`).
pub fn missing_scopes(required: &[String], granted: &[String]) -> Vec<String> {
    required
        .iter()
        .filter(|r| {
            let covered = granted.iter().any(|g| {
                g == *r
                    || r.strip_prefix("read_")
                        .is_some_and(|rest| g.strip_prefix("write_") == Some(rest))
            });
            !covered
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorize_url_carries_the_app_the_scopes_the_callback_and_the_state() {
        let shop = ShopDomain::parse("snowdevil.myshopify.com").unwrap();
        let url = authorize_url(
            None,
            &shop,
            "cid",
            &["read_orders".into(), "read_products".into()],
            "https://app.example/shopify/callback",
            "n0nce",
        );
        assert_eq!(
            url,
            "https://snowdevil.myshopify.com/admin/oauth/authorize?client_id=cid&scope=read_orders%2Cread_products&redirect_uri=https%3A%2F%2Fapp.example%2Fshopify%2Fcallback&state=n0nce"
        );
    }

    #[test]
    fn a_write_scope_covers_its_read_scope_and_nothing_else() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert!(missing_scopes(&s(&["read_orders"]), &s(&["write_orders"])).is_empty());
        assert_eq!(
            missing_scopes(&s(&["read_orders", "read_products"]), &s(&["read_orders"])),
            s(&["read_products"])
        );
        assert_eq!(
            missing_scopes(&s(&["write_orders"]), &s(&["read_orders"])),
            s(&["write_orders"])
        );
    }
}
