//! Evaluates a filter over a whole segment, column by column, skipping pages
//! whose zone maps prove no row can match.

use super::encoding;
use super::reader::Segment;
use std::ops::Bound;

use crate::model::filter::Op;
use crate::{Filter, Result};

/// Rows of a segment that match a filter.
pub(crate) struct RowSet {
    bits: Vec<bool>,
}

impl RowSet {
    fn all(n: usize, v: bool) -> RowSet {
        RowSet { bits: vec![v; n] }
    }
    pub fn contains(&self, row: u32) -> bool {
        self.bits.get(row as usize).copied().unwrap_or(false)
    }
    pub fn count(&self) -> usize {
        self.bits.iter().filter(|b| **b).count()
    }
    pub fn rows(&self) -> impl Iterator<Item = u32> + '_ {
        self.bits.iter().enumerate().filter(|(_, b)| **b).map(|(i, _)| i as u32)
    }
}

/// The rows of `seg` that match `filter` (ignoring visibility).
pub(crate) fn matching_rows(seg: &Segment, filter: &Filter) -> Result<RowSet> {
    let n = seg.rows() as usize;
    Ok(match filter {
        Filter::And(fs) => {
            let mut acc = RowSet::all(n, true);
            for f in fs {
                let m = matching_rows(seg, f)?;
                acc.bits.iter_mut().zip(m.bits).for_each(|(a, b)| *a &= b);
            }
            acc
        }
        Filter::Or(fs) => {
            let mut acc = RowSet::all(n, false);
            for f in fs {
                let m = matching_rows(seg, f)?;
                acc.bits.iter_mut().zip(m.bits).for_each(|(a, b)| *a |= b);
            }
            acc
        }
        Filter::Not(f) => {
            let mut m = matching_rows(seg, f)?;
            m.bits.iter_mut().for_each(|b| *b = !*b);
            m
        }
        Filter::Ids(ids) => {
            let mut out = RowSet::all(n, false);
            for row in ids.iter().filter_map(|id| seg.find(id)).filter(|&e| (e as usize) < n) {
                out.bits[row as usize] = true;
            }
            out
        }
        leaf => leaf_rows(seg, leaf, n)?,
    })
}

fn leaf_rows(seg: &Segment, leaf: &Filter, n: usize) -> Result<RowSet> {
    let field = leaf.field().expect("leaf names a field");
    let Some(column) = seg.column(field)? else {
        // No row has the field.
        return Ok(RowSet::all(n, leaf.leaf_matches(None)));
    };
    let mut out = RowSet::all(n, false);
    for page in &column.pages {
        if !page_may_match(leaf, &page.zone) {
            continue;
        }
        let values = seg.decode_page(field, &column, page)?;
        for (i, v) in values.iter().enumerate() {
            out.bits[page.first_row as usize + i] = leaf.leaf_matches(v.as_ref());
        }
    }
    Ok(out)
}

/// False only when the zone map proves no row of the page satisfies `leaf`.
pub(crate) fn page_may_match(leaf: &Filter, zone: &encoding::ZoneMap) -> bool {
    match leaf {
        Filter::Cmp { op: Op::Ne, .. } => true,
        Filter::Cmp { op, value, .. } => encoding::zone_may_match(zone, *op, value),
        Filter::In { values, .. } => encoding::zone_may_match_in(zone, values),
        Filter::Exists(_) => encoding::zone_may_exist(zone),
        // Both bounds hold for the matching element, so each must be possible.
        Filter::Range { lower, upper, .. } => {
            let ok = |op, b: &f64| encoding::zone_may_match(zone, op, &crate::Value::Float(*b));
            encoding::zone_may_exist(zone)
                && match lower {
                    Bound::Included(b) => ok(Op::Gte, b),
                    Bound::Excluded(b) => ok(Op::Gt, b),
                    Bound::Unbounded => true,
                }
                && match upper {
                    Bound::Included(b) => ok(Op::Lte, b),
                    Bound::Excluded(b) => ok(Op::Lt, b),
                    Bound::Unbounded => true,
                }
        }
        // Typed equality implies numeric equality, so the `in` pruning is safe.
        Filter::Match { values, except: false, .. } => encoding::zone_may_match_in(zone, values),
        Filter::Match { except: true, .. } => encoding::zone_may_exist(zone),
        _ => true,
    }
}

/// Can any row of the segment match? (Segment-level pruning from page zones.)
pub(crate) fn segment_may_match(seg: &Segment, filter: &Filter) -> Result<bool> {
    Ok(match filter {
        Filter::And(fs) => {
            for f in fs {
                if !segment_may_match(seg, f)? {
                    return Ok(false);
                }
            }
            true
        }
        Filter::Or(fs) => {
            for f in fs {
                if segment_may_match(seg, f)? {
                    return Ok(true);
                }
            }
            false
        }
        Filter::Not(_) => true,
        Filter::Ids(ids) => ids.iter().filter_map(|id| seg.find(id)).any(|e| e < seg.rows()),
        leaf => match seg.column(leaf.field().expect("leaf names a field"))? {
            None => leaf.leaf_matches(None),
            Some(c) => c.pages.iter().any(|p| page_may_match(leaf, &p.zone)),
        },
    })
}

impl std::fmt::Debug for RowSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RowSet({} of {})", self.count(), self.bits.len())
    }
}
