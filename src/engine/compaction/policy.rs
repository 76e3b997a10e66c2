//! When to merge: a pure function of a collection's segments, so the rule
//! can be read and tested on hand-built lists (as lsm-tree's
//! `CompactionStrategy::choose` or tantivy's `MergePolicy`) without files.

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
    /// Merge once a collection has more segments than this…
    pub segments_max: usize,
    /// …or once at least this share (percent) of its segment rows are dead.
    pub dead_percent_max: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        // Searches visit every segment: six keeps that cost bounded while a
        // merge's rewrite of the data stays rare.
        PolicyConfig { segments_max: 6, dead_percent_max: 30 }
    }
}

/// A merge the policy wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Merge {
    /// Merge every segment into one (today's only kind).
    All(Reason),
}

/// Why the policy wants a merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// More segments than `segments_max`.
    TooManySegments(usize),
    /// This share (percent) of the segment rows is dead.
    DeadRows(u64),
}

/// The merge the policy wants for `segments` (newest first), if any.
pub(crate) fn choose(segments: &[SegmentInfo], cfg: &PolicyConfig) -> Option<Merge> {
    if segments.len() > cfg.segments_max {
        return Some(Merge::All(Reason::TooManySegments(segments.len())));
    }
    let rows: u64 = segments.iter().map(|s| s.rows).sum();
    let dead: u64 = segments.iter().map(|s| s.dead).sum();
    if rows > 0 && dead * 100 >= rows * cfg.dead_percent_max {
        return Some(Merge::All(Reason::DeadRows(dead * 100 / rows)));
    }
    None
}

/// True if merging `segments` would change nothing: none, or one without
/// tombstones or dead rows (an explicit `compact()` then returns at once).
pub(crate) fn is_tidy(segments: &[SegmentInfo]) -> bool {
    match segments {
        [] => true,
        [only] => only.tombstones == 0 && only.dead == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(rows: u64, dead: u64) -> SegmentInfo {
        SegmentInfo { rows, dead, tombstones: 0 }
    }

    #[test]
    fn few_clean_segments_need_no_merge() {
        let cfg = PolicyConfig::default();
        assert_eq!(choose(&[], &cfg), None);
        assert_eq!(choose(&[seg(1000, 0); 6], &cfg), None);
        assert_eq!(choose(&[seg(1000, 299)], &cfg), None);
    }

    #[test]
    fn one_segment_more_than_the_limit_merges_all() {
        let cfg = PolicyConfig::default();
        assert_eq!(choose(&[seg(10, 0); 7], &cfg), Some(Merge::All(Reason::TooManySegments(7))));
        let tight = PolicyConfig { segments_max: 1, ..cfg };
        assert_eq!(choose(&[seg(1, 0), seg(1, 0)], &tight), Some(Merge::All(Reason::TooManySegments(2))));
    }

    #[test]
    fn dead_rows_at_the_threshold_merge_all_and_below_it_do_not() {
        let cfg = PolicyConfig::default();
        assert_eq!(choose(&[seg(500, 150), seg(500, 150)], &cfg), Some(Merge::All(Reason::DeadRows(30))));
        assert_eq!(choose(&[seg(500, 150), seg(500, 149)], &cfg), None);
        // Dead rows are counted over all segments, not per segment.
        assert_eq!(choose(&[seg(100, 100), seg(900, 0)], &cfg), None);
    }

    #[test]
    fn empty_segments_never_divide_by_zero() {
        assert_eq!(choose(&[seg(0, 0), seg(0, 0)], &PolicyConfig::default()), None);
    }

    #[test]
    fn tidy_means_nothing_left_to_merge() {
        assert!(is_tidy(&[]));
        assert!(is_tidy(&[seg(5, 0)]));
        assert!(!is_tidy(&[seg(5, 1)]));
        assert!(!is_tidy(&[SegmentInfo { rows: 5, dead: 0, tombstones: 1 }]));
        assert!(!is_tidy(&[seg(5, 0), seg(5, 0)]));
    }
}
