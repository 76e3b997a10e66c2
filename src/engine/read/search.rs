//! The read path: search every layer of a snapshot (memtables by graph,
//! segments by graph or exact scan) under visibility and filter, then merge.
//! Each id has at most one version visible at a seq, so merging never
//! returns an id twice.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::engine::core::CollectionCore;
use crate::engine::layers::Layers;
use crate::hnsw::{distance, normalize, Metric, NodeId};
use crate::memtable::Memtable;
use crate::model::validate;
use crate::segment::filter_eval::{matching_rows, segment_may_match};
use crate::segment::reader::Segment;
use crate::{Distance, Filter, Hit, Result, SearchOptions};

pub(crate) fn search(
    core: &CollectionCore,
    t: &Layers,
    seq: u64,
    query: &[f32],
    opts: &SearchOptions,
) -> Result<Vec<Hit>> {
    let query = prepare_query(core, query, opts)?;
    search_prepared(core, t, seq, &query, opts)
}

pub(crate) fn search_batch(
    core: &CollectionCore,
    t: &Layers,
    seq: u64,
    queries: &[Vec<f32>],
    opts: &SearchOptions,
) -> Result<Vec<Vec<Hit>>> {
    let prepared = queries.iter().map(|q| prepare_query(core, q, opts)).collect::<Result<Vec<_>>>()?;
    if prepared.len() < 4 {
        return prepared.iter().map(|q| search_prepared(core, t, seq, q, opts)).collect();
    }
    // Queries side by side on the pool (whose threads also take the layers
    // of a query that searches them in parallel).
    prepared.par_iter().map(|q| search_prepared(core, t, seq, q, opts)).collect()
}

/// Validates the request; returns the query as the graph compares it.
fn prepare_query(core: &CollectionCore, query: &[f32], opts: &SearchOptions) -> Result<Vec<f32>> {
    validate::k(opts.k)?;
    if let Some(ef) = opts.ef {
        validate::ef(ef)?;
    }
    if let Some(f) = &opts.filter {
        f.validate()?;
    }
    let cfg = &core.config;
    validate::vector(query, cfg.dimension, cfg.distance)?;
    let mut q = query.to_vec();
    if cfg.distance == Distance::Cosine {
        normalize(&mut q);
    }
    Ok(q)
}

/// Where a candidate lives: memtable `layer` or segment `layer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Mem(usize, NodeId),
    Seg(usize, u32),
}

#[derive(PartialEq)]
struct Scored(f32, Source);
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scored {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0).then(self.1.cmp(&o.1))
    }
}

/// Keeps the k smallest.
struct TopK {
    k: usize,
    heap: BinaryHeap<Scored>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK { k, heap: BinaryHeap::with_capacity(k + 1) }
    }
    fn push(&mut self, d: f32, src: Source) {
        if self.heap.len() == self.k && self.heap.peek().is_some_and(|w| d >= w.0) {
            return;
        }
        self.heap.push(Scored(d, src));
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }
    fn into_sorted(self) -> Vec<Scored> {
        self.heap.into_sorted_vec()
    }

    /// Nearest first, as (node or row, distance): a top-k over one layer,
    /// whose entries all name that layer.
    fn into_layer_hits(self) -> Vec<(u32, f32)> {
        let id = |s: Source| match s {
            Source::Mem(_, node) => node,
            Source::Seg(_, row) => row,
        };
        self.into_sorted().into_iter().map(|Scored(d, s)| (id(s), d)).collect()
    }
}

fn search_prepared(
    core: &CollectionCore,
    t: &Layers,
    seq: u64,
    query: &[f32],
    opts: &SearchOptions,
) -> Result<Vec<Hit>> {
    let k = opts.k;
    let ef = opts.ef.unwrap_or(core.params.ef_search).max(k);
    let filter = opts.filter.as_ref();
    let mems: Vec<&Memtable> = std::iter::once(&*t.active).chain(t.frozen.iter().map(|f| &*f.mem)).collect();
    let metric = core.metric();
    // One search per layer; layers are independent, so several large ones
    // are searched side by side (issue 15: six segments at 1M searched one
    // after another ran at a sixth of one merged segment's QPS).
    let search_layer = |layer: usize| -> Result<Vec<(f32, Source)>> {
        if let Some(mem) = mems.get(layer) {
            let found = match opts.exact {
                true => exact_memtable(mem, query, k, seq, filter),
                false => search_memtable(mem, query, k, ef, seq, filter),
            };
            return Ok(found.into_iter().map(|(node, d)| (d, Source::Mem(layer, node))).collect());
        }
        let i = layer - mems.len();
        let seg = &t.segments[i];
        let found = match opts.exact || (seg.rows() as usize) <= EXACT_SEGMENT_ROWS_MAX {
            true => exact_segment(seg, query, k, seq, filter)?,
            false => search_segment(seg, query, k, ef, seq, filter)?,
        };
        Ok(found.into_iter().map(|(row, d)| (d, Source::Seg(i, row))).collect())
    };
    let layers = mems.len() + t.segments.len();
    let per_layer: Vec<Vec<(f32, Source)>> = match parallel_pays(&mems, &t.segments) {
        true => (0..layers).into_par_iter().map(search_layer).collect::<Result<_>>()?,
        false => (0..layers).map(search_layer).collect::<Result<_>>()?,
    };
    let mut top = TopK::new(k);
    per_layer.into_iter().flatten().for_each(|(d, src)| top.push(d, src));
    top.into_sorted()
        .into_iter()
        .map(|Scored(d, src)| {
            let distance = user_distance(metric, d);
            match src {
                Source::Mem(i, node) => {
                    let row = mems[i].row(node);
                    let document =
                        opts.include_document.then(|| row.project(opts.include_vector, opts.fields.as_deref()));
                    Ok(Hit { id: row.id.to_string(), distance, document })
                }
                Source::Seg(i, row) => {
                    let seg = &t.segments[i];
                    let document = match opts.include_document {
                        true => Some(seg.document(row, opts.include_vector, opts.fields.as_deref())?),
                        false => None,
                    };
                    Ok(Hit { id: seg.id(row)?.to_owned(), distance, document })
                }
            }
        })
        .collect()
}

fn search_memtable(
    mem: &Memtable,
    query: &[f32],
    k: usize,
    ef: usize,
    seq: u64,
    filter: Option<&Filter>,
) -> Vec<(NodeId, f32)> {
    if mem.unlinked_below() == 0 {
        return search_linked_memtable(mem, query, k, ef, seq, filter);
    }
    // Rows replayed at open that the indexer has not linked yet: scanned
    // before the walk, so a row linked meanwhile is found twice (and
    // deduplicated) rather than not at all.
    let unlinked = (0..mem.unlinked_below()).filter(|&node| {
        let row = mem.row(node);
        !mem.is_linked(node) && row.visible_at(seq) && filter.is_none_or(|f| f.matches_document(&row.id, &row.metadata))
    });
    let mut hits = exact_memtable_rows(mem, query, k, unlinked);
    hits.extend(search_linked_memtable(mem, query, k, ef, seq, filter));
    hits.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let mut seen = std::collections::HashSet::with_capacity(hits.len());
    hits.retain(|&(node, _)| seen.insert(node));
    hits.truncate(k);
    hits
}

/// Graph search of a memtable's linked rows (with exact scans where they pay).
fn search_linked_memtable(
    mem: &Memtable,
    query: &[f32],
    k: usize,
    ef: usize,
    seq: u64,
    filter: Option<&Filter>,
) -> Vec<(NodeId, f32)> {
    let accept = |node: NodeId| {
        let row = mem.row(node);
        row.visible_at(seq) && filter.is_none_or(|f| f.matches_document(&row.id, &row.metadata))
    };
    // A selective filter is answered by an exact scan of its matches, as in
    // segments: a graph walk through mostly rejected nodes visits most of
    // the graph (0.1 % of 100k memtable rows: 363 ms p50 before this).
    if let Some(f) = filter {
        let cap = EXACT_SCAN_ROWS_MAX.max(mem.row_count() / EXACT_SCAN_SHARE_DIV);
        if let Some(rows) = matching_memtable_rows(mem, seq, f, cap) {
            return exact_memtable_rows(mem, query, k, rows.into_iter());
        }
    }
    // Fast path: no filter and no dead rows make visibility a bound on the
    // row number, with no row lookup per visited node.
    let found = match filter.is_none().then(|| mem.visible_prefix(seq)).flatten() {
        Some(bound) => mem.graph().search(query, k, ef, &|node| node < bound),
        None => mem.graph().search(query, k, ef, &accept),
    };
    if found.len() >= k {
        return found;
    }
    // Few matches (many deletes): the exact answer is cheap and guarantees
    // k results whenever k documents match.
    exact_memtable(mem, query, k, seq, filter)
}

/// The memtable rows visible at `seq` that pass `filter`, or `None` as soon
/// as there are more than `cap` (a graph walk then pays better).
fn matching_memtable_rows(mem: &Memtable, seq: u64, filter: &Filter, cap: usize) -> Option<Vec<NodeId>> {
    let mut rows = Vec::new();
    for (node, row) in mem.rows() {
        if row.visible_at(seq) && filter.matches_document(&row.id, &row.metadata) {
            if rows.len() == cap {
                return None;
            }
            rows.push(node);
        }
    }
    Some(rows)
}

/// Exact top-k over the rows of a memtable visible at `seq` that pass `filter`.
fn exact_memtable(mem: &Memtable, query: &[f32], k: usize, seq: u64, filter: Option<&Filter>) -> Vec<(NodeId, f32)> {
    let rows = mem
        .rows()
        .filter(|(_, row)| row.visible_at(seq) && filter.is_none_or(|f| f.matches_document(&row.id, &row.metadata)))
        .map(|(node, _)| node);
    exact_memtable_rows(mem, query, k, rows)
}

/// Exact top-k over the given memtable rows.
fn exact_memtable_rows(
    mem: &Memtable,
    query: &[f32],
    k: usize,
    rows: impl Iterator<Item = NodeId>,
) -> Vec<(NodeId, f32)> {
    let metric = mem.graph().metric();
    let mut top = TopK::new(k);
    let mut unlinked = Vec::new();
    for node in rows {
        // The graph holds linked rows' (normalised) vectors; rows replayed
        // at open and not linked yet have only their own.
        let d = mem.graph().with_vector(node, |v| distance(metric, query, v)).unwrap_or_else(|| {
            mem.row(node).index_vector_into(metric, &mut unlinked);
            distance(metric, query, &unlinked)
        });
        top.push(d, Source::Mem(0, node));
    }
    top.into_layer_hits()
}

/// Segments of at most this many rows are answered by an exact scan: a
/// graph walk at the usual ef visits most of them anyway, and exact is exact.
const EXACT_SEGMENT_ROWS_MAX: usize = 1_024;

/// Layers of at least this many rows are worth a thread of their own: below
/// it a search takes tens of microseconds, the cost of handing work to the
/// pool and waiting for it.
const PARALLEL_LAYER_ROWS_MIN: usize = 16_384;

/// Whether a query should search its layers in parallel: when at least two
/// of them are large.
fn parallel_pays(mems: &[&Memtable], segments: &[std::sync::Arc<Segment>]) -> bool {
    let big_mems = mems.iter().filter(|m| m.row_count() >= PARALLEL_LAYER_ROWS_MIN);
    let big_segments = segments.iter().filter(|s| s.rows() as usize >= PARALLEL_LAYER_ROWS_MIN);
    big_mems.count() + big_segments.count() >= 2
}

/// Matching rows at or below this count (or this share of the segment or
/// memtable) are answered by an exact scan instead of a filtered graph walk:
/// cheaper, and exact, where a graph walk through mostly rejected nodes
/// degrades.
const EXACT_SCAN_ROWS_MAX: usize = 4_096;
const EXACT_SCAN_SHARE_DIV: usize = 20;

/// Search of one segment: zone maps may skip it; the filter is evaluated
/// column-wise once; selective filters scan exactly, others walk the graph.
fn search_segment(
    seg: &Segment,
    query: &[f32],
    k: usize,
    ef: usize,
    seq: u64,
    filter: Option<&Filter>,
) -> Result<Vec<(u32, f32)>> {
    let Some(f) = filter else {
        let found = seg.search(query, k, ef, &|row| seg.visible_at(row, seq));
        if found.len() >= k {
            return Ok(found);
        }
        return Ok(exact(seg, query, k, (0..seg.rows()).filter(|&r| seg.visible_at(r, seq))));
    };
    if !segment_may_match(seg, f)? {
        return Ok(Vec::new());
    }
    let matching = matching_rows(seg, f)?;
    let count = matching.count();
    let visible = |row: u32| seg.visible_at(row, seq);
    if count <= EXACT_SCAN_ROWS_MAX || count * EXACT_SCAN_SHARE_DIV <= seg.rows() as usize {
        return Ok(exact(seg, query, k, matching.rows().filter(|&r| visible(r))));
    }
    let found = seg.search(query, k, ef, &|row| matching.contains(row) && visible(row));
    if found.len() >= k {
        return Ok(found);
    }
    Ok(exact(seg, query, k, matching.rows().filter(|&r| visible(r))))
}

/// Exact top-k over the rows of a segment visible at `seq` that pass `filter`.
fn exact_segment(seg: &Segment, query: &[f32], k: usize, seq: u64, filter: Option<&Filter>) -> Result<Vec<(u32, f32)>> {
    let visible = |row: u32| seg.visible_at(row, seq);
    let Some(f) = filter else {
        return Ok(exact(seg, query, k, (0..seg.rows()).filter(|&r| visible(r))));
    };
    if !segment_may_match(seg, f)? {
        return Ok(Vec::new());
    }
    let matching = matching_rows(seg, f)?;
    Ok(exact(seg, query, k, matching.rows().filter(|&r| visible(r))))
}

/// Exact top-k over the given rows of a segment.
fn exact(seg: &Segment, query: &[f32], k: usize, rows: impl Iterator<Item = u32>) -> Vec<(u32, f32)> {
    let mut top = TopK::new(k);
    // The graph's own distance: rows stored as written are scaled as the
    // graph search scales them, so both paths rank alike.
    let g = seg.graph();
    for row in rows {
        top.push(g.distance_to(query, row).expect("a document row"), Source::Seg(0, row));
    }
    top.into_layer_hits()
}

/// The graph works with squared L2; users get the Euclidean distance.
fn user_distance(metric: Metric, d: f32) -> f32 {
    match metric {
        Metric::L2 => d.max(0.0).sqrt(),
        _ => d,
    }
}
