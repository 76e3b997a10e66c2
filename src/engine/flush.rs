//! Flush: a full memtable is frozen (still searchable) and written to an
//! immutable segment file in the background while a fresh memtable takes
//! writes; then the manifest records the segment, the frozen memtable is
//! swapped out and covered WAL files are deleted.
//!
//! Crash safety: the segment is written under a temp name and renamed; it is
//! part of the database only once the manifest edit naming it is durable.
//! Files not named by the manifest are deleted at open. Until the manifest
//! moves `flushed_seq`, the WAL still holds every write of the memtable.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use vego_manifest::{CollectionEntry, ManifestState};

use crate::engine::core::CollectionCore;
use crate::engine::inner::CollectionInner;
use crate::engine::install;
use crate::engine::layers::{Frozen, Layers};
use crate::engine::segment_out::{build_graph, write_segment};
use crate::engine::shared::DbShared;
use crate::hnsw::FlatGraph;
use crate::memtable::Memtable;
use crate::model::limits::MEMTABLES_UNFLUSHED_MAX;
use crate::model::progress::{Reporter, Task};
use crate::segment::build::{RowIn, SegmentIn};
use crate::segment::reader::Segment;
use crate::{Error, Result};

/// Freezes the active memtable if it outgrew `memtable_bytes`, and asks the
/// background worker to flush it.
pub(crate) fn maybe_freeze(coll: &Arc<CollectionInner>) {
    let limit = coll.core.config.memtable_bytes_limit();
    if coll.core.layers.load().active.data_bytes() < limit {
        return;
    }
    if freeze_if(coll, |m| m.data_bytes() >= limit) {
        coll.db.flusher.request(coll.core.id);
    }
}

/// Before a write: while the collection's unflushed memtables hold more than
/// [`MEMTABLES_UNFLUSHED_MAX`] × its memtable limit, wait for the background
/// flush; while flushes keep failing, refuse the write (`Error::Io`, naming
/// the failure) instead of growing memory and the WAL to replay without
/// bound. Writes resume once a flush succeeds (a retry, or `flush()`).
pub(crate) fn wait_for_room(coll: &CollectionInner) -> Result<()> {
    let core = &coll.core;
    let limit = core.config.memtable_bytes_limit().saturating_mul(MEMTABLES_UNFLUSHED_MAX);
    loop {
        let unflushed = unflushed_bytes(&core.layers.load());
        if unflushed <= limit {
            return Ok(());
        }
        coll.db.check_writable()?;
        let mut state = core.flush_state.lock();
        if let Some(why) = &state.last_error {
            let detail = format!(
                "write refused: {unflushed} bytes of collection {:?} wait to be flushed (limit {limit}) and \
                 flushes are failing: {why}",
                core.name
            );
            return Err(Error::Io { path: core.segments_dir.clone(), source: std::io::Error::other(detail) });
        }
        coll.db.flusher.request(core.id);
        core.flushed.wait_for(&mut state, std::time::Duration::from_millis(100));
    }
}

/// Bytes of documents in the active and frozen memtables.
fn unflushed_bytes(t: &Layers) -> u64 {
    t.active.data_bytes() + t.frozen.iter().map(|f| f.mem.data_bytes()).sum::<u64>()
}

/// Freezes the active memtable (if it holds anything).
pub(crate) fn freeze(coll: &CollectionInner) {
    freeze_core(&coll.db, &coll.core);
}

pub(crate) fn freeze_core(db: &DbShared, core: &CollectionCore) {
    freeze_core_if(db, core, |m| !m.is_empty());
}

fn freeze_if(coll: &CollectionInner, cond: impl Fn(&Memtable) -> bool) -> bool {
    freeze_core_if(&coll.db, &coll.core, cond)
}

fn freeze_core_if(db: &DbShared, core: &CollectionCore, cond: impl Fn(&Memtable) -> bool) -> bool {
    let w = db.write.lock();
    let t = core.layers.load_full();
    if !cond(&t.active) {
        return false;
    }
    let mut frozen = vec![Frozen { mem: t.active.clone(), max_seq: w.next_seq - 1 }];
    frozen.extend(t.frozen.iter().cloned());
    core.layers.store(Arc::new(Layers { active: Arc::new(core.new_memtable()), frozen, segments: t.segments.clone() }));
    true
}

/// Writes every frozen memtable of the collection to a segment, oldest first.
pub(crate) fn flush_frozen(coll: &CollectionInner) -> Result<()> {
    flush_frozen_core(&coll.db, &coll.core)
}

pub(crate) fn flush_frozen_core(db: &DbShared, core: &CollectionCore) -> Result<()> {
    let _one_at_a_time = core.flush_lock.lock();
    let result = flush_all_frozen(db, core);
    // Writers waiting for room learn the outcome (see `wait_for_room`).
    core.flush_state.lock().last_error = result.as_ref().err().map(|e| e.to_string());
    core.flushed.notify_all();
    result
}

fn flush_all_frozen(db: &DbShared, core: &CollectionCore) -> Result<()> {
    while let Some(f) = core.layers.load().frozen.last().cloned() {
        if core.dropped.load(Ordering::Acquire) {
            return Ok(());
        }
        flush_one(db, core, &f)?;
    }
    Ok(())
}

fn flush_one(db: &DbShared, core: &CollectionCore, f: &Frozen) -> Result<()> {
    core.visibility.wait_finished(f.max_seq);
    db.check_not_poisoned()?;
    // The segment makes this memtable's writes durable; every earlier write
    // of the shared log (other collections' too) must be durable first, or
    // a power loss could keep these and lose those: not a prefix. Cheap
    // under `Durability::Sync` (nothing is unsynced).
    sync_wal(db)?;
    let (mem_rows, tombstones) = newest_versions(&f.mem);
    let mem = &f.mem;
    let input = SegmentIn {
        dimension: core.config.dimension as u32,
        metric: crate::codec::distance::code(core.config.distance),
        rows: mem_rows
            .iter()
            .map(|&r| {
                let row = mem.row(r);
                RowIn { id: &row.id, seq: row.seq, vector: &row.vector, metadata: &row.metadata }
            })
            .collect(),
        tombstones: tombstones.iter().map(|(id, seq)| (id.as_ref(), *seq)).collect(),
        graph: segment_graph(db, core, mem, &mem_rows),
    };
    let (seg, entry) = write_segment(db, core, &input)?;
    let (file_id, path) = (entry.file_id, seg.path().to_path_buf());
    // Once this edit is durable, every record up to here is in a segment.
    let covered = covered_seq(db, Some(&f.mem));
    let collection = |c: &mut CollectionEntry| {
        c.segments.insert(0, entry.clone());
        c.flushed_seq = c.flushed_seq.max(f.max_seq);
    };
    let state = |s: &mut ManifestState| {
        s.last_seq = s.last_seq.max(f.max_seq);
        s.wal_checkpoint_seq = s.wal_checkpoint_seq.max(covered);
    };
    if !install::record(db, core, file_id, &path, collection, state)? {
        return Ok(()); // dropped meanwhile
    }
    swap_in(db, core, f, seg, &mem_rows);
    checkpoint_wal(db)
}

/// The graph over the rows a flush writes: the memtable's own graph when it
/// holds exactly those rows (bulk loads), else a fresh build on every core.
fn segment_graph(db: &DbShared, core: &CollectionCore, mem: &Memtable, mem_rows: &[u32]) -> FlatGraph {
    let n = mem_rows.len();
    let progress = Reporter::new(db.options.progress.as_ref(), Task::Flush, &core.name, n as u64);
    // (Not while replayed rows wait for the indexer: a partial graph is no graph.)
    let whole = n == mem.row_count() && mem.unlinked_below() == 0 && mem.graph().len() == n;
    if whole && mem_rows.iter().enumerate().all(|(i, &r)| i as u32 == r) {
        if let Some(g) = mem.graph().to_flat() {
            progress.add(n as u64);
            return g;
        }
    }
    // Never stopped: a flush is how close makes the memtables durable.
    build_graph(core, n, |i| mem.row(mem_rows[i]).index_vector(core.metric()), &progress, &|| false)
        .expect("a build that is never stopped completes")
}

/// The rows (in memtable order) and tombstones a flush writes.
fn newest_versions(mem: &Memtable) -> (Vec<u32>, Vec<(Arc<str>, u64)>) {
    let mut rows = Vec::new();
    let mut tombstones = Vec::new();
    for (id, v) in mem.newest_versions() {
        match v.row {
            Some(r) => rows.push(r),
            None => tombstones.push((id, v.seq)),
        }
    }
    rows.sort_unstable();
    (rows, tombstones)
}

/// Swaps the frozen memtable for its segment, carrying over which rows newer
/// writes have superseded (under the write lock, so none slips between).
fn swap_in(db: &DbShared, core: &CollectionCore, f: &Frozen, seg: Arc<Segment>, mem_rows: &[u32]) {
    install::swap_layers(db, core, |t| {
        for (seg_row, &mem_row) in mem_rows.iter().enumerate() {
            let at = f.mem.row(mem_row).superseded_at.load(Ordering::Acquire);
            if at != u64::MAX {
                seg.supersede(seg_row as u32, at);
            }
        }
        let frozen = t.frozen.iter().filter(|x| !Arc::ptr_eq(&x.mem, &f.mem)).cloned().collect();
        let mut segments = vec![seg];
        segments.extend(t.segments.iter().cloned());
        Layers { active: t.active.clone(), frozen, segments }
    });
}

/// Makes every acknowledged write durable (a no-op under `Durability::Sync`,
/// whose writes are fsynced before they are acknowledged). A failed fsync
/// poisons the write path, as in the write path itself. (Before a flush or
/// compaction makes anything durable that depends on earlier writes.)
pub(crate) fn sync_wal(db: &DbShared) -> Result<()> {
    let Some(wal) = db.write.lock().wal.clone() else { return Ok(()) };
    wal.sync_acknowledged().inspect_err(|e| db.poison(format!("WAL fsync before a flush failed: {e}")))
}

/// Deletes WAL files whose every record is in a segment (or belongs to a
/// dropped collection); the log rotates away from an active file that is
/// covered too, so the WAL holds only what the memtables hold.
pub(crate) fn checkpoint_wal(db: &DbShared) -> Result<()> {
    let Some(wal) = db.write.lock().wal.clone() else { return Ok(()) };
    wal.checkpoint(covered_seq(db, None))
}

/// The highest seq such that every record at or below it is in a segment:
/// one below the oldest write still only in a memtable (`flushing`, whose
/// segment is being recorded, counts as flushed). A lower bound whenever
/// it is computed: seqs only grow and memtables only leave.
fn covered_seq(db: &DbShared, flushing: Option<&Arc<Memtable>>) -> u64 {
    let w = db.write.lock();
    let unflushed = db.cores.read().values().filter_map(|c| oldest_unflushed(c, flushing)).min();
    unflushed.map_or(w.next_seq - 1, |s| s - 1)
}

fn oldest_unflushed(core: &CollectionCore, flushing: Option<&Arc<Memtable>>) -> Option<u64> {
    let t = core.layers.load();
    std::iter::once(&t.active)
        .chain(t.frozen.iter().map(|f| &f.mem))
        .filter(|m| flushing.is_none_or(|x| !Arc::ptr_eq(x, m)))
        .filter_map(|m| m.min_seq())
        .min()
}
