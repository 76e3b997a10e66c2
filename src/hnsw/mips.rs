//! How inserts compare vectors in an inner-product graph.
//!
//! Inner product is not a metric: a point can score higher with a
//! long vector than with itself, so the neighbour heuristic, fed raw dot
//! products, prunes the links into short vectors until some have none and
//! no search can reach them (issue 13: half the points that rank first for
//! their own vector were missing from their own top 10).
//!
//! Inserts therefore compare vectors as if each had one more coordinate,
//! `sqrt((M² − |x|²) / 2)`, with `M` the largest norm inserted so far. With
//! `sqrt(M² − |x|²)` this is the order-preserving transformation of
//! Bachrach et al., "Speeding up the Xbox recommender system using a
//! Euclidean transformation for inner-product spaces" (RecSys 2014), which
//! Vespa's `dotproduct` builds its graph with: every augmented vector has
//! norm `M`, the augmented inner product is a distance on a sphere, and the
//! heuristic keeps every node linked. But the extra coordinate then
//! dominates short vectors, whose neighbourhoods end up chosen by norm
//! rather than direction (recall@10 0.79 on MiniLM embeddings with norms
//! spread over [0.25, 4), where the plain graph gets 0.998). Half the extra
//! square norm lifts short vectors halfway to the sphere: measured
//! (`tests/recall.rs`, `inner_product_graph_reaches_every_point_…`) it
//! keeps nodes reachable (own-vector lookups missing 16 of 1,322 instead of
//! 665) and navigation by direction (0.994 on the spread MiniLM set, 1.000
//! on the uniform repro, where the plain graph gets 0.946).
//!
//! A query's extra coordinate is 0, so its augmented inner product is its
//! plain one: searches use the plain kernel, unchanged, and rank exactly by
//! inner product. `M` only grows; links made before it grew used slightly
//! smaller extra coordinates, which costs a little graph quality and no
//! correctness. Each comparison costs two more dot products (the norms).

use std::sync::atomic::{AtomicU32, Ordering};

use super::distance::{DistanceFn, Metric};
use super::index::Hnsw;
use super::search::Scorer;
use super::view::GraphView;
use super::NodeId;

/// The largest squared norm inserted so far (inner-product graphs only).
#[derive(Debug, Default)]
pub(crate) struct MaxSquaredNorm(AtomicU32);

impl MaxSquaredNorm {
    /// Raises the maximum to `sq` if larger. Non-negative finite floats
    /// order as their bit patterns do, so an integer `fetch_max` suffices.
    fn observe(&self, sq: f32) {
        if sq.is_finite() && sq > 0.0 {
            self.0.fetch_max(sq.to_bits(), Ordering::AcqRel);
        }
    }

    fn get(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Acquire))
    }
}

/// The extra coordinate of a vector with squared norm `sq` under `max_sq`.
#[inline]
fn extra(max_sq: f32, sq: f32) -> f32 {
    (0.5 * (max_sq - sq)).max(0.0).sqrt()
}

/// Scores nodes against a vector being inserted, as inserts compare them.
pub(crate) struct InsertScorer<'q> {
    dist: DistanceFn,
    query: &'q [f32],
    /// `Some((M², the query's extra coordinate))` in an inner-product graph.
    mips: Option<(f32, f32)>,
}

impl<G: GraphView> Scorer<G> for InsertScorer<'_> {
    #[inline(always)]
    fn score(&self, g: &G, id: NodeId) -> Option<f32> {
        let v = g.vector(id)?;
        let d = (self.dist)(self.query, v);
        Some(match self.mips {
            None => d,
            // `dist` is the negated dot product here, so `-dist(v, v)` is |v|².
            Some((max_sq, query_extra)) => d - query_extra * extra(max_sq, -(self.dist)(v, v)),
        })
    }

    #[inline(always)]
    fn prefetch(&self, g: &G, id: NodeId, lines: usize) {
        g.prefetch_vector(id, lines);
    }
}

impl Hnsw {
    /// Records the norm of a vector about to be inserted.
    pub(crate) fn observe_insert(&self, vector: &[f32]) {
        if self.metric == Metric::InnerProduct {
            self.max_sq_norm.observe(-(self.dist)(vector, vector));
        }
    }

    /// The scorer an insert of `vector` searches the graph with.
    pub(crate) fn insert_scorer<'q>(&self, vector: &'q [f32]) -> InsertScorer<'q> {
        let mips = (self.metric == Metric::InnerProduct).then(|| {
            let max_sq = self.max_sq_norm.get();
            (max_sq, extra(max_sq, -(self.dist)(vector, vector)))
        });
        InsertScorer { dist: self.dist, query: vector, mips }
    }

    /// Distance between two indexed vectors as inserts compare them.
    pub(crate) fn build_distance(&self, a: &[f32], b: &[f32]) -> f32 {
        let d = (self.dist)(a, b);
        if self.metric != Metric::InnerProduct {
            return d;
        }
        let max_sq = self.max_sq_norm.get();
        d - extra(max_sq, -(self.dist)(a, a)) * extra(max_sq, -(self.dist)(b, b))
    }
}
