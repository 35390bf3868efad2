//! The fake's OAuth endpoints: single-use authorization codes, expiring offline tokens, refresh with
//! rotation (a used refresh token is refused).

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::{FakeShopify, Inner, Shared, html_failure, json_response};

/// What an exchange granted, for tests to look at.
#[derive(Clone, Debug, Default)]
pub struct OAuthGrant {
    pub access_token: String,
    pub refresh_token: String,
}

#[derive(Default)]
pub(super) struct OAuthState {
    codes: HashSet<String>,
    /// The refresh token that works now.
    refresh_token: Option<String>,
    minted: u64,
    client: Option<(String, String)>,
    exchanges: u64,
    last: Option<OAuthGrant>,
    /// Lifetimes, seconds.
    access_ttl: Option<i64>,
}

impl FakeShopify {
    /// The merchant approved the authorize URL: a fresh single-use code.
    pub fn approve(&self) -> String {
        let mut st = self.lock();
        st.oauth.minted += 1;
        let mut salt = [0u8; 8];
        getrandom::fill(&mut salt).expect("randomness");
        let salt: String = salt.iter().map(|b| format!("{b:02x}")).collect();
        let code = format!("code{:08}{salt}", st.oauth.minted);
        st.oauth.codes.insert(code.clone());
        code
    }

    /// Only these client credentials are accepted at the token endpoint.
    pub fn expect_client(&self, client_id: &str, client_secret: &str) {
        self.lock().oauth.client = Some((client_id.to_owned(), client_secret.to_owned()));
    }

    /// Access tokens granted from now on expire after `seconds`.
    pub fn set_access_token_ttl(&self, seconds: i64) {
        self.lock().oauth.access_ttl = Some(seconds);
    }

    /// The current refresh token is refused from now on (the merchant uninstalled, or Shopify
    /// revoked the grant).
    pub fn revoke_refresh_token(&self) {
        self.lock().oauth.refresh_token = None;
    }

    /// Successful code exchanges and refreshes.
    pub fn token_exchanges(&self) -> u64 {
        self.lock().oauth.exchanges
    }

    /// The last grant.
    pub fn last_grant(&self) -> Option<OAuthGrant> {
        self.lock().oauth.last.clone()
    }
}

fn refused(description: &str) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": "invalid_request", "error_description": description}),
    )
}

pub(super) async fn access_token(State(inner): State<Shared>, body: Bytes) -> Response {
    let mut st = inner.lock().unwrap_or_else(|p| p.into_inner());
    exchange(&mut st, &body)
}

fn exchange(st: &mut Inner, body: &[u8]) -> Response {
    if st.fail_next.0 > 0 {
        st.fail_next.0 -= 1;
        st.stats.failures += 1;
        return html_failure(st.fail_next.1);
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    if let Some((id, secret)) = &st.oauth.client
        && (get("client_id") != id || get("client_secret") != secret)
    {
        return refused("Invalid client credentials");
    }
    match get("grant_type") {
        "refresh_token" => {
            let given = get("refresh_token");
            if given.is_empty() || st.oauth.refresh_token.as_deref() != Some(given) {
                return refused("The refresh token is invalid or was already used");
            }
        }
        _ => {
            if get("expiring") != "1" {
                return refused("Only expiring offline tokens are issued");
            }
            if !st.oauth.codes.remove(get("code")) {
                return refused("The authorization code was not found or was already used");
            }
        }
    }
    st.oauth.minted += 1;
    let n = st.oauth.minted;
    let grant = OAuthGrant {
        access_token: format!("shpua_{n:08}"),
        refresh_token: format!("shprt_{n:08}"),
    };
    let ttl = st.oauth.access_ttl.unwrap_or(3600);
    st.token = Some(grant.access_token.clone());
    st.token_expires_at = Some(st.now() + chrono::Duration::seconds(ttl));
    st.config.token = grant.access_token.clone();
    st.oauth.refresh_token = Some(grant.refresh_token.clone());
    st.oauth.exchanges += 1;
    st.oauth.last = Some(grant.clone());
    json_response(
        StatusCode::OK,
        &json!({
            "access_token": grant.access_token,
            "scope": st.config.scopes.join(","),
            "expires_in": ttl,
            "refresh_token": grant.refresh_token,
            "refresh_token_expires_in": 7_776_000,
        }),
    )
}
