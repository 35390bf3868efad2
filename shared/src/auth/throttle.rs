//! Login throttling kept in the store, so the limit holds across every Lambda instance.
//!
//! Fixed windows: each failed login adds one to the counter of its window, per email and per
//! client address; once a counter reaches its limit, logins for that subject answer `429` with
//! `Retry-After` until the window ends. Counters expire through the TTL attribute.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::store::items::throttle::LoginFailures;
use crate::store::{Store, StoreError, keys};

/// A limit: at most `max_failures` failed logins per `window_seconds`.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub max_failures: u32,
    pub window_seconds: i64,
}

/// Per email: a person mistyping gets five tries per quarter hour.
pub const PER_EMAIL: Limit = Limit {
    max_failures: 5,
    window_seconds: 15 * 60,
};
/// Per client address: enough for an office behind one NAT, not for a password sprayer.
pub const PER_CLIENT: Limit = Limit {
    max_failures: 30,
    window_seconds: 15 * 60,
};

/// What a counter counts: one email, or one client address. Stored only as a hash.
pub struct Subject {
    kind: &'static str,
    hash: String,
    limit: Limit,
}

impl Subject {
    pub fn email(email: &str) -> Subject {
        Subject::new("email", email, PER_EMAIL)
    }

    pub fn client(addr: &str) -> Subject {
        Subject::new("client", addr, PER_CLIENT)
    }

    fn new(kind: &'static str, value: &str, limit: Limit) -> Subject {
        let digest = Sha256::digest(value.as_bytes());
        let hash = digest.iter().map(|b| format!("{b:02x}")).collect();
        Subject { kind, hash, limit }
    }

    fn window(&self, now: DateTime<Utc>) -> (i64, i64) {
        let w = self.limit.window_seconds;
        let start = now.timestamp().div_euclid(w) * w;
        (start, start + w)
    }
}

/// `Err(seconds until the window ends)` when the subject is over its limit.
pub async fn check(
    store: &dyn Store,
    now: DateTime<Utc>,
    s: &Subject,
) -> Result<Result<(), u64>, StoreError> {
    let (start, end) = s.window(now);
    let item = store
        .get(&keys::login_failures(s.kind, &s.hash, start))
        .await?;
    let counted = LoginFailures::from_item(item.as_ref());
    if counted.failures >= u64::from(s.limit.max_failures) {
        let wait = (end - now.timestamp()).max(1);
        return Ok(Err(wait.unsigned_abs()));
    }
    Ok(Ok(()))
}

/// Counts one failed login against the subject.
pub async fn record_failure(
    store: &dyn Store,
    now: DateTime<Utc>,
    s: &Subject,
) -> Result<(), StoreError> {
    let (start, end) = s.window(now);
    store
        .write(vec![LoginFailures::count_one(
            keys::login_failures(s.kind, &s.hash, start),
            // TTL: the counter is useless once its window has passed; an hour's margin.
            end + 3600,
        )])
        .await
}
