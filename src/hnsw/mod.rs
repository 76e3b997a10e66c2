//! In-memory HNSW (Hierarchical Navigable Small World) index.
//!
//! An implementation of Malkov & Yashunin, "Efficient and robust approximate
//! nearest neighbor search using Hierarchical Navigable Small World graphs"
//! (2016), following hnswlib's choices where the paper leaves room: neighbour
//! selection by the diversity heuristic without keeping pruned connections,
//! `2 * M` links on layer 0, level multiplier `1 / ln(M)`, and the same
//! heuristic to shrink a neighbour's list when a new link overflows it.
//!
//! [`Hnsw::insert`] and [`Hnsw::search`] may run concurrently from any number
//! of threads; see `graph.rs` for the locking protocol.
//!
//! Files: `index.rs` (the [`Hnsw`] type), `build.rs` (inserts), `search.rs`
//! (queries, one implementation for every [`view::GraphView`]), `graph.rs`
//! (storage and concurrency), `frozen.rs` (read-only flat graphs for
//! segments), `reach.rs` (no node of a segment graph left unreachable),
//! `merge.rs` (a merged graph started from an existing one, dropped nodes
//! healed), `visited.rs` (scratch reuse), `params.rs`, `mips.rs` (how
//! inner-product inserts compare vectors), and `distance/` (metrics and SIMD
//! kernels).

mod build;
mod distance;
mod frozen;
mod graph;
mod index;
mod merge;
mod mips;
mod params;
pub(crate) mod quant;
mod reach;
mod search;
mod view;
mod visited;

#[cfg(test)]
mod tests;

pub use distance::{distance, inv_norm, kernel_sets, normalize, DistanceFn, Metric};
pub use frozen::{FlatGraph, FrozenGraph, FrozenGraphError, FrozenParts};
pub use index::Hnsw;
pub(crate) use merge::dropped_links;
pub use params::HnswParams;

/// Dense identifier of an inserted vector: `0, 1, 2, ...` in the order the
/// inserts started.
pub type NodeId = u32;
