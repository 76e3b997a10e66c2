//! The state a database shares with all its collections (`DbShared`): the
//! manifest, the write lock with the next sequence number and the WAL,
//! visibility, poisoning, the collection cores by id, the background worker
//! and segment I/O; and its shutdown.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use vego_manifest::Manifest;

use crate::engine::background::Background;
use crate::engine::core::CollectionCore;
use crate::engine::visibility::Visibility;
use crate::engine::wal::WalHandle;
use crate::model::options::Options;
use crate::model::stats::IoStats;
use crate::segment::io::IoConfig;
use crate::{Error, RecoveryReport, Result};

/// State shared by a database and all its collections.
pub(crate) struct DbShared {
    pub dir: PathBuf,
    pub options: Options,
    pub manifest: Manifest,
    /// The write lock: sequence numbers are handed out and WAL records queued
    /// under it, so the log order is the sequence order.
    pub write: Mutex<WriteState>,
    pub visibility: Visibility,
    pub closed: AtomicBool,
    /// Set when a WAL write or fsync failed: the on-disk state of in-flight
    /// writes is unknown, so writes stop until reopen (reads continue).
    pub poisoned: Mutex<Option<String>>,
    pub recovery: RecoveryReport,
    /// Every live collection's data, by collection id (for WAL checkpoints).
    pub cores: RwLock<HashMap<u64, Arc<CollectionCore>>>,
    /// Next segment file id.
    pub next_file_id: AtomicU64,
    /// The background flusher; stopped and joined at close.
    pub flusher: Background,
    /// The background merger, its own thread so that a long merge never
    /// holds up the flushes writers wait for; stopped and joined at close.
    pub compactor: Background,
    /// Links the rows WAL replay appended unlinked (see `maintenance::link_job`).
    pub indexer: Background,
    /// How segment files are read.
    pub io: IoConfig,
    /// Bytes of segment files written (flushes and compactions) since open.
    pub segment_bytes_written: AtomicU64,
    /// The lock file, held while open (released at shutdown).
    pub lock: Mutex<Option<File>>,
}

pub(crate) struct WriteState {
    pub next_seq: u64,
    pub wal: Option<Arc<WalHandle>>,
}

impl DbShared {
    /// I/O and cache counters since open.
    pub fn io_stats(&self) -> IoStats {
        let wal = self.write.lock().wal.as_ref().map(|w| w.stats()).unwrap_or_default();
        IoStats {
            wal_records: wal.records,
            wal_writes: wal.batches,
            wal_fsyncs: wal.fsyncs,
            wal_bytes_written: wal.bytes,
            segment_bytes_written: self.segment_bytes_written.load(Ordering::Relaxed),
            block_cache_hits: self.io.cache.hits.load(Ordering::Relaxed),
            block_cache_misses: self.io.cache.misses.load(Ordering::Relaxed),
            page_cache_hits: self.io.pages.hits.load(Ordering::Relaxed),
            page_cache_misses: self.io.pages.misses.load(Ordering::Relaxed),
        }
    }

    /// Error unless the database is open and writable.
    pub fn check_writable(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        self.check_not_poisoned()
    }

    /// `Poisoned` once a WAL failure left the fate of a write unknown: from
    /// then on nothing is written (no log record, no segment, no manifest
    /// edit) until reopen, which recovers exactly what the log holds.
    pub fn check_not_poisoned(&self) -> Result<()> {
        match self.poisoned.lock().as_ref() {
            Some(why) => Err(Error::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    pub fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Under the write lock: `Poisoned` if the log poisoned itself (a failed
    /// fsync no write was waiting for — a periodic one, a trim's), and the
    /// database with it, so that every write — even one that would write
    /// nothing, such as an update of a missing id — and every flush and
    /// compaction is refused alike.
    pub fn check_wal(&self, w: &WriteState) -> Result<()> {
        if w.wal.as_ref().is_some_and(|wal| wal.is_poisoned()) {
            self.poison("the write-ahead log is poisoned by a failed write or fsync".into());
            return self.check_not_poisoned();
        }
        Ok(())
    }

    pub fn poison(&self, why: String) {
        self.poisoned.lock().get_or_insert(why);
    }
}
