use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One numbered version of the catalogue. Cloned, edited and persisted as a whole.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ManifestState {
    /// Version number; strictly increases with every persisted edit.
    pub version: u64,
    /// Next collection id to hand out. Ids are never reused, so WAL records of a
    /// dropped collection can never be replayed into a new one of the same name.
    pub next_collection_id: u64,
    /// Next file id to hand out (segment files).
    pub next_file_id: u64,
    /// Highest sequence number known durable outside the WAL (so that a fully
    /// checkpointed, deleted WAL does not make sequence numbers go backwards).
    pub last_seq: u64,
    /// WAL records with `seq <= wal_checkpoint_seq` are covered by segments.
    pub wal_checkpoint_seq: u64,
    /// Live collections by name.
    pub collections: BTreeMap<String, CollectionEntry>,
}

/// A collection as the catalogue records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollectionEntry {
    /// Stable id, used in WAL records.
    pub id: u64,
    /// Persisted configuration.
    pub config: CollectionRecordConfig,
    /// WAL records of this collection with `seq <= flushed_seq` live in segments.
    pub flushed_seq: u64,
    /// Segment files owned by the collection, newest first: a flush puts its
    /// segment at the front, a merge its output where its oldest input was
    /// (the back), and recovery reads an id's newest version from the first
    /// segment that holds it.
    pub segments: Vec<SegmentEntry>,
}

/// The persisted form of a collection configuration (plain integers so that the
/// on-disk form does not depend on the API crate's enums).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionRecordConfig {
    /// Vector dimension.
    pub dimension: u32,
    /// 0 = L2, 1 = cosine, 2 = inner product.
    pub distance: u8,
    /// HNSW M.
    pub m: u32,
    /// HNSW ef at build time.
    pub ef_construction: u32,
    /// Default HNSW ef at search time.
    pub ef_search: u32,
    /// 0 = sync, 1 = periodic, 2 = none.
    pub durability: u8,
    /// Interval for periodic durability, in milliseconds.
    pub durability_interval_ms: u64,
    /// Memtable size before a flush, in bytes.
    pub memtable_bytes: u64,
    /// 0 = full-precision search, 1 = int8-quantized graph walk (format 2).
    pub quantization: u8,
}

/// A segment file as the catalogue records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEntry {
    /// File id (names the file).
    pub file_id: u64,
    /// Rows in the segment.
    pub rows: u64,
    /// File size in bytes.
    pub bytes: u64,
    /// Smallest sequence number in the segment.
    pub min_seq: u64,
    /// Largest sequence number in the segment.
    pub max_seq: u64,
}

impl ManifestState {
    /// The collection with the given id, if any.
    pub fn collection_by_id(&self, id: u64) -> Option<(&String, &CollectionEntry)> {
        self.collections.iter().find(|(_, c)| c.id == id)
    }
}
