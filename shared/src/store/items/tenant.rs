//! Tenant records: the profile, and the directory entries (email, shop, API key) that find a tenant.

use super::{flag, keyed, put_opt, text};
use crate::domain::{Tenant, TenantId};
use crate::store::codec;
use crate::store::keys::{Directory, TenantItem};
use crate::store::{Attr, Cmp, Condition, Item, PK, SK, StoreError, WriteOp};

const TENANT: &str = "tenant";
const PROVEN: &str = "proven";
const WEBHOOK_SECRET: &str = "webhook_secret";
const EMAIL: &str = "email";

/// The tenant's profile as its item (the record's fields, through `serde_dynamo`).
pub fn profile_to_item(tenant: &Tenant) -> Result<Item, StoreError> {
    let mut item = codec::to_item(tenant)?;
    let key = TenantItem::Profile.key(tenant.id);
    item.insert(PK.into(), Attr::S(key.pk));
    item.insert(SK.into(), Attr::S(key.sk));
    Ok(item)
}

/// The profile a profile item holds.
pub fn profile_from_item(item: &Item) -> Result<Tenant, StoreError> {
    codec::from_item(item)
}

/// A directory entry: the tenant that an email, a shop domain or an API key hash belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub tenant: TenantId,
    /// Shop entries only, and only when the merchant created webhooks in the admin: the secret
    /// Shopify signs those with. Set outside registration; never written here when absent.
    pub webhook_secret: Option<String>,
    /// Shop entries only: the tenant proved it controls the shop (it connected it).
    pub proven: bool,
}

impl DirectoryEntry {
    /// An entry pointing to `tenant`.
    pub fn of(tenant: TenantId) -> DirectoryEntry {
        DirectoryEntry {
            tenant,
            webhook_secret: None,
            proven: false,
        }
    }

    /// Writes this entry at `entry` in place of what was read there: nothing (`replaced` is
    /// `None`) or an entry of tenant `replaced`. A concurrent change fails the batch.
    pub fn replace(&self, entry: &Directory, replaced: Option<TenantId>) -> WriteOp {
        let condition = match replaced {
            None => Condition::NotExists,
            Some(t) => Condition::compare(TENANT, Cmp::Eq, t.get()),
        };
        WriteOp::Put {
            item: self.to_item(entry),
            condition: Some(condition),
        }
    }

    /// The item at `entry`'s key.
    pub fn to_item(&self, entry: &Directory) -> Item {
        let mut item = keyed(&entry.key());
        item.insert(TENANT.into(), Attr::from(self.tenant.get()));
        put_opt(&mut item, WEBHOOK_SECRET, self.webhook_secret.clone());
        if self.proven {
            item.insert(PROVEN.into(), Attr::Bool(true));
        }
        item
    }

    /// The entry an item holds; `None` if it names no tenant.
    pub fn from_item(item: &Item) -> Option<DirectoryEntry> {
        // Absent or not a number: no tenant (a missing number must not read as tenant 0).
        let tenant = u64::try_from(item.get(TENANT).and_then(Attr::as_n)?).ok()?;
        Some(DirectoryEntry {
            tenant: TenantId::new(tenant),
            webhook_secret: text(item, WEBHOOK_SECRET),
            proven: flag(item, PROVEN),
        })
    }
}

/// Creates a tenant's profile (only if its id is new).
pub fn create_profile(tenant: &Tenant) -> Result<WriteOp, StoreError> {
    Ok(WriteOp::Put {
        item: profile_to_item(tenant)?,
        condition: Some(Condition::NotExists),
    })
}

/// Sets the login of a tenant that has none: the profile is replaced only while it has no email.
pub fn set_login(tenant: &Tenant) -> Result<WriteOp, StoreError> {
    Ok(WriteOp::Put {
        item: profile_to_item(tenant)?,
        condition: Some(Condition::And(vec![
            Condition::Exists,
            Condition::AttrNotExists(EMAIL.into()),
        ])),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_directory_entry_round_trips_through_its_item(
            t in any::<u64>(),
            secret in proptest::option::of("[ -~]{1,64}"),
            proven in any::<bool>(),
            value in "[a-z0-9@._-]{1,40}",
            kind in 0u8..3,
        ) {
            let entry = match kind {
                0 => Directory::Email(value),
                1 => Directory::Shop(value),
                _ => Directory::ApiKey(value),
            };
            let record = DirectoryEntry { tenant: TenantId::new(t), webhook_secret: secret, proven };
            let item = record.to_item(&entry);
            prop_assert_eq!(Key::of(&item), Some(entry.key()));
            prop_assert_eq!(DirectoryEntry::from_item(&item), Some(record));
        }
    }

    #[test]
    fn an_item_naming_no_tenant_is_not_an_entry() {
        let mut item = keyed(&Directory::Email("a@b.co".into()).key());
        assert_eq!(DirectoryEntry::from_item(&item), None);
        item.insert("tenant".into(), Attr::from("12"));
        assert_eq!(DirectoryEntry::from_item(&item), None);
        item.insert("tenant".into(), Attr::from(-1i64));
        assert_eq!(DirectoryEntry::from_item(&item), None);
    }

    #[test]
    fn a_profile_round_trips_through_its_item_under_the_profile_key() {
        let tenant = Tenant {
            id: TenantId::new(u64::MAX),
            name: "Snow Devil".into(),
            email: Some("owner@snowdevil.example".into()),
            shop_domain: "snowdevil.myshopify.com".into(),
            created_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            password_hash: "$argon2id$v=19$...".into(),
        };
        let item = profile_to_item(&tenant).unwrap();
        assert_eq!(Key::of(&item), Some(TenantItem::Profile.key(tenant.id)));
        let back = profile_from_item(&item).unwrap();
        assert_eq!(
            (
                back.id,
                back.name,
                back.email,
                back.shop_domain,
                back.created_at,
                back.password_hash
            ),
            (
                tenant.id,
                tenant.name,
                tenant.email,
                tenant.shop_domain,
                tenant.created_at,
                tenant.password_hash
            )
        );
    }
}

/// Which API key is the tenant's current one (its hash). Absent for a tenant registered before
/// keys could be replaced: its one key stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentApiKey {
    pub hash: String,
}

impl CurrentApiKey {
    pub fn from_item(item: &Item) -> Option<CurrentApiKey> {
        text(item, "hash").map(|hash| CurrentApiKey { hash })
    }

    /// Makes this the current key, if `previous` still is (or, with `None`, none was recorded).
    pub fn replace(&self, tenant: TenantId, previous: Option<&str>) -> WriteOp {
        let mut item = keyed(&TenantItem::ApiKey.key(tenant));
        item.insert("hash".into(), Attr::S(self.hash.clone()));
        let condition = match previous {
            Some(h) => Condition::compare("hash", Cmp::Eq, h),
            None => Condition::NotExists,
        };
        WriteOp::Put {
            item,
            condition: Some(condition),
        }
    }
}
