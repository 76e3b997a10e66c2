//! Scans of a snapshot: the ids of every visible document that matches a
//! filter, for counting and for paging through a collection in id order.
//! Memtable rows are tested one by one; segments evaluate the filter column
//! by column (zone maps skip pages) and then test visibility per row.

use crate::engine::layers::Layers;
use crate::memtable::Memtable;
use crate::segment::filter_eval::{matching_rows, segment_may_match};
use crate::segment::reader::Segment;
use crate::{Filter, Result};

/// Ids visible at `seq` that match `filter` (all visible ids without one),
/// in ascending byte order. Each id appears once: at most one version of an
/// id is visible at a seq.
pub(crate) fn ids(t: &Layers, seq: u64, filter: Option<&Filter>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    visit_ids(t, seq, filter, |id| out.push(id.to_owned()))?;
    out.sort_unstable();
    debug_assert!(out.windows(2).all(|w| w[0] != w[1]), "an id is visible once at a seq");
    Ok(out)
}

/// Calls `f` with each id visible at `seq` that matches `filter`, in no
/// particular order, without allocating per id.
pub(crate) fn visit_ids(t: &Layers, seq: u64, filter: Option<&Filter>, mut f: impl FnMut(&str)) -> Result<()> {
    if let Some(filter) = filter {
        filter.validate()?;
    }
    for mem in std::iter::once(&t.active).chain(t.frozen.iter().map(|f| &f.mem)) {
        memtable_ids(mem, seq, filter, &mut f);
    }
    for seg in &t.segments {
        segment_ids(seg, seq, filter, &mut f)?;
    }
    Ok(())
}

fn memtable_ids(mem: &Memtable, seq: u64, filter: Option<&Filter>, f: &mut impl FnMut(&str)) {
    mem.rows()
        .filter(|(_, row)| row.visible_at(seq) && filter.is_none_or(|flt| flt.matches_document(&row.id, &row.metadata)))
        .for_each(|(_, row)| f(&row.id));
}

fn segment_ids(seg: &Segment, seq: u64, filter: Option<&Filter>, f: &mut impl FnMut(&str)) -> Result<()> {
    let visible = |row: u32| seg.visible_at(row, seq);
    match filter {
        None => {
            for row in (0..seg.rows()).filter(|&r| visible(r)) {
                f(seg.id(row)?);
            }
        }
        Some(flt) => {
            if !segment_may_match(seg, flt)? {
                return Ok(());
            }
            for row in matching_rows(seg, flt)?.rows().filter(|&r| visible(r)) {
                f(seg.id(row)?);
            }
        }
    }
    Ok(())
}
