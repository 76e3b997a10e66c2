//! When to merge, and what: a pure function of a collection's segments, so
//! the rule can be read and tested on hand-built lists (as lsm-tree's
//! `CompactionStrategy::choose` or tantivy's `MergePolicy`) without files.
//!
//! The rule is size-tiered: a run of adjacent segments of similar size
//! (flushes of one memtable each, or earlier merges of such) merges into
//! one, so a row is rewritten about log_{merge_min}(N / memtable) times, not
//! once per merge as when every merge took every segment. Segments above
//! `segment_rows_max` are rewritten only for their dead rows. Runs are
//! adjacent in age so a merged segment takes its inputs' place in the
//! newest-first order, which recovery relies on.

/// What the policy knows of one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentInfo {
    /// Rows (document versions) in the segment.
    pub rows: u64,
    /// Rows a newer version or a delete has superseded.
    pub dead: u64,
    /// Tombstones the segment carries.
    pub tombstones: u64,
}

/// The policy's thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PolicyConfig {
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

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
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

/// A merge: `count` adjacent segments starting at `first` (newest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Merge {
    pub first: usize,
    pub count: usize,
    pub reason: Reason,
}

/// Why a merge was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// `Collection::compact()`: everything into one.
    Explicit,
    /// A run of adjacent segments of similar size.
    SimilarSizes,
    /// This segment has at least `dead_percent_max` dead rows.
    DeadRows,
    /// More than `segments_max` segments.
    TooManySegments,
}

/// The merge the policy wants for `segments` (newest first), if any: a
/// segment with too many dead rows first, then the cheapest run of similar
/// sizes, then — past `segments_max` — the cheapest adjacent pair.
pub(crate) fn choose(segments: &[SegmentInfo], cfg: &PolicyConfig) -> Option<Merge> {
    let dead = segments
        .iter()
        .enumerate()
        .filter(|(_, s)| s.rows > 0 && s.dead > 0 && s.dead * 100 >= s.rows * cfg.dead_percent_max)
        .max_by_key(|(_, s)| s.dead);
    if let Some((i, _)) = dead {
        return Some(Merge { first: i, count: 1, reason: Reason::DeadRows });
    }
    if let Some((first, count)) = cheapest_run(segments, cfg) {
        return Some(Merge { first, count, reason: Reason::SimilarSizes });
    }
    if segments.len() > cfg.segments_max {
        let first = (0..segments.len() - 1).min_by_key(|&i| segments[i].rows + segments[i + 1].rows)?;
        return Some(Merge { first, count: 2, reason: Reason::TooManySegments });
    }
    None
}

/// The merge of every segment (an explicit `compact()`), unless there is
/// nothing to gain: no segments, or one without tombstones or dead rows.
pub(crate) fn all(segments: &[SegmentInfo]) -> Option<Merge> {
    match segments {
        [] => None,
        [only] if only.tombstones == 0 && only.dead == 0 => None,
        _ => Some(Merge { first: 0, count: segments.len(), reason: Reason::Explicit }),
    }
}

/// Of the runs of `merge_min..=merge_max` adjacent segments whose sizes
/// stay within `size_ratio` and whose sum stays within `segment_rows_max`,
/// the one with the fewest rows (the lowest tier; the oldest on a tie).
fn cheapest_run(segments: &[SegmentInfo], cfg: &PolicyConfig) -> Option<(usize, usize)> {
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
        let cfg = PolicyConfig::default();
        assert_eq!(choose(&[], &cfg), None);
        assert_eq!(choose(&sizes(&[1000, 1000, 1000]), &cfg), None);
        assert_eq!(choose(&[seg(1000, 299)], &cfg), None);
    }

    #[test]
    fn merge_min_similar_segments_merge_into_one() {
        let cfg = PolicyConfig::default();
        let m = choose(&sizes(&[1000, 900, 1100, 1000]), &cfg).unwrap();
        assert_eq!((m.first, m.count, m.reason), (0, 4, Reason::SimilarSizes));
    }

    #[test]
    fn the_cheapest_tier_merges_first_and_large_segments_are_left_alone() {
        let cfg = PolicyConfig::default();
        // Newest first: four fresh flushes, then four earlier merges of four.
        let m = choose(&sizes(&[1000, 1000, 1000, 1000, 4000, 4000, 4000, 4000]), &cfg).unwrap();
        assert_eq!((m.first, m.count), (0, 4));
        // The cheapest run wins: the four 4k segments, not them and the 16k one.
        let m = choose(&sizes(&[4000, 4000, 4000, 4000, 16_000]), &cfg).unwrap();
        assert_eq!((m.first, m.count), (0, 4));
        let big = PolicyConfig { segment_rows_max: 10_000, ..cfg };
        assert_eq!(choose(&sizes(&[8000, 8000, 8000, 8000]), &big), None, "the output would exceed the maximum");
    }

    #[test]
    fn sizes_beyond_the_ratio_break_a_run() {
        let cfg = PolicyConfig::default();
        assert_eq!(choose(&sizes(&[100, 1000, 100, 1000, 100, 1000]), &cfg), None);
    }

    #[test]
    fn rows_are_rewritten_a_logarithmic_number_of_times() {
        // Simulate 256 flushes of 1,000 rows, merging whenever the policy
        // asks: each row must be rewritten at most log4(256) = 4 times.
        let cfg = PolicyConfig { segment_rows_max: u64::MAX, segments_max: usize::MAX, ..PolicyConfig::default() };
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
        let cfg = PolicyConfig::default();
        let m = choose(&[seg(1000, 0), seg(1000, 300), seg(1000, 500)], &cfg).unwrap();
        assert_eq!((m.first, m.count, m.reason), (2, 1, Reason::DeadRows));
        assert_eq!(choose(&[seg(1000, 299)], &cfg), None);
    }

    #[test]
    fn too_many_dissimilar_segments_merge_the_cheapest_pair() {
        let cfg = PolicyConfig { segments_max: 3, ..PolicyConfig::default() };
        let m = choose(&sizes(&[10, 1000, 100_000, 5, 20_000]), &cfg).unwrap();
        assert_eq!((m.first, m.count, m.reason), (0, 2, Reason::TooManySegments));
    }

    #[test]
    fn empty_segments_never_divide_by_zero() {
        assert!(choose(&[seg(0, 0), seg(0, 0)], &PolicyConfig::default()).is_none());
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
