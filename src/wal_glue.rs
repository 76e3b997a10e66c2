//! The vego side of the WAL: error mapping, durability, config records.

use std::path::PathBuf;
use std::time::Duration;

use vego_manifest::CollectionRecordConfig;
use vego_wal::{SyncMode, Ticket, Wal, WalOptions};

use crate::model::options::IndexParams;
use crate::{CollectionConfig, Distance, Durability, Quantization};

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

/// The on-disk code of a metric (manifest and segment headers).
pub(crate) fn distance_code(d: Distance) -> u8 {
    match d {
        Distance::L2 => 0,
        Distance::Cosine => 1,
        Distance::InnerProduct => 2,
    }
}

pub(crate) fn config_to_record(cfg: &CollectionConfig, p: IndexParams) -> CollectionRecordConfig {
    let (durability, durability_interval_ms) = match cfg.durability {
        Durability::Sync => (0, 0),
        Durability::Periodic(d) => (1, d.as_millis().max(1) as u64),
        Durability::None => (2, 0),
    };
    CollectionRecordConfig {
        dimension: cfg.dimension as u32,
        distance: distance_code(cfg.distance),
        m: p.m as u32,
        ef_construction: p.ef_construction as u32,
        ef_search: p.ef_search as u32,
        durability,
        durability_interval_ms,
        memtable_bytes: cfg.memtable_bytes_limit(),
        quantization: match cfg.quantization {
            Quantization::None => 0,
            Quantization::Int8 => 1,
        },
    }
}

/// The persisted record back to a config with every parameter explicit, so a
/// reopened collection never re-derives different M/ef values.
pub(crate) fn config_from_record(r: &CollectionRecordConfig) -> CollectionConfig {
    CollectionConfig {
        dimension: r.dimension as usize,
        distance: match r.distance {
            1 => Distance::Cosine,
            2 => Distance::InnerProduct,
            _ => Distance::L2,
        },
        m: Some(r.m as usize),
        ef_construction: Some(r.ef_construction as usize),
        ef_search: Some(r.ef_search as usize),
        expected_size: None,
        adaptive: false,
        durability: match r.durability {
            1 => Durability::Periodic(Duration::from_millis(r.durability_interval_ms)),
            2 => Durability::None,
            _ => Durability::Sync,
        },
        memtable_bytes: Some(r.memtable_bytes),
        quantization: if r.quantization == 1 { Quantization::Int8 } else { Quantization::None },
    }
}

/// Total size of the files in a directory (0 if unreadable).
pub(crate) fn dir_bytes(dir: &PathBuf) -> u64 {
    std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_record_round_trips_with_resolved_parameters() {
        let cfg = CollectionConfig::new(384).distance(Distance::Cosine).durability(Durability::None);
        let p = cfg.index_params();
        let back = config_from_record(&config_to_record(&cfg, p));
        assert_eq!(back.dimension, 384);
        assert_eq!(back.distance, Distance::Cosine);
        assert_eq!(back.durability, Durability::None);
        assert_eq!(back.index_params(), p);
    }
}
