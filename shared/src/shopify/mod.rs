//! Shopify's GraphQL Admin API: the client the sync uses. Version pinned here, cost-based
//! throttling read from every response, retries with backoff on 5xx and network errors, and the
//! mapping of GraphQL nodes to the same changes webhooks produce.

pub mod oauth;
pub mod records;
pub mod subscriptions;

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::domain::ShopDomain;

/// The Admin API version, pinned in one place.
pub const API_VERSION: &str = "2026-01";
/// The largest page Shopify serves.
pub const PAGE_SIZE: u32 = 250;
/// Attempts for one request through 5xx answers and network errors.
const MAX_ATTEMPTS: u32 = 6;

/// The HTTP client every call to Shopify goes through: bounded connect and whole-request times,
/// so a Shopify that never answers cannot hold a request or a sync forever.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default()
}

/// Why a call failed after retries.
#[derive(Debug, thiserror::Error)]
pub enum ShopifyError {
    /// 401/403: the token was revoked or lacks scopes; the connection needs re-authorization.
    #[error("Shopify refused the access token ({status})")]
    Unauthorized { status: u16 },
    /// Shopify could not be reached, or kept failing with 5xx.
    #[error("Shopify could not be reached")]
    Unreachable {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The shop's token could not be read or kept (the vault, or the app secret a refresh needs).
    #[error("the shop's access token could not be read or kept")]
    TokenStore {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The answer was not what the query asks for.
    #[error("unexpected answer from Shopify: {0}")]
    Protocol(String),
}

/// `extensions.cost.throttleStatus` of the last answer.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ThrottleStatus {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cost {
    requested_query_cost: Option<f64>,
    throttle_status: Option<ThrottleStatus>,
}

/// The longest single wait for Shopify (a bucket refill or a `Retry-After`), whatever it says.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// `THROTTLED` answers in a row before a call gives up (Shopify's bucket refills in seconds; an
/// endless throttle is a broken Shopify, not a busy one).
const MAX_THROTTLED: u32 = 20;
/// The most one call waits for the bucket in all, however its waits add up.
const MAX_CALL_WAIT: Duration = Duration::from_secs(120);

/// How long to wait before `cost` points are available, given the bucket: never negative, never
/// past [`MAX_WAIT`], whatever numbers the answer carried.
pub fn wait_for(cost: f64, bucket: &ThrottleStatus) -> Duration {
    let missing = cost - bucket.currently_available;
    let rate = bucket.restore_rate;
    if missing.is_nan() || missing <= 0.0 || rate.is_nan() || rate <= 0.0 {
        return Duration::ZERO;
    }
    seconds(missing / rate)
}

/// `s` seconds as a wait, within `0..=MAX_WAIT` (NaN and negatives are no wait).
fn seconds(s: f64) -> Duration {
    if s.is_nan() || s <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(s.min(MAX_WAIT.as_secs_f64())).unwrap_or(MAX_WAIT)
}

/// Where a client gets the access token it sends: asked before every call, so a token that
/// expires is refreshed before it is used (see `sync::session`).
#[async_trait::async_trait]
pub trait AccessToken: Send + Sync {
    /// A token valid now. `Unauthorized` when none can be had (a refused refresh).
    async fn current(&self) -> Result<SecretString, ShopifyError>;
}

/// A token that does not expire (a custom app's, or one just granted).
struct Fixed(SecretString);

#[async_trait::async_trait]
impl AccessToken for Fixed {
    async fn current(&self) -> Result<SecretString, ShopifyError> {
        Ok(self.0.clone())
    }
}

/// An Admin API client for one shop and token.
pub struct Shopify {
    http: reqwest::Client,
    endpoint: String,
    token: Arc<dyn AccessToken>,
    /// What the last answer said of the bucket, and what the last query cost.
    bucket: Mutex<Option<(ThrottleStatus, f64)>>,
    /// Time spent waiting for the bucket (reported by the sync).
    waited: Mutex<Duration>,
}

impl Shopify {
    /// `base_url` replaces `https://{shop}` (`SHOPIFY_API_BASE_URL`, tests and local fakes only).
    pub fn new(
        http: reqwest::Client,
        base_url: Option<&str>,
        shop: &ShopDomain,
        token: SecretString,
    ) -> Shopify {
        Shopify::with_tokens(http, base_url, shop, Arc::new(Fixed(token)))
    }

    /// A client that asks `token` for the access token before every call.
    pub fn with_tokens(
        http: reqwest::Client,
        base_url: Option<&str>,
        shop: &ShopDomain,
        token: Arc<dyn AccessToken>,
    ) -> Shopify {
        let base = base_url
            .map(|b| b.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("https://{shop}"));
        Shopify {
            http,
            endpoint: format!("{base}/admin/api/{API_VERSION}/graphql.json"),
            token,
            bucket: Mutex::new(None),
            waited: Mutex::new(Duration::ZERO),
        }
    }

    /// Total time spent waiting for the cost bucket so far.
    pub async fn waited(&self) -> Duration {
        *self.waited.lock().await
    }

    async fn pause(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        *self.waited.lock().await += d;
        tokio::time::sleep(d).await;
    }

    /// Runs a query; answers its `data`. Waits as long as the bucket needs when throttled (never a
    /// hard-coded bucket size), retries 5xx and network errors with backoff.
    pub async fn query(&self, query: &str, variables: Value) -> Result<Value, ShopifyError> {
        // Proactive: if the last query's cost is not available yet, wait for it.
        if let Some((bucket, cost)) = *self.bucket.lock().await {
            self.pause(wait_for(cost, &bucket)).await;
        }
        let body = json!({ "query": query, "variables": variables });
        let mut attempt = 0;
        let mut throttled_in_a_row = 0u32;
        let mut throttle_waited = Duration::ZERO;
        loop {
            attempt += 1;
            let token = self.token.current().await?;
            let sent = self
                .http
                .post(&self.endpoint)
                .header("X-Shopify-Access-Token", token.expose_secret())
                .json(&body)
                .send()
                .await;
            let res = match sent {
                Ok(r) => r,
                Err(e) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "Shopify request failed; retrying");
                    self.backoff(attempt).await;
                    continue;
                }
                Err(e) => {
                    return Err(ShopifyError::Unreachable {
                        source: Box::new(e),
                    });
                }
            };
            let status = res.status().as_u16();
            if status == 401 || status == 403 {
                return Err(ShopifyError::Unauthorized { status });
            }
            if status == 429 || status >= 500 {
                if attempt < MAX_ATTEMPTS {
                    tracing::warn!(status, attempt, "Shopify answered an error; retrying");
                    let retry_after = res
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .map(seconds);
                    match retry_after {
                        Some(d) => self.pause(d).await,
                        None => self.backoff(attempt).await,
                    }
                    continue;
                }
                return Err(ShopifyError::Unreachable {
                    source: format!("HTTP {status} after {attempt} attempts").into(),
                });
            }
            if status != 200 {
                return Err(ShopifyError::Protocol(format!("HTTP {status}")));
            }
            let answer: Value = res
                .json()
                .await
                .map_err(|e| ShopifyError::Protocol(format!("body is not JSON: {e}")))?;
            let cost: Option<Cost> = answer
                .pointer("/extensions/cost")
                .and_then(|c| serde_json::from_value(c.clone()).ok());
            if let Some(Cost {
                requested_query_cost: Some(req),
                throttle_status: Some(bucket),
            }) = cost
            {
                *self.bucket.lock().await = Some((bucket, req));
            }
            let throttled = answer
                .get("errors")
                .and_then(Value::as_array)
                .is_some_and(|errs| {
                    errs.iter()
                        .any(|e| e.pointer("/extensions/code") == Some(&json!("THROTTLED")))
                });
            if throttled {
                throttled_in_a_row += 1;
                if throttled_in_a_row > MAX_THROTTLED {
                    return Err(ShopifyError::Unreachable {
                        source: format!("still throttled after {MAX_THROTTLED} waits").into(),
                    });
                }
                // Wait exactly as long as the bucket needs to hold this query's cost.
                let wait = match *self.bucket.lock().await {
                    Some((bucket, cost)) => wait_for(cost, &bucket),
                    None => Duration::from_secs(1),
                };
                tracing::info!(
                    wait_ms = wait.as_millis() as u64,
                    "Shopify throttled; waiting for the bucket"
                );
                let wait = wait.max(Duration::from_millis(10));
                throttle_waited += wait;
                if throttle_waited > MAX_CALL_WAIT {
                    return Err(ShopifyError::Unreachable {
                        source: "still throttled after two minutes of waiting".into(),
                    });
                }
                self.pause(wait).await;
                continue;
            }
            if let Some(errs) = answer.get("errors").filter(|e| !e.is_null()) {
                let text = errs.to_string();
                if text.contains("ACCESS_DENIED") {
                    return Err(ShopifyError::Unauthorized { status: 403 });
                }
                return Err(ShopifyError::Protocol(format!(
                    "GraphQL errors: {}",
                    text.chars().take(300).collect::<String>()
                )));
            }
            return answer
                .get("data")
                .cloned()
                .ok_or_else(|| ShopifyError::Protocol("no data".into()));
        }
    }

    async fn backoff(&self, attempt: u32) {
        let ms = 100u64 * (1 << attempt.min(6));
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// The shop as the connection check reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct ShopInfo {
    pub domain: String,
    pub currency: Option<String>,
    pub iana_timezone: Option<String>,
    pub scopes: Vec<String>,
}

pub const SHOP_QUERY: &str = "query Shop { shop { name myshopifyDomain currencyCode ianaTimezone } currentAppInstallation { accessScopes { handle } } }";

/// Checks the token against the shop and reads what the sync needs to know about it.
pub async fn shop_info(client: &Shopify) -> Result<ShopInfo, ShopifyError> {
    let data = client.query(SHOP_QUERY, json!({})).await?;
    let shop = data
        .get("shop")
        .ok_or_else(|| ShopifyError::Protocol("no shop".into()))?;
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let scopes = data
        .pointer("/currentAppInstallation/accessScopes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| text(s, "handle")).collect())
        .unwrap_or_default();
    Ok(ShopInfo {
        domain: text(shop, "myshopifyDomain").unwrap_or_default(),
        currency: text(shop, "currencyCode"),
        iana_timezone: text(shop, "ianaTimezone"),
        scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_numbers_a_hostile_answer_carries_make_a_bounded_wait() {
        let b = |available: f64, rate: f64| ThrottleStatus {
            maximum_available: 1000.0,
            currently_available: available,
            restore_rate: rate,
        };
        assert_eq!(wait_for(100.0, &b(0.0, 1e-300)), MAX_WAIT);
        assert_eq!(wait_for(100.0, &b(0.0, f64::NAN)), Duration::ZERO);
        assert_eq!(wait_for(f64::NAN, &b(0.0, 50.0)), Duration::ZERO);
        assert_eq!(wait_for(f64::INFINITY, &b(0.0, 50.0)), MAX_WAIT);
        assert_eq!(wait_for(100.0, &b(f64::NEG_INFINITY, 50.0)), MAX_WAIT);
        assert_eq!(seconds(-1.0), Duration::ZERO);
        assert_eq!(seconds(1e300), MAX_WAIT);
    }

    proptest::proptest! {
        #[test]
        fn a_wait_is_never_negative_nor_past_the_cap(
            cost in proptest::num::f64::ANY,
            available in proptest::num::f64::ANY,
            rate in proptest::num::f64::ANY,
        ) {
            let b = ThrottleStatus { maximum_available: 1000.0, currently_available: available, restore_rate: rate };
            proptest::prop_assert!(wait_for(cost, &b) <= MAX_WAIT);
        }
    }

    #[test]
    fn the_wait_is_exactly_what_the_bucket_needs_to_refill() {
        let b = ThrottleStatus {
            maximum_available: 2000.0,
            currently_available: 50.0,
            restore_rate: 100.0,
        };
        assert_eq!(wait_for(252.0, &b), Duration::from_secs_f64(2.02));
        assert_eq!(wait_for(50.0, &b), Duration::ZERO);
        let plus = ThrottleStatus {
            restore_rate: 1000.0,
            ..b
        };
        assert_eq!(wait_for(1050.0, &plus), Duration::from_secs(1));
    }
}
