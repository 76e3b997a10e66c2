//! Which rows a merge keeps: the newest version of each id across the
//! input segments, if a current or future snapshot can still see it;
//! tombstones only while an older segment outside the merge holds the id.

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

/// What a merge writes.
pub(super) struct Collected {
    /// The rows, in the merged segment's row order.
    pub kept: Vec<Kept>,
    /// The tombstones that must stay: (id, seq of the delete).
    pub tombstones: Vec<(String, u64)>,
}

/// The newest version of each id across the run `inputs` (newest first),
/// if a snapshot at `vis` or later can still see it; and the tombstones that
/// must stay: those of ids an `older` segment (outside the run) still holds,
/// which would come back to life without them.
pub(super) fn collect(
    inputs: &[Arc<Segment>],
    older: &[Arc<Segment>],
    vis: u64,
    stats: &mut CompactionStats,
) -> Result<Collected> {
    let mut seen = HashSet::new();
    let mut kept = Vec::new();
    let mut tombstones = Vec::new();
    for (i, seg) in inputs.iter().enumerate() {
        let entries = seg.rows() as u64 + seg.header.tombstones;
        for e in 0..entries as u32 {
            let id = seg.id(e)?;
            let newest = seen.insert(id.to_owned());
            if newest && seg.is_tombstone(e) && older.iter().any(|o| o.find(id).is_some()) {
                tombstones.push((id.to_owned(), seg.seqs()[e as usize]));
                continue;
            }
            if !newest || seg.is_tombstone(e) || seg.superseded_at(e) <= vis {
                stats.versions_dropped += 1;
                continue;
            }
            let doc = seg.document(e, true, None)?;
            kept.push(Kept {
                id: doc.id,
                seq: doc.version,
                raw: doc.vector,
                index: seg.compared_vector(e).into_owned(),
                metadata: doc.metadata,
                from: (i, e),
            });
        }
    }
    Ok(Collected { kept, tombstones })
}
