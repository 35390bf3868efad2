//! The storage interface: a narrow, DynamoDB-shaped contract that every backend implements.
//!
//! Ingestion, authentication and metrics are written once over [`Store`]; the backends
//! ([`dynamo::DynamoStore`], [`embedded::EmbeddedStore`]) only translate it. The conformance suite
//! in [`conformance`] pins the semantics both must share.

pub mod codec;
pub mod conformance;
pub mod dynamo;
pub mod embedded;
pub mod items;
pub mod keys;
mod wal;

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Attribute holding an item's partition key.
pub const PK: &str = "pk";
/// Attribute holding an item's sort key.
pub const SK: &str = "sk";
/// Attribute DynamoDB's TTL sweeper reads (epoch seconds).
pub const TTL: &str = "ttl";
/// The largest item DynamoDB stores (400 KB, names included); the embedded backend holds to it too.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// DynamoDB's limit on the writes in one `TransactWriteItems`.
pub const MAX_BATCH_OPS: usize = 100;
/// The largest page a query returns.
pub const MAX_QUERY_LIMIT: u32 = 1000;

/// One attribute value. Numbers are exact decimals (DynamoDB's `N`), never floating point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Attr {
    S(String),
    // As text on disk: exact, and postcard cannot decode rust_decimal's self-describing form.
    N(#[serde(with = "rust_decimal::serde::str")] Decimal),
    B(Vec<u8>),
    Bool(bool),
    Null,
    L(Vec<Attr>),
    M(BTreeMap<String, Attr>),
}

impl Attr {
    /// The string inside an `S`, if it is one.
    pub fn as_s(&self) -> Option<&str> {
        match self {
            Attr::S(s) => Some(s),
            _ => None,
        }
    }

    /// The number inside an `N`, if it is one.
    pub fn as_n(&self) -> Option<Decimal> {
        match self {
            Attr::N(n) => Some(*n),
            _ => None,
        }
    }

    /// Size as DynamoDB counts it toward the 400 KB item limit (close enough to never disagree on
    /// items that are not within a few bytes of the limit).
    fn size(&self) -> usize {
        match self {
            Attr::S(s) => s.len(),
            // DynamoDB: about one byte per two significant digits, plus one.
            Attr::N(n) => n.mantissa().unsigned_abs().to_string().len().div_ceil(2) + 1,
            Attr::B(b) => b.len(),
            Attr::Bool(_) | Attr::Null => 1,
            Attr::L(l) => 3 + l.iter().map(|a| 1 + a.size()).sum::<usize>(),
            Attr::M(m) => 3 + m.iter().map(|(k, v)| 1 + k.len() + v.size()).sum::<usize>(),
        }
    }
}

impl From<&str> for Attr {
    fn from(s: &str) -> Self {
        Attr::S(s.to_owned())
    }
}
impl From<String> for Attr {
    fn from(s: String) -> Self {
        Attr::S(s)
    }
}
impl From<Decimal> for Attr {
    fn from(n: Decimal) -> Self {
        Attr::N(n)
    }
}
impl From<i64> for Attr {
    fn from(n: i64) -> Self {
        Attr::N(Decimal::from(n))
    }
}
impl From<u64> for Attr {
    fn from(n: u64) -> Self {
        Attr::N(Decimal::from(n))
    }
}
impl From<bool> for Attr {
    fn from(b: bool) -> Self {
        Attr::Bool(b)
    }
}

/// An item: attribute name to value. Always holds [`PK`] and [`SK`] once stored.
pub type Item = BTreeMap<String, Attr>;

/// Size of an item as DynamoDB counts it: names plus values.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

/// The primary key of an item.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The key of a stored item, if it has one.
    pub fn of(item: &Item) -> Option<Key> {
        Some(Key::new(item.get(PK)?.as_s()?, item.get(SK)?.as_s()?))
    }
}

/// Which key a query runs on: the table's, or one of the global secondary indexes.
///
/// GSIs project all attributes. Their key attributes are overloaded (`gsi1pk`/`gsi1sk`, ...), so
/// the item types that use each are listed in `docs/data-model.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Index {
    Primary,
    Gsi1,
    Gsi2,
}

impl Index {
    /// Every secondary index, in a fixed order.
    pub const SECONDARY: [Index; 2] = [Index::Gsi1, Index::Gsi2];

    /// `(partition attribute, sort attribute)` of this index.
    pub fn key_attrs(self) -> (&'static str, &'static str) {
        match self {
            Index::Primary => (PK, SK),
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
            Index::Gsi2 => ("gsi2pk", "gsi2sk"),
        }
    }

    /// The DynamoDB index name (`None` for the table itself).
    pub fn name(self) -> Option<&'static str> {
        match self {
            Index::Primary => None,
            Index::Gsi1 => Some("gsi1"),
            Index::Gsi2 => Some("gsi2"),
        }
    }
}

/// Which sort keys of the partition a query returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortRange {
    /// The whole partition.
    All,
    /// Sort keys starting with this prefix.
    Prefix(String),
    /// Sort keys in `[from, to]`, both inclusive (DynamoDB's `BETWEEN`).
    Between(String, String),
}

/// A query of one partition.
#[derive(Clone, Debug)]
pub struct Query {
    pub index: Index,
    pub partition: String,
    pub range: SortRange,
    /// Ascending sort keys when true, descending when false.
    pub forward: bool,
    /// At most this many items (1..=[`MAX_QUERY_LIMIT`]).
    pub limit: u32,
    /// Resume after the last item of an earlier page of this same query.
    pub cursor: Option<Cursor>,
}

impl Query {
    /// All of a partition, ascending, first page of `limit`.
    pub fn partition(index: Index, partition: impl Into<String>, range: SortRange) -> Self {
        Query {
            index,
            partition: partition.into(),
            range,
            forward: true,
            limit: 100,
            cursor: None,
        }
    }

    pub fn backward(mut self) -> Self {
        self.forward = false;
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    pub fn after(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// One page of a query.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present exactly when more items match: pass it back to resume after the last item.
    pub next: Option<Cursor>,
}

/// Opaque continuation of a query: the position after the last item returned, bound to the index
/// and partition it came from. A cursor from one partition is refused on another.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    index: Index,
    partition: String,
    /// The last item's index sort key, then (for a GSI) its table key.
    sort: String,
    key: Option<Key>,
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cursor(..)")
    }
}

impl Cursor {
    /// The cursor positioned after `item` in a query on `index`/`partition`.
    pub(crate) fn after_item(index: Index, partition: &str, item: &Item) -> Option<Cursor> {
        let (_, sort_attr) = index.key_attrs();
        let sort = item.get(sort_attr)?.as_s()?.to_owned();
        let key = match index {
            Index::Primary => None,
            _ => Some(Key::of(item)?),
        };
        Some(Cursor {
            index,
            partition: partition.to_owned(),
            sort,
            key,
        })
    }

    /// Checks the cursor belongs to `query`'s index and partition.
    pub(crate) fn check(&self, query: &Query) -> Result<(), StoreError> {
        if self.index != query.index || self.partition != query.partition {
            return Err(StoreError::InvalidCursor);
        }
        if self.index != Index::Primary && self.key.is_none() {
            return Err(StoreError::InvalidCursor);
        }
        Ok(())
    }

    pub(crate) fn sort(&self) -> &str {
        &self.sort
    }

    pub(crate) fn table_key(&self) -> Option<&Key> {
        self.key.as_ref()
    }

    /// The opaque text form (URL-safe).
    pub fn encode(&self) -> String {
        // A Cursor is plain strings and enums: encoding cannot fail.
        let bytes = postcard::to_stdvec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Parses the text form; anything not produced by [`Cursor::encode`] is `InvalidCursor`.
    pub fn decode(text: &str) -> Result<Cursor, StoreError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| StoreError::InvalidCursor)?;
        postcard::from_bytes(&bytes).map_err(|_| StoreError::InvalidCursor)
    }
}

/// How a condition compares an attribute with a value (DynamoDB's comparators).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A condition on the item a write targets, as DynamoDB evaluates condition expressions.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// The item exists (`attribute_exists(pk)`).
    Exists,
    /// The item does not exist (`attribute_not_exists(pk)`).
    NotExists,
    AttrExists(String),
    AttrNotExists(String),
    /// `attr <op> value`; false when the attribute is missing or of another type.
    Compare(String, Cmp, Attr),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
}

impl Condition {
    pub fn compare(attr: &str, op: Cmp, value: impl Into<Attr>) -> Condition {
        Condition::Compare(attr.to_owned(), op, value.into())
    }

    /// Evaluates the condition against the item's current image (`None`: no such item).
    pub fn holds(&self, item: Option<&Item>) -> bool {
        match self {
            Condition::Exists => item.is_some(),
            Condition::NotExists => item.is_none(),
            Condition::AttrExists(a) => item.is_some_and(|i| i.contains_key(a)),
            Condition::AttrNotExists(a) => !item.is_some_and(|i| i.contains_key(a)),
            Condition::Compare(a, op, v) => item
                .and_then(|i| i.get(a))
                .and_then(|cur| compare_attrs(cur, v))
                .is_some_and(|ord| match op {
                    Cmp::Eq => ord.is_eq(),
                    Cmp::Ne => ord.is_ne(),
                    Cmp::Lt => ord.is_lt(),
                    Cmp::Le => ord.is_le(),
                    Cmp::Gt => ord.is_gt(),
                    Cmp::Ge => ord.is_ge(),
                }),
            Condition::And(cs) => cs.iter().all(|c| c.holds(item)),
            Condition::Or(cs) => cs.iter().any(|c| c.holds(item)),
            Condition::Not(c) => !c.holds(item),
        }
    }
}

/// Orders two values of the same scalar type the way DynamoDB does (strings and binary by bytes,
/// numbers by value); `None` for values of different types, which compare false.
fn compare_attrs(a: &Attr, b: &Attr) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Attr::S(x), Attr::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Attr::N(x), Attr::N(y)) => Some(x.cmp(y)),
        (Attr::B(x), Attr::B(y)) => Some(x.cmp(y)),
        (Attr::Bool(x), Attr::Bool(y)) if x == y => Some(std::cmp::Ordering::Equal),
        (Attr::Bool(_), Attr::Bool(_)) => Some(std::cmp::Ordering::Less),
        (Attr::Null, Attr::Null) => Some(std::cmp::Ordering::Equal),
        _ if a == b => Some(std::cmp::Ordering::Equal),
        _ => None,
    }
}

/// One write of an atomic batch.
#[derive(Clone, Debug)]
pub enum WriteOp {
    /// Replace the whole item (which must carry `pk` and `sk`).
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    /// Create or change attributes of one item (DynamoDB `UpdateItem`: creates the item if absent).
    Update {
        key: Key,
        update: Update,
        condition: Option<Condition>,
    },
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    /// Write nothing, but fail the batch unless the condition holds.
    Check { key: Key, condition: Condition },
}

impl WriteOp {
    /// The key this write targets.
    pub fn key(&self) -> Result<Key, StoreError> {
        match self {
            WriteOp::Put { item, .. } => {
                Key::of(item).ok_or_else(|| StoreError::Invalid("put item lacks pk/sk".into()))
            }
            WriteOp::Update { key, .. }
            | WriteOp::Delete { key, .. }
            | WriteOp::Check { key, .. } => Ok(key.clone()),
        }
    }

    pub fn condition(&self) -> Option<&Condition> {
        match self {
            WriteOp::Put { condition, .. }
            | WriteOp::Update { condition, .. }
            | WriteOp::Delete { condition, .. } => condition.as_ref(),
            WriteOp::Check { condition, .. } => Some(condition),
        }
    }
}

/// The changes of an [`WriteOp::Update`]: `SET` values, `ADD` to numbers, `REMOVE` attributes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Update {
    pub set: Vec<(String, Attr)>,
    /// Added to the attribute's number; a missing attribute counts as zero.
    pub add: Vec<(String, Decimal)>,
    pub remove: Vec<String>,
}

impl Update {
    pub fn set(mut self, attr: &str, value: impl Into<Attr>) -> Self {
        self.set.push((attr.to_owned(), value.into()));
        self
    }

    pub fn add(mut self, attr: &str, delta: impl Into<Decimal>) -> Self {
        self.add.push((attr.to_owned(), delta.into()));
        self
    }

    pub fn remove(mut self, attr: &str) -> Self {
        self.remove.push(attr.to_owned());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    /// The item after this update, given the current image: how every backend must apply it.
    pub fn apply_to(&self, key: &Key, current: Option<&Item>) -> Result<Item, StoreError> {
        let mut item = current.cloned().unwrap_or_default();
        item.insert(PK.into(), Attr::S(key.pk.clone()));
        item.insert(SK.into(), Attr::S(key.sk.clone()));
        for (attr, value) in &self.set {
            item.insert(attr.clone(), value.clone());
        }
        for (attr, delta) in &self.add {
            let sum = match item.get(attr) {
                None => *delta,
                Some(Attr::N(n)) => n.checked_add(*delta).ok_or_else(|| {
                    StoreError::Invalid(format!("adding to {attr} overflows a number"))
                })?,
                Some(_) => {
                    return Err(StoreError::Invalid(format!(
                        "cannot add to {attr}: it is not a number"
                    )));
                }
            };
            item.insert(attr.clone(), Attr::N(sum));
        }
        for attr in &self.remove {
            item.remove(attr);
        }
        Ok(item)
    }
}

/// Errors of the storage interface, mapped once per backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The condition of the write at `index` in the batch did not hold; nothing was written.
    #[error("condition of write {index} in the batch did not hold")]
    ConditionFailed { index: usize },
    /// The backend asked us to slow down or lost a race between transactions; safe to retry.
    #[error("storage throttled the request; retry")]
    Throttled {
        #[source]
        source: BoxError,
    },
    /// A cursor that this query did not produce.
    #[error("the cursor does not belong to this query")]
    InvalidCursor,
    #[error("item exceeds the 400 KB limit")]
    ItemTooLarge,
    /// A request the interface refuses (bad key, too many ops, two writes to one item...).
    #[error("invalid storage request: {0}")]
    Invalid(String),
    /// Everything else; the source is kept for the logs.
    #[error("storage backend failed")]
    Backend {
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// True when retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Throttled { .. })
    }

    pub(crate) fn backend(e: impl Into<BoxError>) -> StoreError {
        StoreError::Backend { source: e.into() }
    }
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Capacity a backend reports having consumed (DynamoDB's `ConsumedCapacity`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Capacity {
    pub read_units: f64,
    /// Table and index writes together.
    pub write_units: f64,
    /// Of `write_units`, what maintaining the GSIs took.
    pub index_write_units: f64,
}

/// The storage interface every use case is written against.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// One item by key, strongly consistent.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// One page of one partition.
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Applies every op or none; each op's condition is evaluated against the state before the
    /// batch. At most [`MAX_BATCH_OPS`] ops, at most one per item. Returns once durable.
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError>;

    /// Items whose sort key is exactly `sk`, across every partition, `limit` at a time after the
    /// item at `after`; answers them and where the next page starts (`None`: no more). A Scan on
    /// DynamoDB: only for one-time jobs over every tenant (the ledger backfill), never on a
    /// request's path.
    async fn scan_sort_key(
        &self,
        sk: &str,
        after: Option<&Key>,
        limit: u32,
    ) -> Result<(Vec<Item>, Option<Key>), StoreError>;

    /// Capacity consumed since the store was opened (zero for backends that do not meter).
    fn consumed(&self) -> Capacity {
        Capacity::default()
    }

    /// A short name for logs and test output.
    fn backend_name(&self) -> &'static str;

    /// Deletes items whose [`TTL`] (epoch seconds) is at or before `now`; answers how many.
    /// DynamoDB expires them itself (the table's TTL setting), so by default this does nothing;
    /// the embedded store sweeps.
    async fn sweep_expired(&self, _now: i64) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// Adds one to the counter at `key` (created at zero, kept until `expires_at`, epoch
    /// seconds) and answers its new value; concurrent increments all count. For rate limits: on
    /// DynamoDB one `UpdateItem` in the table (the counter holds across every Lambda instance);
    /// the embedded store, whose one process is every instance, keeps counters in memory (they
    /// need no durability and a per-request fsync would cost every request).
    /// By default a write and a read back (under concurrency the value read may include later
    /// increments: a limit then bites a little early, never late).
    async fn increment(&self, key: &Key, expires_at: i64) -> Result<u64, StoreError> {
        let update = Update::default()
            .add(COUNT, Decimal::ONE)
            .set(TTL, expires_at);
        self.write(vec![WriteOp::Update {
            key: key.clone(),
            update,
            condition: None,
        }])
        .await?;
        let item = self.get(key).await?;
        Ok(item
            .and_then(|i| i.get(COUNT).and_then(Attr::as_n))
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(1))
    }
}

/// The attribute a counter ([`Store::increment`]) keeps its value in.
pub const COUNT: &str = "n";

/// Checks what both backends refuse alike before touching storage.
pub(crate) fn validate_batch(ops: &[WriteOp]) -> Result<Vec<Key>, StoreError> {
    if ops.is_empty() {
        return Err(StoreError::Invalid("empty batch".into()));
    }
    if ops.len() > MAX_BATCH_OPS {
        return Err(StoreError::Invalid(format!(
            "{} writes in one batch; at most {MAX_BATCH_OPS}",
            ops.len()
        )));
    }
    let mut keys = Vec::with_capacity(ops.len());
    for op in ops {
        let key = op.key()?;
        validate_key(&key)?;
        if keys.contains(&key) {
            return Err(StoreError::Invalid(
                "two writes to the same item in one batch".into(),
            ));
        }
        if let WriteOp::Put { item, .. } = op
            && item_size(item) > MAX_ITEM_BYTES
        {
            return Err(StoreError::ItemTooLarge);
        }
        keys.push(key);
    }
    Ok(keys)
}

/// Keys are non-empty, at most DynamoDB's lengths, and free of NUL (the embedded encoding's separator).
pub(crate) fn validate_key(key: &Key) -> Result<(), StoreError> {
    for (part, max) in [(&key.pk, 2048), (&key.sk, 1024)] {
        if part.is_empty() || part.len() > max || part.contains('\0') {
            return Err(StoreError::Invalid(
                "key parts must be 1..=2048/1024 bytes without NUL".into(),
            ));
        }
    }
    Ok(())
}

pub(crate) fn validate_query(query: &Query) -> Result<(), StoreError> {
    if query.limit == 0 || query.limit > MAX_QUERY_LIMIT {
        return Err(StoreError::Invalid(format!(
            "query limit must be 1..={MAX_QUERY_LIMIT}"
        )));
    }
    if query.partition.is_empty() || query.partition.contains('\0') {
        return Err(StoreError::Invalid("bad partition key".into()));
    }
    // DynamoDB refuses an empty key value in a key condition; so does every backend.
    let empty_bound = match &query.range {
        SortRange::All => false,
        SortRange::Prefix(p) => p.is_empty(),
        SortRange::Between(a, b) => a.is_empty() || b.is_empty(),
    };
    if empty_bound {
        return Err(StoreError::Invalid("an empty sort-key bound".into()));
    }
    if let Some(c) = &query.cursor {
        c.check(query)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_text_form() {
        let mut item = Item::new();
        item.insert(PK.into(), "T#1".into());
        item.insert(SK.into(), "ORDER#5".into());
        item.insert("gsi1pk".into(), "T#1#X".into());
        item.insert("gsi1sk".into(), "0005".into());
        let c = Cursor::after_item(Index::Gsi1, "T#1#X", &item).unwrap();
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
    }

    #[test]
    fn text_that_is_not_a_cursor_is_refused() {
        assert!(matches!(
            Cursor::decode("not a cursor!"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            Cursor::decode("AAAA"),
            Err(StoreError::InvalidCursor)
        ));
    }

    #[test]
    fn a_comparison_with_a_missing_attribute_or_another_type_is_false() {
        let mut item = Item::new();
        item.insert("n".into(), 5i64.into());
        let c = Condition::compare("n", Cmp::Lt, "x");
        assert!(!c.holds(Some(&item)));
        assert!(!Condition::compare("m", Cmp::Ne, 1i64).holds(Some(&item)));
        assert!(Condition::compare("n", Cmp::Lt, 6i64).holds(Some(&item)));
        assert!(!Condition::compare("n", Cmp::Lt, 6i64).holds(None));
    }

    #[test]
    fn adding_to_a_text_attribute_is_refused() {
        let key = Key::new("a", "b");
        let mut cur = Item::new();
        cur.insert("x".into(), "text".into());
        let up = Update::default().add("x", Decimal::ONE);
        assert!(matches!(
            up.apply_to(&key, Some(&cur)),
            Err(StoreError::Invalid(_))
        ));
    }
}
