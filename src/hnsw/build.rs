//! Inserting: level assignment, greedy descent, beam search per layer,
//! heuristic neighbour selection, and bidirectional linking with pruning.

use super::index::{EntryPoint, Hnsw};
use super::search::{greedy_closest, search_layer, Candidate, Scratch};
use super::NodeId;
use std::sync::atomic::Ordering;

impl Hnsw {
    /// Inserts a copy of `vector` and returns its id.
    ///
    /// Thread-safe: may run concurrently with other inserts and with
    /// searches. Ids are dense, assigned `0, 1, 2, ...` in the order inserts
    /// start. The node becomes visible to [`Hnsw::search`] results only once
    /// this call has linked it into every layer.
    ///
    /// # Panics
    /// If `vector.len() != self.dim()`, or the index already holds
    /// `NODES_MAX` (2^31, see `graph.rs`) nodes.
    #[cfg(test)]
    pub fn insert(&self, vector: &[f32]) -> NodeId {
        let id = self.graph.allocate_id();
        self.insert_node(id, vector);
        id
    }

    /// Inserts a copy of `vector` as node `id`, chosen by the caller. Same
    /// concurrency guarantees as [`Hnsw::insert`]; ids may arrive out of order
    /// or leave gaps (never-inserted ids are simply never reached).
    ///
    /// # Panics
    /// If `id` was already inserted, `id >= NODES_MAX`, or the dimension is wrong.
    pub fn insert_at(&self, id: NodeId, vector: &[f32]) {
        self.graph.claim_id(id);
        self.insert_node(id, vector);
    }

    fn insert_node(&self, id: NodeId, vector: &[f32]) {
        assert_eq!(vector.len(), self.dim, "HNSW insert has dimension {} but the index has {}", vector.len(), self.dim);
        let level = self.params.random_level(id);
        self.observe_insert(vector);
        self.graph.init_node(id, vector, level);

        // A node that will become the new top must hold `top_lock` for its
        // whole insert; re-read the entry point under the lock because
        // another such insert may have finished while we waited.
        let mut entry = self.entry_point();
        let mut top_guard = None;
        if entry.is_none_or(|e| level > e.level) {
            top_guard = Some(self.top_lock.lock());
            entry = self.entry_point();
            if entry.is_some_and(|e| level <= e.level) {
                top_guard = None;
            }
        }

        let Some(ep) = entry else {
            // First node: nothing to link to.
            self.finish(id);
            self.set_entry_point(EntryPoint { id, level });
            return;
        };

        self.link_into_graph(id, vector, level, ep);
        self.finish(id);
        if top_guard.is_some() && level > ep.level {
            self.set_entry_point(EntryPoint { id, level });
        }
    }

    /// Inserts node `id` with `vector(id)` for every id of `ids`, in that
    /// order, on every core (so the order is only roughly kept); calls
    /// `progress` after each insert. Gives up once `stop()` says so
    /// (checked between inserts): `false` if some ids were left out.
    pub(crate) fn insert_all(
        &self,
        ids: &[NodeId],
        vector: impl Fn(NodeId) -> Vec<f32> + Sync,
        progress: impl Fn() + Sync,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> bool {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    while !stop() {
                        let Some(&id) = ids.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
                        self.insert_at(id, &vector(id));
                        progress();
                    }
                });
            }
        });
        next.load(Ordering::Relaxed) >= ids.len()
    }

    /// Marks `id` searchable and counts it.
    fn finish(&self, id: NodeId) {
        self.graph.mark_ready(id);
        self.completed.fetch_add(1, Ordering::Release);
    }

    /// Algorithm 1 of the paper from the entry point `ep` down.
    fn link_into_graph(&self, id: NodeId, vector: &[f32], level: usize, ep: EntryPoint) {
        let Some(ep_vector) = self.graph.vector(ep.id) else {
            return;
        };
        let view = self.view();
        // Inserts always compare full vectors: the graph's quality does not
        // depend on quantization.
        let exact = self.insert_scorer(vector);
        let mut cur = Candidate { id: ep.id, dist: self.build_distance(vector, ep_vector) };
        // Layers only the existing top reaches: cheap greedy descent.
        for layer in (level + 1..=ep.level).rev() {
            cur = greedy_closest(&view, &exact, cur, layer);
        }
        let mut scratch = self.scratch.get();
        let ef = self.params.ef_construction();
        for layer in (0..=level.min(ep.level)).rev() {
            // Concurrent inserts may already have linked to us, so the beam
            // can reach this node itself; never select it.
            search_layer(&view, &exact, &mut scratch, cur, ef, layer, |n| n != id);
            let s = &mut *scratch;
            let Some(&nearest) = s.found.first() else {
                continue;
            };
            cur = nearest;
            // hnswlib selects `m` on every layer (even layer 0, whose lists
            // may later grow to `m0` through incoming links).
            self.select_neighbours(&s.found, self.params.m, &mut s.selected);
            self.connect(id, vector, layer, s);
        }
    }

    /// Neighbour selection by the diversity heuristic ([`select_diverse`])
    /// over this graph's vectors, as inserts compare them.
    pub(crate) fn select_neighbours(&self, candidates: &[Candidate], m: usize, out: &mut Vec<Candidate>) {
        out.clear();
        select_diverse(candidates, m, out, |id| self.graph.vector(id), |a, b| self.build_distance(a, b));
    }

    /// Links `id` and `s.selected` both ways on `layer`, re-pruning any list
    /// that would overflow. Holds at most one node lock at a time.
    fn connect(&self, id: NodeId, vector: &[f32], layer: usize, s: &mut Scratch) {
        let max_links = self.graph.max_links(layer);

        // Our own list. Other inserts may have appended themselves already;
        // merge rather than overwrite so those back-links survive.
        if let Some(node) = self.graph.node(id) {
            let guard = node.lock();
            s.prune.clear();
            s.prune.extend_from_slice(&s.selected);
            for n in self.graph.neighbours(id, layer) {
                if n != id && !s.prune.iter().any(|c| c.id == n) {
                    if let Some(nv) = self.graph.vector(n) {
                        let dist = self.build_distance(vector, nv);
                        s.prune.push(Candidate { id: n, dist });
                    }
                }
            }
            let list = if s.prune.len() > max_links {
                s.prune.sort_unstable();
                self.select_neighbours(&s.prune, max_links, &mut s.pruned);
                &s.pruned
            } else {
                &s.prune
            };
            self.graph.set_neighbours(&guard, id, layer, list.iter().map(|c| c.id));
        }

        // Back-links from each chosen neighbour.
        for &nb in &s.selected {
            let Some(node) = self.graph.node(nb.id) else {
                continue;
            };
            let Some(nb_vector) = self.graph.vector(nb.id) else {
                continue;
            };
            let guard = node.lock();
            if self.graph.neighbours(nb.id, layer).any(|n| n == id) {
                continue;
            }
            if self.graph.try_push_neighbour(&guard, nb.id, layer, id) {
                continue;
            }
            // Full: keep the best `max_links` of old neighbours plus us, by
            // the same heuristic. All three metrics are symmetric, so our
            // distance to `nb` is `nb.dist`.
            s.prune.clear();
            s.prune.push(Candidate { id, dist: nb.dist });
            for n in self.graph.neighbours(nb.id, layer) {
                if let Some(nv) = self.graph.vector(n) {
                    let dist = self.build_distance(nb_vector, nv);
                    s.prune.push(Candidate { id: n, dist });
                }
            }
            s.prune.sort_unstable();
            self.select_neighbours(&s.prune, max_links, &mut s.pruned);
            self.graph.set_neighbours(&guard, nb.id, layer, s.pruned.iter().map(|c| c.id));
        }
    }
}

/// The paper's Algorithm 4 as hnswlib implements it
/// (`getNeighborsByHeuristic2`, no `keepPrunedConnections`): walk
/// `candidates` (sorted nearest first) and keep one only if it is closer to
/// the base than to every node already kept. This favours neighbours in
/// different directions, which keeps clusters connected. Nodes already in
/// `out` count as kept (healing seeds it with the links a node keeps); the
/// walk stops once `out` holds `m`. With at most `m - out.len()` candidates
/// every one is kept, as in hnswlib.
pub(crate) fn select_diverse<'v>(
    candidates: &[Candidate],
    m: usize,
    out: &mut Vec<Candidate>,
    vector: impl Fn(NodeId) -> Option<&'v [f32]>,
    dist: impl Fn(&[f32], &[f32]) -> f32,
) {
    if out.len() + candidates.len() <= m {
        for &c in candidates {
            if !out.iter().any(|o| o.id == c.id) {
                out.push(c);
            }
        }
        return;
    }
    for &c in candidates {
        if out.len() >= m {
            break;
        }
        if out.iter().any(|o| o.id == c.id) {
            continue;
        }
        let Some(cv) = vector(c.id) else {
            continue;
        };
        let diverse = out.iter().all(|kept| vector(kept.id).is_none_or(|k| dist(cv, k) >= c.dist));
        if diverse {
            out.push(c);
        }
    }
}
