//! The [`Hnsw`] type: shared state and the small accessors. Inserting lives in
//! `build.rs`, querying in `search.rs`.

use super::distance::{distance_fn, DistanceFn, Metric};
use super::graph::{Graph, LiveView};
use super::params::HnswParams;
use super::search::Scratch;
use super::visited::Pool;
use super::NodeId;
use parking_lot::Mutex;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Where every search starts: the node on the highest layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EntryPoint {
    pub(crate) id: NodeId,
    pub(crate) level: usize,
}

/// `entry` value meaning "index is empty".
const NO_ENTRY: u64 = u64::MAX;

/// A concurrent HNSW index over vectors of one dimension and metric.
///
/// `Hnsw` is `Send + Sync`; share it with `Arc` (or scoped threads) to insert
/// and search from many threads at once.
pub struct Hnsw {
    pub(crate) dim: usize,
    pub(crate) metric: Metric,
    pub(crate) params: HnswParams,
    /// Kernel for `metric`, resolved once so the hot loop is a direct call.
    pub(crate) dist: DistanceFn,
    pub(crate) graph: Graph,
    /// Entry point packed as `level << 32 | id`, so searches read it with one
    /// atomic load and never see an id paired with another node's level.
    entry: AtomicU64,
    /// Held for the whole insert of a node that will raise the top level,
    /// like hnswlib's global lock: without it two such inserts could race
    /// and leave one's upper layers disconnected. Rare (probability ~1/m per
    /// insert at most), so it costs little.
    pub(crate) top_lock: Mutex<()>,
    /// Inserts that have completed.
    pub(crate) completed: AtomicUsize,
    /// Reusable per-traversal buffers.
    pub(crate) scratch: Pool<Scratch>,
    /// Largest squared norm inserted (inner product only; see `mips.rs`).
    pub(crate) max_sq_norm: super::mips::MaxSquaredNorm,
}

impl Hnsw {
    /// Creates an empty index for `dim`-dimensional vectors.
    ///
    /// # Panics
    /// If `dim == 0` or `params.m < 2` (the level multiplier `1 / ln(m)`
    /// needs `m >= 2`).
    pub fn new(dim: usize, metric: Metric, params: HnswParams) -> Hnsw {
        assert!(dim > 0, "HNSW dimension must be positive");
        assert!(params.m >= 2, "HNSW parameter m must be at least 2");
        Hnsw {
            dim,
            metric,
            params,
            dist: distance_fn(metric),
            graph: Graph::new(dim, &params),
            entry: AtomicU64::new(NO_ENTRY),
            top_lock: Mutex::new(()),
            completed: AtomicUsize::new(0),
            scratch: Pool::new(),
            max_sq_norm: Default::default(),
        }
    }

    /// Number of completed inserts.
    pub fn len(&self) -> usize {
        self.completed.load(Ordering::Acquire)
    }

    /// True until the first insert completes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Dimension of every vector in the index.
    #[cfg(test)]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Metric the index was built with.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// A copy of `node`'s vector.
    ///
    /// # Panics
    /// If `node` was never returned by [`Hnsw::insert`] (or its insert has
    /// not yet stored the vector).
    #[cfg(test)]
    pub fn vector(&self, node: NodeId) -> Vec<f32> {
        self.with_vector(node, <[f32]>::to_vec).unwrap_or_else(|| panic!("HNSW node {node} does not exist"))
    }

    /// Calls `f` with `node`'s vector without copying it; `None` if the node
    /// does not exist yet.
    pub fn with_vector<R>(&self, node: NodeId, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
        self.graph.vector(node).map(f)
    }

    /// Whether `node`'s insert has completed (a walk can return it).
    pub fn is_linked(&self, node: NodeId) -> bool {
        self.graph.is_ready(node)
    }

    /// Approximate heap bytes used: vectors, link lists, node slots and idle
    /// search scratch.
    pub fn memory_bytes(&self) -> usize {
        self.graph.memory_bytes() + self.scratch.sum_idle(Scratch::memory_bytes)
    }

    /// Current entry point, if any node has been inserted.
    pub(crate) fn entry_point(&self) -> Option<EntryPoint> {
        let packed = self.entry.load(Ordering::Acquire);
        (packed != NO_ENTRY).then_some(EntryPoint { id: packed as u32, level: (packed >> 32) as usize })
    }

    /// The graph as the shared search code reads it, with the current entry point.
    pub(crate) fn view(&self) -> LiveView<'_> {
        LiveView { graph: &self.graph, entry: self.entry_point().map(|e| (e.id, e.level)) }
    }

    /// Publishes a new entry point; callers hold `top_lock`.
    pub(crate) fn set_entry_point(&self, e: EntryPoint) {
        self.entry.store(((e.level as u64) << 32) | u64::from(e.id), Ordering::Release);
    }
}

impl fmt::Debug for Hnsw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hnsw")
            .field("dim", &self.dim)
            .field("metric", &self.metric)
            .field("params", &self.params)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}
