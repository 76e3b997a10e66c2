//! Layer search (the paper's SEARCH-LAYER with beam width `ef`), the greedy
//! descent through upper layers, and the k-NN query, written once for every
//! [`GraphView`] (the live graph and frozen segment graphs).

use super::distance::{DistanceFn, Metric};
use super::index::Hnsw;
use super::quant::QuantQuery;
use super::view::GraphView;
use super::visited::VisitedSet;
use super::NodeId;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// A node with its distance to the current query.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub(crate) dist: f32,
    pub(crate) id: NodeId,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    /// By distance, ties broken by id so orderings are deterministic.
    /// `total_cmp` keeps NaN (from NaN input) from breaking heap invariants.
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist.total_cmp(&other.dist).then(self.id.cmp(&other.id))
    }
}

/// How a traversal scores nodes against its query.
pub(crate) trait Scorer<G: GraphView> {
    /// Distance of `id` to the query (smaller is closer), `None` if the node
    /// has no data yet.
    fn score(&self, g: &G, id: NodeId) -> Option<f32>;
    /// Starts loading what `score(id)` will read (`lines` cache lines, 0 = all).
    fn prefetch(&self, g: &G, id: NodeId, lines: usize);
}

/// Exact distances on the full-precision vectors.
pub(crate) struct Exact<'q> {
    pub(crate) dist: DistanceFn,
    pub(crate) query: &'q [f32],
}

impl<G: GraphView> Scorer<G> for Exact<'_> {
    #[inline(always)]
    fn score(&self, g: &G, id: NodeId) -> Option<f32> {
        g.vector(id).map(|v| (self.dist)(self.query, v))
    }

    #[inline(always)]
    fn prefetch(&self, g: &G, id: NodeId, lines: usize) {
        g.prefetch_vector(id, lines);
    }
}

/// Exact cosine distances over vectors stored as the caller wrote them:
/// node `id` is compared as its row times `inv_norms[id]`, the factor
/// [`normalize`](super::normalize) scales it by, so `1 − dot(query, row) ×
/// inv_norm` (a segment keeps one copy of each vector; `frozen.rs`).
pub(crate) struct ScaledCosine<'q> {
    pub(crate) dot: DistanceFn,
    pub(crate) query: &'q [f32],
    pub(crate) inv_norms: &'q [f32],
}

impl<G: GraphView> Scorer<G> for ScaledCosine<'_> {
    #[inline(always)]
    fn score(&self, g: &G, id: NodeId) -> Option<f32> {
        let (v, &inv) = (g.vector(id)?, self.inv_norms.get(id as usize)?);
        Some(1.0 - (self.dot)(self.query, v) * inv)
    }

    #[inline(always)]
    fn prefetch(&self, g: &G, id: NodeId, lines: usize) {
        g.prefetch_vector(id, lines);
        // The factor sits in another array: one more line, asked for with
        // the vector's first.
        if lines == 1 {
            if let Some(inv) = self.inv_norms.get(id as usize) {
                super::distance::prefetch_ptr(inv, 1, 1);
            }
        }
    }
}

/// Approximate distances on the quantized records.
impl<G: GraphView> Scorer<G> for QuantQuery {
    #[inline(always)]
    fn score(&self, g: &G, id: NodeId) -> Option<f32> {
        g.record(id).map(|r| self.distance(r))
    }

    #[inline(always)]
    fn prefetch(&self, g: &G, id: NodeId, lines: usize) {
        g.prefetch_record(id, lines);
    }
}

/// Buffers reused across traversals so a query allocates nothing but its
/// result vector.
#[derive(Default)]
pub(crate) struct Scratch {
    visited: VisitedSet,
    /// Frontier still to expand, nearest first.
    candidates: BinaryHeap<Reverse<Candidate>>,
    /// Best accepted nodes so far, farthest on top so it can be evicted.
    results: BinaryHeap<Candidate>,
    /// Unvisited neighbours of the node being expanded, whose vectors are
    /// being prefetched.
    pending: Vec<NodeId>,
    /// Output of the last `search_layer`, nearest first.
    pub(crate) found: Vec<Candidate>,
    /// Neighbours chosen by the heuristic (used by inserts).
    pub(crate) selected: Vec<Candidate>,
    /// Candidate list while re-pruning a neighbour (used by inserts).
    pub(crate) prune: Vec<Candidate>,
    /// Heuristic output while re-pruning (used by inserts).
    pub(crate) pruned: Vec<Candidate>,
    /// The quantized query of a search over a quantized graph.
    quant: QuantQuery,
    /// Re-scoring order of a quantized search: nodes by the lower end of
    /// their distance bound.
    order: Vec<Candidate>,
    /// Full vectors read by the last re-scoring.
    pub(crate) rescored: usize,
}

impl Scratch {
    /// Heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        let c = std::mem::size_of::<Candidate>();
        self.visited.memory_bytes()
            + self.quant.memory_bytes()
            + std::mem::size_of::<NodeId>() * self.pending.capacity()
            + c * (self.candidates.capacity()
                + self.results.capacity()
                + self.found.capacity()
                + self.order.capacity()
                + self.selected.capacity()
                + self.prune.capacity()
                + self.pruned.capacity())
    }
}

/// k nearest nodes to `query` that are ready and accepted, nearest first, as
/// `(node, distance)`; see [`Hnsw::search`] for the semantics.
///
/// Over a quantized graph the walk scores nodes by their records; of the
/// `max(ef, k)` nodes it finds, those that may be among the `k` nearest
/// (by the records' error bound) are re-scored with the full vectors
/// (`exact`), so the distances returned are exact.
#[allow(clippy::too_many_arguments)]
pub(crate) fn knn<G: GraphView, E: Scorer<G>>(
    g: &G,
    metric: Metric,
    exact: &E,
    scratch: &mut Scratch,
    query: &[f32],
    k: usize,
    ef: usize,
    accept: &dyn Fn(NodeId) -> bool,
) -> Vec<(NodeId, f32)> {
    if k == 0 {
        return Vec::new();
    }
    if !g.quantized() {
        walk(g, exact, scratch, k, ef, accept);
        return scratch.found.iter().take(k).map(|c| (c.id, c.dist)).collect();
    }
    let mut quant = std::mem::take(&mut scratch.quant);
    quant.prepare(query, metric);
    walk(g, &quant, scratch, k, ef, accept);
    let out = rescore(g, &quant, exact, scratch, k);
    scratch.quant = quant;
    out
}

/// Cache-line prefetch distance (in candidates) of the re-scoring loop.
const RESCORE_AHEAD: usize = 2;

/// Exact distances for the nodes of `scratch.found` (scored on records by
/// `quant`), the best `k` nearest first. Nodes are re-scored in order of the
/// lower end of their error bound, stopping at the first whose lower end is
/// past the `k`-th exact distance found: with high probability no later node
/// is closer, so the answer equals re-scoring them all while most full
/// vectors (the cache misses) are never read.
pub(super) fn rescore<G: GraphView, E: Scorer<G>>(
    g: &G,
    quant: &QuantQuery,
    exact: &E,
    scratch: &mut Scratch,
    k: usize,
) -> Vec<(NodeId, f32)> {
    let Scratch { found, order, results, rescored, .. } = scratch;
    *rescored = 0;
    order.clear();
    order.extend(found.iter().filter_map(|c| {
        g.record(c.id).map(|r| {
            let (d, bound) = quant.distance_and_bound(r);
            Candidate { id: c.id, dist: d - bound }
        })
    }));
    order.sort_unstable();
    results.clear();
    for c in order.iter().take(RESCORE_AHEAD) {
        exact.prefetch(g, c.id, 0);
    }
    for i in 0..order.len() {
        let low = order[i];
        if results.len() >= k && results.peek().is_some_and(|w| low.dist > w.dist) {
            break;
        }
        if let Some(next) = order.get(i + RESCORE_AHEAD) {
            exact.prefetch(g, next.id, 0);
        }
        let Some(dist) = exact.score(g, low.id) else {
            continue;
        };
        *rescored += 1;
        results.push(Candidate { id: low.id, dist });
        if results.len() > k {
            results.pop();
        }
    }
    let mut out: Vec<(NodeId, f32)> = results.drain().map(|c| (c.id, c.dist)).collect();
    out.sort_unstable_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    out
}

/// Descends from the entry point and beam-searches layer 0, leaving the
/// result in `scratch.found`.
pub(super) fn walk<G: GraphView, S: Scorer<G>>(
    g: &G,
    scorer: &S,
    scratch: &mut Scratch,
    k: usize,
    ef: usize,
    accept: &dyn Fn(NodeId) -> bool,
) {
    scratch.found.clear();
    let Some((ep, top)) = g.entry() else {
        return;
    };
    let Some(ep_dist) = scorer.score(g, ep) else {
        return;
    };
    let mut cur = Candidate { id: ep, dist: ep_dist };
    for layer in (1..=top).rev() {
        cur = greedy_closest(g, scorer, cur, layer);
    }
    search_layer(g, scorer, scratch, cur, ef.max(k), 0, |id| g.is_ready(id) && accept(id));
}

/// Greedy walk on `layer` from `cur` to a local minimum (beam width 1),
/// used to descend the sparse upper layers cheaply.
pub(crate) fn greedy_closest<G: GraphView, S: Scorer<G>>(
    g: &G,
    scorer: &S,
    mut cur: Candidate,
    layer: usize,
) -> Candidate {
    loop {
        let mut best = cur;
        g.for_each_neighbour(cur.id, layer, |n| {
            if let Some(d) = scorer.score(g, n) {
                if d < best.dist {
                    best = Candidate { id: n, dist: d };
                }
            }
        });
        if best.id == cur.id {
            return cur;
        }
        cur = best;
    }
}

/// Beam search on `layer` from `entry`, leaving up to `ef` accepted nodes
/// in `scratch.found`, nearest first.
///
/// Rejected nodes are still expanded. The search stops once the nearest
/// unexpanded candidate is farther than the worst of `ef` accepted results;
/// until `ef` accepted nodes are found it keeps going (hnswlib's rule for
/// filtered search).
pub(crate) fn search_layer<G: GraphView, S: Scorer<G>>(
    g: &G,
    scorer: &S,
    scratch: &mut Scratch,
    entry: Candidate,
    ef: usize,
    layer: usize,
    accept: impl Fn(NodeId) -> bool,
) {
    let Scratch { visited, candidates, results, pending, found, .. } = scratch;
    visited.clear(g.id_bound());
    candidates.clear();
    results.clear();

    visited.insert(entry.id);
    candidates.push(Reverse(entry));
    if accept(entry.id) {
        results.push(entry);
    }
    // Distance of the worst result once `ef` are held (infinite before).
    let mut bound = if results.len() >= ef { results.peek().map_or(f32::INFINITY, |w| w.dist) } else { f32::INFINITY };

    while let Some(Reverse(c)) = candidates.pop() {
        if c.dist > bound {
            break;
        }
        // The list of the candidate expanded next starts loading now.
        if let Some(Reverse(next)) = candidates.peek() {
            g.prefetch_links(next.id, layer);
        }
        // Collect the unvisited neighbours and start loading the first cache
        // line of each vector, so their misses overlap.
        pending.clear();
        g.for_each_neighbour(c.id, layer, |n| {
            if visited.insert(n) {
                scorer.prefetch(g, n, 1);
                pending.push(n);
            }
        });
        for i in 0..pending.len() {
            let n = pending[i];
            // While this distance is computed, the whole next vector streams in.
            if let Some(&next) = pending.get(i + 1) {
                scorer.prefetch(g, next, 0);
            }
            let Some(d) = scorer.score(g, n) else {
                continue;
            };
            if d < bound || results.len() < ef {
                let cand = Candidate { id: n, dist: d };
                candidates.push(Reverse(cand));
                if accept(n) {
                    results.push(cand);
                    if results.len() > ef {
                        results.pop();
                    }
                    if results.len() >= ef {
                        bound = results.peek().map_or(f32::INFINITY, |w| w.dist);
                    }
                }
            }
        }
    }

    found.clear();
    found.extend(results.drain());
    found.sort_unstable();
}

impl Hnsw {
    /// k nearest accepted nodes to `query`, nearest first, as
    /// `(node, distance)`.
    ///
    /// The beam width is `max(ef, k)`. Traversal walks through every node,
    /// so nodes rejected by `accept` (deleted, invisible, filtered) still
    /// serve as waypoints and keep the graph navigable; only nodes with
    /// `accept(node) == true` whose insert has completed enter the result.
    ///
    /// Filtering is "search until `ef` accepted nodes are found": a filter
    /// that accepts a fraction `p` of nodes costs roughly `1/p` times more
    /// work, and may return fewer than `k` results if few accepted nodes are
    /// reachable. For very selective filters (well under ~1%) callers should
    /// fall back to an exact scan of the accepted ids instead.
    ///
    /// # Panics
    /// If `query.len() != self.dim()`.
    pub fn search(&self, query: &[f32], k: usize, ef: usize, accept: &dyn Fn(NodeId) -> bool) -> Vec<(NodeId, f32)> {
        assert_eq!(query.len(), self.dim, "HNSW query has dimension {} but the index has {}", query.len(), self.dim);
        let mut scratch = self.scratch.get();
        knn(&self.view(), self.metric, &Exact { dist: self.dist, query }, &mut scratch, query, k, ef, accept)
    }
}
