//! Compaction: merge a collection's segments into one (`policy` says when,
//! `merge` which rows survive), keeping only the
//! versions a current or future snapshot can see, dropping tombstones (no
//! older segment remains to hide), and building the merged graph.
//!
//! Snapshots taken before the swap keep the old segments (they pin them);
//! an old file is deleted when the last snapshot using it drops. Crash
//! safety is the flush's: the merged file is renamed into place, and becomes part of the database with one manifest
//! edit that also forgets the old files; leftovers are deleted at open.

mod merge;
pub(crate) mod policy;

use std::collections::HashSet;
use std::sync::Arc;

use crate::engine::core::CollectionCore;
use crate::engine::install;
use crate::engine::layers::Layers;
use crate::engine::layout::segment_file_name;
use crate::engine::segment_out::{build_graph, write_segment};
use crate::engine::shared::DbShared;
use crate::model::progress::{Reporter, Task};
use crate::model::stats::CompactionStats;
use crate::segment::build::{RowIn, SegmentIn};
use crate::segment::reader::Segment;
use crate::Result;
use merge::{collect, Kept};
use policy::{PolicyConfig, SegmentInfo};

/// Does the background policy want a compaction?
pub(crate) fn wanted(core: &CollectionCore) -> bool {
    policy::choose(&infos(&core.layers.load().segments), &PolicyConfig::default()).is_some()
}

/// What the policy knows of each segment (newest first).
fn infos(segments: &[Arc<Segment>]) -> Vec<SegmentInfo> {
    segments
        .iter()
        .map(|s| SegmentInfo {
            rows: s.rows() as u64,
            dead: (0..s.rows()).filter(|&r| !s.is_current(r)).count() as u64,
            tombstones: s.header.tombstones,
        })
        .collect()
}

/// Merges every segment of the collection into one.
pub(crate) fn compact(db: &DbShared, core: &CollectionCore) -> Result<CompactionStats> {
    let _one_at_a_time = core.compaction_lock.lock();
    // Under the lock: `close` takes it once after setting `closed`, so no
    // merge starts after close returned.
    db.check_writable()?;
    let segments = core.layers.load().segments.clone();
    let mut stats = CompactionStats {
        segments_in: segments.len() as u64,
        bytes_in: segments.iter().map(|s| s.file_bytes()).sum(),
        ..CompactionStats::default()
    };
    if policy::is_tidy(&infos(&segments)) {
        stats.segments_out = stats.segments_in;
        stats.bytes_out = stats.bytes_in;
        return Ok(stats);
    }
    // Every segment row is at or below the visible seq (flushes publish first);
    // snapshots from now on see at least `vis`, so a version superseded at or
    // below it is invisible to all of them.
    let vis = core.visibility.visible();
    // Dropping a version superseded at or below `vis` is safe only once the
    // superseding write is durable: under `Periodic` / `None` it may still
    // be only in the page cache, and a power loss would then lose both
    // versions. Every write at or below `vis` has its record written; sync.
    crate::engine::flush::sync_wal(db)?;
    let kept = collect(&segments, vis, &mut stats)?;
    let input = SegmentIn {
        dimension: core.config.dimension as u32,
        metric: crate::codec::distance::code(core.config.distance),
        rows: kept.iter().map(|k| RowIn { id: &k.id, seq: k.seq, vector: &k.raw, metadata: &k.metadata }).collect(),
        tombstones: Vec::new(),
        graph: build_graph(
            core,
            kept.len(),
            |i| kept[i].index.clone(),
            &Reporter::new(db.options.progress.as_ref(), Task::Compaction, &core.name, kept.len() as u64),
        ),
    };
    let (merged, entry) = write_segment(db, core, &input)?;
    let (file_id, path) = (entry.file_id, merged.path().to_path_buf());
    let old: HashSet<String> =
        segments.iter().map(|s| s.path().file_name().unwrap().to_string_lossy().into_owned()).collect();
    let collection = |c: &mut vego_manifest::CollectionEntry| {
        c.segments.retain(|e| !old.contains(&segment_file_name(e.file_id)));
        c.segments.push(entry.clone());
    };
    if !install::record(db, core, file_id, &path, collection, |_| {})? {
        return Ok(stats); // dropped meanwhile
    }
    swap_in(db, core, &segments, merged.clone(), &kept);
    // Files go when the last snapshot still reading them drops.
    segments.iter().for_each(|s| s.mark_obsolete());
    stats.segments_out = 1;
    stats.bytes_out = merged.file_bytes();
    Ok(stats)
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
        let mut segments: Vec<Arc<Segment>> =
            t.segments.iter().filter(|s| !old.iter().any(|o| Arc::ptr_eq(o, s))).cloned().collect();
        segments.push(merged);
        Layers { active: t.active.clone(), frozen: t.frozen.clone(), segments }
    });
}
