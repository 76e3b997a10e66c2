//! Which rows a merge keeps: the newest version of each id across the
//! input segments, if a current or future snapshot can still see it;
//! tombstones go (no older segment remains for them to hide).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::model::stats::CompactionStats;
use crate::segment::reader::Segment;
use crate::{Result, Value};

/// One kept row, copied out of its segment.
pub(super) struct Kept {
    pub id: String,
    pub seq: u64,
    /// The vector as stored (what a read returns).
    pub raw: Vec<f32>,
    /// The vector as the graph compares it (normalised for cosine).
    pub index: Vec<f32>,
    pub metadata: BTreeMap<String, Value>,
    /// Where it came from: (input segment, row), to carry superseded marks.
    pub from: (usize, u32),
}

/// The newest version of each id across the segments (newest segment
/// first), if a snapshot at `vis` or later can still see it.
pub(super) fn collect(segments: &[Arc<Segment>], vis: u64, stats: &mut CompactionStats) -> Result<Vec<Kept>> {
    let mut seen = HashSet::new();
    let mut kept = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let entries = seg.rows() as u64 + seg.header.tombstones;
        for e in 0..entries as u32 {
            let id = seg.id(e)?;
            let newest = seen.insert(id.to_owned());
            if !newest || seg.is_tombstone(e) || seg.superseded_at(e) <= vis {
                stats.versions_dropped += 1;
                continue;
            }
            let doc = seg.document(e, true, None)?;
            kept.push(Kept {
                id: doc.id,
                seq: doc.version,
                raw: doc.vector,
                index: seg.vector(e).to_vec(),
                metadata: doc.metadata,
                from: (i, e),
            });
        }
    }
    Ok(kept)
}
