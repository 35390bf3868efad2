//! Typed records: every item the service keeps, converted to and from store items here and only
//! here, next to the key layout (`keys.rs`). No attribute name is spelled outside `store/`.
//!
//! Each record has a `to_item` / `from_item` pair (or the `WriteOp`s that change it, for items
//! that are only ever added to), so the use cases above speak in records, never in attributes.

pub mod aggregates;
pub mod compliance;
pub mod events;
pub mod install;
pub mod resources;
pub mod sales;
pub mod storefront;
pub mod sync;
pub mod tenant;
pub mod throttle;

use rust_decimal::Decimal;

use super::{Attr, Item, Key, PK, SK};

/// A new item with its key.
pub(crate) fn keyed(key: &Key) -> Item {
    Item::from([
        (PK.to_owned(), Attr::S(key.pk.clone())),
        (SK.to_owned(), Attr::S(key.sk.clone())),
    ])
}

/// A text attribute.
pub(crate) fn text(item: &Item, attr: &str) -> Option<String> {
    item.get(attr).and_then(Attr::as_s).map(str::to_owned)
}

/// A number attribute (0 when absent).
pub(crate) fn number(item: &Item, attr: &str) -> Decimal {
    item.get(attr).and_then(Attr::as_n).unwrap_or_default()
}

/// A counter attribute: a whole number, 0 when absent or negative.
pub(crate) fn count(item: &Item, attr: &str) -> u64 {
    u64::try_from(number(item, attr).max(Decimal::ZERO)).unwrap_or(0)
}

/// A boolean attribute (false when absent).
pub(crate) fn flag(item: &Item, attr: &str) -> bool {
    matches!(item.get(attr), Some(Attr::Bool(true)))
}

/// Sets `attr` when there is a value.
pub(crate) fn put_opt(item: &mut Item, attr: &str, value: Option<impl Into<Attr>>) {
    if let Some(v) = value {
        item.insert(attr.to_owned(), v.into());
    }
}

/// Tests: the item an update leaves when applied to `current`.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn applied(op: super::WriteOp, current: Option<&Item>) -> Item {
    let super::WriteOp::Update { key, update, .. } = op else {
        panic!("an update")
    };
    update.apply_to(&key, current).unwrap()
}
