//! A read-only HNSW graph over flat arrays, for immutable segments.
//!
//! [`FrozenGraph`] borrows its arrays, so a segment reader can point it at an
//! mmapped file: every array is `u8`, `u32` or `f32`, castable from suitably
//! aligned little-endian bytes with `bytemuck::cast_slice`. Because those
//! bytes come from disk, [`FrozenGraph::new`] validates everything and
//! returns an error (never panics) on any inconsistency; after that the
//! search cannot index out of bounds or loop on a bad id.
//!
//! [`FlatGraph`] owns the same arrays (made by [`Hnsw::to_flat`] from a
//! fully built in-memory graph) and lends them out as a `FrozenGraph`.
//!
//! # Layout (n nodes, ids `0..n`)
//! | array | type | length | content |
//! |---|---|---|---|
//! | `vectors` | f32 | `n × dim` | row-major; row `i` is node `i`'s vector as the graph compares it (normalised for cosine), or as written when `inv_norms` is not empty |
//! | `inv_norms` | f32 | `n`, or 0 | cosine only: node `i` is compared as row `i` × `inv_norms[i]`, the factor [`normalize`] scales it by |
//! | `levels` | u8 | `n` | top layer of node `i` (`≤ max_level`) |
//! | `links0` | u32 | `n × (1 + m0)` | layer-0 list of node `i` at `i × (1 + m0)`: a count `c ≤ m0`, then `c` ids, then unused slots (any value) |
//! | `upper_offsets` | u32 | `n + 1` | node `i`'s upper lists start at `upper[upper_offsets[i]]`; `upper_offsets[i + 1] − upper_offsets[i] = levels[i] × (1 + m)`; the first is 0, the last `upper.len()` |
//! | `upper` | u32 | `Σ levels[i] × (1 + m)` | lists of layers `1..=levels[i]` of each node in turn, `1 + m` slots each (count `c ≤ m`, then ids) |
//! | `records` | u8 | `n × record_len(dim)`, or 0 | quantized record of each node (`quant.rs`); empty when the graph is not quantized |
//!
//! Scalars: `dim`, `m`, `m0`, the metric, the entry point (a node whose
//! level is `max_level`, or none when `n = 0`) and `max_level`.
//!
//! Vector components are not checked for finiteness (that would read every
//! byte of the file at open); NaN distances cannot break the search (they
//! order last), they only make results meaningless.
//!
//! A segment keeps one copy of each cosine vector that way (what `get`
//! returns, bit for bit); the graph was built, and its records quantized,
//! on the normalised rows, which [`FrozenGraph::compared_vector`]
//! reproduces exactly (the same multiplication).
//!
//! [`Hnsw::to_flat`]: super::Hnsw::to_flat
//! [`normalize`]: super::normalize

use std::borrow::Cow;
use std::cell::RefCell;

use super::distance::{distance_fn, dot_fn, DistanceFn, Metric};
use super::index::Hnsw;
use super::params::{HnswParams, MAX_LEVEL};
use super::search::{knn, Exact, ScaledCosine, Scorer, Scratch};
use super::view::GraphView;
use super::NodeId;

/// Why a set of arrays is not a valid frozen graph.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid frozen HNSW graph: {0}")]
pub struct FrozenGraphError(String);

fn bad<T>(msg: impl Into<String>) -> Result<T, FrozenGraphError> {
    Err(FrozenGraphError(msg.into()))
}

/// The arrays and scalars of a frozen graph, borrowed (see the module docs
/// for the layout).
#[derive(Clone, Copy, Debug)]
pub struct FrozenParts<'a> {
    /// Metric the graph was built with.
    pub metric: Metric,
    /// Vector dimension.
    pub dim: usize,
    /// List capacity on layers above 0.
    pub m: usize,
    /// List capacity on layer 0.
    pub m0: usize,
    /// `n × dim` vectors, row-major.
    pub vectors: &'a [f32],
    /// Empty, or (cosine only) one factor per node: node `i` is compared
    /// as `vectors` row `i` times `inv_norms[i]` (see the module docs).
    pub inv_norms: &'a [f32],
    /// Top layer of each node.
    pub levels: &'a [u8],
    /// `n × (1 + m0)` layer-0 lists.
    pub links0: &'a [u32],
    /// `n + 1` offsets into `upper`.
    pub upper_offsets: &'a [u32],
    /// Upper-layer lists.
    pub upper: &'a [u32],
    /// Quantized records (`n × record_len(dim)` bytes), or empty.
    pub records: &'a [u8],
    /// Entry point (`None` only for an empty graph).
    pub entry: Option<u32>,
    /// Highest level of any node (the entry point's).
    pub max_level: u8,
}

/// A validated read-only HNSW graph over borrowed arrays.
#[derive(Clone, Copy, Debug)]
pub struct FrozenGraph<'a> {
    parts: FrozenParts<'a>,
    n: usize,
    dist: DistanceFn,
}

/// Checks that the first `count` slots of `list` (count in slot 0) name nodes
/// below `n`.
fn check_list(list: &[u32], n: usize, what: impl Fn() -> String) -> Result<(), FrozenGraphError> {
    let Some((&count, ids)) = list.split_first() else {
        return bad(format!("{}: empty list", what()));
    };
    if count as usize > ids.len() {
        return bad(format!("{}: count {count} exceeds capacity {}", what(), ids.len()));
    }
    if let Some(&id) = ids[..count as usize].iter().find(|&&id| id as usize >= n) {
        return bad(format!("{}: neighbour {id} out of range (n = {n})", what()));
    }
    Ok(())
}

impl<'a> FrozenGraph<'a> {
    /// Validates `parts` (every length, offset, count, neighbour id, level
    /// and the entry point) and wraps them; never panics.
    pub fn new(parts: FrozenParts<'a>) -> Result<FrozenGraph<'a>, FrozenGraphError> {
        let FrozenParts {
            metric,
            dim,
            m,
            m0,
            vectors,
            inv_norms,
            levels,
            links0,
            upper_offsets,
            upper,
            records,
            entry,
            max_level,
        } = parts;
        let n = levels.len();
        if dim == 0 || m == 0 || m0 == 0 {
            return bad(format!("dim {dim}, m {m} and m0 {m0} must be positive"));
        }
        if n > u32::MAX as usize {
            return bad(format!("{n} nodes exceed u32 ids"));
        }
        if max_level as usize > MAX_LEVEL {
            return bad(format!("max level {max_level} above {MAX_LEVEL}"));
        }
        if n.checked_mul(dim) != Some(vectors.len()) {
            return bad(format!("{} floats of vectors for {n} nodes of dimension {dim}", vectors.len()));
        }
        if !inv_norms.is_empty() && (metric != Metric::Cosine || inv_norms.len() != n) {
            return bad(format!("{} norm factors for {n} nodes of a {metric:?} graph", inv_norms.len()));
        }
        if !records.is_empty() && n.checked_mul(super::quant::record_len(dim)) != Some(records.len()) {
            return bad(format!("{} bytes of quantized records for {n} nodes of dimension {dim}", records.len()));
        }
        let w0 = m0.checked_add(1).ok_or_else(|| FrozenGraphError("m0 overflows".into()))?;
        if n.checked_mul(w0) != Some(links0.len()) {
            return bad(format!("{} layer-0 slots for {n} nodes of {w0}", links0.len()));
        }
        if upper_offsets.len() != n + 1 || upper_offsets.first() != Some(&0) {
            return bad(format!("{} upper offsets for {n} nodes (need n + 1, starting at 0)", upper_offsets.len()));
        }
        if upper_offsets.last().map(|&o| o as usize) != Some(upper.len()) {
            return bad(format!("upper offsets end at {:?}, upper has {} slots", upper_offsets.last(), upper.len()));
        }
        let w = m.checked_add(1).ok_or_else(|| FrozenGraphError("m overflows".into()))?;
        for (i, &level) in levels.iter().enumerate() {
            if level > max_level {
                return bad(format!("node {i} has level {level} above the maximum {max_level}"));
            }
            let (start, end) = (upper_offsets[i] as usize, upper_offsets[i + 1] as usize);
            if end < start || end - start != level as usize * w {
                return bad(format!(
                    "node {i}: upper lists span {start}..{end}, level {level} needs {}",
                    level as usize * w
                ));
            }
            check_list(&links0[i * w0..(i + 1) * w0], n, || format!("node {i} layer 0"))?;
            for (l, list) in upper[start..end].chunks_exact(w).enumerate() {
                check_list(list, n, || format!("node {i} layer {}", l + 1))?;
            }
        }
        match entry {
            None if n == 0 => {}
            None => return bad("no entry point in a non-empty graph"),
            Some(e) if e as usize >= n => return bad(format!("entry point {e} out of range (n = {n})")),
            Some(e) if levels[e as usize] != max_level => {
                return bad(format!("entry point {e} has level {}, not the maximum {max_level}", levels[e as usize]))
            }
            Some(_) => {}
        }
        Ok(FrozenGraph { parts, n, dist: distance_fn(parts.metric) })
    }

    /// Rewraps parts that [`FrozenGraph::new`] accepted before (a segment
    /// validates its graph once at open, then wraps it per query). Safe code
    /// throughout: parts that were never validated can at worst panic.
    pub(crate) fn prevalidated(parts: FrozenParts<'a>) -> FrozenGraph<'a> {
        FrozenGraph { parts, n: parts.levels.len(), dist: distance_fn(parts.metric) }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.parts.dim
    }

    /// Metric.
    pub fn metric(&self) -> Metric {
        self.parts.metric
    }

    /// The arrays this graph reads.
    pub fn parts(&self) -> FrozenParts<'a> {
        self.parts
    }

    /// k nearest accepted nodes to `query`, nearest first, as `(node,
    /// distance)` — the same search and `accept` semantics as
    /// [`Hnsw::search`] (rejected nodes are waypoints, never results).
    ///
    /// # Panics
    /// If `query.len() != self.dim()`.
    pub fn search(&self, query: &[f32], k: usize, ef: usize, accept: &dyn Fn(NodeId) -> bool) -> Vec<(NodeId, f32)> {
        assert_eq!(
            query.len(),
            self.parts.dim,
            "query has dimension {} but the graph has {}",
            query.len(),
            self.parts.dim
        );
        thread_local! {
            static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
        }
        let run = |scratch: &mut Scratch| {
            let metric = self.parts.metric;
            if self.scaled() {
                let exact = ScaledCosine { dot: dot_fn(), query, inv_norms: self.parts.inv_norms };
                knn(self, metric, &exact, scratch, query, k, ef, accept)
            } else {
                knn(self, metric, &Exact { dist: self.dist, query }, scratch, query, k, ef, accept)
            }
        };
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => run(&mut scratch),
            // Re-entered from `accept`: use a fresh buffer.
            Err(_) => run(&mut Scratch::default()),
        })
    }

    /// Whether rows are stored as written and scaled when compared
    /// (`inv_norms`, module docs).
    pub fn scaled(&self) -> bool {
        !self.parts.inv_norms.is_empty()
    }

    /// Node `id`'s vector as the graph compares it (unit length for
    /// cosine): borrowed, or computed from a row stored as written exactly
    /// as [`normalize`](super::normalize) computed it before the build.
    pub fn compared_vector(&self, id: NodeId) -> Option<Cow<'a, [f32]>> {
        let v = self.parts.vectors.get(self.row_range(id))?;
        match self.parts.inv_norms.get(id as usize) {
            Some(&inv) if self.scaled() => Some(Cow::Owned(v.iter().map(|x| x * inv).collect())),
            _ => Some(Cow::Borrowed(v)),
        }
    }

    /// Distance of node `id` to `query` (a vector as the graph compares
    /// them: unit length for cosine), as the search computes it.
    pub fn distance_to(&self, query: &[f32], id: NodeId) -> Option<f32> {
        // The search's own scorers: one definition of each distance.
        if self.scaled() {
            return ScaledCosine { dot: dot_fn(), query, inv_norms: self.parts.inv_norms }.score(self, id);
        }
        Exact { dist: self.dist, query }.score(self, id)
    }

    #[inline(always)]
    fn row_range(&self, id: NodeId) -> std::ops::Range<usize> {
        let d = self.parts.dim;
        id as usize * d..(id as usize + 1) * d
    }

    #[inline(always)]
    fn list(&self, id: NodeId, layer: usize) -> &'a [u32] {
        let p = &self.parts;
        let i = id as usize;
        if layer == 0 {
            let w = p.m0 + 1;
            return p.links0.get(i * w..(i + 1) * w).unwrap_or(&[]);
        }
        let (Some(&level), Some(&start)) = (p.levels.get(i), p.upper_offsets.get(i)) else {
            return &[];
        };
        if layer > level as usize {
            return &[];
        }
        let w = p.m + 1;
        let at = start as usize + (layer - 1) * w;
        p.upper.get(at..at + w).unwrap_or(&[])
    }
}

impl GraphView for FrozenGraph<'_> {
    #[inline(always)]
    fn entry(&self) -> Option<(NodeId, usize)> {
        self.parts.entry.map(|e| (e, self.parts.max_level as usize))
    }

    #[inline(always)]
    fn id_bound(&self) -> usize {
        self.n
    }

    #[inline(always)]
    fn vector(&self, id: NodeId) -> Option<&[f32]> {
        self.parts.vectors.get(self.row_range(id))
    }

    #[inline(always)]
    fn prefetch_vector(&self, id: NodeId, lines: usize) {
        if let Some(v) = self.parts.vectors.get(self.row_range(id)) {
            super::distance::prefetch_ptr(v.as_ptr(), v.len(), lines);
        }
    }

    #[inline(always)]
    fn prefetch_links(&self, id: NodeId, layer: usize) {
        let list = self.list(id, layer);
        super::distance::prefetch_ptr(list.as_ptr().cast(), list.len(), 0);
    }

    #[inline(always)]
    fn for_each_neighbour(&self, id: NodeId, layer: usize, mut f: impl FnMut(NodeId)) {
        if let Some((&count, ids)) = self.list(id, layer).split_first() {
            ids.iter().take(count as usize).for_each(|&n| f(n));
        }
    }

    #[inline(always)]
    fn is_ready(&self, _id: NodeId) -> bool {
        true
    }

    #[inline(always)]
    fn quantized(&self) -> bool {
        !self.parts.records.is_empty()
    }

    #[inline(always)]
    fn record(&self, id: NodeId) -> Option<&[u8]> {
        let len = super::quant::record_len(self.parts.dim);
        self.parts.records.get(id as usize * len..(id as usize + 1) * len)
    }

    #[inline(always)]
    fn prefetch_record(&self, id: NodeId, lines: usize) {
        if let Some(r) = self.record(id) {
            super::distance::prefetch_ptr(r.as_ptr().cast(), r.len() / 4, lines);
        }
    }
}

/// The arrays of a frozen graph, owned; see the module docs for the layout.
#[derive(Clone, Debug)]
pub struct FlatGraph {
    metric: Metric,
    dim: usize,
    m: usize,
    m0: usize,
    vectors: Vec<f32>,
    levels: Vec<u8>,
    links0: Vec<u32>,
    upper_offsets: Vec<u32>,
    upper: Vec<u32>,
    records: Vec<u8>,
    entry: Option<u32>,
    max_level: u8,
}

impl FlatGraph {
    fn parts(&self) -> FrozenParts<'_> {
        FrozenParts {
            metric: self.metric,
            dim: self.dim,
            m: self.m,
            m0: self.m0,
            vectors: &self.vectors,
            inv_norms: &[],
            levels: &self.levels,
            links0: &self.links0,
            upper_offsets: &self.upper_offsets,
            upper: &self.upper,
            records: &self.records,
            entry: self.entry,
            max_level: self.max_level,
        }
    }

    /// The graph as a [`FrozenGraph`] (validated when this value was made).
    pub fn view(&self) -> FrozenGraph<'_> {
        FrozenGraph { parts: self.parts(), n: self.levels.len(), dist: distance_fn(self.metric) }
    }
}

impl Hnsw {
    /// Copies the graph into flat arrays, ids `0..n` where `n` is the number
    /// of ids handed out. Returns `None` if any id below `n` was never
    /// inserted, or (when inserts run concurrently) if the copy is not a
    /// consistent graph; call it on a graph no one is writing.
    pub fn to_flat(&self) -> Option<FlatGraph> {
        let g = &self.graph;
        let n = g.allocated();
        let (m, m0) = (g.m(), g.m0());
        let mut flat = FlatGraph {
            metric: self.metric,
            dim: self.dim,
            m,
            m0,
            vectors: Vec::with_capacity(n * self.dim),
            levels: Vec::with_capacity(n),
            links0: Vec::with_capacity(n * (1 + m0)),
            upper_offsets: Vec::with_capacity(n + 1),
            upper: Vec::new(),
            records: Vec::new(),
            entry: None,
            max_level: 0,
        };
        flat.upper_offsets.push(0);
        let copy_list = |out: &mut Vec<u32>, id: NodeId, layer: usize, cap: usize| {
            let start = out.len();
            out.push(0);
            g.for_each_neighbour(id, layer, |nb| {
                if out.len() - start <= cap {
                    out.push(nb);
                }
            });
            out[start] = (out.len() - start - 1) as u32;
            out.resize(start + 1 + cap, 0);
        };
        for id in 0..n as NodeId {
            flat.vectors.extend_from_slice(g.vector(id)?);
            if g.quantized() {
                flat.records.extend_from_slice(g.record(id)?);
            }
            let level = g.data(id)?.level;
            flat.levels.push(u8::try_from(level).ok()?);
            copy_list(&mut flat.links0, id, 0, m0);
            for layer in 1..=level {
                copy_list(&mut flat.upper, id, layer, m);
            }
            flat.upper_offsets.push(u32::try_from(flat.upper.len()).ok()?);
        }
        if n > 0 {
            let ep = self.entry_point()?;
            flat.entry = Some(ep.id);
            flat.max_level = u8::try_from(ep.level).ok()?;
            // No node written to a segment may be one no search can reach.
            let mut layer0 = super::reach::Layer0 {
                metric: self.metric,
                dim: self.dim,
                m,
                m0,
                vectors: &flat.vectors,
                levels: &flat.levels,
                upper_offsets: &flat.upper_offsets,
                upper: &flat.upper,
                links0: &mut flat.links0,
            };
            super::reach::repair(&mut layer0, ep.id);
        }
        FrozenGraph::new(flat.parts()).ok()?;
        Some(flat)
    }
}

impl Hnsw {
    /// A live index holding exactly the nodes, levels, lists and entry point
    /// of `g` (ids kept), with `params` for later inserts and quantization
    /// (its `m` is replaced by the graph's). Loads a built graph without
    /// rebuilding it (benchmarks compare search code on one fixed graph).
    /// `None` when `g`'s layer-0 capacity is not `2 × m` (this index's
    /// geometry).
    pub fn from_frozen(g: &FrozenGraph<'_>, params: HnswParams) -> Option<Hnsw> {
        let p = g.parts;
        let params = HnswParams { m: p.m, ..params };
        if p.m < 2 || params.m0() != p.m0 {
            return None;
        }
        let h = Hnsw::new(p.dim, p.metric, params);
        for id in 0..g.n as NodeId {
            h.graph.claim_id(id);
            h.graph.init_node(id, &g.compared_vector(id)?, usize::from(p.levels[id as usize]));
        }
        for id in 0..g.n as NodeId {
            let node = h.graph.node(id)?;
            let guard = node.lock();
            for layer in 0..=usize::from(p.levels[id as usize]) {
                let mut ids = Vec::new();
                g.for_each_neighbour(id, layer, |n| ids.push(n));
                h.graph.set_neighbours(&guard, id, layer, ids.into_iter());
            }
        }
        for id in 0..g.n as NodeId {
            h.graph.mark_ready(id);
        }
        h.completed.store(g.n, std::sync::atomic::Ordering::Release);
        if let Some(e) = p.entry {
            h.set_entry_point(super::index::EntryPoint { id: e, level: usize::from(p.max_level) });
        }
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hnsw::distance;

    fn random_rows(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                (0..dim)
                    .map(|_| {
                        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
                    })
                    .collect()
            })
            .collect()
    }

    fn built(n: usize, metric: Metric) -> Hnsw {
        let h = Hnsw::new(16, metric, HnswParams { m: 8, ef_construction: 64, seed: 3, quantize: false });
        for (i, v) in random_rows(n, 16, 5).iter().enumerate() {
            h.insert_at(i as u32, v);
        }
        h
    }

    #[test]
    fn frozen_copy_answers_exactly_like_the_live_graph() {
        for metric in [Metric::L2, Metric::InnerProduct] {
            let h = built(3000, metric);
            let flat = h.to_flat().expect("every id inserted");
            let frozen = flat.view();
            assert_eq!(frozen.len(), 3000);
            // Revalidating the owned arrays succeeds too.
            FrozenGraph::new(frozen.parts()).unwrap();
            for (qi, q) in random_rows(50, 16, 99).iter().enumerate() {
                for ef in [10, 40] {
                    assert_eq!(frozen.search(q, 10, ef, &|_| true), h.search(q, 10, ef, &|_| true), "query {qi}");
                    let odd = |id: NodeId| id % 2 == 1;
                    let got = frozen.search(q, 10, ef, &odd);
                    assert_eq!(got, h.search(q, 10, ef, &odd));
                    assert!(got.iter().all(|&(id, _)| odd(id)));
                }
            }
        }
    }

    /// A cosine graph over rows stored as written, with their factors (how
    /// a segment keeps one copy of each vector), answers as the graph over
    /// the unit rows: same nodes, distances to rounding; its compared
    /// vectors are the unit rows bit for bit, so a live index loaded from
    /// it, and a healed merge graph started from it, are the same graphs.
    #[test]
    fn scaled_rows_answer_as_the_unit_rows() {
        let raw: Vec<Vec<f32>> = random_rows(2000, 16, 11)
            .into_iter()
            .enumerate()
            .map(|(i, v)| v.iter().map(|x| x * 10f32.powi(i as i32 % 9 - 4)).collect())
            .collect();
        let params = HnswParams { m: 8, ef_construction: 64, seed: 3, quantize: false };
        let h = Hnsw::new(16, Metric::Cosine, params);
        for (i, v) in raw.iter().enumerate() {
            let mut u = v.clone();
            distance::normalize(&mut u);
            h.insert_at(i as u32, &u);
        }
        let flat = h.to_flat().unwrap();
        let unit = flat.view();
        let rows: Vec<f32> = raw.iter().flatten().copied().collect();
        let inv: Vec<f32> = raw.iter().map(|v| distance::inv_norm(v)).collect();
        let scaled = FrozenGraph::new(FrozenParts { vectors: &rows, inv_norms: &inv, ..unit.parts() }).unwrap();
        assert!(scaled.scaled() && !unit.scaled());
        for id in 0..2000 {
            assert_eq!(scaled.compared_vector(id).unwrap().as_ref(), unit.compared_vector(id).unwrap().as_ref());
        }
        for q in random_rows(40, 16, 12) {
            let mut q = q;
            distance::normalize(&mut q);
            let (a, b) = (scaled.search(&q, 10, 40, &|_| true), unit.search(&q, 10, 40, &|_| true));
            assert_eq!(a.iter().map(|h| h.0).collect::<Vec<_>>(), b.iter().map(|h| h.0).collect::<Vec<_>>());
            assert!(a.iter().zip(&b).all(|(x, y)| (x.1 - y.1).abs() <= 1e-6), "{a:?} against {b:?}");
        }
        let lists = |h: &Hnsw| h.to_flat().unwrap().view().parts().links0.to_vec();
        let (ls, lu) = (Hnsw::from_frozen(&scaled, params).unwrap(), Hnsw::from_frozen(&unit, params).unwrap());
        assert_eq!(lists(&ls), lists(&lu));
        let new_id: Vec<Option<NodeId>> = (0..2000u32).map(|i| (i % 3 != 0).then_some(i - i / 3 - 1)).collect();
        let (hs, hu) =
            (Hnsw::from_healed(&scaled, &new_id, params).unwrap(), Hnsw::from_healed(&unit, &new_id, params).unwrap());
        for id in 0..hs.graph.allocated() as NodeId {
            let (a, b): (Vec<NodeId>, Vec<NodeId>) =
                (hs.graph.neighbours(id, 0).collect(), hu.graph.neighbours(id, 0).collect());
            assert_eq!(a, b, "healed node {id}");
        }
        for (what, parts) in [
            ("short factors", FrozenParts { vectors: &rows, inv_norms: &inv[1..], ..unit.parts() }),
            (
                "factors of an L2 graph",
                FrozenParts { vectors: &rows, inv_norms: &inv, metric: Metric::L2, ..unit.parts() },
            ),
        ] {
            assert!(FrozenGraph::new(parts).is_err(), "{what} accepted");
        }
    }

    #[test]
    fn empty_and_gappy_graphs() {
        let h = Hnsw::new(4, Metric::L2, HnswParams::default());
        let flat = h.to_flat().unwrap();
        assert!(flat.view().is_empty());
        assert!(flat.view().search(&[0.0; 4], 3, 10, &|_| true).is_empty());
        h.insert_at(0, &[1.0; 4]);
        h.insert_at(2, &[2.0; 4]);
        assert!(h.to_flat().is_none(), "id 1 was never inserted");
    }

    /// Applies `corrupt` to a copy of a valid graph's arrays and expects
    /// `FrozenGraph::new` to refuse the result.
    fn rejects(what: &str, corrupt: impl FnOnce(&mut FlatGraph)) {
        let mut flat = built(200, Metric::L2).to_flat().unwrap();
        corrupt(&mut flat);
        let err = FrozenGraph::new(flat.parts()).expect_err(what);
        eprintln!("{what}: {err}");
    }

    #[test]
    fn corrupted_inputs_are_rejected() {
        rejects("short vectors", |f| {
            f.vectors.pop();
        });
        rejects("zero dim", |f| f.dim = 0);
        rejects("short links0", |f| {
            f.links0.pop();
        });
        rejects("neighbour out of range", |f| {
            f.links0[1] = 200;
        });
        rejects("count above capacity", |f| f.links0[0] = f.m0 as u32 + 1);
        rejects("entry out of range", |f| f.entry = Some(1000));
        rejects("no entry", |f| f.entry = None);
        rejects("level above max", |f| {
            let i = f.levels.iter().position(|&l| l == 0).unwrap();
            f.levels[i] = f.max_level + 1;
        });
        rejects("entry not on the top level", |f| {
            let i = f.levels.iter().position(|&l| l < f.max_level).unwrap();
            f.entry = Some(i as u32);
        });
        rejects("max level too high", |f| f.max_level = 200);
        rejects("offsets out of step", |f| {
            let last = f.upper_offsets.len() - 1;
            f.upper_offsets[last] += 1;
        });
        rejects("missing offset", |f| {
            f.upper_offsets.pop();
        });
        rejects("upper neighbour out of range", |f| {
            let i = f.levels.iter().position(|&l| l > 0).unwrap();
            let at = f.upper_offsets[i] as usize;
            f.upper[at] = 1;
            f.upper[at + 1] = u32::MAX;
        });
        rejects("levels shorter than vectors", |f| {
            f.levels.pop();
        });
    }

    #[test]
    fn arrays_cast_from_aligned_bytes() {
        // What a segment reader does: reinterpret bytes as u32 / f32 arrays.
        let flat = built(100, Metric::L2).to_flat().unwrap();
        let p = flat.parts();
        let bytes: Vec<u8> = p.links0.iter().flat_map(|x| x.to_le_bytes()).collect();
        let mut words = vec![0u32; bytes.len() / 4];
        for (w, c) in words.iter_mut().zip(bytes.chunks_exact(4)) {
            *w = u32::from_le_bytes(c.try_into().unwrap());
        }
        let parts = FrozenParts { links0: &words, ..p };
        let g = FrozenGraph::new(parts).unwrap();
        assert_eq!(g.search(&[0.0; 16], 5, 20, &|_| true), flat.view().search(&[0.0; 16], 5, 20, &|_| true));
    }

    #[test]
    fn a_live_index_loaded_from_a_frozen_graph_answers_like_the_original() {
        for quantize in [false, true] {
            let h = built(2000, Metric::L2);
            let flat = h.to_flat().unwrap();
            let params = HnswParams { m: 8, ef_construction: 64, seed: 3, quantize };
            let live = Hnsw::from_frozen(&flat.view(), params).expect("same geometry");
            assert_eq!(live.len(), 2000);
            for q in random_rows(30, 16, 77).iter() {
                let got = live.search(q, 10, 40, &|_| true);
                if quantize {
                    // Different walk (records), same exact distances.
                    assert!(got.iter().all(|&(id, d)| d == distance(Metric::L2, q, &h.vector(id))));
                } else {
                    assert_eq!(got, h.search(q, 10, 40, &|_| true));
                }
            }
            let again = live.to_flat().unwrap();
            assert_eq!(again.links0, flat.links0);
            assert_eq!(again.upper, flat.upper);
            assert_eq!(again.entry, flat.entry);
        }
        let flat = built(100, Metric::L2).to_flat().unwrap();
        let odd = FrozenParts { m0: 7, links0: &[], ..flat.parts() };
        assert!(Hnsw::from_frozen(&FrozenGraph::prevalidated(odd), HnswParams::default()).is_none());
    }
}
