//! The one interface the search code needs from a graph, so the live
//! (concurrently growing) graph and the read-only [`FrozenGraph`] of a
//! segment share a single search implementation.
//!
//! [`FrozenGraph`]: super::FrozenGraph

use super::NodeId;

/// Read access to an HNSW graph: entry point, vectors, neighbour lists.
pub(crate) trait GraphView {
    /// The node every search starts from and its top layer; `None` if empty.
    fn entry(&self) -> Option<(NodeId, usize)>;

    /// An upper bound on node ids (sizes the visited set).
    fn id_bound(&self) -> usize;

    /// The vector of `id`, or `None` if there is none (yet).
    fn vector(&self, id: NodeId) -> Option<&[f32]>;

    /// Hints the CPU to start loading `lines` cache lines of `id`'s vector
    /// (0 = the whole vector). Never faults.
    fn prefetch_vector(&self, id: NodeId, lines: usize);

    /// Hints the CPU to start loading the neighbour list of `id` on `layer`.
    fn prefetch_links(&self, id: NodeId, layer: usize);

    /// Calls `f` with each neighbour of `id` on `layer` (none if the node
    /// does not reach the layer).
    fn for_each_neighbour(&self, id: NodeId, layer: usize, f: impl FnMut(NodeId));

    /// Whether `id` may appear in results (its insert has completed).
    fn is_ready(&self, id: NodeId) -> bool;

    /// Whether the graph keeps a quantized record per node (`quant.rs`).
    fn quantized(&self) -> bool;

    /// The quantized record of `id`, or `None` if there is none (yet).
    fn record(&self, id: NodeId) -> Option<&[u8]>;

    /// Hints the CPU to start loading `lines` cache lines of `id`'s record
    /// (0 = all of it). Never faults.
    fn prefetch_record(&self, id: NodeId, lines: usize);
}
