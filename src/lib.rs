//! # Vego — an embedded, crash-safe vector database
//!
//! A Rust program opens a directory, stores documents (id, embedding vector,
//! metadata) in collections, and searches for nearest neighbours with
//! metadata filters while other threads keep writing. Every acknowledged
//! write survives a crash: writes go to a write-ahead log (group-committed,
//! fsynced under [`Durability::Sync`]) before they are acknowledged, and
//! reopening replays the log.
//!
//! ```
//! use vego::{Db, Document, Filter, Options, SearchOptions};
//! # fn main() -> vego::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let db = Db::open(dir.path(), Options::default().dimension(3))?;
//! let docs = db.collection("documents")?;
//! docs.insert(Document::new(vego::new_id(), vec![0.1, 0.2, 0.3]).with("author", "Alice").with("year", 2024))?;
//! docs.insert(Document::new(vego::new_id(), vec![0.3, 0.2, 0.1]).with("author", "Bob").with("year", 2019))?;
//! let hits = docs.search_with(
//!     &[0.1, 0.2, 0.25],
//!     &SearchOptions::new(10).filter(Filter::eq("author", "Alice").and(Filter::gte("year", 2020))),
//! )?;
//! assert_eq!(hits.len(), 1);
//! db.close()?;
//! # Ok(()) }
//! ```
//!
//! See `docs/ARCHITECTURE.md` for the write and read paths and
//! `docs/FORMAT.md` for the bytes on disk.

#![deny(missing_docs)]

mod codec;
mod collection;
mod compaction;
mod db;
mod document;
mod error;
mod filter;
mod flush;
pub(crate) mod hnsw;
mod id;
pub mod limits;
mod memtable;
mod options;
mod read_path;
mod recovery;
mod search_options;
mod segment;
mod snapshot;
mod stats;
mod sync;
mod tables;
mod validate;
mod visibility;
mod wal_glue;
mod wal_record;
mod write_path;

pub use collection::Collection;
pub use db::{Db, RecoveryReport, TornTail};
pub use document::{Document, Value};
pub use error::{Error, Result};
pub use filter::{Filter, Op};
pub use id::new_id;
pub use options::{CollectionConfig, Distance, Durability, Options};
pub use search_options::{Hit, SearchOptions};
pub use segment::io::SegmentIo;
pub use snapshot::Snapshot;
pub use stats::{CollectionStats, CompactionStats, DbStats};
/// The file layer every writer goes through ([`Options::storage`]).
pub use vego_storage as storage;

/// Engine internals exposed for benchmarks and sibling modules' tests; not
/// a stable API.
#[doc(hidden)]
pub mod internals {
    pub use crate::hnsw::{
        distance, kernel_sets, DistanceFn, FlatGraph, FrozenGraph, FrozenGraphError, FrozenParts, Hnsw, HnswParams,
        Metric, NodeId,
    };
}

/// Decoders of bytes that come from disk, exposed for fuzz targets and tests.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::codec::DecodeError;
    /// Decodes a WAL payload (a batch); never panics.
    pub fn decode_wal_payload(bytes: &[u8]) -> Result<(), DecodeError> {
        crate::wal_record::decode(bytes).map(drop)
    }

    /// Opens a segment file and reads everything in it: every document, a
    /// graph search, a filter over every column. Errors, never panics.
    pub fn read_segment(path: &std::path::Path) -> crate::Result<()> {
        use crate::segment::io::{IoConfig, SegmentIo};
        let seg = crate::segment::reader::Segment::open(path, &IoConfig::new(SegmentIo::Mmap))?;
        let entries = seg.rows() as u64 + seg.header.tombstones;
        for e in 0..entries.min(1 << 16) as u32 {
            let id = seg.id(e)?.to_owned();
            let _ = seg.find(&id);
            if !seg.is_tombstone(e) {
                seg.document(e, true, None)?;
            }
        }
        let query = vec![0.5; seg.header.dimension as usize];
        seg.search(&query, 10, 32, &|_| true);
        let filter = crate::Filter::exists("a").or(crate::Filter::gt("b", 1)).or(crate::Filter::eq("c", "x"));
        crate::segment::filter_eval::matching_rows(&seg, &filter)?;
        Ok(())
    }
}
