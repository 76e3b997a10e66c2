//! The vego side of the WAL: error mapping, durability.

use std::path::PathBuf;

use vego_wal::{SyncMode, Ticket, Wal, WalOptions};

use crate::Durability;

/// The database's log plus what is needed to honour each collection's durability.
pub(crate) struct WalHandle {
    wal: Wal,
    mode: SyncMode,
}

impl WalHandle {
    pub fn new(wal: Wal, mode: SyncMode) -> Self {
        WalHandle { wal, mode }
    }

    /// Whether a failed write or fsync of the log (maybe in the writer's own
    /// work: a periodic fsync, a trim) poisoned it.
    pub fn is_poisoned(&self) -> bool {
        self.wal.is_poisoned()
    }

    /// Counters of the log writer's work since open.
    pub fn stats(&self) -> vego_wal::WalStats {
        self.wal.stats()
    }

    /// Queues a record; called under the database write lock (log order = seq order).
    pub fn submit(&self, seq: u64, payload: Vec<u8>) -> crate::Result<Ticket> {
        Ok(self.wal.submit(seq, payload)?)
    }

    /// Waits for the record, then for an fsync if the collection asks for a
    /// stronger durability than the log's own mode gives.
    pub fn wait(&self, ticket: Ticket, durability: Durability) -> crate::Result<()> {
        ticket.wait()?;
        if durability == Durability::Sync && self.mode != SyncMode::Always {
            self.sync()?;
        }
        Ok(())
    }

    pub fn sync(&self) -> crate::Result<()> {
        Ok(self.wal.sync()?)
    }

    /// Makes every acknowledged write durable: nothing to do when the log
    /// fsyncs before acknowledging (`SyncMode::Always`), else an fsync of
    /// everything written so far. (A flush or compaction calls this first;
    /// under `Always` it must not queue behind a write in progress.)
    pub fn sync_acknowledged(&self) -> crate::Result<()> {
        match self.mode {
            SyncMode::Always => Ok(()),
            SyncMode::Periodic(_) | SyncMode::Never => self.sync(),
        }
    }

    /// Fsyncs and stops the log's writer thread.
    pub fn close(self) -> crate::Result<()> {
        Ok(self.wal.close()?)
    }

    /// Deletes log files whose records all have `seq <= seq`.
    pub fn checkpoint(&self, seq: u64) -> crate::Result<()> {
        Ok(self.wal.checkpoint(seq)?)
    }
}

/// The log's own fsync policy, from the database's default durability.
pub(crate) fn wal_options(durability: Durability, file_bytes_max: u64) -> WalOptions {
    WalOptions { file_bytes_max, sync: sync_mode(durability) }
}

fn sync_mode(d: Durability) -> SyncMode {
    match d {
        Durability::Sync => SyncMode::Always,
        Durability::Periodic(every) => SyncMode::Periodic(every),
        Durability::None => SyncMode::Never,
    }
}

/// Total size of the files in a directory (0 if unreadable).
pub(crate) fn dir_bytes(dir: &PathBuf) -> u64 {
    std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}
