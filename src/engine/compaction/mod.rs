//! Compaction: merge a collection's segments into one (`policy` says when,
//! `merge` which rows survive), keeping only the
//! versions a current or future snapshot can see, dropping tombstones (no
//! older segment remains to hide), and building the merged graph.
//!
//! Snapshots taken before the swap keep the old segments (they pin them);
//! an old file is deleted when the last snapshot using it drops. Crash
//! safety is the flush's: the merged file is renamed into place, and becomes part of the database with one manifest
//! edit that also forgets the old files; leftovers are deleted at open.

mod graph;
mod merge;
pub(crate) mod policy;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::engine::core::CollectionCore;
use crate::engine::install;
use crate::engine::layers::Layers;
use crate::engine::layout::segment_file_name;
use crate::engine::segment_out::write_segment;
use crate::engine::shared::DbShared;
use crate::model::stats::CompactionStats;
use crate::segment::build::{RowIn, SegmentIn};
use crate::segment::reader::Segment;
use crate::{Error, Result};
use merge::{collect, Collected, Kept};
use policy::{Merge, SegmentInfo};

/// Does the background policy want a merge?
pub(crate) fn wanted(db: &DbShared, core: &CollectionCore) -> bool {
    db.options.compaction_policy.choose(&infos(&core.layers.load().segments)).is_some()
}

/// Merges every segment of the collection into one (`Collection::compact`).
pub(crate) fn compact(db: &DbShared, core: &CollectionCore) -> Result<CompactionStats> {
    Ok(merge_chosen(db, core, policy::all)?.unwrap_or_else(|| {
        let segments = core.layers.load().segments.clone();
        let bytes: u64 = segments.iter().map(|s| s.file_bytes()).sum();
        let n = segments.len() as u64;
        CompactionStats { segments_in: n, segments_out: n, bytes_in: bytes, bytes_out: bytes, ..Default::default() }
    }))
}

/// Runs the merge the background policy wants, if any.
pub(crate) fn compact_wanted(db: &DbShared, core: &CollectionCore) -> Result<Option<CompactionStats>> {
    merge_chosen(db, core, |s| db.options.compaction_policy.choose(s))
}

/// What the policy knows of each segment (newest first).
fn infos(segments: &[Arc<Segment>]) -> Vec<SegmentInfo> {
    segments
        .iter()
        .map(|s| SegmentInfo { rows: s.rows() as u64, dead: s.dead_rows(), tombstones: s.header.tombstones })
        .collect()
}

/// Under the collection's compaction lock, merges what `pick` chooses from
/// the current segments; `None` if it chooses nothing.
fn merge_chosen(
    db: &DbShared,
    core: &CollectionCore,
    pick: impl FnOnce(&[SegmentInfo]) -> Option<Merge>,
) -> Result<Option<CompactionStats>> {
    let _one_at_a_time = core.compaction_lock.lock();
    // Under the lock: `close` takes it once after setting `closed`, so no
    // merge starts after close returned.
    db.check_writable()?;
    // Flushes may put new segments in front meanwhile; the run is these.
    let segments = core.layers.load().segments.clone();
    let Some(m) = pick(&infos(&segments)) else { return Ok(None) };
    if !m.fits(segments.len()) {
        let detail = format!("the compaction policy chose {} segments from {} of {}", m.count, m.first, segments.len());
        return Err(crate::model::error::invalid(detail));
    }
    let inputs = &segments[m.first..m.first + m.count];
    let older = &segments[m.first + m.count..];
    let mut stats = CompactionStats {
        segments_in: inputs.len() as u64,
        bytes_in: inputs.iter().map(|s| s.file_bytes()).sum(),
        ..CompactionStats::default()
    };
    // Every segment row is at or below the visible seq (flushes publish first);
    // snapshots from now on see at least `vis`, so a version superseded at or
    // below it is invisible to all of them.
    let vis = core.visibility.visible();
    // Dropping a version superseded at or below `vis` is safe only once the
    // superseding write is durable: under `Periodic` / `None` it may still
    // be only in the page cache, and a power loss would then lose both
    // versions. Every write at or below `vis` has its record written; sync.
    crate::engine::flush::sync_wal(db)?;
    let Collected { kept, tombstones } = collect(inputs, older, vis, &mut stats)?;
    // Close gives up a running merge instead of waiting for it (103.8 s at
    // 1M rows): nothing of it was written yet, and its inputs stay.
    let closing = || db.closed.load(Ordering::Acquire);
    let graph = graph::merged_graph(db, core, inputs, &kept, &mut stats, &closing).ok_or(Error::Closed)?;
    let input = SegmentIn {
        dimension: core.config.dimension as u32,
        metric: crate::codec::distance::code(core.config.distance),
        rows: kept.iter().map(|k| RowIn { id: &k.id, seq: k.seq, vector: &k.raw, metadata: &k.metadata }).collect(),
        tombstones: tombstones.iter().map(|(id, seq)| (id.as_str(), *seq)).collect(),
        graph,
    };
    let (merged, entry) = write_segment(db, core, &input)?;
    let (file_id, path) = (entry.file_id, merged.path().to_path_buf());
    let names: HashSet<String> =
        inputs.iter().map(|s| s.path().file_name().unwrap().to_string_lossy().into_owned()).collect();
    // The merged segment takes its inputs' place in the newest-first order.
    let collection = |c: &mut vego_manifest::CollectionEntry| {
        let at = c.segments.iter().position(|e| names.contains(&segment_file_name(e.file_id)));
        let at = at.expect("the run's segments are in the manifest: only merges remove them, one at a time");
        c.segments.retain(|e| !names.contains(&segment_file_name(e.file_id)));
        c.segments.insert(at, entry.clone());
    };
    if !install::record(db, core, file_id, &path, collection, |_| {})? {
        return Ok(Some(stats)); // dropped meanwhile
    }
    swap_in(db, core, inputs, merged.clone(), &kept);
    // Files go when the last snapshot still reading them drops.
    inputs.iter().for_each(|s| s.mark_obsolete());
    stats.segments_out = 1;
    stats.bytes_out = merged.file_bytes();
    Ok(Some(stats))
}

/// Swaps the merged segment in under the write lock, carrying over which
/// kept rows newer writes superseded meanwhile.
fn swap_in(db: &DbShared, core: &CollectionCore, old: &[Arc<Segment>], merged: Arc<Segment>, kept: &[Kept]) {
    install::swap_layers(db, core, |t| {
        for (row, k) in kept.iter().enumerate() {
            let at = old[k.from.0].superseded_at(k.from.1);
            if at != u64::MAX {
                merged.supersede(row as u32, at);
            }
        }
        let is_input = |s: &Arc<Segment>| old.iter().any(|o| Arc::ptr_eq(o, s));
        let at = t.segments.iter().position(is_input).expect("only merges remove segments, one at a time");
        let mut segments: Vec<Arc<Segment>> = t.segments.iter().filter(|s| !is_input(s)).cloned().collect();
        segments.insert(at, merged);
        Layers { active: t.active.clone(), frozen: t.frozen.clone(), segments }
    });
}
