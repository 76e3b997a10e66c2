//! The memtable: every write not yet in a segment, searchable.
//!
//! * `rows` — one row per put, append-only, indexed by row number; the row
//!   number is also the document's node id in the memtable's HNSW graph.
//! * `chains` — id → version chain (seq, row or tombstone), newest last, in a
//!   `crossbeam-skiplist` map so readers never lock the whole table.
//!
//! A row is visible to a snapshot at `s` when `row.seq <= s < row.superseded_at`:
//! the superseding seq is recorded on the old row when an update or delete is
//! applied, so searches test visibility in O(1) per graph node.

mod chain;
mod row;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_skiplist::SkipMap;
use parking_lot::Mutex;

pub(crate) use chain::Version;
pub(crate) use row::Row;

use crate::hnsw::{Hnsw, HnswParams, Metric};
use crate::options::IndexParams;
use crate::Document;

pub(crate) struct Memtable {
    rows: boxcar::Vec<Row>,
    chains: SkipMap<Arc<str>, Mutex<chain::Chain>>,
    graph: Hnsw,
    live: AtomicI64,
    bytes: AtomicU64,
    /// Rows ever superseded, deleted or undone (only grows). While it is 0,
    /// a row is visible at `s` exactly when `row.seq <= s`, and since rows
    /// are appended in seq order the visible rows are a prefix.
    dead_rows: AtomicU64,
}

/// Where an id stands, counting writes not yet visible (writers check this).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Latest {
    pub seq: u64,
    pub live: bool,
}

impl Memtable {
    pub fn new(dimension: usize, metric: Metric, params: IndexParams) -> Memtable {
        let hnsw_params = HnswParams { m: params.m, ef_construction: params.ef_construction, seed: 0x5eed_7e60 };
        Memtable {
            rows: boxcar::Vec::new(),
            chains: SkipMap::new(),
            graph: Hnsw::new(dimension, metric, hnsw_params),
            live: AtomicI64::new(0),
            bytes: AtomicU64::new(0),
            dead_rows: AtomicU64::new(0),
        }
    }

    /// Newest version of `id`, visible or not (`None` if never written).
    pub fn latest(&self, id: &str) -> Option<Latest> {
        let entry = self.chains.get(id)?;
        let chain = entry.value().lock();
        chain.newest().map(|v| Latest { seq: v.seq, live: v.row.is_some() })
    }

    /// Appends a put at `seq`; returns the new row (its graph node id). The row
    /// is invisible until the caller publishes `seq`.
    pub fn apply_put(&self, seq: u64, doc: Document) -> u32 {
        let id: Arc<str> = Arc::from(doc.id.as_str());
        self.bytes.fetch_add(row::approx_bytes(&doc) as u64, Ordering::Relaxed);
        let row = self.rows.push(Row::new(seq, id.clone(), doc.vector, doc.metadata));
        let row = u32::try_from(row).expect("memtable row count exceeds u32");
        self.push_version(id, Version { seq, row: Some(row) });
        row
    }

    /// Appends a tombstone at `seq`.
    pub fn apply_delete(&self, seq: u64, id: &str) {
        self.push_version(Arc::from(id), Version { seq, row: None });
    }

    fn push_version(&self, id: Arc<str>, v: Version) {
        let entry = self.chains.get_or_insert_with(id, || Mutex::new(chain::Chain::default()));
        let mut chain = entry.value().lock();
        let was_live = chain.newest().is_some_and(|n| n.row.is_some());
        if let Some(prev) = chain.newest().and_then(|n| n.row) {
            // Counted before the row changes so no reader can see the
            // change while still trusting the prefix rule.
            self.dead_rows.fetch_add(1, Ordering::SeqCst);
            self.rows[prev as usize].superseded_at.store(v.seq, Ordering::Release);
        }
        let is_live = v.row.is_some();
        chain.push(v);
        self.live.fetch_add(is_live as i64 - was_live as i64, Ordering::Relaxed);
    }

    /// Removes the version written at `seq` (a write whose WAL record failed).
    /// Only ever called for invisible versions, so no reader can notice.
    pub fn undo(&self, seq: u64, id: &str) {
        let Some(entry) = self.chains.get(id) else { return };
        let mut chain = entry.value().lock();
        let was_live = chain.newest().is_some_and(|n| n.row.is_some());
        let Some((removed, prev, next)) = chain.remove(seq) else { return };
        self.dead_rows.fetch_add(1, Ordering::SeqCst);
        if let Some(prev_row) = prev.and_then(|p| p.row) {
            let until = next.map_or(u64::MAX, |n| n.seq);
            self.rows[prev_row as usize].superseded_at.store(until, Ordering::Release);
        }
        if let Some(row) = removed.row {
            // The row stays allocated (rows are append-only) but can never be visible.
            self.rows[row as usize].superseded_at.store(0, Ordering::Release);
        }
        let is_live = chain.newest().is_some_and(|n| n.row.is_some());
        self.live.fetch_add(is_live as i64 - was_live as i64, Ordering::Relaxed);
    }

    /// Links the row's vector into the graph; it must not be published before this returns.
    pub fn index_row(&self, row: u32) {
        let r = &self.rows[row as usize];
        self.graph.insert_at(row, &r.index_vector(self.graph.metric()));
    }

    /// The document `id` as of snapshot `s`.
    pub fn get(&self, id: &str, s: u64) -> Option<Document> {
        let entry = self.chains.get(id)?;
        let version = entry.value().lock().visible_at(s)?;
        version.row.map(|row| self.rows[row as usize].document(version.seq))
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

    /// Live documents counting not-yet-visible writes.
    pub fn live(&self) -> u64 {
        self.live.load(Ordering::Relaxed).max(0) as u64
    }

    /// Live documents at snapshot `s` (exact; walks every chain).
    pub fn live_at(&self, s: u64) -> u64 {
        self.chains.iter().filter(|e| e.value().lock().visible_at(s).is_some_and(|v| v.row.is_some())).count() as u64
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
            let row = m.apply_put(seq, Document::new(id, vec![seq as f32, 0.0]));
            m.index_row(row);
        }
        assert_eq!(m.visible_prefix(0), Some(0));
        assert_eq!(m.visible_prefix(2), Some(2));
        assert_eq!(m.visible_prefix(9), Some(3));
        m.apply_delete(4, "b");
        assert_eq!(m.visible_prefix(9), None, "a deleted row breaks the prefix rule");
    }
}
