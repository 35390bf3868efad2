//! The embedded backend: one redb file in the data dir, crash-safe, with group commit.
//!
//! Writes go to a single writer thread that drains every batch waiting, applies each one
//! all-or-nothing inside one redb write transaction, appends the group's effect to the write-ahead
//! log and fdatasyncs it ([`super::wal`]: one small sequential write and one fsync for the whole
//! group), commits the transaction without redb's own fsync, and only then answers each caller.
//! Many concurrent small batches therefore share an fsync instead of queueing for one each, and no
//! caller hears "done", nor does any reader see a write, before it is on disk. Every 10 seconds
//! (sooner when the log reaches 64 MiB, or after a second without writes) a checkpoint makes redb
//! itself durable and empties the log; opening the store replays what the
//! log holds since the last one.
//!
//! Layout inside the file: `items` maps `pk NUL sk` to the item (postcard); `gsi1`/`gsi2` map
//! `gsipk NUL gsisk NUL pk NUL sk` to nothing. NUL never occurs in keys ([`super::validate_key`])
//! and sorts below every other byte, so byte order is DynamoDB's (UTF-8 byte) key order.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use super::wal::{self, Wal};
use super::{
    Cursor, Index, Item, Key, MAX_ITEM_BYTES, Page, Query, SortRange, Store, StoreError, WriteOp,
    item_size, validate_batch, validate_key, validate_query,
};

const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items");
const GSI1: TableDefinition<&[u8], &[u8]> = TableDefinition::new("gsi1");
const GSI2: TableDefinition<&[u8], &[u8]> = TableDefinition::new("gsi2");
/// The store's own bookkeeping: the write-ahead log's epoch ([`wal`]).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const WAL_EPOCH: &str = "wal_epoch";
/// How often redb is made durable (a checkpoint) while writes keep coming, how large the
/// write-ahead log may grow before one regardless, and how long the writer may sit idle with
/// anything logged before it checkpoints.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
const CHECKPOINT_BYTES: u64 = 64 * 1024 * 1024;
const CHECKPOINT_IDLE: std::time::Duration = std::time::Duration::from_secs(1);
/// The store file inside the data dir.
pub const FILE_NAME: &str = "insights.redb";
/// Counters held in memory at most (each a rate-limit window of one subject).
const MAX_COUNTERS: usize = 1_000_000;
/// Batches one commit takes at most, so one huge burst cannot starve its first callers.
const MAX_GROUP: usize = 1024;

/// Why the data dir could not be opened; every message names the path.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create or read the data dir {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the data store {path} is in use by another process (is `insights serve` already running?)"
    )]
    Locked { path: PathBuf },
    #[error("the data store {path} is corrupt or not an insights store: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: redb::Error,
    },
}

struct Job {
    ops: Vec<Prepared>,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

/// A write as the writer thread takes it: what can be computed without the current image (the
/// key, a put's encoding and index entries) is computed by the caller, off the single writer.
struct Prepared {
    op: WriteOp,
    key: Key,
    table_key: Vec<u8>,
    put: Option<Encoded>,
}

/// A new image: its bytes and its entries in gsi1 and gsi2.
#[derive(Clone)]
struct Encoded {
    bytes: Vec<u8>,
    gsi: [Option<Vec<u8>>; 2],
}

/// The log's tables of gsi1 and gsi2, in the order of [`Encoded::gsi`].
const INDEX_TABLES: [wal::Table; 2] = [wal::Table::Gsi1, wal::Table::Gsi2];

/// Checks a new image against the store's limits and gives its entries in gsi1 and gsi2.
fn checked_gsi(key: &Key, item: &Item) -> Result<[Option<Vec<u8>>; 2], StoreError> {
    if item_size(item) > MAX_ITEM_BYTES {
        return Err(StoreError::ItemTooLarge);
    }
    Ok([
        gsi_entry(Index::Gsi1, key, item)?,
        gsi_entry(Index::Gsi2, key, item)?,
    ])
}

/// Checks and encodes an image the way it will be stored.
fn encoded(key: &Key, item: &Item) -> Result<Encoded, StoreError> {
    Ok(Encoded {
        gsi: checked_gsi(key, item)?,
        bytes: encode_item(item)?,
    })
}

fn prepare(ops: Vec<WriteOp>) -> Result<Vec<Prepared>, StoreError> {
    ops.into_iter()
        .map(|op| {
            let key = op.key()?;
            let put = match &op {
                WriteOp::Put { item, .. } => Some(encoded(&key, item)?),
                _ => None,
            };
            Ok(Prepared {
                table_key: table_key(&key.pk, &key.sk),
                key,
                op,
                put,
            })
        })
        .collect()
}

/// The embedded store. Cheap to share behind an `Arc`; dropping the last handle finishes the
/// writer thread and releases the file lock.
pub struct EmbeddedStore {
    db: Arc<Database>,
    path: PathBuf,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
    /// Rate-limit counters: (pk, sk) → (value, expires at).
    counters: std::sync::Mutex<std::collections::HashMap<(String, String), (u64, i64)>>,
}

/// The data dir (0700) and the store file (0600) are the owner's alone: they hold every tenant's
/// data and the sealed shop tokens. A file made by an older version is tightened too.
fn owner_only(dir: &Path, file: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        // Created here first when missing, so it never exists with wider permissions.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(file)?;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = (dir, file);
    Ok(())
}

impl EmbeddedStore {
    /// redb's page cache. Its default (1 GiB) let a 10-minute soak grow the server to 578 MiB and
    /// still climbing; 256 MiB holds the hot pages (totals, days, recent orders) of many tenants.
    pub const CACHE_BYTES: usize = 256 * 1024 * 1024;

    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<EmbeddedStore, OpenError> {
        std::fs::create_dir_all(data_dir).map_err(|source| OpenError::Dir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(FILE_NAME);
        let corrupt = |e: redb::Error| match e {
            redb::Error::DatabaseAlreadyOpen => OpenError::Locked { path: path.clone() },
            source => OpenError::Corrupt {
                path: path.clone(),
                source,
            },
        };
        owner_only(data_dir, &path).map_err(|source| OpenError::Dir {
            path: data_dir.to_owned(),
            source,
        })?;
        let db = Database::builder()
            .set_cache_size(Self::CACHE_BYTES)
            .create(&path)
            .map_err(|e| corrupt(e.into()))?;
        // Create the tables once so readers never meet a missing table; replay what the
        // write-ahead log holds since the last checkpoint, and start the next epoch, durably.
        let epoch = {
            let txn = db.begin_read().map_err(|e| corrupt(e.into()))?;
            match txn.open_table(META) {
                Ok(meta) => meta
                    .get(WAL_EPOCH)
                    .map_err(|e| corrupt(e.into()))?
                    .map_or(0, |v| v.value()),
                Err(_) => 0,
            }
        };
        let wal_path = data_dir.join(wal::FILE_NAME);
        let (mut log, replay) = Wal::open(&wal_path, epoch).map_err(|source| OpenError::Dir {
            path: wal_path.clone(),
            source,
        })?;
        let txn = db.begin_write().map_err(|e| corrupt(e.into()))?;
        {
            let mut tables = Tables::open(&txn).map_err(corrupt)?;
            for entry in replay.iter().flatten() {
                tables.apply(entry).map_err(corrupt)?;
            }
            let mut meta = txn.open_table(META).map_err(|e| corrupt(e.into()))?;
            meta.insert(WAL_EPOCH, epoch + 1)
                .map_err(|e| corrupt(e.into()))?;
        }
        txn.commit().map_err(|e| corrupt(e.into()))?;
        if !replay.is_empty() {
            tracing::info!(
                groups = replay.len(),
                "embedded store: write-ahead log replayed"
            );
        }
        log.restart(epoch + 1).map_err(|source| OpenError::Dir {
            path: wal_path.clone(),
            source,
        })?;

        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel::<Job>();
        let writer_db = Arc::clone(&db);
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || write_loop(&writer_db, log, &rx))
            .map_err(|source| OpenError::Dir {
                path: data_dir.to_owned(),
                source,
            })?;
        Ok(EmbeddedStore {
            db,
            path,
            jobs: Some(tx),
            writer: Some(writer),
            counters: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_txn(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.db.begin_read().map_err(StoreError::backend)
    }

    /// The keys of up to `max` items expired at `now` (a read transaction over the whole table:
    /// the embedded store has no expiry index; a sweep of a million items takes about a second).
    fn expired_keys(&self, now: i64, max: usize) -> Result<Vec<Key>, StoreError> {
        let txn = self.read_txn()?;
        let table = txn.open_table(ITEMS).map_err(StoreError::backend)?;
        let mut keys = Vec::new();
        for entry in table.iter().map_err(StoreError::backend)? {
            let (_, v) = entry.map_err(StoreError::backend)?;
            let item = decode_item(v.value())?;
            let expired = matches!(item.get(super::TTL), Some(super::Attr::N(t)) if *t <= rust_decimal::Decimal::from(now));
            if expired && let Some(key) = Key::of(&item) {
                keys.push(key);
                if keys.len() >= max {
                    break;
                }
            }
        }
        Ok(keys)
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what it holds and exit; joining it releases the
        // file before the caller (a restart, a test reopening the dir) goes on.
        self.jobs.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        validate_key(key)?;
        let txn = self.read_txn()?;
        let table = txn.open_table(ITEMS).map_err(StoreError::backend)?;
        let found = table
            .get(table_key(&key.pk, &key.sk).as_slice())
            .map_err(StoreError::backend)?;
        found.map(|v| decode_item(v.value())).transpose()
    }

    async fn scan_sort_key(
        &self,
        sk: &str,
        after: Option<&Key>,
        limit: u32,
    ) -> Result<(Vec<Item>, Option<Key>), StoreError> {
        let txn = self.read_txn()?;
        let items = txn.open_table(ITEMS).map_err(StoreError::backend)?;
        let start = after.map(|k| table_key(&k.pk, &k.sk));
        let lower = match &start {
            Some(k) => Bound::Excluded(k.as_slice()),
            None => Bound::Unbounded,
        };
        let range = items
            .range::<&[u8]>((lower, Bound::Unbounded))
            .map_err(StoreError::backend)?;
        let want = limit.max(1) as usize;
        let mut out = Vec::new();
        for entry in range {
            let (k, v) = entry.map_err(StoreError::backend)?;
            let matches = k
                .value()
                .split(|b| *b == 0)
                .nth(1)
                .is_some_and(|s| s == sk.as_bytes());
            if !matches {
                continue;
            }
            if out.len() == want {
                let next = out.last().and_then(Key::of);
                return Ok((out, next));
            }
            out.push(decode_item(v.value())?);
        }
        Ok((out, None))
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        validate_query(query)?;
        let txn = self.read_txn()?;
        let items = txn.open_table(ITEMS).map_err(StoreError::backend)?;
        let (lo, hi) = bounds(query);
        let want = query.limit as usize;
        let mut out = Vec::with_capacity(want.min(256));
        let mut more = false;
        match query.index {
            Index::Primary => {
                let range = items.range::<&[u8]>((as_ref(&lo), as_ref(&hi)));
                let range = range.map_err(StoreError::backend)?;
                let iter: Box<dyn Iterator<Item = _>> = if query.forward {
                    Box::new(range)
                } else {
                    Box::new(range.rev())
                };
                for entry in iter {
                    if out.len() == want {
                        more = true;
                        break;
                    }
                    let (_, v) = entry.map_err(StoreError::backend)?;
                    out.push(decode_item(v.value())?);
                }
            }
            index => {
                let gsi = txn
                    .open_table(gsi_table(index))
                    .map_err(StoreError::backend)?;
                let range = gsi.range::<&[u8]>((as_ref(&lo), as_ref(&hi)));
                let range = range.map_err(StoreError::backend)?;
                let iter: Box<dyn Iterator<Item = _>> = if query.forward {
                    Box::new(range)
                } else {
                    Box::new(range.rev())
                };
                for entry in iter {
                    if out.len() == want {
                        more = true;
                        break;
                    }
                    let (k, _) = entry.map_err(StoreError::backend)?;
                    let parts: Vec<&[u8]> = k.value().split(|b| *b == 0).collect();
                    let [_, _, pk, sk] = parts.as_slice() else {
                        return Err(StoreError::backend("malformed index entry"));
                    };
                    let mut base = Vec::with_capacity(pk.len() + sk.len() + 1);
                    base.extend_from_slice(pk);
                    base.push(0);
                    base.extend_from_slice(sk);
                    let item = items
                        .get(base.as_slice())
                        .map_err(StoreError::backend)?
                        .ok_or_else(|| StoreError::backend("index entry without its item"))?;
                    out.push(decode_item(item.value())?);
                }
            }
        }
        let next = if more {
            out.last()
                .and_then(|last| Cursor::after_item(query.index, &query.partition, last))
        } else {
            None
        };
        Ok(Page { items: out, next })
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        validate_batch(&ops)?;
        let ops = prepare(ops)?;
        let (reply, answer) = oneshot::channel();
        let jobs = self
            .jobs
            .as_ref()
            .ok_or_else(|| StoreError::backend("store is closed"))?;
        jobs.send(Job { ops, reply })
            .map_err(|_| StoreError::backend("store writer stopped"))?;
        answer
            .await
            .map_err(|_| StoreError::backend("store writer stopped before answering"))?
    }

    async fn sweep_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut swept = 0u64;
        loop {
            let keys = self.expired_keys(now, 10 * super::MAX_BATCH_OPS)?;
            let done = keys.len() < 10 * super::MAX_BATCH_OPS;
            for chunk in keys.chunks(super::MAX_BATCH_OPS) {
                // Still expired when deleted: a write that renewed the item meanwhile keeps it.
                let ops = chunk
                    .iter()
                    .map(|key| WriteOp::Delete {
                        key: key.clone(),
                        condition: Some(super::Condition::compare(super::TTL, super::Cmp::Le, now)),
                    })
                    .collect::<Vec<_>>();
                match self.write(ops.clone()).await {
                    Ok(()) => swept += ops.len() as u64,
                    // One was renewed meanwhile: the rest one by one.
                    Err(StoreError::ConditionFailed { .. }) => {
                        for op in ops {
                            match self.write(vec![op]).await {
                                Ok(()) => swept += 1,
                                Err(StoreError::ConditionFailed { .. }) => {}
                                Err(e) => return Err(e),
                            }
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            if done {
                return Ok(swept);
            }
        }
    }

    async fn increment(&self, key: &Key, expires_at: i64) -> Result<u64, StoreError> {
        validate_key(key)?;
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: past a size, what has expired is dropped (counters live for a window).
        if counters.len() >= MAX_COUNTERS {
            let now = chrono::Utc::now().timestamp();
            counters.retain(|_, (_, until)| *until > now);
            if counters.len() >= MAX_COUNTERS {
                return Err(StoreError::Throttled {
                    source: "too many rate-limit counters held".into(),
                });
            }
        }
        let entry = counters
            .entry((key.pk.clone(), key.sk.clone()))
            .or_insert((0, expires_at));
        entry.0 += 1;
        entry.1 = entry.1.max(expires_at);
        Ok(entry.0)
    }

    fn backend_name(&self) -> &'static str {
        "embedded"
    }
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Byte bounds of a query's key range, narrowed by its cursor.
fn bounds(q: &Query) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let p = q.partition.as_bytes();
    let with = |tail: &[u8]| {
        let mut v = Vec::with_capacity(p.len() + 1 + tail.len());
        v.extend_from_slice(p);
        v.push(0);
        v.extend_from_slice(tail);
        v
    };
    // 0xFF never occurs in UTF-8, so `prefix ++ 0xFF` is above every key starting with `prefix`,
    // and `x ++ 0x01` is above `x` followed by NUL and more key parts (GSI entries).
    let (mut lo, mut hi) = match &q.range {
        SortRange::All => {
            let mut hi = p.to_vec();
            hi.push(1);
            (Bound::Included(with(b"")), Bound::Excluded(hi))
        }
        SortRange::Prefix(pre) => {
            let mut hi = with(pre.as_bytes());
            hi.push(0xFF);
            (Bound::Included(with(pre.as_bytes())), Bound::Excluded(hi))
        }
        SortRange::Between(a, b) => {
            let mut hi = with(b.as_bytes());
            if q.index != Index::Primary {
                hi.push(1);
                (Bound::Included(with(a.as_bytes())), Bound::Excluded(hi))
            } else {
                (Bound::Included(with(a.as_bytes())), Bound::Included(hi))
            }
        }
    };
    if let Some(c) = &q.cursor {
        let at = match c.table_key() {
            Some(k) => gsi_key(&q.partition, c.sort(), &k.pk, &k.sk),
            None => with(c.sort().as_bytes()),
        };
        if q.forward {
            lo = Bound::Excluded(at);
        } else {
            hi = Bound::Excluded(at);
        }
    }
    (lo, hi)
}

fn table_key(pk: &str, sk: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(pk.len() + sk.len() + 1);
    v.extend_from_slice(pk.as_bytes());
    v.push(0);
    v.extend_from_slice(sk.as_bytes());
    v
}

fn gsi_key(gpk: &str, gsk: &str, pk: &str, sk: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(gpk.len() + gsk.len() + pk.len() + sk.len() + 3);
    for (i, part) in [gpk, gsk, pk, sk].into_iter().enumerate() {
        if i > 0 {
            v.push(0);
        }
        v.extend_from_slice(part.as_bytes());
    }
    v
}

fn gsi_table(index: Index) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    match index {
        Index::Gsi2 => GSI2,
        _ => GSI1,
    }
}

/// The entry `item` has in `index`, if it carries both of the index's key attributes as strings.
fn gsi_entry(index: Index, key: &Key, item: &Item) -> Result<Option<Vec<u8>>, StoreError> {
    let (pa, sa) = index.key_attrs();
    match (item.get(pa), item.get(sa)) {
        (Some(p), Some(s)) => match (p.as_s(), s.as_s()) {
            (Some(p), Some(s)) if !p.is_empty() && !s.is_empty() => {
                if p.contains('\0') || s.contains('\0') {
                    return Err(StoreError::Invalid(
                        "index keys must not contain NUL".into(),
                    ));
                }
                Ok(Some(gsi_key(p, s, &key.pk, &key.sk)))
            }
            _ => Err(StoreError::Invalid(format!(
                "{pa}/{sa} must be non-empty strings"
            ))),
        },
        _ => Ok(None),
    }
}

fn encode_item(item: &Item) -> Result<Vec<u8>, StoreError> {
    postcard::to_stdvec(item).map_err(StoreError::backend)
}

fn decode_item(bytes: &[u8]) -> Result<Item, StoreError> {
    postcard::from_bytes(bytes).map_err(StoreError::backend)
}

/// The three tables of a write transaction, changed through [`wal::Entry`]s.
struct Tables<'t> {
    items: redb::Table<'t, &'static [u8], &'static [u8]>,
    gsi1: redb::Table<'t, &'static [u8], &'static [u8]>,
    gsi2: redb::Table<'t, &'static [u8], &'static [u8]>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t redb::WriteTransaction) -> Result<Tables<'t>, redb::Error> {
        Ok(Tables {
            items: txn.open_table(ITEMS)?,
            gsi1: txn.open_table(GSI1)?,
            gsi2: txn.open_table(GSI2)?,
        })
    }

    fn apply(&mut self, entry: &wal::Entry) -> Result<(), redb::Error> {
        let table = match entry.table {
            wal::Table::Items => &mut self.items,
            wal::Table::Gsi1 => &mut self.gsi1,
            wal::Table::Gsi2 => &mut self.gsi2,
        };
        match &entry.value {
            Some(v) => {
                table.insert(entry.key.as_slice(), v.as_slice())?;
            }
            None => {
                table.remove(entry.key.as_slice())?;
            }
        }
        Ok(())
    }
}

/// Makes redb durable (every commit since the last checkpoint with it) and starts the log's next
/// epoch, stored by that same commit.
fn checkpoint(db: &Database, log: &mut Wal) -> Result<(), redb::Error> {
    let next = log.epoch() + 1;
    let txn = db.begin_write()?;
    txn.open_table(META)?.insert(WAL_EPOCH, next)?;
    // Durability::Immediate (the default): returns after fsync.
    txn.commit()?;
    log.restart(next)?;
    Ok(())
}

/// The writer thread: drain, apply each batch all-or-nothing, log the group durably, commit it,
/// answer; checkpoint every [`CHECKPOINT_EVERY`] or [`CHECKPOINT_BYTES`] of log, and when idle or
/// closing with anything logged.
fn write_loop(db: &Database, mut log: Wal, jobs: &mpsc::Receiver<Job>) {
    let mut last_checkpoint = std::time::Instant::now();
    let try_checkpoint = |log: &mut Wal, last: &mut std::time::Instant| {
        match checkpoint(db, log) {
            Ok(()) => *last = std::time::Instant::now(),
            // The log keeps everything; the next attempt makes it durable.
            Err(e) => tracing::error!(error = %e, "embedded store checkpoint failed"),
        }
    };
    loop {
        let first = match jobs.recv_timeout(CHECKPOINT_IDLE) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if !log.is_empty() {
                    try_checkpoint(&mut log, &mut last_checkpoint);
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        match commit_group(db, &mut log, &group) {
            Ok(outcomes) => {
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    let _ = job.reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batches = group.len(), "embedded store commit failed");
                for job in group {
                    let _ = job
                        .reply
                        .send(Err(StoreError::backend(format!("commit failed: {e}"))));
                }
            }
        }
        if last_checkpoint.elapsed() >= CHECKPOINT_EVERY || log.len() >= CHECKPOINT_BYTES {
            try_checkpoint(&mut log, &mut last_checkpoint);
        }
    }
    if !log.is_empty() {
        try_checkpoint(&mut log, &mut last_checkpoint);
    }
}

/// A key's image within a group: what a later batch of the group reads.
enum Now {
    Absent,
    Item(Item),
    /// A put's image, encoded by its caller; decoded only if a later batch reads it.
    Bytes(Vec<u8>),
}

/// A key the group read or wrote: the index entries its image had before the group, its image
/// now with that image's index entries, and whether the group changed it.
struct Touched {
    before_gsi: [Option<Vec<u8>>; 2],
    now: Now,
    now_gsi: [Option<Vec<u8>>; 2],
    dirty: bool,
}

impl Touched {
    /// The image now, decoded.
    fn current(&mut self) -> Result<Option<&Item>, StoreError> {
        if let Now::Bytes(b) = &self.now {
            self.now = Now::Item(decode_item(b)?);
        }
        Ok(match &self.now {
            Now::Item(i) => Some(i),
            _ => None,
        })
    }
}

/// Every key a group touched, in the order first touched.
#[derive(Default)]
struct Overlay {
    keys: Vec<Vec<u8>>,
    touched: std::collections::HashMap<Vec<u8>, Touched>,
}

impl Overlay {
    /// The key's entry, read from the transaction's table the first time.
    fn entry(
        &mut self,
        items: &redb::Table<&[u8], &[u8]>,
        p: &Prepared,
    ) -> Result<Result<&mut Touched, StoreError>, redb::Error> {
        use std::collections::hash_map::Entry;
        let vacant = match self.touched.entry(p.table_key.clone()) {
            Entry::Occupied(o) => return Ok(Ok(o.into_mut())),
            Entry::Vacant(v) => v,
        };
        let stored = match items.get(p.table_key.as_slice())? {
            Some(v) => match decode_item(v.value()) {
                Ok(i) => Some(i),
                Err(e) => return Ok(Err(e)),
            },
            None => None,
        };
        let gsi = |ix| {
            stored
                .as_ref()
                .and_then(|i| gsi_entry(ix, &p.key, i).ok().flatten())
        };
        let before_gsi = [gsi(Index::Gsi1), gsi(Index::Gsi2)];
        self.keys.push(p.table_key.clone());
        Ok(Ok(vacant.insert(Touched {
            now_gsi: before_gsi.clone(),
            before_gsi,
            now: stored.map_or(Now::Absent, Now::Item),
            dirty: false,
        })))
    }
}

/// Applies every job's batch, in order, to the group's overlay (each batch all-or-nothing, a
/// later one planned over the earlier ones' effect), writes each changed key once into the
/// transaction, appends those changes to the log and waits for its fsync, then commits the
/// transaction (durable through the log). A key many batches change (the tenant's totals, a day,
/// a best seller) is read, encoded and written once per group. The outer error aborts the whole
/// group (nothing was written, nothing is visible); the inner results are each job's own outcome.
fn commit_group(
    db: &Database,
    log: &mut Wal,
    group: &[Job],
) -> Result<Vec<Result<(), StoreError>>, redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::None)?;
    let mut outcomes = Vec::with_capacity(group.len());
    let mut redo: Vec<wal::Entry> = Vec::new();
    {
        let mut tables = Tables::open(&txn)?;
        let mut overlay = Overlay::default();
        for job in group {
            let plan = match plan_batch(&tables.items, &mut overlay, &job.ops)? {
                Ok(plan) => plan,
                Err(e) => {
                    outcomes.push(Err(e));
                    continue;
                }
            };
            for (tk, now, now_gsi) in plan {
                if let Some(t) = overlay.touched.get_mut(&tk) {
                    t.now = now;
                    t.now_gsi = now_gsi;
                    t.dirty = true;
                }
            }
            outcomes.push(Ok(()));
        }
        for tk in overlay.keys {
            let Some(t) = overlay.touched.remove(&tk).filter(|t| t.dirty) else {
                continue;
            };
            for (i, table) in INDEX_TABLES.into_iter().enumerate() {
                let (before, after) = (&t.before_gsi[i], &t.now_gsi[i]);
                if before != after {
                    if let Some(b) = before {
                        redo.push(wal::Entry {
                            table,
                            key: b.clone(),
                            value: None,
                        });
                    }
                    if let Some(a) = after {
                        redo.push(wal::Entry {
                            table,
                            key: a.clone(),
                            value: Some(Vec::new()),
                        });
                    }
                }
            }
            let value = match t.now {
                Now::Absent => None,
                Now::Bytes(b) => Some(b),
                Now::Item(i) => Some(encode_item(&i).map_err(std::io::Error::other)?),
            };
            redo.push(wal::Entry {
                table: wal::Table::Items,
                key: tk,
                value,
            });
        }
        for entry in &redo {
            tables.apply(entry)?;
        }
    }
    if redo.is_empty() {
        // Nothing changed (every batch refused, or only checks): nothing to log or commit
        // (dropping the transaction aborts it).
        return Ok(outcomes);
    }
    log.append(&redo)?;
    txn.commit()?;
    Ok(outcomes)
}

/// A planned write: the table key, the image after with its index entries.
type Planned = (Vec<u8>, Now, [Option<Vec<u8>>; 2]);

/// Reads the current image of every target (the overlay's, else the table's), checks every
/// condition against the state before the batch, and computes the new images. Changes no image,
/// so a failed batch leaves no trace.
fn plan_batch(
    items: &redb::Table<&[u8], &[u8]>,
    overlay: &mut Overlay,
    ops: &[Prepared],
) -> Result<Result<Vec<Planned>, StoreError>, redb::Error> {
    let mut plan = Vec::with_capacity(ops.len());
    for (index, p) in ops.iter().enumerate() {
        let t = match overlay.entry(items, p)? {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        let current = match t.current() {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(c) = p.op.condition()
            && !c.holds(current)
        {
            return Ok(Err(StoreError::ConditionFailed { index }));
        }
        let new = match &p.op {
            WriteOp::Put { .. } => match &p.put {
                Some(e) => (Now::Bytes(e.bytes.clone()), e.gsi.clone()),
                None => return Ok(Err(StoreError::backend("a put was not prepared"))),
            },
            WriteOp::Update { update, .. } => {
                let checked = update
                    .apply_to(&p.key, current)
                    .and_then(|n| Ok((checked_gsi(&p.key, &n)?, n)))
                    .map(|(gsi, n)| (Now::Item(n), gsi));
                match checked {
                    Ok(n) => n,
                    Err(e) => return Ok(Err(e)),
                }
            }
            WriteOp::Delete { .. } => (Now::Absent, [None, None]),
            WriteOp::Check { .. } => continue,
        };
        plan.push((p.table_key.clone(), new.0, new.1));
    }
    Ok(Ok(plan))
}

#[cfg(test)]
mod permission_tests {
    #[cfg(unix)]
    #[test]
    fn the_store_file_and_its_dir_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let data = dir.path().join("data");
        let store = super::EmbeddedStore::open(&data).unwrap_or_else(|e| panic!("{e}"));
        drop(store);
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0)
        };
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join(super::FILE_NAME)), 0o600);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Attr, Condition, PK, SK};

    fn item(pk: &str, sk: &str) -> Item {
        let mut i = Item::new();
        i.insert(PK.into(), Attr::S(pk.into()));
        i.insert(SK.into(), Attr::S(sk.into()));
        i
    }

    #[tokio::test]
    async fn the_sweep_deletes_exactly_the_items_whose_ttl_has_passed() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let with_ttl = |sk: &str, ttl: Option<i64>| {
            let mut i = item("T#1", sk);
            if let Some(t) = ttl {
                i.insert(crate::store::TTL.into(), Attr::from(t));
            }
            WriteOp::Put {
                item: i,
                condition: None,
            }
        };
        let mut ops: Vec<WriteOp> = (0..250)
            .map(|n| with_ttl(&format!("EVENT#old#{n}"), Some(1_000)))
            .collect();
        ops.push(with_ttl("EVENT#due", Some(2_000)));
        ops.push(with_ttl("EVENT#later", Some(2_001)));
        ops.push(with_ttl("PROFILE", None));
        for chunk in ops.chunks(100) {
            store.write(chunk.to_vec()).await.unwrap();
        }
        assert_eq!(store.sweep_expired(2_000).await.unwrap(), 251);
        let left = store
            .query(&Query::partition(Index::Primary, "T#1", SortRange::All).limit(1000))
            .await
            .unwrap();
        let sks: Vec<&str> = left.items.iter().filter_map(|i| i[SK].as_s()).collect();
        assert_eq!(sks, vec!["EVENT#later", "PROFILE"]);
        assert_eq!(store.sweep_expired(2_000).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn an_acknowledged_write_survives_closing_and_reopening_the_store() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            store
                .write(vec![WriteOp::Put {
                    item: item("T#1", "A"),
                    condition: Some(Condition::NotExists),
                }])
                .await
                .unwrap();
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(
            store.get(&Key::new("T#1", "A")).await.unwrap(),
            Some(item("T#1", "A"))
        );
    }

    #[tokio::test]
    async fn writes_acknowledged_since_the_last_checkpoint_are_replayed_from_the_log_after_a_crash()
    {
        let dir = tempfile::tempdir().unwrap();
        let crashed = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        // An item with an index entry, then a change that moves it and a removal: replay must
        // reproduce each in order, the indexes included.
        let ranked = |pk: &str, sk: &str, rank: &str| {
            let mut i = item(pk, sk);
            let (gpk, gsk) = Index::Gsi1.key_attrs();
            i.insert(gpk.into(), super::super::Attr::S("T#1#RANK".into()));
            i.insert(gsk.into(), super::super::Attr::S(rank.into()));
            i
        };
        for (sk, rank) in [("A", "1"), ("B", "2"), ("A", "3")] {
            store
                .write(vec![WriteOp::Put {
                    item: ranked("T#1", sk, rank),
                    condition: None,
                }])
                .await
                .unwrap();
        }
        store
            .write(vec![WriteOp::Delete {
                key: Key::new("T#1", "B"),
                condition: None,
            }])
            .await
            .unwrap();
        // What a power cut could leave on disk now (within the second before a checkpoint): the
        // redb file as of its last durable commit, at most, and the log.
        for name in [FILE_NAME, wal::FILE_NAME] {
            std::fs::copy(dir.path().join(name), crashed.path().join(name)).unwrap();
        }
        assert!(
            std::fs::metadata(crashed.path().join(wal::FILE_NAME))
                .unwrap()
                .len()
                > 0,
            "the writes are in the log, not yet checkpointed"
        );
        drop(store);
        let store = EmbeddedStore::open(crashed.path()).unwrap();
        assert_eq!(
            store.get(&Key::new("T#1", "A")).await.unwrap(),
            Some(ranked("T#1", "A", "3"))
        );
        assert_eq!(store.get(&Key::new("T#1", "B")).await.unwrap(), None);
        let listed = store
            .query(&Query::partition(Index::Gsi1, "T#1#RANK", SortRange::All))
            .await
            .unwrap();
        assert_eq!(listed.items, vec![ranked("T#1", "A", "3")]);
        // Replayed once: the log is empty again and a second opening changes nothing.
        drop(store);
        assert_eq!(
            std::fs::metadata(crashed.path().join(wal::FILE_NAME))
                .unwrap()
                .len(),
            0
        );
    }

    #[tokio::test]
    async fn a_second_process_opening_the_same_data_dir_gets_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let _first = EmbeddedStore::open(dir.path()).unwrap();
        let err = EmbeddedStore::open(dir.path()).err().unwrap();
        assert!(matches!(err, OpenError::Locked { .. }), "{err}");
        assert!(err.to_string().contains(&dir.path().display().to_string()));
    }

    #[tokio::test]
    async fn a_corrupt_store_file_gets_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), vec![0x42u8; 10_000]).unwrap();
        let err = EmbeddedStore::open(dir.path()).err().unwrap();
        assert!(matches!(err, OpenError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains(FILE_NAME));
    }

    #[tokio::test]
    async fn a_data_dir_that_is_a_file_gets_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = EmbeddedStore::open(&file).err().unwrap();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
