//! Conversions between [`Attr`] items, typed records (through `serde_dynamo`) and the AWS SDK's
//! `AttributeValue`: one bridge used by the domain code and the DynamoDB backend alike.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_dynamo::AttributeValue as Sd;

use super::{Attr, Item, StoreError};

/// A typed record as an item (`serde_dynamo`'s mapping: integers are `N`, strings `S`, structs `M`).
/// Decimals serialize as strings: money is only ever *set* this way; counters use numeric ADD.
pub fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    let sd: serde_dynamo::Item = serde_dynamo::to_item(value)
        .map_err(|e| StoreError::Invalid(format!("record does not map to an item: {e}")))?;
    sd.into_inner()
        .into_iter()
        .map(|(k, v)| Ok((k, from_sd(v)?)))
        .collect()
}

/// An item as a typed record.
pub fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let map: HashMap<String, Sd> = item
        .iter()
        .map(|(k, v)| (k.clone(), to_sd(v.clone())))
        .collect();
    serde_dynamo::from_item(map).map_err(StoreError::backend)
}

/// Parses DynamoDB's number text exactly (plain or scientific notation).
pub fn parse_number(text: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|_| StoreError::backend(format!("number {text:?} does not fit a decimal")))
}

pub(crate) fn to_sd(a: Attr) -> Sd {
    match a {
        Attr::S(s) => Sd::S(s),
        Attr::N(n) => Sd::N(n.normalize().to_string()),
        Attr::B(b) => Sd::B(b),
        Attr::Bool(b) => Sd::Bool(b),
        Attr::Null => Sd::Null(true),
        Attr::L(l) => Sd::L(l.into_iter().map(to_sd).collect()),
        Attr::M(m) => Sd::M(m.into_iter().map(|(k, v)| (k, to_sd(v))).collect()),
    }
}

pub(crate) fn from_sd(v: Sd) -> Result<Attr, StoreError> {
    Ok(match v {
        Sd::S(s) => Attr::S(s),
        Sd::N(n) => Attr::N(parse_number(&n)?),
        Sd::B(b) => Attr::B(b),
        Sd::Bool(b) => Attr::Bool(b),
        Sd::Null(_) => Attr::Null,
        Sd::L(l) => Attr::L(l.into_iter().map(from_sd).collect::<Result<_, _>>()?),
        Sd::M(m) => Attr::M(
            m.into_iter()
                .map(|(k, v)| Ok((k, from_sd(v)?)))
                .collect::<Result<BTreeMap<_, _>, StoreError>>()?,
        ),
        // Sets are never written by this service; read them back as lists.
        Sd::Ss(s) => Attr::L(s.into_iter().map(Attr::S).collect()),
        Sd::Ns(s) => Attr::L(
            s.iter()
                .map(|n| parse_number(n).map(Attr::N))
                .collect::<Result<_, _>>()?,
        ),
        Sd::Bs(s) => Attr::L(s.into_iter().map(Attr::B).collect()),
    })
}

/// An attribute as the AWS SDK's value.
pub(crate) fn to_aws(a: Attr) -> aws_sdk_dynamodb::types::AttributeValue {
    to_sd(a).into()
}

/// The AWS SDK's value as an attribute.
pub(crate) fn from_aws(v: aws_sdk_dynamodb::types::AttributeValue) -> Result<Attr, StoreError> {
    from_sd(v.into())
}

/// An AWS item as ours.
pub(crate) fn item_from_aws(
    m: HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> Result<Item, StoreError> {
    m.into_iter().map(|(k, v)| Ok((k, from_aws(v)?))).collect()
}

/// Our item as an AWS item.
pub(crate) fn item_to_aws(item: Item) -> HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    item.into_iter().map(|(k, v)| (k, to_aws(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Rec {
        id: u64,
        name: String,
        price: Decimal,
        note: Option<String>,
    }

    #[test]
    fn a_record_round_trips_through_an_item_with_its_u64_and_decimal_exact() {
        let r = Rec {
            id: u64::MAX,
            name: "x".into(),
            price: Decimal::from_str("1234.50").unwrap(),
            note: None,
        };
        let item = to_item(&r).unwrap();
        assert_eq!(item.get("id"), Some(&Attr::N(Decimal::from(u64::MAX))));
        assert_eq!(from_item::<Rec>(&item).unwrap(), r);
    }

    proptest! {
        #[test]
        fn any_number_survives_the_aws_value(m in any::<i64>(), scale in 0u32..10) {
            let n = Decimal::new(m, scale);
            let back = from_aws(to_aws(Attr::N(n))).unwrap();
            prop_assert_eq!(back, Attr::N(n));
        }
    }
}
