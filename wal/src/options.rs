//! Tuning knobs for [`crate::Wal`].

use std::time::Duration;

/// When the log fsyncs, and therefore what a completed [`crate::Ticket`] promises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// Every batch is written and fsynced before its tickets complete.
    /// Concurrent submitters share one write and one fsync (group commit).
    Always,
    /// Tickets complete once the batch is written to the OS; the writer thread
    /// fsyncs at most once per interval (and on [`crate::Wal::sync`], close and
    /// rotation). A crash may lose up to one interval of acknowledged records.
    Periodic(Duration),
    /// Tickets complete once written to the OS; fsync happens only on
    /// [`crate::Wal::sync`], close and rotation.
    Never,
}

/// Default rotation threshold: 64 MiB.
pub const FILE_BYTES_MAX_DEFAULT: u64 = 64 << 20;

/// Options for [`crate::Wal::open`].
#[derive(Clone, Debug)]
pub struct WalOptions {
    /// Rotate to a new file once the active file has reached this many bytes.
    /// Checked before each batch, so a file may exceed it by one batch; a
    /// single record may be larger than this (up to [`crate::RECORD_BYTES_MAX`]).
    pub file_bytes_max: u64,
    /// Durability policy.
    pub sync: SyncMode,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { file_bytes_max: FILE_BYTES_MAX_DEFAULT, sync: SyncMode::Always }
    }
}
