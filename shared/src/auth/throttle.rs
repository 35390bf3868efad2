//! Login throttling kept in the store, so the limit holds across every Lambda instance.
//!
//! Fixed windows, per email and per client address: an attempt reserves one unit of its window's
//! counter *before* the password is checked, with a conditional write that fails once the counter
//! is at its limit, so however many attempts arrive at once no more than the limit are checked.
//! A right password gives its unit back; a wrong one keeps it. Past the limit logins answer `429`
//! with `Retry-After` until the window ends. Counters expire through the TTL attribute.

use chrono::{DateTime, Utc};

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
        let hash = super::api_key::hash(value);
        Subject { kind, hash, limit }
    }

    fn window(&self, now: DateTime<Utc>) -> (i64, i64) {
        crate::limits::window(now, self.limit.window_seconds)
    }
}

/// Reserves one attempt for the subject: `Ok(Err(seconds until the window ends))` when its
/// counter is at the limit (nothing was counted).
pub async fn reserve(
    store: &dyn Store,
    now: DateTime<Utc>,
    s: &Subject,
) -> Result<Result<(), u64>, StoreError> {
    let (start, end) = s.window(now);
    let key = keys::login_failures(s.kind, &s.hash, start);
    let op = LoginFailures::reserve_one(key, u64::from(s.limit.max_failures), end + 3600);
    match store.write(vec![op]).await {
        Ok(()) => Ok(Ok(())),
        Err(StoreError::ConditionFailed { .. }) => {
            Ok(Err((end - now.timestamp()).max(1).unsigned_abs()))
        }
        Err(e) => Err(e),
    }
}

/// Gives back an attempt reserved in the same window (the login succeeded).
pub async fn release(store: &dyn Store, now: DateTime<Utc>, s: &Subject) -> Result<(), StoreError> {
    let (start, _) = s.window(now);
    match store
        .write(vec![LoginFailures::release_one(keys::login_failures(
            s.kind, &s.hash, start,
        ))])
        .await
    {
        // The window turned (or the counter expired) meanwhile: nothing to give back.
        Ok(()) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}
