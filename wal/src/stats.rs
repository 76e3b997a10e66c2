//! Counters describing the writer's work, for tests and metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of [`crate::Wal::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Records written successfully since open.
    pub records: u64,
    /// Batches written successfully (one `write` call each).
    pub batches: u64,
    /// fsyncs issued on log files (including rotation and rollback), whether
    /// or not they succeeded. Directory fsyncs are not counted.
    pub fsyncs: u64,
    /// Record bytes (headers + payloads) written successfully.
    pub bytes: u64,
}

/// Live counters, updated by the writer thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub records: AtomicU64,
    pub batches: AtomicU64,
    pub fsyncs: AtomicU64,
    pub bytes: AtomicU64,
}

impl Counters {
    /// Adds one successful batch.
    pub(crate) fn add_batch(&self, records: u64, bytes: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts one fsync attempt.
    pub(crate) fn add_fsync(&self) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a snapshot (fields are individually, not jointly, consistent).
    pub(crate) fn snapshot(&self) -> WalStats {
        WalStats {
            records: self.records.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}
