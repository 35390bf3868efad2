//! Rate limits (contract: "Limits"): every authenticated endpoint per tenant, `POST /auth/*` per
//! client address, `POST /events` per ingest key. Fixed windows counted with [`Store::increment`]: on AWS a counter item in the
//! table (with TTL), so a limit holds across every Lambda instance; locally in the one process.
//! Webhooks are never limited (Shopify retries, and a dropped delivery is data lost).
//!
//! Every answer of a limited endpoint carries `RateLimit-Limit`, `RateLimit-Remaining` and
//! `RateLimit-Reset` (seconds until the window ends); past the limit it is `429 rate_limited`
//! with `Retry-After`.

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};

use crate::auth::api_key;
use crate::domain::TenantId;
use crate::store::keys::{TenantItem, rate_counter};
use crate::store::{Store, StoreError};

/// At most `max` requests per `window_seconds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub max: u64,
    pub window_seconds: i64,
}

/// Per tenant, on every authenticated endpoint: a dashboard open in a few tabs, polling, stays far
/// below; a script hammering the API does not.
pub const PER_TENANT: Limit = Limit {
    max: 600,
    window_seconds: 60,
};

/// Per client address, on `POST /auth/*` (register, login, sign-in code): enough for an office
/// behind one address, not for mass registration or credential stuffing.
pub const PER_CLIENT_AUTH: Limit = Limit {
    max: 30,
    window_seconds: 60,
};

/// Per client address, on `POST /auth/register` besides the above: accounts are not made in bulk.
pub const REGISTRATIONS_PER_CLIENT: Limit = Limit {
    max: 20,
    window_seconds: 3600,
};

/// Per storefront ingest key, on `POST /events`: a busy storefront's pixels (a batch per visitor
/// every second or so) stay below; a script replaying events does not.
pub const PER_INGEST_KEY: Limit = Limit {
    max: 12_000,
    window_seconds: 60,
};

/// The limits a process applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    pub tenant: Limit,
    pub auth_client: Limit,
    pub registrations: Limit,
    pub ingest: Limit,
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits {
            tenant: PER_TENANT,
            auth_client: PER_CLIENT_AUTH,
            registrations: REGISTRATIONS_PER_CLIENT,
            ingest: PER_INGEST_KEY,
        }
    }
}

impl RateLimits {
    /// No limit (benchmarks measuring the read path, which must not meet a `429`).
    pub fn unlimited() -> RateLimits {
        let none = Limit {
            max: u64::MAX,
            window_seconds: 60,
        };
        RateLimits {
            tenant: none,
            auth_client: none,
            registrations: none,
            ingest: none,
        }
    }
}

/// Whose requests a counter counts.
pub enum Subject<'a> {
    Tenant(TenantId),
    /// A client address (kept only as a hash).
    Client(&'a str),
    /// A client address's registrations.
    Registrations(&'a str),
    /// A storefront ingest key (kept only as a hash).
    IngestKey(&'a str),
}

/// One request counted against a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the window ends.
    pub reset: u64,
    pub allowed: bool,
}

/// The fixed window of `seconds` that holds `now`: its start and end, epoch seconds.
pub fn window(now: DateTime<Utc>, seconds: i64) -> (i64, i64) {
    let w = seconds.max(1);
    let start = now.timestamp().div_euclid(w) * w;
    (start, start + w)
}

/// Counts one request of `subject` in the current window of `limit`.
pub async fn hit(
    store: &dyn Store,
    now: DateTime<Utc>,
    subject: Subject<'_>,
    limit: Limit,
) -> Result<Decision, StoreError> {
    let (start, end) = window(now, limit.window_seconds);
    let key = match subject {
        Subject::Tenant(t) => TenantItem::RateWindow(start).key(t),
        Subject::Client(addr) => rate_counter("client", &api_key::hash(addr), start),
        Subject::Registrations(addr) => rate_counter("register", &api_key::hash(addr), start),
        Subject::IngestKey(key) => rate_counter("ingest", &api_key::hash(key), start),
    };
    // Kept a little past its window (DynamoDB deletes expired items within days, not seconds).
    let count = store.increment(&key, end + 60).await?;
    Ok(Decision {
        limit: limit.max,
        remaining: limit.max.saturating_sub(count),
        reset: (end - now.timestamp()).max(1).unsigned_abs(),
        allowed: count <= limit.max,
    })
}

/// Where a request's limit decision is left for [`headers`] to write on the answer.
#[derive(Clone, Default)]
pub struct Slot(Arc<Mutex<Option<Decision>>>);

impl Slot {
    pub fn set(&self, d: Decision) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(d);
    }

    fn take(&self) -> Option<Decision> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Middleware on every router: gives each request a [`Slot`], and writes the `RateLimit-*`
/// headers of whatever decision a limited extractor left in it.
pub async fn headers(mut req: Request, next: Next) -> Response {
    let slot = Slot::default();
    req.extensions_mut().insert(slot.clone());
    let mut res = next.run(req).await;
    if let Some(d) = slot.take() {
        let h = res.headers_mut();
        for (name, value) in [
            ("ratelimit-limit", d.limit),
            ("ratelimit-remaining", d.remaining),
            ("ratelimit-reset", d.reset),
        ] {
            h.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;

    #[tokio::test]
    async fn the_request_past_the_limit_is_refused_until_the_window_turns() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let limit = Limit {
            max: 3,
            window_seconds: 60,
        };
        let now = DateTime::from_timestamp(6_000_030, 0).unwrap();
        let t = TenantId::new(9);
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(hit(&store, now, Subject::Tenant(t), limit).await.unwrap());
        }
        assert_eq!(
            seen.iter().map(|d| d.remaining).collect::<Vec<_>>(),
            [2, 1, 0, 0]
        );
        assert_eq!(
            seen.iter().map(|d| d.allowed).collect::<Vec<_>>(),
            [true, true, true, false]
        );
        assert_eq!(seen[3].reset, 30);
        // Another subject has its own counter; the next window starts afresh.
        let other = hit(&store, now, Subject::Tenant(TenantId::new(10)), limit).await;
        assert!(other.unwrap().allowed);
        let next = now + chrono::Duration::seconds(30);
        let d = hit(&store, next, Subject::Tenant(t), limit).await.unwrap();
        assert!(d.allowed);
        assert_eq!(d.remaining, 2);
        let client = hit(&store, now, Subject::Client("203.0.113.7"), limit).await;
        assert_eq!(client.unwrap().remaining, 2);
    }
}
