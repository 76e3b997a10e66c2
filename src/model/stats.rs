//! Statistics reported by collections and databases.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Distance, LatencyStats, Quantization};

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
    /// Latency of writes (insert, insert_batch, update, upsert, delete and
    /// the `_if` forms; one per call) since open.
    pub write_latency: LatencyStats,
    /// Latency of get and get_batch calls since open.
    pub get_latency: LatencyStats,
    /// Latency of searches (one per query) since open.
    pub search_latency: LatencyStats,
    /// Background merges that failed since open (an I/O error, a poisoned
    /// write path, a compaction policy's impossible choice): a failed merge
    /// changes nothing, and the next flush asks for it again.
    #[serde(default)]
    pub merge_failures: u64,
    /// The error of the last failed background merge.
    #[serde(default)]
    pub last_merge_error: Option<String>,
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
    /// I/O and cache counters since open.
    pub io: IoStats,
    /// Per-collection statistics.
    pub collections: Vec<CollectionStats>,
}

/// I/O and cache counters of a database since it was opened.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IoStats {
    /// WAL records written (a batch is one record).
    pub wal_records: u64,
    /// WAL writes (group commits: one write for many concurrent records).
    pub wal_writes: u64,
    /// fsyncs of WAL files.
    pub wal_fsyncs: u64,
    /// Bytes written to the WAL.
    pub wal_bytes_written: u64,
    /// Bytes of segment files written by flushes and compactions.
    pub segment_bytes_written: u64,
    /// Block-cache hits (`SegmentIo::Pread` / `Uring`; 0 with mmap).
    pub block_cache_hits: u64,
    /// Block-cache misses: reads that went to the file.
    pub block_cache_misses: u64,
    /// Decoded metadata pages found in the page cache.
    pub page_cache_hits: u64,
    /// Metadata pages decoded because they were not cached.
    pub page_cache_misses: u64,
}

impl IoStats {
    /// Share of metadata page lookups served from the page cache (0 when none).
    pub fn page_cache_hit_rate(&self) -> f64 {
        let total = self.page_cache_hits + self.page_cache_misses;
        if total == 0 {
            0.0
        } else {
            self.page_cache_hits as f64 / total as f64
        }
    }

    /// Share of block lookups served from the block cache (0 when none).
    pub fn block_cache_hit_rate(&self) -> f64 {
        let total = self.block_cache_hits + self.block_cache_misses;
        if total == 0 {
            0.0
        } else {
            self.block_cache_hits as f64 / total as f64
        }
    }
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
    /// Rows of the result whose graph links were taken over from the
    /// largest input's graph (0: the graph was built afresh).
    #[serde(default)]
    pub graph_rows_reused: u64,
}

/// What a backup wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupStats {
    /// The backup holds exactly the writes with sequence number ≤ this.
    pub seq: u64,
    /// Manifest version copied.
    pub manifest_version: u64,
    /// Collections in the backup.
    pub collections: u64,
    /// Segment files hard-linked from the source (no data copied).
    pub segments_linked: u64,
    /// Segment files copied (hard links were not possible).
    pub segments_copied: u64,
    /// WAL files copied.
    pub wal_files: u64,
    /// WAL records copied (writes not yet in a segment, up to `seq`).
    pub wal_records: u64,
    /// Bytes of the backup (segment files counted whether linked or copied).
    pub bytes: u64,
}
