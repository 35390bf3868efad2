//! The DynamoDB backend: GetItem, Query (table and GSIs) and TransactWriteItems with condition
//! expressions, through the real `aws-sdk-dynamodb` client. Errors are mapped in one place
//! ([`map_err`]); consumed capacity is metered on every call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, ConsumedCapacity, Delete,
    GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, Put,
    ReturnConsumedCapacity, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
    Update as AwsUpdate,
};

use super::codec::{item_from_aws, item_to_aws, to_aws};
use super::{
    BoxError, Capacity, Cmp, Condition, Cursor, Index, Item, Key, PK, Page, Query, SK, SortRange,
    Store, StoreError, TTL, Update, WriteOp, validate_batch, validate_key, validate_query,
};

/// A table accessed through the AWS SDK. The client's endpoint comes from the environment
/// (`AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local), never from code.
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Consumed capacity in thousandths of a unit (atomics have no f64 add).
    read_milli: AtomicU64,
    write_milli: AtomicU64,
    index_write_milli: AtomicU64,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
            read_milli: AtomicU64::new(0),
            write_milli: AtomicU64::new(0),
            index_write_milli: AtomicU64::new(0),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn meter(&self, cc: Option<&ConsumedCapacity>, write: bool) {
        let Some(cc) = cc else { return };
        let (r, w) = (
            cc.read_capacity_units().unwrap_or(0.0),
            cc.write_capacity_units().unwrap_or(0.0),
        );
        // Some responses give only the total; attribute it to the call's kind.
        let total = cc.capacity_units().unwrap_or(0.0);
        let (r, w) = if r == 0.0 && w == 0.0 {
            if write { (0.0, total) } else { (total, 0.0) }
        } else {
            (r, w)
        };
        // Index maintenance, billed apart from the table (and never doubled for transactions).
        let index: f64 = cc
            .global_secondary_indexes()
            .map(|m| m.values().map(|c| c.capacity_units().unwrap_or(0.0)).sum())
            .unwrap_or(0.0);
        let milli = |x: f64| (x * 1000.0).round() as u64;
        self.read_milli.fetch_add(milli(r), Ordering::Relaxed);
        self.write_milli.fetch_add(milli(w), Ordering::Relaxed);
        if write {
            self.index_write_milli
                .fetch_add(milli(index), Ordering::Relaxed);
        }
        tracing::trace!(table = %self.table, read_units = r, write_units = w, index_units = index, "consumed capacity");
    }

    async fn write_one(&self, op: WriteOp) -> Result<(), StoreError> {
        let mut ex = Expr::default();
        let result = match op {
            WriteOp::Put { item, condition } => {
                let cond = condition.map(|c| ex.condition(&c));
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item_to_aws(item)))
                    .set_condition_expression(cond)
                    .set_expression_attribute_names(ex.names())
                    .set_expression_attribute_values(ex.values())
                    .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
                    .send()
                    .await
                    .map(|o| self.meter(o.consumed_capacity(), true))
                    .map_err(map_err)
            }
            WriteOp::Update {
                key,
                update,
                condition,
            } => {
                let expr = ex.update(&update)?;
                let cond = condition.map(|c| ex.condition(&c));
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(aws_key(&key)))
                    .set_update_expression(expr)
                    .set_condition_expression(cond)
                    .set_expression_attribute_names(ex.names())
                    .set_expression_attribute_values(ex.values())
                    .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
                    .send()
                    .await
                    .map(|o| self.meter(o.consumed_capacity(), true))
                    .map_err(map_err)
            }
            WriteOp::Delete { key, condition } => {
                let cond = condition.map(|c| ex.condition(&c));
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(aws_key(&key)))
                    .set_condition_expression(cond)
                    .set_expression_attribute_names(ex.names())
                    .set_expression_attribute_values(ex.values())
                    .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
                    .send()
                    .await
                    .map(|o| self.meter(o.consumed_capacity(), true))
                    .map_err(map_err)
            }
            WriteOp::Check { .. } => {
                return Err(StoreError::Invalid("a check alone is not a write".into()));
            }
        };
        result.map_err(|e| match e {
            Failure::ConditionFailed(_) => StoreError::ConditionFailed { index: 0 },
            Failure::Other(e) => e,
        })
    }

    async fn write_transaction(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(ops.len());
        for op in ops {
            items.push(self.transact_item(op)?);
        }
        let out = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
            .send()
            .await;
        match out {
            Ok(o) => {
                for cc in o.consumed_capacity() {
                    self.meter(Some(cc), true);
                }
                Ok(())
            }
            Err(e) => Err(match map_err(e) {
                Failure::ConditionFailed(reasons) => {
                    match reasons.iter().position(|r| r == "ConditionalCheckFailed") {
                        Some(index) => StoreError::ConditionFailed { index },
                        // Cancelled for a conflict or throttling: retryable.
                        None if reasons
                            .iter()
                            .any(|r| r == "TransactionConflict" || r.contains("Throttl")) =>
                        {
                            StoreError::Throttled {
                                source: format!("transaction cancelled: {reasons:?}").into(),
                            }
                        }
                        None if reasons.iter().any(|r| r == "ValidationError") => {
                            StoreError::Invalid(format!("transaction cancelled: {reasons:?}"))
                        }
                        None => StoreError::backend(format!("transaction cancelled: {reasons:?}")),
                    }
                }
                Failure::Other(e) => e,
            }),
        }
    }

    fn transact_item(&self, op: WriteOp) -> Result<TransactWriteItem, StoreError> {
        let mut ex = Expr::default();
        let built = match op {
            WriteOp::Put { item, condition } => {
                let cond = condition.map(|c| ex.condition(&c));
                TransactWriteItem::builder().put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item_to_aws(item)))
                        .set_condition_expression(cond)
                        .set_expression_attribute_names(ex.names())
                        .set_expression_attribute_values(ex.values())
                        .build()
                        .map_err(StoreError::backend)?,
                )
            }
            WriteOp::Update {
                key,
                update,
                condition,
            } => {
                let expr = ex.update(&update)?.ok_or_else(|| {
                    StoreError::Invalid("an update in a batch must change something".into())
                })?;
                let cond = condition.map(|c| ex.condition(&c));
                TransactWriteItem::builder().update(
                    AwsUpdate::builder()
                        .table_name(&self.table)
                        .set_key(Some(aws_key(&key)))
                        .update_expression(expr)
                        .set_condition_expression(cond)
                        .set_expression_attribute_names(ex.names())
                        .set_expression_attribute_values(ex.values())
                        .build()
                        .map_err(StoreError::backend)?,
                )
            }
            WriteOp::Delete { key, condition } => {
                let cond = condition.map(|c| ex.condition(&c));
                TransactWriteItem::builder().delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(aws_key(&key)))
                        .set_condition_expression(cond)
                        .set_expression_attribute_names(ex.names())
                        .set_expression_attribute_values(ex.values())
                        .build()
                        .map_err(StoreError::backend)?,
                )
            }
            WriteOp::Check { key, condition } => {
                let cond = ex.condition(&condition);
                TransactWriteItem::builder().condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(aws_key(&key)))
                        .condition_expression(cond)
                        .set_expression_attribute_names(ex.names())
                        .set_expression_attribute_values(ex.values())
                        .build()
                        .map_err(StoreError::backend)?,
                )
            }
        };
        Ok(built.build())
    }
}

#[async_trait::async_trait]
impl Store for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        validate_key(key)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(aws_key(key)))
            // Read-modify-write decisions need the latest committed version.
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
            .send()
            .await
            .map_err(|e| map_err(e).into_store())?;
        self.meter(out.consumed_capacity(), false);
        out.item.map(item_from_aws).transpose()
    }

    async fn scan_sort_key(
        &self,
        sk: &str,
        after: Option<&Key>,
        limit: u32,
    ) -> Result<(Vec<Item>, Option<Key>), StoreError> {
        let mut ex = Expr::default();
        let filter = format!("{} = {}", ex.name(SK), ex.value(sk.into()));
        let want = limit.max(1) as usize;
        let mut start = after.map(aws_key);
        let mut items: Vec<Item> = Vec::new();
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(&filter)
                .set_expression_attribute_names(ex.names())
                .set_expression_attribute_values(ex.values())
                .set_exclusive_start_key(start.take())
                .limit(1000)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| map_err(e).into_store())?;
            self.meter(out.consumed_capacity(), false);
            for raw in out.items.unwrap_or_default() {
                items.push(item_from_aws(raw)?);
            }
            if items.len() > want {
                // Resume right after the last item handed out: the rest of this page comes again.
                items.truncate(want);
                let next = items.last().and_then(Key::of);
                return Ok((items, next));
            }
            match out.last_evaluated_key {
                Some(lek) => start = Some(lek),
                None => return Ok((items, None)),
            }
        }
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        validate_query(query)?;
        let (pa, sa) = query.index.key_attrs();
        let mut ex = Expr::default();
        let p = format!(
            "{} = {}",
            ex.name(pa),
            ex.value(query.partition.as_str().into())
        );
        let key_cond = match &query.range {
            SortRange::All => p,
            SortRange::Prefix(pre) => format!(
                "{p} AND begins_with({}, {})",
                ex.name(sa),
                ex.value(pre.as_str().into())
            ),
            SortRange::Between(a, b) => format!(
                "{p} AND {} BETWEEN {} AND {}",
                ex.name(sa),
                ex.value(a.as_str().into()),
                ex.value(b.as_str().into())
            ),
        };
        let want = query.limit as usize;
        let mut start = query.cursor.as_ref().map(|c| start_key(query, c));
        let mut items: Vec<Item> = Vec::with_capacity(want.min(256) + 1);
        // Ask for one more than the page to know whether another page exists, so `next` is
        // present exactly when more items match (as on the embedded backend).
        loop {
            let ask = (want + 1 - items.len()) as i32;
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(query.index.name().map(str::to_owned))
                .key_condition_expression(&key_cond)
                .set_expression_attribute_names(ex.names())
                .set_expression_attribute_values(ex.values())
                .scan_index_forward(query.forward)
                .limit(ask)
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
                .send()
                .await
                .map_err(|e| map_err(e).into_store())?;
            self.meter(out.consumed_capacity(), false);
            for raw in out.items.unwrap_or_default() {
                items.push(item_from_aws(raw)?);
            }
            match out.last_evaluated_key {
                Some(lek) if items.len() <= want => start = Some(lek),
                _ => break,
            }
        }
        let more = items.len() > want;
        items.truncate(want);
        let next = if more {
            items
                .last()
                .and_then(|last| Cursor::after_item(query.index, &query.partition, last))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn write(&self, mut ops: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_batch(&ops)?;
        // One write without a companion: the single-item API costs half a transaction.
        if ops.len() == 1
            && !matches!(ops[0], WriteOp::Check { .. })
            && let Some(op) = ops.pop()
        {
            return self.write_one(op).await;
        }
        self.write_transaction(ops).await
    }

    fn consumed(&self) -> Capacity {
        Capacity {
            read_units: self.read_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            write_units: self.write_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            index_write_units: self.index_write_milli.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }

    async fn increment(&self, key: &Key, expires_at: i64) -> Result<u64, StoreError> {
        crate::store::validate_key(key)?;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(aws_key(key)))
            .update_expression("ADD #n :one SET #ttl = if_not_exists(#ttl, :ttl)")
            .expression_attribute_names("#n", super::COUNT)
            .expression_attribute_names("#ttl", super::TTL)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
            .send()
            .await
            .map_err(map_err)
            .map_err(|e| match e {
                Failure::ConditionFailed(_) => StoreError::ConditionFailed { index: 0 },
                Failure::Other(e) => e,
            })?;
        self.meter(out.consumed_capacity(), true);
        out.attributes()
            .and_then(|a| a.get(super::COUNT))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| StoreError::Invalid("the counter came back without its value".into()))
    }

    fn backend_name(&self) -> &'static str {
        "dynamodb"
    }
}

fn aws_key(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn start_key(query: &Query, c: &Cursor) -> HashMap<String, AttributeValue> {
    let (pa, sa) = query.index.key_attrs();
    let mut m = HashMap::from([
        (pa.to_owned(), AttributeValue::S(query.partition.clone())),
        (sa.to_owned(), AttributeValue::S(c.sort().to_owned())),
    ]);
    if let Some(k) = c.table_key() {
        m.extend(aws_key(k));
    }
    m
}

/// Placeholders for attribute names and values: every name goes through `#n`, so reserved words
/// (`name`, `ttl`, ...) never break an expression.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        if let Some((k, _)) = self.names.iter().find(|(_, v)| v.as_str() == attr) {
            return k.clone();
        }
        let k = format!("#n{}", self.names.len());
        self.names.insert(k.clone(), attr.to_owned());
        k
    }

    fn value(&mut self, v: super::Attr) -> String {
        let k = format!(":v{}", self.values.len());
        self.values.insert(k.clone(), to_aws(v));
        k
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    fn condition(&mut self, c: &Condition) -> String {
        match c {
            Condition::Exists => format!("attribute_exists({})", self.name(PK)),
            Condition::NotExists => format!("attribute_not_exists({})", self.name(PK)),
            Condition::AttrExists(a) => format!("attribute_exists({})", self.name(a)),
            Condition::AttrNotExists(a) => format!("attribute_not_exists({})", self.name(a)),
            Condition::Compare(a, op, v) => {
                let op = match op {
                    Cmp::Eq => "=",
                    Cmp::Ne => "<>",
                    Cmp::Lt => "<",
                    Cmp::Le => "<=",
                    Cmp::Gt => ">",
                    Cmp::Ge => ">=",
                };
                let n = self.name(a);
                let v = self.value(v.clone());
                // DynamoDB's `<>` is true for a missing attribute; the interface says a comparison
                // with a missing attribute is false, so require it to exist.
                if op == "<>" {
                    format!("(attribute_exists({n}) AND {n} <> {v})")
                } else {
                    format!("{n} {op} {v}")
                }
            }
            Condition::And(cs) if cs.is_empty() => self.condition(&Condition::Or(vec![
                Condition::Exists,
                Condition::NotExists,
            ])),
            Condition::Or(cs) if cs.is_empty() => self.condition(&Condition::And(vec![
                Condition::Exists,
                Condition::NotExists,
            ])),
            Condition::And(cs) => self.join(cs, " AND "),
            Condition::Or(cs) => self.join(cs, " OR "),
            Condition::Not(c) => format!("(NOT {})", self.condition(c)),
        }
    }

    fn join(&mut self, cs: &[Condition], sep: &str) -> String {
        let parts: Vec<String> = cs.iter().map(|c| self.condition(c)).collect();
        format!("({})", parts.join(sep))
    }

    fn update(&mut self, u: &Update) -> Result<Option<String>, StoreError> {
        let touches_key = u
            .set
            .iter()
            .map(|(a, _)| a)
            .chain(u.add.iter().map(|(a, _)| a))
            .chain(u.remove.iter())
            .any(|a| a == PK || a == SK);
        if touches_key {
            return Err(StoreError::Invalid(
                "an update cannot change the key".into(),
            ));
        }
        let mut clauses = Vec::new();
        if !u.set.is_empty() {
            let sets: Vec<String> = u
                .set
                .iter()
                .map(|(a, v)| format!("{} = {}", self.name(a), self.value(v.clone())))
                .collect();
            clauses.push(format!("SET {}", sets.join(", ")));
        }
        if !u.add.is_empty() {
            let adds: Vec<String> = u
                .add
                .iter()
                .map(|(a, d)| format!("{} {}", self.name(a), self.value(super::Attr::N(*d))))
                .collect();
            clauses.push(format!("ADD {}", adds.join(", ")));
        }
        if !u.remove.is_empty() {
            let rems: Vec<String> = u.remove.iter().map(|a| self.name(a)).collect();
            clauses.push(format!("REMOVE {}", rems.join(", ")));
        }
        Ok((!clauses.is_empty()).then(|| clauses.join(" ")))
    }
}

/// How a failed call is seen by the write paths: a condition failure (with a transaction's
/// cancellation reasons), or an error already mapped for everyone else.
enum Failure {
    ConditionFailed(Vec<String>),
    Other(StoreError),
}

impl Failure {
    fn into_store(self) -> StoreError {
        match self {
            Failure::ConditionFailed(_) => StoreError::ConditionFailed { index: 0 },
            Failure::Other(e) => e,
        }
    }
}

/// The one place DynamoDB errors become [`StoreError`]s: condition failed, throttled (retryable),
/// item too large, invalid, everything else, with the SDK error kept as the source for logs.
fn map_err<E, R>(err: SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_owned);
    let message = err.message().unwrap_or_default().to_owned();
    let reasons = cancellation_reasons(&err);
    // No answer at all (timeout, connection refused or reset): the request may be retried.
    let transient = matches!(
        err,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
    );
    let source: BoxError = Box::new(err);
    Failure::Other(match code.as_deref() {
        Some("ConditionalCheckFailedException") => return Failure::ConditionFailed(Vec::new()),
        Some("TransactionCanceledException") => return Failure::ConditionFailed(reasons),
        Some(
            "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "TransactionConflictException"
            | "TransactionInProgressException"
            | "InternalServerError"
            | "ServiceUnavailable",
        ) => StoreError::Throttled { source },
        Some("ValidationException") if message.contains("size") => StoreError::ItemTooLarge,
        Some("ValidationException") => StoreError::Invalid(message),
        _ if transient => StoreError::Throttled { source },
        _ => StoreError::Backend { source },
    })
}

/// The codes of a cancelled transaction, one per item ("None" for items that were fine).
fn cancellation_reasons<E: ProvideErrorMetadata + 'static, R>(err: &SdkError<E, R>) -> Vec<String> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    let Some(service) = err.as_service_error() else {
        return Vec::new();
    };
    let any: &dyn std::any::Any = service;
    match any.downcast_ref::<TransactWriteItemsError>() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("None").to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

/// The DynamoDB client every runner uses: the SDK's standard retries, but quick ones, and
/// bounded attempts. A webhook must answer within Shopify's 5 s; a table that does not answer
/// (DynamoDB Local stopped in the test, a network partition) becomes a `503` in about 3 s instead
/// of the SDK's default backoff, and Shopify's retry does the rest.
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use std::time::Duration;
    let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(50))
                .with_max_backoff(Duration::from_millis(500)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500))
                .operation_attempt_timeout(Duration::from_secs(2))
                .operation_timeout(Duration::from_secs(3))
                .build(),
        )
        .build();
    Client::from_conf(conf)
}

/// Creates the table with its key schema, GSIs and TTL attribute (for DynamoDB Local and tests;
/// on AWS, `template.yaml` owns the table). An existing table is left as it is.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(StoreError::backend)
    };
    let key = |name: &str, kt: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kt)
            .build()
            .map_err(StoreError::backend)
    };
    let mut req = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .attribute_definitions(attr(PK)?)
        .attribute_definitions(attr(SK)?);
    for index in Index::SECONDARY {
        let (pa, sa) = index.key_attrs();
        let name = index.name().unwrap_or_default();
        req = req
            .attribute_definitions(attr(pa)?)
            .attribute_definitions(attr(sa)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(name)
                    .key_schema(key(pa, KeyType::Hash)?)
                    .key_schema(key(sa, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(StoreError::backend)?,
            );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
        Err(e) => return Err(map_err(e).into_store()),
    }
    // Idempotency records expire through DynamoDB's TTL sweeper.
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL)
                .enabled(true)
                .build()
                .map_err(StoreError::backend)?,
        )
        .send()
        .await
        .map_err(|e| map_err(e).into_store())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attribute_name_in_a_condition_goes_through_a_placeholder() {
        let mut ex = Expr::default();
        let c = Condition::Or(vec![
            Condition::AttrNotExists("updated_at".into()),
            Condition::compare("name", Cmp::Lt, "x"),
        ]);
        let text = ex.condition(&c);
        assert!(
            !text.contains("updated_at") && !text.contains("name"),
            "{text}"
        );
        assert_eq!(ex.names().unwrap().len(), 2);
    }

    #[test]
    fn an_update_that_would_change_the_key_is_refused() {
        let mut ex = Expr::default();
        let u = Update::default().set(PK, "x");
        assert!(matches!(ex.update(&u), Err(StoreError::Invalid(_))));
    }
}
