//! The layers of one collection and the operations that span them.
//!
//! Newest first: the active memtable (takes writes), frozen memtables (being
//! flushed, still searchable), then segments. For every id at most one
//! version across all layers is *current*; a write supersedes it, recording
//! its seq on the old row, so readers decide visibility per row in O(1).
//!
//! A `Layers` value is immutable; changes (freeze, flush done) publish a new
//! one through `ArcSwap`, and snapshots pin the one they started with.

use std::sync::Arc;

use crate::memtable::{Latest, Memtable};
use crate::segment::reader::Segment;
use crate::{Document, Result};

/// A memtable being flushed, with the last seq it may contain.
#[derive(Clone)]
pub(crate) struct Frozen {
    pub mem: Arc<Memtable>,
    pub max_seq: u64,
}

#[derive(Clone)]
pub(crate) struct Layers {
    pub active: Arc<Memtable>,
    /// Newest first.
    pub frozen: Vec<Frozen>,
    /// Newest first.
    pub segments: Vec<Arc<Segment>>,
}

/// Where the newest version of an id lives.
enum Found<'a> {
    Mem(Latest),
    Seg(&'a Segment, u32),
}

impl Layers {
    /// The newest version of `id` in frozen memtables or segments (older
    /// layers than the active memtable).
    fn newest_below_active(&self, id: &str) -> Option<Found<'_>> {
        for f in &self.frozen {
            if let Some(l) = f.mem.latest(id) {
                return Some(Found::Mem(l));
            }
        }
        self.segments.iter().find_map(|s| s.find(id).map(|e| Found::Seg(s, e)))
    }

    /// Where `id` stands counting writes still in flight (for preconditions).
    pub fn latest(&self, id: &str) -> Option<Latest> {
        if let Some(l) = self.active.latest(id) {
            return Some(l);
        }
        match self.newest_below_active(id)? {
            Found::Mem(l) => Some(l),
            Found::Seg(s, e) => Some(Latest { seq: s.seqs()[e as usize], live: !s.is_tombstone(e) }),
        }
    }

    /// After the active memtable took the first version of `id` at `seq`:
    /// supersede the current version in an older layer.
    pub fn supersede_below_active(&self, id: &str, seq: u64) {
        for f in &self.frozen {
            if f.mem.supersede(id, seq).is_some() {
                return;
            }
        }
        for s in &self.segments {
            if let Some(e) = s.find(id) {
                if !s.is_tombstone(e) {
                    s.supersede(e, seq);
                }
                return;
            }
        }
    }

    /// Undoes, in the layers older than `mem`, the mark a failed write at
    /// `from` left on the current version of `id`: that version is now
    /// superseded at `to` (the next write of the id) or current again
    /// (`u64::MAX`). Layers are found by identity, so this works on any
    /// `Layers` value, however many freezes, flushes and merges happened
    /// since the write started.
    /// Returns false if `mem` is not one of these layers.
    pub fn resupersede_below(&self, mem: &Arc<Memtable>, id: &str, from: u64, to: u64) -> bool {
        let frozen_below = match self.frozen.iter().position(|f| Arc::ptr_eq(&f.mem, mem)) {
            Some(i) => &self.frozen[i + 1..],
            None if Arc::ptr_eq(&self.active, mem) => &self.frozen[..],
            None => return false,
        };
        if let Some(f) = frozen_below.iter().find(|f| f.mem.latest(id).is_some()) {
            f.mem.resupersede(id, from, to);
            return true;
        }
        if let Some((s, e)) = self.segments.iter().find_map(|s| s.find(id).map(|e| (s, e))) {
            if !s.is_tombstone(e) {
                s.resupersede(e, from, to);
            }
        }
        true
    }

    /// The document `id` as a snapshot at `s` sees it.
    pub fn get(&self, id: &str, s: u64) -> Result<Option<Document>> {
        let mems = std::iter::once(&self.active).chain(self.frozen.iter().map(|f| &f.mem));
        for mem in mems {
            if let Some(v) = mem.version_at(id, s) {
                return Ok(v.row.map(|row| mem.row(row).document(v.seq)));
            }
        }
        for seg in &self.segments {
            let Some(e) = seg.find(id) else { continue };
            let seq = seg.seqs()[e as usize];
            if seq > s {
                continue;
            }
            if seg.is_tombstone(e) {
                return Ok(None);
            }
            return seg.document(e, true, None).map(Some);
        }
        Ok(None)
    }

    /// Where `id` lives in every layer (see `Snapshot::explain`).
    pub fn explain(&self, id: &str, s: u64) -> String {
        let mut out = format!("snapshot seq {s};");
        let mems = std::iter::once(("active", &self.active)).chain(self.frozen.iter().map(|f| ("frozen", &f.mem)));
        for (i, (kind, mem)) in mems.enumerate() {
            for (node, row) in mem.rows().filter(|(_, r)| &*r.id == id) {
                let linked = mem.graph().with_vector(node, |_| ()).is_some();
                out += &format!(
                    " {kind} memtable {i} row {node}: seq {} superseded_at {} visible {} linked {linked} \
                     (dead rows: prefix {:?});",
                    row.seq,
                    row.superseded_at.load(std::sync::atomic::Ordering::Acquire),
                    row.visible_at(s),
                    mem.visible_prefix(s)
                );
            }
        }
        for (i, seg) in self.segments.iter().enumerate() {
            if let Some(e) = seg.find(id) {
                out += &format!(
                    " segment {i} ({}) entry {e}: seq {} tombstone {} superseded_at {} visible {};",
                    seg.path().display(),
                    seg.seqs()[e as usize],
                    seg.is_tombstone(e),
                    if seg.is_tombstone(e) { 0 } else { seg.superseded_at(e) },
                    !seg.is_tombstone(e) && seg.visible_at(e, s)
                );
            }
        }
        out
    }

    /// Documents visible at `s` (exact; walks every layer).
    pub fn live_at(&self, s: u64) -> u64 {
        let mem: u64 =
            std::iter::once(&self.active).chain(self.frozen.iter().map(|f| &f.mem)).map(|m| m.live_at(s)).sum();
        let seg: u64 =
            self.segments.iter().map(|seg| (0..seg.rows()).filter(|&r| seg.visible_at(r, s)).count() as u64).sum();
        mem + seg
    }
}
