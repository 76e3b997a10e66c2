//! The one table between a [`Distance`], the graph's [`Metric`] and the byte
//! that stands for it on disk (a collection's config record in the
//! manifest, a segment header). A code this table does not know was written
//! by a newer build: readers report it as `IncompatibleFormat`, never guess.

use crate::hnsw::Metric;
use crate::Distance;

/// Every known distance, its code on disk and its name in reports.
const TABLE: [(Distance, u8, &str); 3] =
    [(Distance::L2, 0, "l2"), (Distance::Cosine, 1, "cosine"), (Distance::InnerProduct, 2, "inner_product")];

/// The highest code this build knows (what `IncompatibleFormat` reports as
/// supported for an unknown one).
pub(crate) const CODE_MAX: u8 = 2;

/// The code of the cosine distance (segment builds normalise its vectors).
pub(crate) const COSINE: u8 = 1;

/// The on-disk code of `d`.
pub(crate) fn code(d: Distance) -> u8 {
    TABLE.iter().find(|(x, _, _)| *x == d).map(|&(_, c, _)| c).expect("every Distance is in the table")
}

/// The distance stored as `code`, if this build knows it.
pub(crate) fn from_code(code: u8) -> Option<Distance> {
    TABLE.iter().find(|(_, c, _)| *c == code).map(|&(d, _, _)| d)
}

/// The name of `code` in reports (`vego inspect`).
pub(crate) fn name(code: u8) -> Option<&'static str> {
    TABLE.iter().find(|(_, c, _)| *c == code).map(|&(_, _, n)| n)
}

/// How the graph compares vectors of distance `d`.
pub(crate) fn metric(d: Distance) -> Metric {
    match d {
        Distance::L2 => Metric::L2,
        Distance::Cosine => Metric::Cosine,
        Distance::InnerProduct => Metric::InnerProduct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_unknown_codes_are_none() {
        for d in [Distance::L2, Distance::Cosine, Distance::InnerProduct] {
            assert_eq!(from_code(code(d)), Some(d));
            assert!(code(d) <= CODE_MAX);
        }
        assert_eq!(code(Distance::Cosine), COSINE);
        assert_eq!(from_code(CODE_MAX + 1), None);
        assert_eq!(name(CODE_MAX + 1), None);
    }
}
