//! Login attempt counters: one item per subject and throttling window, expired by TTL. An attempt
//! is reserved before its password is checked and given back when it was right, so the counter
//! holds the failed attempts plus those being checked.

use rust_decimal::Decimal;

use super::count;
use crate::store::{Cmp, Condition, Item, Key, TTL, Update, WriteOp};

const FAILURES: &str = "failures";

/// The attempts counted in one window.
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

    /// The write reserving one attempt in the counter at `key`, refused (condition failed) when
    /// `max` are already counted: however many attempts race, at most `max` get through.
    pub fn reserve_one(key: Key, max: u64, expires_at: i64) -> WriteOp {
        WriteOp::Update {
            key,
            update: Update::default()
                .add(FAILURES, Decimal::ONE)
                .set(TTL, expires_at),
            condition: Some(Condition::Or(vec![
                Condition::AttrNotExists(FAILURES.into()),
                Condition::compare(FAILURES, Cmp::Lt, max),
            ])),
        }
    }

    /// Gives back one reserved attempt (the password was right).
    pub fn release_one(key: Key) -> WriteOp {
        WriteOp::Update {
            key,
            update: Update::default().add(FAILURES, -Decimal::ONE),
            condition: Some(Condition::Exists),
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
        let once = applied(LoginFailures::reserve_one(key.clone(), 5, 5400), None);
        assert_eq!(LoginFailures::from_item(Some(&once)).failures, 1);
        let twice = applied(LoginFailures::reserve_one(key, 5, 5400), Some(&once));
        assert_eq!(
            LoginFailures::from_item(Some(&twice)),
            LoginFailures { failures: 2 }
        );
        assert_eq!(twice.get(TTL), Some(&Attr::from(5400i64)));
    }
}
