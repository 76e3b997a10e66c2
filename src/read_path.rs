//! The read path: graph search under snapshot visibility and filters, with an
//! exact scan when the graph cannot produce k matching results.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::collection::CollectionCore;
use crate::hnsw::{distance, normalize, Metric, NodeId};
use crate::memtable::Memtable;
use crate::stats::CollectionStats;
use crate::{validate, Distance, Filter, Hit, Result, SearchOptions};

pub(crate) fn search(core: &CollectionCore, seq: u64, query: &[f32], opts: &SearchOptions) -> Result<Vec<Hit>> {
    let query = prepare_query(core, query, opts)?;
    Ok(search_prepared(core, seq, &query, opts))
}

pub(crate) fn search_batch(
    core: &CollectionCore,
    seq: u64,
    queries: &[Vec<f32>],
    opts: &SearchOptions,
) -> Result<Vec<Vec<Hit>>> {
    let prepared = queries.iter().map(|q| prepare_query(core, q, opts)).collect::<Result<Vec<_>>>()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(prepared.len().max(1));
    if threads <= 1 || prepared.len() < 4 {
        return Ok(prepared.iter().map(|q| search_prepared(core, seq, q, opts)).collect());
    }
    let chunk = prepared.len().div_ceil(threads);
    let results: Vec<Vec<Vec<Hit>>> = std::thread::scope(|s| {
        let handles: Vec<_> = prepared
            .chunks(chunk)
            .map(|qs| s.spawn(move || qs.iter().map(|q| search_prepared(core, seq, q, opts)).collect()))
            .collect();
        handles.into_iter().map(|h| h.join().expect("search thread panicked")).collect()
    });
    Ok(results.into_iter().flatten().collect())
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

fn search_prepared(core: &CollectionCore, seq: u64, query: &[f32], opts: &SearchOptions) -> Vec<Hit> {
    let mem = &core.memtable;
    let k = opts.k;
    let ef = opts.ef.unwrap_or(core.params.ef_search).max(k);
    let filter = opts.filter.as_ref();
    // Fast path: no filter and no dead rows make visibility a bound on the
    // row number, with no row lookup per visited node.
    let mut found = match filter.is_none().then(|| mem.visible_prefix(seq)).flatten() {
        Some(bound) => mem.graph().search(query, k, ef, &|node| node < bound),
        None => mem.graph().search(query, k, ef, &|node| accepts(mem, node, seq, filter)),
    };
    if found.len() < k {
        // Few matches (selective filter, many deletes): the exact answer is
        // cheap and guarantees k results whenever k documents match.
        found = exact_scan(mem, query, k, seq, filter);
    }
    found.into_iter().map(|(node, d)| to_hit(core, node, d, opts)).collect()
}

fn accepts(mem: &Memtable, node: NodeId, seq: u64, filter: Option<&Filter>) -> bool {
    let row = mem.row(node);
    row.visible_at(seq) && filter.is_none_or(|f| f.matches(&row.metadata))
}

#[derive(PartialEq)]
struct Scored(f32, NodeId);
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

fn exact_scan(mem: &Memtable, query: &[f32], k: usize, seq: u64, filter: Option<&Filter>) -> Vec<(NodeId, f32)> {
    let metric = mem.graph().metric();
    let mut heap = BinaryHeap::with_capacity(k + 1);
    for (node, row) in mem.rows() {
        if !row.visible_at(seq) || !filter.is_none_or(|f| f.matches(&row.metadata)) {
            continue;
        }
        // Visible rows are always linked, so the graph holds their (normalised) vector.
        let Some(d) = mem.graph().with_vector(node, |v| distance(metric, query, v)) else { continue };
        heap.push(Scored(d, node));
        if heap.len() > k {
            heap.pop();
        }
    }
    heap.into_sorted_vec().into_iter().map(|Scored(d, n)| (n, d)).collect()
}

fn to_hit(core: &CollectionCore, node: NodeId, d: f32, opts: &SearchOptions) -> Hit {
    let row = core.memtable.row(node);
    let document = opts.include_document.then(|| {
        let mut doc = row.document(row.seq);
        if !opts.include_vector {
            doc.vector = Vec::new();
        }
        doc
    });
    Hit { id: row.id.to_string(), distance: user_distance(core.memtable.graph().metric(), d), document }
}

/// The graph works with squared L2; users get the Euclidean distance.
fn user_distance(metric: Metric, d: f32) -> f32 {
    match metric {
        Metric::L2 => d.max(0.0).sqrt(),
        _ => d,
    }
}

pub(crate) fn stats(core: &CollectionCore) -> CollectionStats {
    let mem = &core.memtable;
    let versions = mem.row_count() as u64;
    let documents = mem.live();
    CollectionStats {
        name: core.name.clone(),
        dimension: core.config.dimension,
        distance: core.config.distance,
        documents,
        versions,
        dead: versions.saturating_sub(documents),
        orphans: 0,
        segments: 0,
        memtable_bytes: mem.data_bytes(),
        index_bytes: mem.graph().memory_bytes() as u64,
        m: core.params.m,
        ef_construction: core.params.ef_construction,
        ef_search: core.params.ef_search,
    }
}
