//! A read-only, flat form of the graph for segment files: every array is
//! plain `u8`/`u32` so it can be used in place from a mapped file.
//!
//! Layout (all little-endian):
//! * `meta`: `[entry, max_level, m, m0]` (u32 × 4; `entry = u32::MAX` when empty)
//! * `levels`: u8 per node — the top layer the node appears on
//! * `layer0`: `n × (1 + m0)` u32 — per node a count then up to `m0` neighbours
//! * `upper_start`: u32 per node — index of the node's first upper-layer
//!   block, `u32::MAX` for nodes on layer 0 only
//! * `upper`: `blocks × (1 + m)` u32 — a node of level `L` owns `L` consecutive
//!   blocks (layers 1..=L), each a count then up to `m` neighbours

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::distance::distance_fn;
use super::search::Candidate;
use super::visited::VisitedSet;
use super::{Hnsw, Metric, NodeId};

const NO_UPPER: u32 = u32::MAX;
const NO_ENTRY: u32 = u32::MAX;
/// Highest layer a valid graph may have (2^31 nodes with m ≥ 2 stay far below).
const LEVEL_MAX: u32 = 64;

/// The owned arrays of a flat graph (what a segment writer stores).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct FlatGraph {
    pub meta: [u32; 4],
    pub levels: Vec<u8>,
    pub layer0: Vec<u32>,
    pub upper_start: Vec<u32>,
    pub upper: Vec<u32>,
}

/// A validated, borrowed flat graph plus the vectors it indexes.
#[derive(Clone, Copy)]
pub(crate) struct FrozenGraph<'a> {
    entry: u32,
    max_level: u32,
    m: usize,
    m0: usize,
    levels: &'a [u8],
    layer0: &'a [u32],
    upper_start: &'a [u32],
    upper: &'a [u32],
    vectors: &'a [f32],
    dim: usize,
    metric: Metric,
}

/// Reusable buffers of one frozen-graph query.
#[derive(Default)]
pub(crate) struct FlatScratch {
    visited: VisitedSet,
    candidates: BinaryHeap<Reverse<Candidate>>,
    results: BinaryHeap<Candidate>,
}

impl Hnsw {
    /// The graph over nodes `0..n` in flat form; `None` if some node in that
    /// range was never inserted (the caller then rebuilds).
    pub(crate) fn to_flat(&self, n: usize) -> Option<FlatGraph> {
        let (m, m0) = (self.graph.max_links(1), self.graph.max_links(0));
        let entry = self.entry_point();
        let mut g = FlatGraph {
            meta: [entry.map_or(NO_ENTRY, |e| e.id), entry.map_or(0, |e| e.level as u32), m as u32, m0 as u32],
            ..FlatGraph::default()
        };
        if entry.is_some_and(|e| e.id as usize >= n) {
            return None;
        }
        for id in 0..n as NodeId {
            let data = self.graph.data(id).filter(|_| self.graph.node(id).is_some_and(|nd| nd.is_ready()))?;
            g.levels.push(data.level as u8);
            push_list(&mut g.layer0, self.graph.neighbours(data, 0).filter(|&x| (x as usize) < n), m0)?;
            if data.level == 0 {
                g.upper_start.push(NO_UPPER);
                continue;
            }
            g.upper_start.push((g.upper.len() / (m + 1)) as u32);
            for layer in 1..=data.level {
                push_list(&mut g.upper, self.graph.neighbours(data, layer).filter(|&x| (x as usize) < n), m)?;
            }
        }
        Some(g)
    }
}

fn push_list(out: &mut Vec<u32>, neighbours: impl Iterator<Item = NodeId>, cap: usize) -> Option<()> {
    let start = out.len();
    out.push(0);
    for x in neighbours.take(cap) {
        out.push(x);
    }
    let count = out.len() - start - 1;
    out[start] = count as u32;
    out.resize(start + 1 + cap, 0);
    Some(())
}

impl<'a> FrozenGraph<'a> {
    /// Checks every array (they come from disk) and wraps them. Never panics.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        meta: &'a [u32],
        levels: &'a [u8],
        layer0: &'a [u32],
        upper_start: &'a [u32],
        upper: &'a [u32],
        vectors: &'a [f32],
        dim: usize,
        metric: Metric,
    ) -> Result<FrozenGraph<'a>, String> {
        let &[entry, max_level, m, m0] = meta else { return Err(format!("meta has {} words", meta.len())) };
        let (m, m0) = (m as usize, m0 as usize);
        let n = levels.len();
        if dim == 0 || vectors.len() != n * dim {
            return Err(format!("{} vector floats for {n} nodes of dimension {dim}", vectors.len()));
        }
        if !(1..=1024).contains(&m) || !(1..=2048).contains(&m0) || max_level > LEVEL_MAX {
            return Err(format!("bad parameters m={m} m0={m0} max_level={max_level}"));
        }
        if layer0.len() != n * (1 + m0) || upper_start.len() != n || !upper.len().is_multiple_of(1 + m) {
            return Err("array lengths do not match the node count".into());
        }
        if n == 0 && entry != NO_ENTRY || n > 0 && (entry as usize >= n || levels[entry as usize] as u32 != max_level) {
            return Err(format!("bad entry point {entry}"));
        }
        let blocks = upper.len() / (1 + m);
        let mut expected_block = 0usize;
        for (id, (&level, &start)) in levels.iter().zip(upper_start).enumerate() {
            if level as u32 > max_level {
                return Err(format!("node {id} level {level} above max {max_level}"));
            }
            if level == 0 {
                if start != NO_UPPER {
                    return Err(format!("node {id} on layer 0 only has upper lists"));
                }
                continue;
            }
            if start as usize != expected_block || expected_block + level as usize > blocks {
                return Err(format!("node {id} upper lists out of place"));
            }
            expected_block += level as usize;
        }
        if expected_block != blocks {
            return Err("unused upper-layer blocks".into());
        }
        for (list, cap) in layer0.chunks_exact(1 + m0).map(|l| (l, m0)).chain(upper.chunks_exact(1 + m).map(|l| (l, m)))
        {
            if list[0] as usize > cap || list[1..=list[0] as usize].iter().any(|&x| x as usize >= n) {
                return Err("neighbour list count or id out of range".into());
            }
        }
        Ok(FrozenGraph { entry, max_level, m, m0, levels, layer0, upper_start, upper, vectors, dim, metric })
    }

    /// Rewraps arrays that [`FrozenGraph::new`] already accepted (a segment
    /// validates once at open, then wraps per query without re-checking).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn prevalidated(
        meta: &'a [u32],
        levels: &'a [u8],
        layer0: &'a [u32],
        upper_start: &'a [u32],
        upper: &'a [u32],
        vectors: &'a [f32],
        dim: usize,
        metric: Metric,
    ) -> FrozenGraph<'a> {
        FrozenGraph {
            entry: meta[0],
            max_level: meta[1],
            m: meta[2] as usize,
            m0: meta[3] as usize,
            levels,
            layer0,
            upper_start,
            upper,
            vectors,
            dim,
            metric,
        }
    }

    fn len(&self) -> usize {
        self.levels.len()
    }

    fn vector(&self, id: NodeId) -> &'a [f32] {
        &self.vectors[id as usize * self.dim..(id as usize + 1) * self.dim]
    }

    fn neighbours(&self, id: NodeId, layer: usize) -> &'a [u32] {
        let list = if layer == 0 {
            &self.layer0[id as usize * (1 + self.m0)..(id as usize + 1) * (1 + self.m0)]
        } else {
            let block = self.upper_start[id as usize] as usize + layer - 1;
            &self.upper[block * (1 + self.m)..(block + 1) * (1 + self.m)]
        };
        &list[1..=list[0] as usize]
    }

    /// The `k` nearest nodes with `accept(node)`, nearest first; every node is
    /// a waypoint (same rule as [`Hnsw::search`]).
    pub(crate) fn search(
        &self,
        scratch: &mut FlatScratch,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &dyn Fn(NodeId) -> bool,
    ) -> Vec<(NodeId, f32)> {
        if self.len() == 0 || k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let dist = distance_fn(self.metric);
        let mut cur = Candidate { id: self.entry, dist: dist(query, self.vector(self.entry)) };
        for layer in (1..=self.max_level as usize).rev() {
            loop {
                let mut improved = false;
                if (self.levels[cur.id as usize] as usize) < layer {
                    break;
                }
                for &n in self.neighbours(cur.id, layer) {
                    let d = dist(query, self.vector(n));
                    if d < cur.dist {
                        cur = Candidate { id: n, dist: d };
                        improved = true;
                    }
                }
                if !improved {
                    break;
                }
            }
        }
        let ef = ef.max(k);
        let FlatScratch { visited, candidates, results } = scratch;
        visited.clear(self.len());
        candidates.clear();
        results.clear();
        visited.insert(cur.id);
        candidates.push(Reverse(cur));
        if accept(cur.id) {
            results.push(cur);
        }
        while let Some(Reverse(c)) = candidates.pop() {
            if results.len() >= ef && results.peek().is_some_and(|w| c.dist > w.dist) {
                break;
            }
            for &n in self.neighbours(c.id, 0) {
                if !visited.insert(n) {
                    continue;
                }
                let d = dist(query, self.vector(n));
                if results.len() < ef || results.peek().is_some_and(|w| d < w.dist) {
                    let cand = Candidate { id: n, dist: d };
                    candidates.push(Reverse(cand));
                    if accept(n) {
                        results.push(cand);
                        if results.len() > ef {
                            results.pop();
                        }
                    }
                }
            }
        }
        let mut found: Vec<Candidate> = results.drain().collect();
        found.sort_unstable();
        found.into_iter().take(k).map(|c| (c.id, c.dist)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hnsw::HnswParams;

    fn data(n: usize, dim: usize) -> Vec<Vec<f32>> {
        let mut s = 12345u64;
        (0..n)
            .map(|_| {
                (0..dim)
                    .map(|_| {
                        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        (s >> 40) as f32 / (1u64 << 24) as f32
                    })
                    .collect()
            })
            .collect()
    }

    fn frozen_of(g: &FlatGraph, vectors: &[f32], dim: usize) -> Result<(), String> {
        FrozenGraph::new(&g.meta, &g.levels, &g.layer0, &g.upper_start, &g.upper, vectors, dim, Metric::L2).map(drop)
    }

    #[test]
    fn frozen_graph_answers_like_the_live_graph() {
        let dim = 16;
        let vs = data(3_000, dim);
        let h = Hnsw::new(dim, Metric::L2, HnswParams { m: 8, ef_construction: 64, seed: 1 });
        for (i, v) in vs.iter().enumerate() {
            h.insert_at(i as u32, v);
        }
        let flat = h.to_flat(vs.len()).unwrap();
        let all: Vec<f32> = vs.concat();
        let f = FrozenGraph::new(
            &flat.meta,
            &flat.levels,
            &flat.layer0,
            &flat.upper_start,
            &flat.upper,
            &all,
            dim,
            Metric::L2,
        )
        .unwrap();
        let mut scratch = FlatScratch::default();
        let mut same = 0;
        for q in vs.iter().take(200) {
            let live = h.search(q, 10, 64, &|_| true);
            let frozen = f.search(&mut scratch, q, 10, 64, &|_| true);
            assert_eq!(frozen[0].0, live[0].0, "own vector is found first");
            same += frozen.iter().filter(|x| live.iter().any(|y| y.0 == x.0)).count();
        }
        assert!(same as f64 / 2_000.0 > 0.97, "frozen and live results agree: {same}/2000");
        let odd = f.search(&mut scratch, &vs[0], 10, 64, &|id| id % 2 == 1);
        assert!(odd.len() == 10 && odd.iter().all(|x| x.0 % 2 == 1));
    }

    #[test]
    fn missing_nodes_prevent_export() {
        let h = Hnsw::new(4, Metric::L2, HnswParams { m: 4, ef_construction: 16, seed: 1 });
        h.insert_at(0, &[0.0; 4]);
        h.insert_at(2, &[1.0; 4]);
        assert!(h.to_flat(3).is_none());
        assert!(h.to_flat(1).is_some());
    }

    #[test]
    fn damaged_arrays_are_rejected_not_trusted() {
        let dim = 4;
        let vs = data(200, dim);
        let h = Hnsw::new(dim, Metric::L2, HnswParams { m: 4, ef_construction: 16, seed: 1 });
        for (i, v) in vs.iter().enumerate() {
            h.insert_at(i as u32, v);
        }
        let g = h.to_flat(200).unwrap();
        let all: Vec<f32> = vs.concat();
        assert!(frozen_of(&g, &all, dim).is_ok());
        let mut bad = g.clone();
        bad.layer0[1] = 10_000;
        bad.layer0[0] = bad.layer0[0].max(1);
        assert!(frozen_of(&bad, &all, dim).is_err(), "neighbour out of range");
        let mut bad = g.clone();
        bad.layer0[0] = 999;
        assert!(frozen_of(&bad, &all, dim).is_err(), "count above capacity");
        let mut bad = g.clone();
        bad.meta[0] = 5_000;
        assert!(frozen_of(&bad, &all, dim).is_err(), "entry out of range");
        let mut bad = g.clone();
        bad.levels[3] = 60;
        assert!(frozen_of(&bad, &all, dim).is_err(), "level above max");
        assert!(frozen_of(&g, &all[..all.len() - 1], dim).is_err(), "vectors short");
    }
}
