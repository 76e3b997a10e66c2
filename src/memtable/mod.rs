//! The memtable: every write not yet in a segment, searchable.
//!
//! * `rows` — one row per put, append-only, indexed by row number; the row
//!   number is also the document's node id in the memtable's HNSW graph.
//! * `chains` — id → version chain (seq, row or tombstone), newest last, in a
//!   `crossbeam-skiplist` map so readers never lock the whole table.
//!
//! Rows replayed from the WAL at open are appended *unlinked*: open does
//! not wait for their graph (200k replayed 384-d rows took 396 s to link).
//! Until the indexer has linked them ([`Memtable::link_deferred`], run in
//! the background), searches scan them exactly ([`Memtable::unlinked_below`]).
//!
//! A row is visible to a snapshot at `s` when `row.seq <= s < row.superseded_at`:
//! the superseding seq is recorded on the old row when an update or delete is
//! applied, so searches test visibility in O(1) per graph node.

mod chain;
mod row;

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_skiplist::SkipMap;
use parking_lot::Mutex;

pub(crate) use chain::Version;
pub(crate) use row::Row;

use crate::hnsw::{Hnsw, HnswParams, Metric};
use crate::model::options::IndexParams;
use crate::Document;

pub(crate) struct Memtable {
    rows: boxcar::Vec<Row>,
    chains: SkipMap<Arc<str>, Mutex<chain::Chain>>,
    graph: Hnsw,
    bytes: AtomicU64,
    /// Smallest seq applied here (`u64::MAX` while empty): WAL records below
    /// it are not needed for this memtable.
    min_seq: AtomicU64,
    /// Rows ever superseded, deleted or undone (only grows). While it is 0,
    /// a row is visible at `s` exactly when `row.seq <= s`, and since rows
    /// are appended in seq order the visible rows are a prefix.
    dead_rows: AtomicU64,
    /// Rows below this number may not be linked into the graph yet (they
    /// were replayed at open; see the module docs); 0 once all are.
    unlinked_below: AtomicU32,
}

/// What [`Memtable::undo`] removed, for the repair of older layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Undone {
    /// The removed version was the oldest of its id in this memtable.
    pub was_first: bool,
    /// Seq of the version that followed it here, if any.
    pub next_seq: Option<u64>,
}

/// Where an id stands, counting writes not yet visible (writers check this).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Latest {
    pub seq: u64,
    pub live: bool,
}

impl Memtable {
    pub fn new(dimension: usize, metric: Metric, params: IndexParams) -> Memtable {
        let hnsw_params = HnswParams {
            m: params.m,
            ef_construction: params.ef_construction,
            seed: 0x5eed_7e60,
            quantize: params.quantize,
        };
        Memtable {
            rows: boxcar::Vec::new(),
            chains: SkipMap::new(),
            graph: Hnsw::new(dimension, metric, hnsw_params),
            bytes: AtomicU64::new(0),
            min_seq: AtomicU64::new(u64::MAX),
            dead_rows: AtomicU64::new(0),
            unlinked_below: AtomicU32::new(0),
        }
    }

    /// Newest version of `id`, visible or not (`None` if never written).
    pub fn latest(&self, id: &str) -> Option<Latest> {
        let entry = self.chains.get(id)?;
        let chain = entry.value().lock();
        chain.newest().map(|v| Latest { seq: v.seq, live: v.row.is_some() })
    }

    /// Appends a put at `seq`; returns the new row (its graph node id) and
    /// whether this memtable already held a version of the id (if not, an
    /// older layer's version must be superseded by the caller). The row is
    /// invisible until the caller publishes `seq`.
    pub fn apply_put(&self, seq: u64, doc: Document) -> (u32, bool) {
        let id: Arc<str> = Arc::from(doc.id.as_str());
        self.bytes.fetch_add(row::approx_bytes(&doc) as u64, Ordering::Relaxed);
        let row = self.rows.push(Row::new(seq, id.clone(), doc.vector, doc.metadata));
        let row = u32::try_from(row).expect("memtable row count exceeds u32");
        let had = self.push_version(id, Version { seq, row: Some(row) });
        (row, had)
    }

    /// Appends a tombstone at `seq`; returns whether this memtable already held the id.
    pub fn apply_delete(&self, seq: u64, id: &str) -> bool {
        self.bytes.fetch_add(64 + id.len() as u64, Ordering::Relaxed);
        self.push_version(Arc::from(id), Version { seq, row: None })
    }

    fn push_version(&self, id: Arc<str>, v: Version) -> bool {
        self.min_seq.fetch_min(v.seq, Ordering::Relaxed);
        let entry = self.chains.get_or_insert_with(id, || Mutex::new(chain::Chain::default()));
        let mut chain = entry.value().lock();
        let had = chain.newest().is_some();
        if let Some(prev) = chain.newest().and_then(|n| n.row) {
            // Counted before the row changes so no reader can see the
            // change while still trusting the prefix rule.
            self.dead_rows.fetch_add(1, Ordering::SeqCst);
            self.rows[prev as usize].superseded_at.store(v.seq, Ordering::Release);
        }
        chain.push(v);
        had
    }

    /// The newest version of `id` if its row is current, for superseding it
    /// from a newer layer.
    pub fn supersede(&self, id: &str, seq: u64) -> Option<Latest> {
        let entry = self.chains.get(id)?;
        let chain = entry.value().lock();
        let newest = chain.newest()?;
        if let Some(row) = newest.row {
            let r = &self.rows[row as usize];
            if r.superseded_at.load(Ordering::Acquire) == u64::MAX {
                // Counted before the row changes (see push_version).
                self.dead_rows.fetch_add(1, Ordering::SeqCst);
            }
            r.superseded_at.fetch_min(seq, Ordering::AcqRel);
        }
        Some(Latest { seq: newest.seq, live: newest.row.is_some() })
    }

    /// Moves the mark a newer layer's write left on the current version of
    /// `id` from `from` to `to` (`u64::MAX`: current again), if it is still
    /// `from`: the undo of a failed write that superseded it.
    pub fn resupersede(&self, id: &str, from: u64, to: u64) {
        let Some(entry) = self.chains.get(id) else { return };
        let chain = entry.value().lock();
        if let Some(row) = chain.newest().and_then(|n| n.row) {
            let _ =
                self.rows[row as usize].superseded_at.compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// The newest version of every id, in id order (what a flush writes).
    pub fn newest_versions(&self) -> impl Iterator<Item = (Arc<str>, Version)> + '_ {
        self.chains.iter().filter_map(|e| Some((e.key().clone(), e.value().lock().newest()?)))
    }

    /// The version of `id` a snapshot at `s` sees, if this memtable has one.
    pub fn version_at(&self, id: &str, s: u64) -> Option<Version> {
        self.chains.get(id)?.value().lock().visible_at(s)
    }

    /// Removes the version written at `seq` (a write whose WAL record failed).
    /// Only ever called for invisible versions, so no reader can notice.
    /// Returns `None` if there was no such version, else what the caller must
    /// repair in older layers: if the removed version was the first of `id`
    /// here, it had superseded the current version below, which must now be
    /// superseded by the next version (its seq) or by nothing (`None`).
    pub fn undo(&self, seq: u64, id: &str) -> Option<Undone> {
        let entry = self.chains.get(id)?;
        let mut chain = entry.value().lock();
        let (removed, prev, next) = chain.remove(seq)?;
        self.dead_rows.fetch_add(1, Ordering::SeqCst);
        let next_seq = next.map(|n| n.seq);
        if let Some(prev_row) = prev.and_then(|p| p.row) {
            self.rows[prev_row as usize].superseded_at.store(next_seq.unwrap_or(u64::MAX), Ordering::Release);
        }
        if let Some(row) = removed.row {
            // The row stays allocated (rows are append-only) but can never be visible.
            self.rows[row as usize].superseded_at.store(0, Ordering::Release);
        }
        Some(Undone { was_first: prev.is_none(), next_seq })
    }

    /// Links the row's vector into the graph; it must not be published before this returns.
    pub fn index_row(&self, row: u32) {
        let r = &self.rows[row as usize];
        self.graph.insert_at(row, &r.index_vector(self.graph.metric()));
    }

    /// Leaves every row appended so far to [`Memtable::link_deferred`]
    /// (WAL replay appends without linking). Searches scan them exactly
    /// until then.
    pub fn defer_linking(&self) {
        let rows = u32::try_from(self.rows.count()).expect("memtable row count exceeds u32");
        self.unlinked_below.store(rows, Ordering::Release);
    }

    /// Rows below this number may still be unlinked (0: every row is linked
    /// or being linked by its writer, as usual).
    pub fn unlinked_below(&self) -> u32 {
        self.unlinked_below.load(Ordering::Acquire)
    }

    /// Whether `row` is linked into the graph (searchable by a graph walk).
    pub fn is_linked(&self, row: u32) -> bool {
        self.graph.is_linked(row)
    }

    /// Links the rows [`Memtable::defer_linking`] left unlinked, on every
    /// core, calling `progress` per row; stops early (returning `false`)
    /// once `stop()` says so, checked between rows. Only one call may run
    /// at a time (the indexer is one worker).
    pub fn link_deferred(&self, stop: &(dyn Fn() -> bool + Sync), progress: &(dyn Fn() + Sync)) -> bool {
        let below = self.unlinked_below() as usize;
        let next = AtomicUsize::new(0);
        let work = || loop {
            if stop() {
                return;
            }
            let row = next.fetch_add(1, Ordering::Relaxed);
            if row >= below {
                return;
            }
            if !self.graph.is_linked(row as u32) {
                self.index_row(row as u32);
            }
            progress();
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(work);
            }
            work();
        });
        if stop() && next.load(Ordering::Relaxed) < below {
            return false;
        }
        self.unlinked_below.store(0, Ordering::Release);
        true
    }

    /// The row, by row number.
    pub fn row(&self, row: u32) -> &Row {
        &self.rows[row as usize]
    }

    /// When every row visible at `s` is simply "row number below the
    /// result" (nothing was ever superseded, deleted or undone), that bound;
    /// `None` otherwise. Lets unfiltered searches skip the per-node row
    /// lookup.
    pub fn visible_prefix(&self, s: u64) -> Option<u32> {
        if self.dead_rows.load(Ordering::SeqCst) != 0 {
            return None;
        }
        // Rows are appended under the write lock in seq order (and replayed
        // in log order), so `seq <= s` holds for a prefix. Rows still being
        // appended (`get` = None) belong to unpublished writes.
        let (mut lo, mut hi) = (0usize, self.rows.count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.rows.get(mid).is_some_and(|r| r.seq <= s) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        u32::try_from(lo).ok()
    }

    /// Number of rows ever appended (including superseded and undone ones).
    pub fn row_count(&self) -> usize {
        self.rows.count()
    }

    /// Iterates all rows with their numbers.
    pub fn rows(&self) -> impl Iterator<Item = (u32, &Row)> {
        self.rows.iter().map(|(i, r)| (i as u32, r))
    }

    /// Documents visible at snapshot `s` whose version lives here.
    pub fn live_at(&self, s: u64) -> u64 {
        self.rows.iter().filter(|(_, r)| r.visible_at(s)).count() as u64
    }

    /// Graph nodes whose row no version chain refers to: writes undone after
    /// their WAL append failed. They are invisible to every snapshot and the
    /// next flush drops them (it writes chain versions only). O(rows): for
    /// statistics, not for hot paths.
    pub fn orphan_rows(&self) -> u64 {
        let orphan = |(row, r): &(usize, &Row)| {
            let row = *row as u32;
            let in_graph = self.graph.with_vector(row, |_| ()).is_some();
            in_graph && !self.chains.get(&*r.id).is_some_and(|e| e.value().lock().holds_row(row))
        };
        self.rows.iter().filter(orphan).count() as u64
    }

    /// Smallest seq applied here, if any.
    pub fn min_seq(&self) -> Option<u64> {
        Some(self.min_seq.load(Ordering::Relaxed)).filter(|&s| s != u64::MAX)
    }

    /// True if no write was ever applied.
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
    }

    pub fn graph(&self) -> &Hnsw {
        &self.graph
    }

    /// Approximate bytes of documents held (vectors + metadata + ids).
    pub fn data_bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CollectionConfig;

    #[test]
    fn visible_prefix_holds_until_a_row_dies() {
        let m = Memtable::new(2, Metric::L2, CollectionConfig::new(2).index_params());
        assert_eq!(m.visible_prefix(0), Some(0));
        for (seq, id) in [(1, "a"), (2, "b"), (3, "c")] {
            let (row, _) = m.apply_put(seq, Document::new(id, vec![seq as f32, 0.0]));
            m.index_row(row);
        }
        assert_eq!(m.visible_prefix(0), Some(0));
        assert_eq!(m.visible_prefix(2), Some(2));
        assert_eq!(m.visible_prefix(9), Some(3));
        m.apply_delete(4, "b");
        assert_eq!(m.visible_prefix(9), None, "a deleted row breaks the prefix rule");
    }

    #[test]
    fn an_undone_write_is_an_orphan_and_updates_are_not() {
        let m = Memtable::new(2, Metric::L2, CollectionConfig::new(2).index_params());
        for (seq, id) in [(1, "a"), (2, "a"), (3, "b")] {
            let (row, _) = m.apply_put(seq, Document::new(id, vec![seq as f32, 0.0]));
            m.index_row(row);
        }
        m.apply_delete(4, "a");
        assert_eq!(m.orphan_rows(), 0, "superseded and deleted rows stay in their chains");
        m.undo(3, "b");
        assert_eq!(m.orphan_rows(), 1, "the undone row is in the graph but in no chain");
    }

    #[test]
    fn superseding_from_a_newer_layer_breaks_the_prefix_rule() {
        let m = Memtable::new(2, Metric::L2, CollectionConfig::new(2).index_params());
        let (row, _) = m.apply_put(1, Document::new("a", vec![1.0, 0.0]));
        m.index_row(row);
        assert_eq!(m.visible_prefix(9), Some(1));
        m.supersede("a", 5);
        assert_eq!(m.visible_prefix(9), None);
    }
}
