//! Login failure counters: one item per subject and throttling window, expired by TTL.

use rust_decimal::Decimal;

use super::count;
use crate::store::{Item, Key, TTL, Update, WriteOp};

const FAILURES: &str = "failures";

/// The failed logins counted in one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoginFailures {
    pub failures: u64,
}

impl LoginFailures {
    /// The counter an item holds; no item reads as none.
    pub fn from_item(item: Option<&Item>) -> LoginFailures {
        LoginFailures {
            failures: item.map_or(0, |i| count(i, FAILURES)),
        }
    }

    /// The write counting one more failure in the counter at `key` (creating it), kept until
    /// `expires_at` (epoch seconds).
    pub fn count_one(key: Key, expires_at: i64) -> WriteOp {
        WriteOp::Update {
            key,
            // TTL: DynamoDB deletes the counter once its window (and the caller's margin) is over.
            update: Update::default()
                .add(FAILURES, Decimal::ONE)
                .set(TTL, expires_at),
            // A commutative add: concurrent failures all count.
            condition: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::items::applied;
    use crate::store::{Attr, keys};

    #[test]
    fn each_failure_counted_reads_back_as_one_more() {
        let key = keys::login_failures("email", "ab12", 900);
        assert_eq!(LoginFailures::from_item(None).failures, 0);
        let once = applied(LoginFailures::count_one(key.clone(), 5400), None);
        assert_eq!(LoginFailures::from_item(Some(&once)).failures, 1);
        let twice = applied(LoginFailures::count_one(key, 5400), Some(&once));
        assert_eq!(
            LoginFailures::from_item(Some(&twice)),
            LoginFailures { failures: 2 }
        );
        assert_eq!(twice.get(TTL), Some(&Attr::from(5400i64)));
    }
}
