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

/// Of the layer-0 links of `base`'s surviving nodes (`new_id[old]` is
/// `Some`), how many name a dropped node, and how many there are: the
/// share of the graph that healing has to redo.
pub(crate) fn dropped_links(base: &FrozenGraph<'_>, new_id: &[Option<NodeId>]) -> (usize, usize) {
    let (mut dropped, mut links) = (0, 0);
    for old in (0..base.len() as NodeId).filter(|&o| new_id.get(o as usize).is_some_and(Option::is_some)) {
        base.for_each_neighbour(old, 0, |nb| {
            links += 1;
            dropped += usize::from(new_id.get(nb as usize).is_none_or(Option::is_none));
        });
    }
    (dropped, links)
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
            let v = base.compared_vector(old)?;
            // Inner-product graphs lift vectors by the largest norm: known
            // before any distance below is taken.
            h.observe_insert(&v);
            h.graph.init_node(id, &v, level(old));
        }

        // 1. New lists for (node, layer) pairs that link to a dropped node,
        //    computed from the old graph, which nothing writes.
        let dropped = |x: NodeId| new_id[x as usize].is_none();
        let moved = |x: NodeId| new_id[x as usize];
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
        let healed: Vec<Vec<NodeId>> =
            parallel_map(&to_heal, |&(old, layer), s: &mut HealScratch| self_heal(&h, base, &moved, old, layer, s));

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
/// chosen by the heuristic (module docs). `moved(old)` is a survivor's id
/// in `h` (which holds its vector as compared), `None` for a dropped node.
fn self_heal(
    h: &Hnsw,
    base: &FrozenGraph<'_>,
    moved: &dyn Fn(NodeId) -> Option<NodeId>,
    old: NodeId,
    layer: usize,
    s: &mut HealScratch,
) -> Vec<NodeId> {
    let dropped = |x: NodeId| moved(x).is_none();
    let Some(uv) = base.compared_vector(old) else { return Vec::new() };
    // A base that stores rows as written scales them as it compares them
    // (cosine: the build distance is the plain one); others compare as an
    // insert does (inner product lifts both sides).
    let dist = |x: NodeId| {
        let d = if base.scaled() { base.distance_to(&uv, x) } else { base.vector(x).map(|v| h.build_distance(&uv, v)) };
        d.unwrap_or(f32::INFINITY)
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
    // Kept links and border nodes all survive: their vectors as compared
    // are in `h` already.
    select_diverse(
        &shortcuts,
        cap,
        &mut out,
        |id| moved(id).and_then(|n| h.graph.vector(n)),
        |a, b| h.build_distance(a, b),
    );
    // Hand the allocation back for the next list.
    let mut spare = shortcuts;
    spare.clear();
    *border = BinaryHeap::from(spare);
    out.into_iter().map(|c| c.id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hnsw::{FlatGraph, Metric};

    /// `n` points around 10 centres in 8 dimensions (seeded).
    fn rows(n: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut s = seed;
        let mut unit = move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        (0..n)
            .map(|i| {
                let centre = (i % 10) as f32;
                (0..8).map(|_| centre + unit()).collect()
            })
            .collect()
    }

    fn params(m: usize) -> HnswParams {
        HnswParams { m, ef_construction: 64, seed: 9, quantize: false }
    }

    fn built(data: &[Vec<f32>], metric: Metric, m: usize) -> FlatGraph {
        let h = Hnsw::new(8, metric, params(m));
        for (i, v) in data.iter().enumerate() {
            h.insert_at(i as u32, v);
        }
        h.to_flat().unwrap()
    }

    /// Drops every node `drop(old)` says and numbers the others densely in
    /// reverse order (so no id stays put).
    fn renumber(n: usize, drop: impl Fn(usize) -> bool) -> Vec<Option<NodeId>> {
        let survivors = (0..n).filter(|&i| !drop(i)).count() as u32;
        let mut next = survivors;
        (0..n)
            .map(|i| {
                (!drop(i)).then(|| {
                    next -= 1;
                    next
                })
            })
            .collect()
    }

    /// Node count reachable from the entry along every list of every layer.
    fn reachable(h: &Hnsw) -> usize {
        let n = h.graph.allocated();
        let mut seen = vec![false; n];
        let Some(ep) = h.entry_point() else { return 0 };
        let mut stack = vec![ep.id];
        seen[ep.id as usize] = true;
        while let Some(x) = stack.pop() {
            for layer in 0..=h.graph.data(x).unwrap().level {
                for nb in h.graph.neighbours(x, layer) {
                    if !std::mem::replace(&mut seen[nb as usize], true) {
                        stack.push(nb);
                    }
                }
            }
        }
        seen.iter().filter(|&&s| s).count()
    }

    /// Heal + remap: vectors and levels move to their new ids, no list
    /// names a dropped node (or a node twice, or itself), lists stay within
    /// capacity, and every survivor is reachable from the entry point.
    #[test]
    fn healed_graph_keeps_survivors_linked_under_new_ids() {
        for (metric, m, share) in [(Metric::L2, 8, 3), (Metric::L2, 4, 2), (Metric::InnerProduct, 8, 4)] {
            let data = rows(3000, 5);
            let flat = built(&data, metric, m);
            let base = flat.view();
            // Drop one node in `share` (and, with share 2, half of them).
            let new_id = renumber(data.len(), |i| i % share == 1);
            let h = Hnsw::from_healed(&base, &new_id, params(m)).expect("same geometry");
            let survivors = new_id.iter().flatten().count();
            assert_eq!(h.len(), survivors);
            assert_eq!(h.graph.allocated(), survivors);
            for (old, new) in new_id.iter().enumerate() {
                let Some(new) = *new else { continue };
                assert_eq!(h.graph.vector(new).unwrap(), base.vector(old as u32).unwrap(), "vector moved");
                let level = h.graph.data(new).unwrap().level;
                assert_eq!(level, usize::from(base.parts().levels[old]), "level kept");
                for layer in 0..=level {
                    let list: Vec<NodeId> = h.graph.neighbours(new, layer).collect();
                    assert!(list.len() <= h.graph.max_links(layer), "{metric:?} m {m}: over capacity");
                    assert!(list.iter().all(|&x| (x as usize) < survivors), "a dropped or unknown node");
                    assert!(!list.contains(&new), "a self-link");
                    let mut sorted = list.clone();
                    sorted.sort_unstable();
                    sorted.dedup();
                    assert_eq!(sorted.len(), list.len(), "a node listed twice");
                }
            }
            let fresh = Hnsw::new(8, metric, params(m));
            for (old, v) in data.iter().enumerate() {
                if let Some(n) = new_id[old] {
                    fresh.insert_at(n, v);
                }
            }
            let (healed, rebuilt) = (reachable(&h), reachable(&fresh));
            eprintln!(
                "{metric:?} m {m}, 1 in {share} dropped: reachable healed {healed}, fresh {rebuilt} of {survivors}"
            );
            if metric == Metric::L2 {
                assert_eq!(healed, survivors, "m {m}, 1 in {share} dropped: a survivor cut off");
            } else {
                // Inner product on all-positive data: even a fresh build
                // leaves nodes no list reaches (the reachability pass of
                // `to_flat` links them); healing must do no worse.
                assert!(healed >= rebuilt, "healed {healed} vs fresh {rebuilt}");
            }
            let flat = h.to_flat().unwrap();
            let written = Hnsw::from_frozen(&flat.view(), params(m)).unwrap();
            let fresh_written = Hnsw::from_frozen(&fresh.to_flat().unwrap().view(), params(m)).unwrap();
            eprintln!("  once written: healed {}, fresh {}", reachable(&written), reachable(&fresh_written));
            if metric == Metric::L2 {
                assert_eq!(reachable(&written), survivors, "every survivor reachable once written");
            }
            // Inner product: healed graphs stay below a fresh build once
            // written (2,089 vs 2,175 of 2,250 here), so compaction never
            // reuses them (`engine/compaction/graph.rs`).
            let ep = h.entry_point().unwrap();
            assert_eq!(ep.level, h.graph.data(ep.id).unwrap().level, "entry on its own top layer");
        }
    }

    /// Links among survivors that no dropped node was part of are kept
    /// exactly (renumbered); a dropped entry point is replaced by a
    /// survivor of the highest remaining level.
    #[test]
    fn untouched_lists_are_kept_and_a_dropped_entry_is_replaced() {
        let data = rows(2000, 7);
        let flat = built(&data, Metric::L2, 8);
        let base = flat.view();
        let entry = base.parts().entry.unwrap() as usize;
        let new_id = renumber(data.len(), |i| i == entry || i % 50 == 3);
        let h = Hnsw::from_healed(&base, &new_id, params(8)).unwrap();
        let (mut untouched, mut kept_whole) = (0, 0);
        for old in 0..data.len() as NodeId {
            let Some(new) = new_id[old as usize] else { continue };
            let mut before = Vec::new();
            base.for_each_neighbour(old, 0, |x| before.push(x));
            if before.iter().all(|&x| new_id[x as usize].is_some()) {
                untouched += 1;
                // Back-links from healed nodes may add to the list, or
                // replace a link when it is full.
                let got: Vec<NodeId> = h.graph.neighbours(new, 0).collect();
                kept_whole += usize::from(before.iter().all(|&x| got.contains(&new_id[x as usize].unwrap())));
            }
        }
        assert!(untouched > 1000, "most lists name no dropped node: {untouched}");
        assert!(kept_whole * 10 >= untouched * 9, "{kept_whole} of {untouched} untouched lists kept whole");
        let ep = h.entry_point().unwrap();
        let top = (0..h.graph.allocated() as NodeId).map(|i| h.graph.data(i).unwrap().level).max().unwrap();
        assert_eq!(ep.level, top);
        assert_eq!(h.graph.data(ep.id).unwrap().level, top);
    }

    /// The whole merge: heal, insert the other rows, flatten. Every node
    /// is reachable, recall is that of a fresh build, and healing gives the
    /// same graph every time (back-links are decided per target node).
    #[test]
    fn merged_graph_answers_like_a_fresh_build() {
        let data = rows(4000, 11);
        let extra = rows(1000, 12);
        let flat = built(&data, Metric::L2, 8);
        let new_id = renumber(data.len(), |i| i % 4 == 0);
        let survivors = new_id.iter().flatten().count();
        let merged_rows: Vec<&Vec<f32>> = {
            let mut v: Vec<Option<&Vec<f32>>> = vec![None; survivors];
            for (old, new) in new_id.iter().enumerate() {
                if let Some(n) = new {
                    v[*n as usize] = Some(&data[old]);
                }
            }
            v.into_iter().map(Option::unwrap).chain(&extra).collect()
        };
        let heal = || Hnsw::from_healed(&flat.view(), &new_id, params(8)).unwrap();
        let h = heal();
        let again = heal();
        for id in 0..survivors as NodeId {
            assert_eq!(
                h.graph.neighbours(id, 0).collect::<Vec<_>>(),
                again.graph.neighbours(id, 0).collect::<Vec<_>>()
            );
        }
        let others: Vec<NodeId> = (survivors as NodeId..merged_rows.len() as NodeId).collect();
        assert!(h.insert_all(&others, |id| merged_rows[id as usize].clone(), || {}, &|| false));
        let merged = h.to_flat().expect("every id filled");
        assert_eq!(merged.view().len(), merged_rows.len());
        let fresh = {
            let f = Hnsw::new(8, Metric::L2, params(8));
            for (i, v) in merged_rows.iter().enumerate() {
                f.insert_at(i as u32, v);
            }
            f.to_flat().unwrap()
        };
        let queries = rows(200, 13);
        let recall = |g: &FlatGraph| {
            let mut found = 0;
            for q in &queries {
                let mut truth: Vec<(f32, usize)> =
                    merged_rows.iter().enumerate().map(|(i, v)| (crate::hnsw::distance(Metric::L2, q, v), i)).collect();
                truth.sort_by(|a, b| a.0.total_cmp(&b.0));
                let truth: Vec<usize> = truth[..10].iter().map(|t| t.1).collect();
                found += g
                    .view()
                    .search(q, 10, 20, &|_| true)
                    .iter()
                    .filter(|(id, _)| truth.contains(&(*id as usize)))
                    .count();
            }
            found as f64 / (10 * queries.len()) as f64
        };
        let (r_merged, r_fresh) = (recall(&merged), recall(&fresh));
        eprintln!("recall@10 at ef 20: merged {r_merged:.4}, fresh {r_fresh:.4}");
        assert!(r_merged >= r_fresh - 0.02, "merged {r_merged} vs fresh {r_fresh}");
        let reach = Hnsw::from_frozen(&merged.view(), params(8)).unwrap();
        assert_eq!(reachable(&reach), merged_rows.len());
    }

    #[test]
    fn other_geometry_or_no_survivor_is_refused() {
        let data = rows(500, 3);
        let flat = built(&data, Metric::L2, 8);
        let all = renumber(data.len(), |_| false);
        assert!(Hnsw::from_healed(&flat.view(), &all, params(6)).is_none(), "other m");
        assert!(Hnsw::from_healed(&flat.view(), &all[1..], params(8)).is_none(), "short map");
        assert!(Hnsw::from_healed(&flat.view(), &vec![None; data.len()], params(8)).is_none(), "nothing survives");
        let h = Hnsw::from_healed(&flat.view(), &all, params(8)).unwrap();
        assert_eq!(h.to_flat().unwrap().view().len(), data.len());
    }
}
