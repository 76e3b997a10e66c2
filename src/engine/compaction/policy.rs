//! When to merge, and what: a pure function of a collection's segments, so
//! the rule can be read and tested on hand-built lists (as lsm-tree's
//! `CompactionStrategy::choose` or tantivy's `MergePolicy`) without files.
//!
//! The default rule ([`TieredPolicy`]) is size-tiered: a run of adjacent
//! segments of similar size (flushes of one memtable each, or earlier merges
//! of such) merges into one, so a row is rewritten about
//! log_{merge_min}(N / memtable) times, not once per merge as when every
//! merge took every segment. Segments above `segment_rows_max` are rewritten
//! only for their dead rows. Runs are adjacent in age so a merged segment
//! takes its inputs' place in the newest-first order, which recovery relies
//! on. Another rule can be plugged in with [`crate::Options::compaction_policy`].

use std::fmt::Debug;

/// What a compaction policy knows of one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// Rows (document versions) in the segment.
    pub rows: u64,
    /// Rows a newer version or a delete has superseded.
    pub dead: u64,
    /// Tombstones the segment carries.
    pub tombstones: u64,
}

impl SegmentInfo {
    /// A segment of `rows` rows, `dead` of them superseded, and `tombstones` deletes.
    pub fn new(rows: u64, dead: u64, tombstones: u64) -> SegmentInfo {
        SegmentInfo { rows, dead, tombstones }
    }
}

/// Chooses the background merges of a collection: called after flushes and
/// merges with the collection's segments, newest first.
///
/// Whatever a policy chooses, a merge is safe: it rewrites the live rows of
/// an adjacent run of segments into one, and drops a tombstone only when
/// the run reaches the oldest segment. A policy decides cost, never
/// correctness. `Collection::compact()` ignores the policy and merges
/// everything.
///
/// ```
/// use vego::{CompactionPolicy, Merge, MergeReason, Options, SegmentInfo};
///
/// /// Merges the two newest segments whenever there are more than three.
/// #[derive(Debug)]
/// struct NewestPairs;
///
/// impl CompactionPolicy for NewestPairs {
///     fn choose(&self, segments: &[SegmentInfo]) -> Option<Merge> {
///         (segments.len() > 3).then(|| Merge::new(0, 2, MergeReason::Custom))
///     }
/// }
///
/// let opts = Options::default().compaction_policy(NewestPairs);
/// ```
pub trait CompactionPolicy: Debug + Send + Sync {
    /// The merge wanted for `segments` (newest first), if any. A choice
    /// outside `segments` (`count` 0, or `first + count` past the end) is
    /// refused with `Error::InvalidArgument` and nothing is merged.
    fn choose(&self, segments: &[SegmentInfo]) -> Option<Merge>;
}

/// The default policy: size-tiered merges, dead-row rewrites, and a bound
/// on the number of segments (each threshold below).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TieredPolicy {
    /// Merge at least this many adjacent segments of similar size…
    pub merge_min: usize,
    /// …and at most this many at once.
    pub merge_max: usize,
    /// Segments are "similar" while the largest of a run has at most this
    /// many times the rows of the smallest.
    pub size_ratio: u64,
    /// Segments (and merge outputs) above this many rows merge no more by
    /// size, only rewrite their dead rows.
    pub segment_rows_max: u64,
    /// Rewrite a segment once at least this share (percent) of its rows are
    /// dead.
    pub dead_percent_max: u64,
    /// Beyond this many segments, merge the cheapest adjacent ones even
    /// when their sizes differ (searches visit every segment).
    pub segments_max: usize,
}

impl Default for TieredPolicy {
    fn default() -> Self {
        TieredPolicy {
            merge_min: 4,
            merge_max: 10,
            size_ratio: 4,
            // 4M rows of 128-d are 2 GiB of vectors: a merge of that size
            // still fits the machine beside the data.
            segment_rows_max: 4_000_000,
            dead_percent_max: 30,
            segments_max: 12,
        }
    }
}

impl CompactionPolicy for TieredPolicy {
    fn choose(&self, segments: &[SegmentInfo]) -> Option<Merge> {
        choose(segments, self)
    }
}

/// A merge: `count` adjacent segments starting at `first` (newest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Merge {
    /// Index of the newest segment of the run.
    pub first: usize,
    /// Segments in the run (at least 1).
    pub count: usize,
    /// Why the policy chose it.
    pub reason: MergeReason,
}

impl Merge {
    /// The run of `count` segments from `first` (newest first).
    pub fn new(first: usize, count: usize, reason: MergeReason) -> Merge {
        Merge { first, count, reason }
    }

    /// Whether the run lies inside `n` segments.
    pub(crate) fn fits(&self, n: usize) -> bool {
        self.count >= 1 && self.first.checked_add(self.count).is_some_and(|end| end <= n)
    }
}

/// Why a merge was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MergeReason {
    /// `Collection::compact()`: everything into one.
    Explicit,
    /// A run of adjacent segments of similar size.
    SimilarSizes,
    /// This segment has at least `dead_percent_max` dead rows.
    DeadRows,
    /// More than `segments_max` segments.
    TooManySegments,
    /// A policy of the caller's own.
    Custom,
}

/// The merge the policy wants for `segments` (newest first), if any: a
/// segment with too many dead rows first, then the cheapest run of similar
/// sizes, then — past `segments_max` — the cheapest adjacent pair.
fn choose(segments: &[SegmentInfo], cfg: &TieredPolicy) -> Option<Merge> {
    let dead = segments
        .iter()
        .enumerate()
        .filter(|(_, s)| s.rows > 0 && s.dead > 0 && s.dead * 100 >= s.rows * cfg.dead_percent_max)
        .max_by_key(|(_, s)| s.dead);
    if let Some((i, _)) = dead {
        return Some(Merge { first: i, count: 1, reason: MergeReason::DeadRows });
    }
    if let Some((first, count)) = cheapest_run(segments, cfg) {
        return Some(Merge { first, count, reason: MergeReason::SimilarSizes });
    }
    if segments.len() > cfg.segments_max {
        let first = (0..segments.len() - 1).min_by_key(|&i| segments[i].rows + segments[i + 1].rows)?;
        return Some(Merge { first, count: 2, reason: MergeReason::TooManySegments });
    }
    None
}

/// The merge of every segment (an explicit `compact()`), unless there is
/// nothing to gain: no segments, or one without tombstones or dead rows.
pub(crate) fn all(segments: &[SegmentInfo]) -> Option<Merge> {
    match segments {
        [] => None,
        [only] if only.tombstones == 0 && only.dead == 0 => None,
        _ => Some(Merge { first: 0, count: segments.len(), reason: MergeReason::Explicit }),
    }
}

/// Of the runs of `merge_min..=merge_max` adjacent segments whose sizes
/// stay within `size_ratio` and whose sum stays within `segment_rows_max`,
/// the one with the fewest rows (the lowest tier; the oldest on a tie).
fn cheapest_run(segments: &[SegmentInfo], cfg: &TieredPolicy) -> Option<(usize, usize)> {
    let mut best: Option<(u64, usize, usize)> = None;
    for first in 0..segments.len() {
        let (mut lo, mut hi, mut total) = (u64::MAX, 0u64, 0u64);
        for count in 1..=cfg.merge_max.min(segments.len() - first) {
            let rows = segments[first + count - 1].rows;
            (lo, hi, total) = (lo.min(rows.max(1)), hi.max(rows), total + rows);
            if hi > lo.saturating_mul(cfg.size_ratio) || total > cfg.segment_rows_max {
                break;
            }
            if count >= cfg.merge_min && best.is_none_or(|(t, f, _)| total < t || (total == t && first > f)) {
                best = Some((total, first, count));
            }
        }
    }
    best.map(|(_, first, count)| (first, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(rows: u64, dead: u64) -> SegmentInfo {
        SegmentInfo { rows, dead, tombstones: 0 }
    }

    fn sizes(rows: &[u64]) -> Vec<SegmentInfo> {
        rows.iter().map(|&r| seg(r, 0)).collect()
    }

    #[test]
    fn fewer_similar_segments_than_merge_min_need_no_merge() {
        let cfg = TieredPolicy::default();
        assert_eq!(choose(&[], &cfg), None);
        assert_eq!(choose(&sizes(&[1000, 1000, 1000]), &cfg), None);
        assert_eq!(choose(&[seg(1000, 299)], &cfg), None);
    }

    #[test]
    fn merge_min_similar_segments_merge_into_one() {
        let cfg = TieredPolicy::default();
        let m = choose(&sizes(&[1000, 900, 1100, 1000]), &cfg).unwrap();
        assert_eq!((m.first, m.count, m.reason), (0, 4, MergeReason::SimilarSizes));
    }

    #[test]
    fn the_cheapest_tier_merges_first_and_large_segments_are_left_alone() {
        let cfg = TieredPolicy::default();
        // Newest first: four fresh flushes, then four earlier merges of four.
        let m = choose(&sizes(&[1000, 1000, 1000, 1000, 4000, 4000, 4000, 4000]), &cfg).unwrap();
        assert_eq!((m.first, m.count), (0, 4));
        // The cheapest run wins: the four 4k segments, not them and the 16k one.
        let m = choose(&sizes(&[4000, 4000, 4000, 4000, 16_000]), &cfg).unwrap();
        assert_eq!((m.first, m.count), (0, 4));
        let big = TieredPolicy { segment_rows_max: 10_000, ..cfg };
        assert_eq!(choose(&sizes(&[8000, 8000, 8000, 8000]), &big), None, "the output would exceed the maximum");
    }

    #[test]
    fn sizes_beyond_the_ratio_break_a_run() {
        let cfg = TieredPolicy::default();
        assert_eq!(choose(&sizes(&[100, 1000, 100, 1000, 100, 1000]), &cfg), None);
    }

    #[test]
    fn rows_are_rewritten_a_logarithmic_number_of_times() {
        // Simulate 256 flushes of 1,000 rows, merging whenever the policy
        // asks: each row must be rewritten at most log4(256) = 4 times.
        let cfg = TieredPolicy { segment_rows_max: u64::MAX, segments_max: usize::MAX, ..TieredPolicy::default() };
        let mut segs: Vec<u64> = Vec::new();
        let mut rewritten = 0u64;
        for _ in 0..256 {
            segs.insert(0, 1000);
            while let Some(m) = choose(&sizes(&segs), &cfg) {
                let total: u64 = segs[m.first..m.first + m.count].iter().sum();
                rewritten += total;
                segs.splice(m.first..m.first + m.count, [total]);
            }
        }
        assert!(rewritten <= 4 * 256_000, "{rewritten} rows rewritten for 256,000 written");
        assert!(segs.len() <= 4 * (cfg.merge_min - 1), "{} segments left", segs.len());
    }

    #[test]
    fn a_segment_with_many_dead_rows_is_rewritten_alone() {
        let cfg = TieredPolicy::default();
        let m = choose(&[seg(1000, 0), seg(1000, 300), seg(1000, 500)], &cfg).unwrap();
        assert_eq!((m.first, m.count, m.reason), (2, 1, MergeReason::DeadRows));
        assert_eq!(choose(&[seg(1000, 299)], &cfg), None);
    }

    #[test]
    fn too_many_dissimilar_segments_merge_the_cheapest_pair() {
        let cfg = TieredPolicy { segments_max: 3, ..TieredPolicy::default() };
        let m = choose(&sizes(&[10, 1000, 100_000, 5, 20_000]), &cfg).unwrap();
        assert_eq!((m.first, m.count, m.reason), (0, 2, MergeReason::TooManySegments));
    }

    #[test]
    fn empty_segments_never_divide_by_zero() {
        assert!(choose(&[seg(0, 0), seg(0, 0)], &TieredPolicy::default()).is_none());
    }

    #[test]
    fn an_explicit_merge_takes_everything_unless_it_would_change_nothing() {
        assert_eq!(all(&[]), None);
        assert_eq!(all(&[seg(5, 0)]), None);
        assert_eq!(all(&[seg(5, 1)]).map(|m| (m.first, m.count)), Some((0, 1)));
        assert!(all(&[SegmentInfo { rows: 5, dead: 0, tombstones: 1 }]).is_some());
        assert_eq!(all(&[seg(5, 0), seg(5, 0)]).map(|m| (m.first, m.count)), Some((0, 2)));
    }
}
