//! Open-time recovery: open every collection's segments, work out which of
//! their rows newer segments replaced, delete files the manifest does not
//! name, and replay the WAL into fresh memtables.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use vego_manifest::Manifest;
use vego_wal::Wal;

use crate::codec::config::config_from_record;
use crate::codec::wal_record::{self, WalOp};
use crate::engine::apply::{apply_delete, apply_puts};
use crate::engine::core::CollectionCore;
use crate::engine::layout::segment_file_name;
use crate::engine::layout::{SEGMENTS_DIR, WAL_DIR};
use crate::engine::wal::{self, WalHandle};
use crate::model::error::io_err;
use crate::model::options::Options;
use crate::segment::io::IoConfig;
use crate::segment::reader::Segment;
use crate::{Error, Result};

pub(crate) struct Recovered {
    pub wal: WalHandle,
    pub last_seq: u64,
    pub next_file_id: u64,
    pub report: vego_wal::RecoveryReport,
    pub cores: Vec<Arc<CollectionCore>>,
}

pub(crate) fn recover(dir: &Path, opts: &Options, manifest: &Manifest, io: &IoConfig) -> Result<Recovered> {
    let state = manifest.current();
    let seg_dir = dir.join(SEGMENTS_DIR);
    io.fs.create_dir_all(&seg_dir).map_err(io_err(&seg_dir))?;
    let named: HashSet<String> =
        state.collections.values().flat_map(|c| c.segments.iter().map(|s| segment_file_name(s.file_id))).collect();
    let max_file_id = remove_unnamed_files(&*io.fs, &seg_dir, &named)?;
    let mut last_seq = state.last_seq;
    let mut by_id: HashMap<u64, Arc<CollectionCore>> = HashMap::new();
    for (name, e) in &state.collections {
        let segments = e
            .segments
            .iter()
            .map(|s| Segment::open(&seg_dir.join(segment_file_name(s.file_id)), io).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        supersede_across(&segments)?;
        last_seq = segments.iter().map(|s| s.header.max_seq).fold(last_seq, u64::max);
        let config = config_from_record(&manifest.path(), &e.config)?;
        by_id.insert(e.id, Arc::new(CollectionCore::new(name.clone(), e.id, config, seg_dir.clone(), segments)));
    }
    let flushed: HashMap<u64, u64> = state.collections.values().map(|e| (e.id, e.flushed_seq)).collect();
    // Records at or below the checkpoint are in segments (or belong to
    // dropped collections); so are each collection's records at or below
    // its flushed seq.
    let from_seq = flushed.values().copied().min().unwrap_or(0).max(state.wal_checkpoint_seq) + 1;
    last_seq = last_seq.max(state.wal_checkpoint_seq);
    let wal_dir = dir.join(WAL_DIR);
    io.fs.create_dir_all(&wal_dir).map_err(io_err(&wal_dir))?;
    let wal_opts = wal::wal_options(opts.defaults.durability, opts.wal_file_bytes);
    let mode = wal_opts.sync;
    let mut replayed_into: HashSet<u64> = HashSet::new();
    let mut applied = 0u64;
    let visit = |seq: u64, payload: &[u8]| -> Result<()> {
        last_seq = last_seq.max(seq);
        // Cheap skip of what needs no decoding: dropped or flushed collections.
        if let Some(cid) = wal_record::peek_collection_id(payload) {
            if flushed.get(&cid).is_none_or(|&f| seq <= f) {
                return Ok(());
            }
        }
        let batch = wal_record::decode(payload).map_err(|e| Error::Corruption {
            file: wal_dir.clone(),
            offset: e.offset as u64,
            detail: format!("payload of WAL record seq {seq} does not decode: {}", e.detail),
        })?;
        let Some(core) = by_id.get(&batch.collection_id) else {
            return Ok(()); // the collection was dropped after this write
        };
        if seq <= flushed[&batch.collection_id] {
            return Ok(()); // already in a segment
        }
        applied += 1;
        let t = core.layers.load();
        let mut puts = Vec::new();
        for op in batch.ops {
            match op {
                WalOp::Put { id, vector, metadata } => puts.push(crate::Document { id, vector, metadata, version: 0 }),
                WalOp::Delete { id } => apply_delete(core, &t, seq, &id),
            }
        }
        if !puts.is_empty() {
            apply_puts(core, &t, seq, puts);
            replayed_into.insert(batch.collection_id);
        }
        Ok(())
    };
    let (wal, mut report) = Wal::open_with_fs(&wal_dir, wal_opts, io.fs.clone(), from_seq, visit)?;
    // What was applied to memtables, not what the log visited.
    report.replayed = applied;
    // Open does not wait for the replayed rows' graph: they are searchable
    // by exact scan until the indexer (started by `lifecycle::open`) has
    // linked them (200k replayed 384-d rows used to hold open for 396 s).
    for cid in &replayed_into {
        by_id[cid].layers.load().active.defer_linking();
    }
    Ok(Recovered {
        wal: WalHandle::new(wal, mode),
        last_seq,
        next_file_id: state.next_file_id.max(max_file_id + 1),
        report,
        cores: by_id.into_values().collect(),
    })
}

/// Deletes temp files and segments the manifest does not name (left by a
/// crash mid-flush or by a dropped collection); returns the highest file id seen.
fn remove_unnamed_files(fs: &dyn vego_storage::Storage, seg_dir: &Path, named: &HashSet<String>) -> Result<u64> {
    let mut max_id = 0;
    for entry in std::fs::read_dir(seg_dir).map_err(io_err(seg_dir))? {
        let entry = entry.map_err(io_err(seg_dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(".vseg").and_then(|n| n.parse::<u64>().ok()) {
            max_id = max_id.max(id);
        }
        if name.ends_with(".tmp") || !named.contains(&name) {
            fs.remove_file(&entry.path()).map_err(io_err(entry.path()))?;
        }
    }
    Ok(max_id)
}

/// Marks rows of older segments that a newer segment replaced or deleted.
/// Segments are newest first; each id is looked up in the older ones only.
fn supersede_across(segments: &[Arc<Segment>]) -> Result<()> {
    for (j, newer) in segments.iter().enumerate() {
        let entries = newer.header.rows + newer.header.tombstones;
        for e in 0..entries as u32 {
            let id = newer.id(e)?;
            let seq = newer.seqs()[e as usize];
            for older in &segments[j + 1..] {
                if let Some(o) = older.find(id) {
                    if !older.is_tombstone(o) {
                        older.supersede(o, seq);
                    }
                    break;
                }
            }
        }
    }
    Ok(())
}
