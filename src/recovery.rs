//! Open-time recovery: rebuild every collection's memtable from the WAL.

use std::collections::HashMap;
use std::path::Path;

use vego_manifest::Manifest;
use vego_wal::Wal;

use crate::collection::CollectionCore;
use crate::db::WAL_DIR;
use crate::error::io_err;
use crate::options::Options;
use crate::wal_glue::{self, WalHandle};
use crate::wal_record::{self, WalOp};
use crate::{Error, Result};

pub(crate) struct Recovered {
    pub wal: WalHandle,
    pub last_seq: u64,
    pub report: vego_wal::RecoveryReport,
    pub collections: Vec<(String, CollectionCore)>,
}

pub(crate) fn recover(dir: &Path, opts: &Options, manifest: &Manifest) -> Result<Recovered> {
    let state = manifest.current();
    let mut by_id: HashMap<u64, CollectionCore> = state
        .collections
        .iter()
        .map(|(name, e)| (e.id, CollectionCore::new(name.clone(), e.id, wal_glue::config_from_record(&e.config))))
        .collect();
    let flushed: HashMap<u64, u64> = state.collections.values().map(|e| (e.id, e.flushed_seq)).collect();
    let from_seq = flushed.values().copied().min().unwrap_or(0).min(state.wal_checkpoint_seq) + 1;
    let wal_dir = dir.join(WAL_DIR);
    std::fs::create_dir_all(&wal_dir).map_err(io_err(&wal_dir))?;
    let wal_opts = wal_glue::wal_options(opts.defaults.durability, opts.wal_file_bytes);
    let mode = wal_opts.sync;
    let mut pending_rows: Vec<(u64, u32)> = Vec::new();
    let mut last_seq = state.last_seq;
    let visit = |seq: u64, payload: &[u8]| -> Result<()> {
        last_seq = last_seq.max(seq);
        let batch = wal_record::decode(payload).map_err(|e| Error::Corruption {
            file: wal_dir.clone(),
            offset: e.offset as u64,
            detail: format!("payload of WAL record seq {seq} does not decode: {}", e.detail),
        })?;
        let Some(core) = by_id.get_mut(&batch.collection_id) else {
            return Ok(()); // the collection was dropped after this write
        };
        if seq <= flushed[&batch.collection_id] {
            return Ok(());
        }
        for op in batch.ops {
            match op {
                WalOp::Put { id, vector, metadata } => {
                    let doc = crate::Document { id, vector, metadata, version: 0 };
                    pending_rows.push((batch.collection_id, core.memtable.apply_put(seq, doc)));
                }
                WalOp::Delete { id } => core.memtable.apply_delete(seq, &id),
            }
        }
        Ok(())
    };
    let (wal, report) = Wal::open(&wal_dir, wal_opts, from_seq, visit)?;
    index_all(&by_id, &pending_rows);
    let collections = by_id.into_values().map(|c| (c.name.clone(), c)).collect();
    Ok(Recovered { wal: WalHandle::new(wal, mode), last_seq, report, collections })
}

/// Rebuilds the memtable graphs of replayed rows on every core.
fn index_all(by_id: &HashMap<u64, CollectionCore>, rows: &[(u64, u32)]) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(cid, row)) = rows.get(i) else { break };
                by_id[&cid].memtable.index_row(row);
            });
        }
    });
}
