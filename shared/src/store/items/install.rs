//! Install records: the OAuth `state` an install started with, and the one-time sign-in code the
//! callback hands the browser. Both are single-use (taken by a conditional delete) and expire.

use chrono::{DateTime, Utc};

use super::{keyed, text};
use crate::domain::TenantId;
use crate::store::keys::Directory;
use crate::store::{Attr, Cmp, Condition, Item, TTL, WriteOp};

const SHOP: &str = "shop";
const TENANT: &str = "tenant";
const EXPIRES_AT: &str = "expires_at";

/// Expired records linger this long before DynamoDB's TTL sweeper removes them (they are refused
/// from `expires_at` on, whatever the sweeper does).
const TTL_GRACE_SECONDS: i64 = 3600;

fn tenant_of(item: &Item) -> Option<TenantId> {
    let n = item.get(TENANT).and_then(Attr::as_n)?;
    u64::try_from(n).ok().map(TenantId::new)
}

fn expiry(item: &Item) -> Option<i64> {
    i64::try_from(item.get(EXPIRES_AT).and_then(Attr::as_n)?).ok()
}

fn with_expiry(item: &mut Item, expires_at: DateTime<Utc>) {
    let at = expires_at.timestamp();
    item.insert(EXPIRES_AT.into(), Attr::from(at));
    item.insert(TTL.into(), Attr::from(at + TTL_GRACE_SECONDS));
}

/// Takes the record at `entry` once: deleted only if it is still there and not expired at `now`.
fn take(entry: &Directory, now: DateTime<Utc>) -> WriteOp {
    WriteOp::Delete {
        key: entry.key(),
        condition: Some(Condition::And(vec![
            Condition::Exists,
            Condition::compare(EXPIRES_AT, Cmp::Gt, now.timestamp()),
        ])),
    }
}

/// An OAuth `state`: the shop it was issued for and, when a signed-in tenant started the install,
/// that tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallState {
    pub shop: String,
    pub tenant: Option<TenantId>,
    pub expires_at: DateTime<Utc>,
}

impl InstallState {
    /// Stores the state under `entry` (a fresh nonce's key: only if nothing is there).
    pub fn put(&self, entry: &Directory) -> WriteOp {
        let mut item = keyed(&entry.key());
        item.insert(SHOP.into(), Attr::from(self.shop.as_str()));
        if let Some(t) = self.tenant {
            item.insert(TENANT.into(), Attr::from(t.get()));
        }
        with_expiry(&mut item, self.expires_at);
        WriteOp::Put {
            item,
            condition: Some(Condition::NotExists),
        }
    }

    pub fn from_item(item: &Item) -> Option<InstallState> {
        Some(InstallState {
            shop: text(item, SHOP)?,
            tenant: tenant_of(item),
            expires_at: DateTime::from_timestamp(expiry(item)?, 0)?,
        })
    }

    /// Uses the state up: fails unless it is still there and unexpired at `now`.
    pub fn take(entry: &Directory, now: DateTime<Utc>) -> WriteOp {
        take(entry, now)
    }
}

/// A one-time sign-in code: the tenant it signs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigninCode {
    pub tenant: TenantId,
    pub expires_at: DateTime<Utc>,
}

impl SigninCode {
    pub fn put(&self, entry: &Directory) -> WriteOp {
        let mut item = keyed(&entry.key());
        item.insert(TENANT.into(), Attr::from(self.tenant.get()));
        with_expiry(&mut item, self.expires_at);
        WriteOp::Put {
            item,
            condition: Some(Condition::NotExists),
        }
    }

    pub fn from_item(item: &Item) -> Option<SigninCode> {
        Some(SigninCode {
            tenant: tenant_of(item)?,
            expires_at: DateTime::from_timestamp(expiry(item)?, 0)?,
        })
    }

    /// Uses the code up: fails unless it is still there and unexpired at `now`.
    pub fn take(entry: &Directory, now: DateTime<Utc>) -> WriteOp {
        take(entry, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn states_and_codes_round_trip_through_their_items(
            t in proptest::option::of(any::<u64>()),
            at in 0i64..4_000_000_000,
            shop in "[a-z0-9-]{1,20}\\.myshopify\\.com",
        ) {
            let expires_at = DateTime::from_timestamp(at, 0).unwrap();
            let entry = Directory::InstallState("ab".into());
            let state = InstallState { shop, tenant: t.map(TenantId::new), expires_at };
            let WriteOp::Put { item, .. } = state.put(&entry) else { unreachable!() };
            prop_assert_eq!(Key::of(&item), Some(entry.key()));
            prop_assert_eq!(InstallState::from_item(&item), Some(state));
            let entry = Directory::SigninCode("cd".into());
            let code = SigninCode { tenant: TenantId::new(t.unwrap_or(7)), expires_at };
            let WriteOp::Put { item, .. } = code.put(&entry) else { unreachable!() };
            prop_assert_eq!(SigninCode::from_item(&item), Some(code));
        }
    }

    #[test]
    fn a_record_is_taken_only_before_it_expires() {
        let now = Utc::now();
        let entry = Directory::SigninCode("cd".into());
        let code = SigninCode {
            tenant: TenantId::new(1),
            expires_at: now,
        };
        let WriteOp::Put { item, .. } = code.put(&entry) else {
            unreachable!()
        };
        let before = now - chrono::Duration::seconds(1);
        let WriteOp::Delete {
            condition: Some(c), ..
        } = SigninCode::take(&entry, before)
        else {
            unreachable!()
        };
        assert!(c.holds(Some(&item)));
        assert!(!c.holds(None));
        let WriteOp::Delete {
            condition: Some(c), ..
        } = SigninCode::take(&entry, now)
        else {
            unreachable!()
        };
        assert!(!c.holds(Some(&item)));
    }
}
