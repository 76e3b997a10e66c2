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

mod api;
mod codec;
mod engine;
pub(crate) mod hnsw;
pub mod inspect;
mod memtable;
mod model;
mod segment;
#[cfg(feature = "server")]
pub mod server;

pub use api::collection::Collection;
pub use api::db::{BackupSnapshots, Db, RecoveryReport, TornTail};
pub use api::snapshot::Snapshot;
pub use engine::compaction::policy::{CompactionPolicy, Merge, MergeReason, SegmentInfo, TieredPolicy};
pub use model::document::{Document, Value};
pub use model::error::{Error, Result};
pub use model::filter::{Filter, Op};
pub use model::id::new_id;
pub use model::limits;
pub use model::metrics::LatencyStats;
pub use model::options::{CollectionConfig, Distance, Durability, Options, Quantization};
pub use model::progress::{Progress, ProgressFn, Task};
pub use model::search_options::{Hit, SearchOptions};
pub use model::stats::BackupStats;
pub use model::stats::{CollectionStats, CompactionStats, DbStats, IoStats};
pub use segment::io::SegmentIo;
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
        crate::codec::wal_record::decode(bytes).map(drop)
    }

    /// The fuzz targets (`fuzz/fuzz_targets/<name>.rs`), each a decoder of
    /// bytes that come from disk or from users.
    pub const TARGETS: &[&str] = &["wal_file", "wal_payload", "manifest", "segment", "values"];

    /// Recomputes a segment file's header CRC and, if its trailer points to
    /// a section table inside the file, the table's CRC; false if `bytes`
    /// is too short to hold a header and a trailer.
    fn fix_segment_checksums(bytes: &mut [u8]) -> bool {
        const HEADER: usize = 64;
        const TRAILER: usize = 24;
        if bytes.len() < HEADER + TRAILER {
            return false;
        }
        let crc = crc32c::crc32c(&bytes[..60]);
        bytes[60..64].copy_from_slice(&crc.to_le_bytes());
        let t = bytes.len() - TRAILER;
        let table_offset = u64::from_le_bytes(bytes[t..t + 8].try_into().expect("8 bytes"));
        let table_len = u32::from_le_bytes(bytes[t + 8..t + 12].try_into().expect("4 bytes")) as u64;
        if table_offset >= HEADER as u64 && table_offset.checked_add(table_len) == Some(t as u64) {
            let crc = crc32c::crc32c(&bytes[table_offset as usize..t]);
            bytes[t + 12..t + 16].copy_from_slice(&crc.to_le_bytes());
        }
        true
    }

    /// Runs fuzz target `name` on `data` (what `cargo fuzz` runs, and what
    /// the corpus replay test runs without it). Returns false for an unknown
    /// target. Decoders return errors for bad bytes; a panic is a bug.
    pub fn run_target(name: &str, data: &[u8]) -> bool {
        match name {
            "wal_file" => {
                if let Some((&role, bytes)) = data.split_first() {
                    let role = if role & 1 == 0 { vego_wal::FileRole::Last } else { vego_wal::FileRole::Sealed };
                    let _ = vego_wal::scan_file_bytes(bytes, role, None);
                }
            }
            "wal_payload" => drop(decode_wal_payload(data)),
            "manifest" => drop(vego_manifest::decode(std::path::Path::new("MANIFEST-fuzz"), data)),
            "segment" => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("00000000000000000001.vseg");
                std::fs::write(&path, data).expect("write");
                let _ = read_segment(&path);
                // The same bytes with their header and section-table
                // checksums made valid, so mutated counts and lengths get
                // past the checksums to the code that trusts them (a row
                // count that made open allocate 8 TiB hid behind a CRC).
                let mut fixed = data.to_vec();
                if fix_segment_checksums(&mut fixed) {
                    std::fs::write(&path, &fixed).expect("write");
                    let _ = read_segment(&path);
                }
            }
            "values" => decode_values(data),
            _ => return false,
        }
        true
    }

    /// Decodes metadata values the ways they reach Vego as bytes, chosen by
    /// the first byte: 0 the WAL's metadata map, 1 a segment column page
    /// (second byte = column kind; whole page and one row), 2 a zone map,
    /// 3 a JSON document (serde, as tools import them). Never panics.
    pub fn decode_values(data: &[u8]) {
        use crate::segment::encoding::{decode_page, decode_row, decode_zone, ColumnKind};
        let Some((&sel, rest)) = data.split_first() else { return };
        match sel % 4 {
            0 => drop(crate::codec::Reader::new(rest).metadata()),
            1 => {
                let Some((&k, page)) = rest.split_first() else { return };
                let Some(kind) = ColumnKind::from_u8(k % 6) else { return };
                if let Ok(values) = decode_page(kind, page) {
                    let row = usize::from(k) % values.len().max(1);
                    let one = decode_row(kind, page, row);
                    assert!(values.is_empty() || one.as_ref().ok() == Some(&values[row]), "row and page disagree");
                }
            }
            2 => drop(decode_zone(rest)),
            _ => drop(serde_json::from_slice::<crate::Document>(rest)),
        }
    }

    /// Seed inputs of the `values` target: valid encodings of each kind.
    pub fn value_seeds() -> Vec<Vec<u8>> {
        use crate::segment::encoding::{encode_page, encode_zone, ColumnKind};
        use crate::Value;
        let mut seeds = Vec::new();
        let meta: std::collections::BTreeMap<String, Value> = [
            ("s".to_owned(), Value::Str("alice".into())),
            ("i".to_owned(), Value::Int(-7)),
            ("f".to_owned(), Value::Float(2.5)),
            ("b".to_owned(), Value::Bool(true)),
            ("n".to_owned(), Value::Null),
            ("l".to_owned(), Value::List(vec![Value::Int(1), Value::Str("x".into())])),
        ]
        .into();
        let mut w = crate::codec::Writer::default();
        w.metadata(&meta);
        seeds.push([&[0u8][..], &w.buf].concat());
        let columns: [(ColumnKind, Vec<Value>); 5] = [
            (ColumnKind::Bool, vec![Value::Bool(true), Value::Bool(false)]),
            (ColumnKind::Int, (0..40).map(|i| Value::Int(i * 3 - 50)).collect()),
            (ColumnKind::Float, vec![Value::Float(0.5), Value::Float(-1e9)]),
            (ColumnKind::Str, vec![Value::Str("a".into()), Value::Str("bb".into()), Value::Str("a".into())]),
            (ColumnKind::Any, vec![Value::Null, Value::List(vec![Value::Bool(false)]), Value::Int(3)]),
        ];
        for (kind, values) in &columns {
            let mut refs: Vec<Option<&Value>> = values.iter().map(Some).collect();
            refs.push(None);
            let page = encode_page(*kind, &refs);
            seeds.push([&[1u8, *kind as u8][..], &page.bytes].concat());
            seeds.push([&[2u8][..], &encode_zone(&page.zone)].concat());
        }
        let doc = crate::Document::new("d1", vec![0.25, -1.0]).with("author", "Alice").with("tags", vec!["a", "b"]);
        seeds.push([&[3u8][..], serde_json::to_string(&doc).expect("json").as_bytes()].concat());
        seeds
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
