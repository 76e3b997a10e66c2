//! Reachability repair of a flat graph's layer 0, run when a segment's
//! graph is written.
//!
//! HNSW's neighbour pruning can leave a node that no list points to (every
//! node that once linked to it later pruned it for closer ones): no search
//! can ever return it, whatever its `ef`, although `get` finds it. The chaos
//! harness met such nodes in flushed segments. This pass walks the graph
//! from the entry point along every list of every layer (the descent uses
//! the upper layers to cross between clusters that layer 0 alone does not
//! join); every node it cannot reach is linked on layer 0 from the nearest
//! reachable node among its own neighbours — into a free slot, or in place
//! of that node's farthest neighbour that has another incoming link — and
//! the walk goes on from it. A node none of whose neighbours is reachable is
//! linked from the entry point's list the same way (failing that, from the
//! nearest reachable node that can take it). Lists keep their
//! capacity; the layout does not change.

use std::collections::VecDeque;

use super::distance::{distance, Metric};

/// The arrays of a flat graph (see `frozen.rs` for the layout); only the
/// layer-0 lists change.
pub(crate) struct Layer0<'a> {
    pub metric: Metric,
    pub dim: usize,
    pub m: usize,
    pub m0: usize,
    pub vectors: &'a [f32],
    pub levels: &'a [u8],
    pub upper_offsets: &'a [u32],
    pub upper: &'a [u32],
    pub links0: &'a mut [u32],
}

impl Layer0<'_> {
    fn n(&self) -> usize {
        self.links0.len() / (1 + self.m0)
    }

    fn list(&self, node: usize) -> &[u32] {
        let w = 1 + self.m0;
        let count = self.links0[node * w] as usize;
        &self.links0[node * w + 1..node * w + 1 + count]
    }

    /// Every list of `node`: layer 0, then its upper layers.
    fn all_lists(&self, node: usize) -> impl Iterator<Item = u32> + '_ {
        let w = 1 + self.m;
        let start = self.upper_offsets[node] as usize;
        let upper = (0..self.levels[node] as usize).flat_map(move |l| {
            let at = start + l * w;
            let count = self.upper[at] as usize;
            self.upper[at + 1..at + 1 + count].iter().copied()
        });
        self.list(node).iter().copied().chain(upper)
    }

    fn vector(&self, node: usize) -> &[f32] {
        &self.vectors[node * self.dim..(node + 1) * self.dim]
    }

    fn dist(&self, a: usize, b: usize) -> f32 {
        distance(self.metric, self.vector(a), self.vector(b))
    }

    /// Links `to` from `from`: a free slot, or the slot of `from`'s farthest
    /// neighbour that some other list also points to. False if neither exists.
    fn link(&mut self, from: usize, to: usize, in_degree: &mut [u32]) -> bool {
        let w = 1 + self.m0;
        let count = self.links0[from * w] as usize;
        if self.list(from).contains(&(to as u32)) {
            return true;
        }
        if count < self.m0 {
            self.links0[from * w + 1 + count] = to as u32;
            self.links0[from * w] += 1;
            in_degree[to] += 1;
            return true;
        }
        let victim = (0..count).filter(|&i| in_degree[self.list(from)[i] as usize] > 1).max_by(|&i, &j| {
            let (a, b) = (self.list(from)[i] as usize, self.list(from)[j] as usize);
            self.dist(from, a).total_cmp(&self.dist(from, b))
        });
        let Some(i) = victim else { return false };
        let old = self.links0[from * w + 1 + i] as usize;
        in_degree[old] -= 1;
        self.links0[from * w + 1 + i] = to as u32;
        in_degree[to] += 1;
        true
    }
}

/// Makes every node of layer 0 reachable from `entry`, as far as the rule in
/// the module docs can; returns how many nodes it linked.
pub(crate) fn repair(g: &mut Layer0<'_>, entry: u32) -> usize {
    let n = g.n();
    if n == 0 {
        return 0;
    }
    let mut in_degree = vec![0u32; n];
    for node in 0..n {
        for &nb in g.list(node) {
            in_degree[nb as usize] += 1;
        }
    }
    let mut reached = vec![false; n];
    let walk = |g: &Layer0<'_>, from: usize, reached: &mut Vec<bool>| {
        let mut queue = VecDeque::from([from]);
        reached[from] = true;
        while let Some(node) = queue.pop_front() {
            for nb in g.all_lists(node) {
                if !std::mem::replace(&mut reached[nb as usize], true) {
                    queue.push_back(nb as usize);
                }
            }
        }
    };
    walk(g, entry as usize, &mut reached);
    let mut linked = 0;
    // A node linked now may reach others, and a replaced link may cut one
    // off: a few rounds settle it (each round links at least one node).
    for _ in 0..4 {
        let unreached: Vec<usize> = (0..n).filter(|&i| !reached[i]).collect();
        if unreached.is_empty() {
            break;
        }
        for u in unreached {
            if reached[u] {
                continue; // reached through a node linked earlier this round
            }
            let mut from: Vec<usize> = g.list(u).iter().map(|&x| x as usize).filter(|&x| reached[x]).collect();
            from.sort_by(|&a, &b| g.dist(u, a).total_cmp(&g.dist(u, b)));
            from.push(entry as usize);
            let mut done = from.into_iter().any(|f| g.link(f, u, &mut in_degree));
            if !done {
                // Rare: then any reachable node, nearest first (O(n) per node).
                let mut all: Vec<usize> = (0..n).filter(|&x| reached[x]).collect();
                all.sort_by(|&a, &b| g.dist(u, a).total_cmp(&g.dist(u, b)));
                done = all.into_iter().any(|f| g.link(f, u, &mut in_degree));
            }
            if done {
                linked += 1;
                walk(g, u, &mut reached);
            }
        }
        // Replacements may have cut nodes off: walk again from scratch.
        reached.iter_mut().for_each(|r| *r = false);
        walk(g, entry as usize, &mut reached);
    }
    linked
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes on a line; `lists[i]` is node i's layer-0 list.
    fn graph(lists: &[&[u32]], m0: usize) -> (Vec<f32>, Vec<u32>) {
        let vectors: Vec<f32> = (0..lists.len()).map(|i| i as f32).collect();
        let mut links = vec![0u32; lists.len() * (1 + m0)];
        for (i, l) in lists.iter().enumerate() {
            links[i * (1 + m0)] = l.len() as u32;
            links[i * (1 + m0) + 1..i * (1 + m0) + 1 + l.len()].copy_from_slice(l);
        }
        (vectors, links)
    }

    fn layer0<'a>(v: &'a [f32], levels: &'a [u8], offsets: &'a [u32], links: &'a mut [u32]) -> Layer0<'a> {
        Layer0 {
            metric: Metric::L2,
            dim: 1,
            m: 1,
            m0: 2,
            vectors: v,
            levels,
            upper_offsets: offsets,
            upper: &[],
            links0: links,
        }
    }

    fn reachable(links: &[u32], m0: usize, entry: usize) -> usize {
        let n = links.len() / (1 + m0);
        let mut seen = vec![false; n];
        let mut stack = vec![entry];
        seen[entry] = true;
        while let Some(x) = stack.pop() {
            let c = links[x * (1 + m0)] as usize;
            for &nb in &links[x * (1 + m0) + 1..x * (1 + m0) + 1 + c] {
                if !std::mem::replace(&mut seen[nb as usize], true) {
                    stack.push(nb as usize);
                }
            }
        }
        seen.iter().filter(|&&s| s).count()
    }

    #[test]
    fn a_node_no_list_points_to_gets_linked_from_its_nearest_reachable_neighbour() {
        // Node 3 points to 2, but nothing points to 3; lists are full (m0 2).
        let (v, mut links) = graph(&[&[1, 2], &[0, 2], &[1, 0], &[2, 1]], 2);
        assert_eq!(reachable(&links, 2, 0), 3);
        let (levels, offsets) = ([0u8; 4], [0u32; 5]);
        let mut g = layer0(&v, &levels, &offsets, &mut links);
        assert_eq!(repair(&mut g, 0), 1);
        assert_eq!(reachable(&links, 2, 0), 4, "every node reachable");
        // Node 2 (nearest to 3) replaced its farthest neighbour that others
        // also point to (0, pointed to by 1) with 3.
        assert_eq!(&links[2 * 3..2 * 3 + 3], &[2, 1, 3]);
    }

    #[test]
    fn a_node_without_reachable_neighbours_is_linked_from_the_entry() {
        // Nodes 2 and 3 only point to each other; 0 and 1 have free slots.
        let (v, mut links) = graph(&[&[1], &[0], &[3], &[2]], 2);
        let (levels, offsets) = ([0u8; 4], [0u32; 5]);
        let mut g = layer0(&v, &levels, &offsets, &mut links);
        assert!(repair(&mut g, 0) >= 1);
        assert_eq!(reachable(&links, 2, 0), 4);
    }

    #[test]
    fn a_connected_graph_is_left_alone() {
        let (v, mut links) = graph(&[&[1], &[2], &[0]], 2);
        let before = links.clone();
        let (levels, offsets) = ([0u8; 3], [0u32; 4]);
        let mut g = layer0(&v, &levels, &offsets, &mut links);
        assert_eq!(repair(&mut g, 0), 0);
        assert_eq!(links, before);
    }
}

#[cfg(test)]
mod on_built_graphs {
    use crate::hnsw::{Hnsw, HnswParams, Metric};

    fn unreachable_nodes(flat: &crate::hnsw::FlatGraph) -> usize {
        let p = flat.view().parts();
        let w = 1 + p.m0;
        let n = p.levels.len();
        let mut seen = vec![false; n];
        let Some(entry) = p.entry else { return 0 };
        let mut stack = vec![entry as usize];
        seen[entry as usize] = true;
        let wu = 1 + p.m;
        while let Some(x) = stack.pop() {
            let c = p.links0[x * w] as usize;
            let mut next: Vec<u32> = p.links0[x * w + 1..x * w + 1 + c].to_vec();
            for l in 0..p.levels[x] as usize {
                let at = p.upper_offsets[x] as usize + l * wu;
                next.extend_from_slice(&p.upper[at + 1..at + 1 + p.upper[at] as usize]);
            }
            for nb in next {
                if !std::mem::replace(&mut seen[nb as usize], true) {
                    stack.push(nb as usize);
                }
            }
        }
        seen.iter().filter(|&&s| !s).count()
    }

    /// Clustered points with a small M, where pruning orphans nodes most
    /// often: after `to_flat`, every node is reachable from the entry.
    #[test]
    fn every_node_of_a_flat_graph_is_reachable_from_the_entry() {
        let mut state = 7u64;
        let mut unit = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        for (m, n) in [(2usize, 3000usize), (4, 3000), (16, 2000)] {
            let params = HnswParams { m, ef_construction: 40, seed: 3, quantize: false };
            let g = Hnsw::new(8, Metric::L2, params);
            for i in 0..n {
                let centre = (i % 7) as f32 * 3.0;
                let v: Vec<f32> = (0..8).map(|_| centre + unit() * 0.4).collect();
                g.insert_at(i as u32, &v);
            }
            let flat = g.to_flat().expect("built");
            assert_eq!(unreachable_nodes(&flat), 0, "m {m}, {n} nodes");
        }
    }
}
