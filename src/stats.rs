//! Statistics reported by collections and databases.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Distance, Quantization};

/// Counters of one collection (a consistent-enough view; exact when idle).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CollectionStats {
    /// Collection name.
    pub name: String,
    /// Vector dimension.
    pub dimension: usize,
    /// Metric.
    pub distance: Distance,
    /// Live documents.
    pub documents: u64,
    /// Stored document versions (live + superseded + deleted) in memory.
    pub versions: u64,
    /// Versions that are no longer live (superseded by an update or deleted):
    /// kept as graph waypoints until a flush or compaction rewrites them.
    pub dead: u64,
    /// Graph nodes that no version chain refers to (only a write undone after
    /// its WAL append failed can leave one; the next flush drops it). Updates
    /// and deletes never do: their old rows are counted in `dead`. Segments
    /// cannot hold orphans: every graph node of a segment is a row of its id
    /// column, checked when the segment is opened.
    pub orphans: u64,
    /// Segments on disk.
    pub segments: u64,
    /// Bytes of the collection's segment files.
    pub disk_bytes: u64,
    /// Approximate bytes of documents held in memtables.
    pub memtable_bytes: u64,
    /// Approximate bytes of the HNSW indexes in memory.
    pub index_bytes: u64,
    /// HNSW M.
    pub m: usize,
    /// HNSW ef at build time.
    pub ef_construction: usize,
    /// Default HNSW ef at search time.
    pub ef_search: usize,
    /// How the graph search reads vectors.
    pub quantization: Quantization,
}

/// Counters of a whole database.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DbStats {
    /// Database directory.
    pub path: PathBuf,
    /// Highest sequence number visible to readers.
    pub visible_seq: u64,
    /// Current manifest version.
    pub manifest_version: u64,
    /// Bytes of WAL files on disk.
    pub wal_bytes: u64,
    /// Per-collection statistics.
    pub collections: Vec<CollectionStats>,
}

/// What a compaction did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CompactionStats {
    /// Segments merged.
    pub segments_in: u64,
    /// Segments written (0 or 1).
    pub segments_out: u64,
    /// Versions dropped: replaced or deleted ones no snapshot can see, and tombstones.
    pub versions_dropped: u64,
    /// Bytes of the merged segments.
    pub bytes_in: u64,
    /// Bytes of the result.
    pub bytes_out: u64,
}
