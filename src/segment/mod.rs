//! Immutable segment files: what a flushed memtable becomes.
//!
//! A segment holds the newest version (as of its flush) of each document it
//! covers — ids, sequence numbers, vectors, metadata columns, its own HNSW
//! graph — plus tombstones for deleted ids, and an id → row hash index.
//! Files never change after they are written; which rows are still current
//! is runtime state (`superseded_at`, set as newer versions arrive).

pub(crate) mod build;
pub(crate) mod columns;
pub(crate) mod encoding;
pub(crate) mod filter_eval;
pub(crate) mod format;
pub(crate) mod id_index;
pub mod io;
pub(crate) mod reader;
#[cfg(target_os = "linux")]
pub(crate) mod uring;
pub(crate) mod writer;

#[cfg(test)]
mod tests;
