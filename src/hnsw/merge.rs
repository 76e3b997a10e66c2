//! Graphs of merged segments that start from an existing graph instead of
//! a rebuild (issue 13, item 6; the "reuse the existing graph" direction of
//! issue 15).
//!
//! [`Hnsw::from_healed`] loads the surviving nodes of a segment's graph
//! into a live index under new ids (the merged segment's row numbers), with
//! their levels and links; the caller then inserts the other inputs' rows
//! as usual. A fresh build throws away the work of every earlier build and
//! inserts rows one cluster after another when ids sort similar vectors
//! together; the old graph was built from the rows in the order they were
//! written, and most of it is still right.
//!
//! Dropped nodes (deleted or superseded rows) leave holes: a surviving node
//! that linked to one loses that link, and a node reached only through
//! dropped ones would be cut off. Healing follows Qdrant's
//! `GraphLayersHealer`: a surviving node whose list on a layer names a
//! dropped node searches, best first, through the dropped nodes reachable
//! from it on that layer, collecting the nearest surviving nodes on the
//! border of that dropped region (up to `ef_construction` of them; the
//! search expands a bounded number of dropped nodes, see
//! [`EXPANSIONS_PER_DROPPED_LINK`], where Qdrant's goes on while it finds
//! closer ones: that costs as much as a fresh build). It keeps
//! its surviving links and fills its list from those border nodes with the
//! diversity heuristic (seeded with the kept links, so a shortcut next to a
//! kept link is not added twice). Each new neighbour then links back, as an
//! insert's neighbours do; all back-links to one node are decided together,
//! by the thread that owns that node, so the result does not depend on
//! thread timing.
//!
//! The entry point stays if it survives; otherwise a surviving node of the
//! highest remaining level takes its place. Reachability is still repaired
//! by `to_flat` (`reach.rs`) when the merged graph is written.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::build::select_diverse;
use super::frozen::FrozenGraph;
use super::index::{EntryPoint, Hnsw};
use super::params::HnswParams;
use super::search::Candidate;
use super::view::GraphView;
use super::visited::VisitedSet;
use super::NodeId;

/// How far a node's border search goes: at most this many dropped nodes
/// expanded (best first) per link it had into dropped nodes. One is the
/// dropped neighbours' own neighbours; more reaches across larger dropped
/// regions. Measured on 200k x 64 clustered rows merged with a tenth / 30 %
/// of them dropped (`tests/compaction_recall.rs`, `merge_cost_phase`):
/// recall@10 at the default ef of the merged graph against a fresh build's
/// 0.9823 / 0.9824 (1), 0.9833 / 0.9828 (2), 0.9838 / 0.9874 (4) vs 0.9790 /
/// 0.9855, at 7.4 / 7.1, 10.3 / 10.3, 16 / 17 CPU seconds vs 27 / 19;
/// unbounded (only `ef_construction` border nodes) costs more than the
/// fresh build for 0.9885 at 30 %.
const EXPANSIONS_PER_DROPPED_LINK: usize = 2;

/// Per-thread buffers of the border search.
#[derive(Default)]
struct HealScratch {
    visited: VisitedSet,
    /// Dropped nodes still to expand, nearest first.
    frontier: BinaryHeap<Reverse<Candidate>>,
    /// Nearest surviving border nodes so far, farthest on top.
    border: BinaryHeap<Candidate>,
}

/// Runs `f` on every item on all cores; results in item order.
fn parallel_map<T: Sync, R: Send, S: Default>(items: &[T], f: impl Fn(&T, &mut S) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(items.len().max(1));
    let next = AtomicUsize::new(0);
    let mut parts: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut scratch = S::default();
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        out.push((i, f(item, &mut scratch)));
                    }
                    out
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("graph merge worker panicked")).collect()
    });
    let mut all: Vec<(usize, R)> = parts.iter_mut().flat_map(std::mem::take).collect();
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

impl Hnsw {
    /// A live index holding the nodes of `base` that survive: node `old`
    /// becomes node `new_id[old]` (`None`: dropped), keeping its vector,
    /// level and links, with the lists that named dropped nodes healed (see
    /// the module docs). Ids not named by `new_id` are free for later
    /// [`Hnsw::insert_at`] calls (`to_flat` needs every id below the
    /// largest to be filled). Healing and back-links run on every core.
    ///
    /// `None` when `base`'s geometry is not `params`' (`m`, `m0 = 2m`),
    /// `new_id` does not have one entry per node, or nothing survives.
    ///
    /// # Panics
    /// If two nodes are given the same new id.
    pub(crate) fn from_healed(base: &FrozenGraph<'_>, new_id: &[Option<NodeId>], params: HnswParams) -> Option<Hnsw> {
        let p = base.parts();
        if p.m != params.m || p.m0 != params.m0() || new_id.len() != base.len() {
            return None;
        }
        let h = Hnsw::new(p.dim, p.metric, params);
        let survivors: Vec<NodeId> = (0..base.len() as NodeId).filter(|&o| new_id[o as usize].is_some()).collect();
        if survivors.is_empty() {
            return None;
        }
        let level = |old: NodeId| usize::from(p.levels[old as usize]);
        for &old in &survivors {
            let id = new_id[old as usize].expect("a survivor");
            h.graph.claim_id(id);
            let v = base.vector(old)?;
            // Inner-product graphs lift vectors by the largest norm: known
            // before any distance below is taken.
            h.observe_insert(v);
            h.graph.init_node(id, v, level(old));
        }

        // 1. New lists for (node, layer) pairs that link to a dropped node,
        //    computed from the old graph, which nothing writes.
        let dropped = |x: NodeId| new_id[x as usize].is_none();
        let list = |old: NodeId, layer: usize| {
            let mut ids = Vec::new();
            base.for_each_neighbour(old, layer, |n| ids.push(n));
            ids
        };
        let to_heal: Vec<(NodeId, usize)> = survivors
            .iter()
            .flat_map(|&old| (0..=level(old)).map(move |l| (old, l)))
            .filter(|&(old, l)| list(old, l).into_iter().any(dropped))
            .collect();
        let healed: Vec<Vec<NodeId>> = parallel_map(&to_heal, |&(old, layer), s: &mut HealScratch| {
            self_heal(&h, base, &dropped, old, layer, s)
        });

        // 2. Every surviving list under the new ids.
        let mut healed_at = std::collections::HashMap::with_capacity(to_heal.len());
        for (i, &key) in to_heal.iter().enumerate() {
            healed_at.insert(key, i);
        }
        for &old in &survivors {
            let id = new_id[old as usize].expect("a survivor");
            let node = h.graph.node(id)?;
            let guard = node.lock();
            for layer in 0..=level(old) {
                let ids = match healed_at.get(&(old, layer)) {
                    Some(&i) => healed[i].clone(),
                    None => list(old, layer),
                };
                let ids: Vec<NodeId> = ids.into_iter().filter_map(|o| new_id[o as usize]).collect();
                h.graph.set_neighbours(&guard, id, layer, ids.into_iter());
            }
        }

        // 3. Back-links from the healed lists' new neighbours, grouped by
        //    the node that takes them.
        let mut requests: Vec<(NodeId, usize, NodeId)> = Vec::new();
        for (&(old, layer), new_list) in to_heal.iter().zip(&healed) {
            let before = list(old, layer);
            let from = new_id[old as usize].expect("a survivor");
            for &nb in new_list.iter().filter(|nb| !before.contains(nb)) {
                requests.push((new_id[nb as usize].expect("healed lists hold survivors"), layer, from));
            }
        }
        requests.sort_unstable();
        let groups: Vec<&[(NodeId, usize, NodeId)]> = requests.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)).collect();
        parallel_map(&groups, |group, s: &mut Vec<Candidate>| {
            let (target, layer) = (group[0].0, group[0].1);
            h.link_back(target, layer, group.iter().map(|r| r.2), s);
        });

        for &old in &survivors {
            h.graph.mark_ready(new_id[old as usize].expect("a survivor"));
        }
        h.completed.store(survivors.len(), Ordering::Release);
        let entry = match p.entry.and_then(|e| new_id[e as usize]) {
            Some(id) => EntryPoint { id, level: usize::from(p.max_level) },
            None => {
                // The first survivor of the highest remaining level.
                let top = survivors.iter().map(|&o| level(o)).max()?;
                let old = *survivors.iter().find(|&&o| level(o) == top)?;
                EntryPoint { id: new_id[old as usize]?, level: top }
            }
        };
        h.set_entry_point(entry);
        Some(h)
    }

    /// Adds `from` nodes to `target`'s list on `layer` (those not there
    /// yet), re-selecting with the heuristic when the list would overflow,
    /// as an insert's back-links do.
    fn link_back(&self, target: NodeId, layer: usize, from: impl Iterator<Item = NodeId>, s: &mut Vec<Candidate>) {
        let (Some(node), Some(tv)) = (self.graph.node(target), self.graph.vector(target)) else {
            return;
        };
        let guard = node.lock();
        let mut ids: Vec<NodeId> = self.graph.neighbours(target, layer).collect();
        let before = ids.len();
        for f in from {
            if f != target && !ids.contains(&f) {
                ids.push(f);
            }
        }
        if ids.len() == before {
            return;
        }
        let cap = self.graph.max_links(layer);
        if ids.len() > cap {
            let mut candidates: Vec<Candidate> = ids
                .iter()
                .filter_map(|&n| self.graph.vector(n).map(|v| Candidate { id: n, dist: self.build_distance(tv, v) }))
                .collect();
            candidates.sort_unstable();
            self.select_neighbours(&candidates, cap, s);
            ids = s.iter().map(|c| c.id).collect();
        }
        self.graph.set_neighbours(&guard, target, layer, ids.into_iter());
    }
}

/// The healed list of surviving node `old` on `layer`, in old ids: its
/// surviving links, then border nodes of the dropped region it linked into,
/// chosen by the heuristic (module docs).
fn self_heal(
    h: &Hnsw,
    base: &FrozenGraph<'_>,
    dropped: &dyn Fn(NodeId) -> bool,
    old: NodeId,
    layer: usize,
    s: &mut HealScratch,
) -> Vec<NodeId> {
    let Some(uv) = base.vector(old) else { return Vec::new() };
    let dist = |x: NodeId| {
        base.vector(x).map_or(f32::INFINITY, |v| h.build_distance(uv, v))
    };
    let cap = h.graph.max_links(layer);
    let ef = h.params.ef_construction();
    let HealScratch { visited, frontier, border } = s;
    visited.clear(base.len());
    frontier.clear();
    border.clear();
    visited.insert(old);
    let mut kept = Vec::new();
    base.for_each_neighbour(old, layer, |nb| {
        if visited.insert(nb) {
            let c = Candidate { id: nb, dist: dist(nb) };
            if dropped(nb) {
                frontier.push(Reverse(c));
            } else {
                kept.push(c);
            }
        }
    });
    // Best first through dropped nodes only; surviving nodes met on the way
    // are the border, never expanded (their own links are in place).
    let mut budget = EXPANSIONS_PER_DROPPED_LINK * frontier.len();
    while let Some(Reverse(c)) = frontier.pop() {
        if budget == 0 {
            break;
        }
        budget -= 1;
        let worst = if border.len() >= ef { border.peek().map_or(f32::INFINITY, |w| w.dist) } else { f32::INFINITY };
        if c.dist > worst {
            break;
        }
        base.for_each_neighbour(c.id, layer, |nb| {
            if !visited.insert(nb) {
                return;
            }
            let cand = Candidate { id: nb, dist: dist(nb) };
            if dropped(nb) {
                if cand.dist < worst {
                    frontier.push(Reverse(cand));
                }
            } else {
                border.push(cand);
                if border.len() > ef {
                    border.pop();
                }
            }
        });
    }
    kept.sort_unstable();
    kept.truncate(cap);
    let shortcuts = std::mem::take(border).into_sorted_vec();
    let mut out = kept;
    select_diverse(&shortcuts, cap, &mut out, |id| base.vector(id), |a, b| h.build_distance(a, b));
    // Hand the allocation back for the next list.
    let mut spare = shortcuts;
    spare.clear();
    *border = BinaryHeap::from(spare);
    out.into_iter().map(|c| c.id).collect()
}

