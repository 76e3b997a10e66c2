//! Layer search (the paper's SEARCH-LAYER with beam width `ef`), the greedy
//! descent through upper layers, and the public k-NN query.

use super::distance::{prefetch, prefetch_value};
use super::graph::Node;
use super::index::Hnsw;
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
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist.total_cmp(&other.dist).then(self.id.cmp(&other.id))
    }
}

/// Buffers reused across traversals so a query allocates nothing but its
/// result vector. Taken from `Hnsw::scratch`.
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
}

impl Scratch {
    /// Heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        let c = std::mem::size_of::<Candidate>();
        self.visited.memory_bytes()
            + std::mem::size_of::<NodeId>() * self.pending.capacity()
            + c * (self.candidates.capacity()
                + self.results.capacity()
                + self.found.capacity()
                + self.selected.capacity()
                + self.prune.capacity()
                + self.pruned.capacity())
    }
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
        if k == 0 {
            return Vec::new();
        }
        let Some(ep) = self.entry_point() else {
            return Vec::new();
        };
        let Some(ep_data) = self.graph.data(ep.id) else {
            return Vec::new();
        };
        let mut cur = Candidate { id: ep.id, dist: (self.dist)(query, &ep_data.vector) };
        for layer in (1..=ep.level).rev() {
            cur = self.greedy_closest(query, cur, layer);
        }
        let mut scratch = self.scratch.get();
        self.search_layer(&mut scratch, query, cur, ef.max(k), 0, |id, node| node.is_ready() && accept(id));
        scratch.found.iter().take(k).map(|c| (c.id, c.dist)).collect()
    }

    /// Greedy walk on `layer` from `cur` to a local minimum (beam width 1),
    /// used to descend the sparse upper layers cheaply.
    pub(crate) fn greedy_closest(&self, query: &[f32], mut cur: Candidate, layer: usize) -> Candidate {
        loop {
            let Some(data) = self.graph.data(cur.id) else {
                return cur;
            };
            let mut improved = false;
            for n in self.graph.neighbours(data, layer) {
                if let Some(nd) = self.graph.data(n) {
                    let d = (self.dist)(query, &nd.vector);
                    if d < cur.dist {
                        cur = Candidate { id: n, dist: d };
                        improved = true;
                    }
                }
            }
            if !improved {
                return cur;
            }
        }
    }

    /// Beam search on `layer` from `entry`, leaving up to `ef` accepted
    /// nodes in `scratch.found`, nearest first.
    ///
    /// Rejected nodes are still expanded. The search stops once the nearest
    /// unexpanded candidate is farther than the worst of `ef` accepted
    /// results; until `ef` accepted nodes are found it keeps going (hnswlib's
    /// rule for filtered search).
    pub(crate) fn search_layer<F>(
        &self,
        scratch: &mut Scratch,
        query: &[f32],
        entry: Candidate,
        ef: usize,
        layer: usize,
        accept: F,
    ) where
        F: Fn(NodeId, &Node) -> bool,
    {
        let Scratch { visited, candidates, results, pending, found, .. } = scratch;
        visited.clear(self.graph.allocated());
        candidates.clear();
        results.clear();

        visited.insert(entry.id);
        candidates.push(Reverse(entry));
        if let Some(node) = self.graph.node(entry.id) {
            if accept(entry.id, node) {
                results.push(entry);
            }
        }

        while let Some(Reverse(c)) = candidates.pop() {
            if results.len() >= ef && results.peek().is_some_and(|w| c.dist > w.dist) {
                break;
            }
            let Some(cdata) = self.graph.data(c.id) else {
                continue;
            };
            // Three passes, so the cache misses that dominate search time
            // overlap instead of queueing: prefetch each unvisited
            // neighbour's node slot, then (slots arriving) its vector, then
            // compute distances while the vectors stream in.
            pending.clear();
            for n in self.graph.neighbours(cdata, layer) {
                if visited.insert(n) {
                    if let Some(node) = self.graph.node(n) {
                        prefetch_value(node);
                        pending.push(n);
                    }
                }
            }
            for &n in pending.iter() {
                if let Some(ndata) = self.graph.data(n) {
                    prefetch(&ndata.vector);
                }
            }
            for &n in pending.iter() {
                let Some(node) = self.graph.node(n) else {
                    continue;
                };
                let Some(ndata) = node.data() else {
                    continue;
                };
                let d = (self.dist)(query, &ndata.vector);
                let admit = match results.peek() {
                    Some(worst) if results.len() >= ef => d < worst.dist,
                    _ => true,
                };
                if admit {
                    let cand = Candidate { id: n, dist: d };
                    candidates.push(Reverse(cand));
                    if accept(n, node) {
                        results.push(cand);
                        if results.len() > ef {
                            results.pop();
                        }
                    }
                }
            }
        }

        found.clear();
        found.extend(results.drain());
        found.sort_unstable();
    }
}
