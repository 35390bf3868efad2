//! The embedded store's write-ahead log: what makes a group commit durable without redb's fsync of
//! every page the group touched.
//!
//! Each group's effect is appended as one record of redo entries (table, key, new bytes or a
//! removal: whole images, so replaying a record twice changes nothing) and the log is fdatasynced;
//! only then is the redb transaction committed, without durability, and the callers answered. So
//! nothing is visible to a reader, nor acknowledged, before it is on disk. Every few seconds a
//! checkpoint makes redb durable (one fsync of the pages many groups dirtied) and starts a new
//! *epoch*: the epoch is stored in redb by that same durable commit, and every record carries the
//! epoch it belongs to, so after a crash only the records written since the last checkpoint are
//! replayed, whether or not the log's truncation reached the disk.
//!
//! Record: `magic u32 | epoch u64 | seq u64 | len u32 | sha256(payload)[..8] | payload`, all
//! little-endian; `payload` is postcard of `Vec<Entry>`. Replay stops at the first record that is
//! torn (short, bad checksum), from another epoch, or out of sequence: a record is acknowledged only
//! after the fdatasync that follows its append, so anything after a bad record was never answered.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MAGIC: u32 = 0x4C41_5731; // "1WAL"
const HEADER: usize = 4 + 8 + 8 + 4 + 8;
/// The largest record replay accepts (a group is at most 1,024 batches of 100 items of 400 KB,
/// far past anything real; this bounds what a corrupt length can make replay allocate).
const MAX_RECORD: usize = 1 << 30;

/// The log file inside the data dir.
pub const FILE_NAME: &str = "insights.wal";

/// Which redb table an entry is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Table {
    Items,
    Gsi1,
    Gsi2,
}

/// One change to one key: its new bytes, or `None` for a removal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub table: Table,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// The log, open for appending in one epoch.
pub struct Wal {
    file: File,
    epoch: u64,
    next_seq: u64,
    len: u64,
}

fn checksum(payload: &[u8]) -> [u8; 8] {
    let d = Sha256::digest(payload);
    let mut c = [0u8; 8];
    c.copy_from_slice(&d[..8]);
    c
}

/// The records of `epoch` at the start of `bytes`, in order, up to the first bad one.
pub fn records(bytes: &[u8], epoch: u64) -> Vec<Vec<Entry>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    let mut seq = 0u64;
    while let Some(head) = bytes.get(at..at + HEADER) {
        let u32_at =
            |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&head[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let len = u32_at(20) as usize;
        if u32_at(0) != MAGIC || u64_at(4) != epoch || u64_at(12) != seq || len > MAX_RECORD {
            break;
        }
        let Some(payload) = bytes.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        if head[24..32] != checksum(payload) {
            break;
        }
        let Ok(entries) = postcard::from_bytes::<Vec<Entry>>(payload) else {
            break;
        };
        out.push(entries);
        at += HEADER + len;
        seq += 1;
    }
    out
}

impl Wal {
    /// Opens (creating) the log at `path` and reads the records of `epoch` it holds.
    pub fn open(path: &Path, epoch: u64) -> std::io::Result<(Wal, Vec<Vec<Entry>>)> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let found = records(&bytes, epoch);
        let wal = Wal {
            file,
            epoch,
            next_seq: 0,
            len: 0,
        };
        Ok((wal, found))
    }

    /// The epoch this log is appending in (the one redb's last durable commit stored).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Bytes appended in this epoch.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one record and waits until it is on disk.
    pub fn append(&mut self, entries: &[Entry]) -> std::io::Result<()> {
        let payload = postcard::to_stdvec(entries).map_err(std::io::Error::other)?;
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|l| (*l as usize) <= MAX_RECORD)
            .ok_or_else(|| std::io::Error::other("write-ahead record too large"))?;
        let mut record = Vec::with_capacity(HEADER + payload.len());
        record.extend_from_slice(&MAGIC.to_le_bytes());
        record.extend_from_slice(&self.epoch.to_le_bytes());
        record.extend_from_slice(&self.next_seq.to_le_bytes());
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&checksum(&payload));
        record.extend_from_slice(&payload);
        self.file.seek(SeekFrom::Start(self.len))?;
        self.file.write_all(&record)?;
        self.file.sync_data()?;
        self.len += record.len() as u64;
        self.next_seq += 1;
        Ok(())
    }

    /// Starts `epoch` (after the checkpoint that stored it): later records carry it, from the start
    /// of the file. The truncation needs no sync: records of an older epoch are never replayed.
    pub fn restart(&mut self, epoch: u64) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.epoch = epoch;
        self.next_seq = 0;
        self.len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(k: u8, v: Option<u8>) -> Entry {
        Entry {
            table: Table::Items,
            key: vec![k],
            value: v.map(|v| vec![v; 3]),
        }
    }

    #[test]
    fn appended_records_are_read_back_in_order_and_only_in_their_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let (mut wal, found) = Wal::open(&path, 7).unwrap();
        assert!(found.is_empty());
        wal.append(&[entry(1, Some(1))]).unwrap();
        wal.append(&[entry(2, None), entry(3, Some(3))]).unwrap();
        drop(wal);
        let (_, found) = Wal::open(&path, 7).unwrap();
        assert_eq!(
            found,
            vec![
                vec![entry(1, Some(1))],
                vec![entry(2, None), entry(3, Some(3))]
            ]
        );
        let (_, other) = Wal::open(&path, 8).unwrap();
        assert!(
            other.is_empty(),
            "a record of another epoch is never replayed"
        );
    }

    #[test]
    fn after_a_restart_whose_truncation_was_lost_the_old_records_are_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let (mut wal, _) = Wal::open(&path, 1).unwrap();
        for i in 0..5 {
            wal.append(&[entry(i, Some(i))]).unwrap();
        }
        let old = std::fs::read(&path).unwrap();
        wal.restart(2).unwrap();
        wal.append(&[entry(9, Some(9))]).unwrap();
        drop(wal);
        // As if the truncation never reached the disk: the new record over the old file's start.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&old[bytes.len()..]);
        assert_eq!(records(&bytes, 2), vec![vec![entry(9, Some(9))]]);
    }

    proptest! {
        /// A crash can leave any prefix of the appended bytes, or garbage past a record: replay
        /// yields exactly the whole records before the cut, never a partial or a made-up one.
        #[test]
        fn a_torn_log_replays_exactly_its_whole_records(
            groups in proptest::collection::vec(proptest::collection::vec((any::<u8>(), proptest::option::of(any::<u8>())), 1..5), 1..8),
            cut in any::<proptest::sample::Index>(),
            garbage in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(FILE_NAME);
            let (mut wal, _) = Wal::open(&path, 3).unwrap();
            let mut ends = Vec::new();
            let groups: Vec<Vec<Entry>> = groups
                .into_iter()
                .map(|g| g.into_iter().map(|(k, v)| entry(k, v)).collect())
                .collect();
            for g in &groups {
                wal.append(g).unwrap();
                ends.push(wal.len() as usize);
            }
            let bytes = std::fs::read(&path).unwrap();
            let at = cut.index(bytes.len() + 1);
            let mut torn = bytes[..at].to_vec();
            torn.extend_from_slice(&garbage);
            let whole = ends.iter().filter(|e| **e <= at).count();
            prop_assert_eq!(records(&torn, 3), groups[..whole].to_vec());
        }
    }
}
