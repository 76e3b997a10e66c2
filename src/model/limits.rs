//! Named limits on everything that grows. Inputs beyond them get
//! `Error::InvalidArgument`; on-disk lengths beyond them are corruption.

/// Largest vector dimension.
pub const DIMENSION_MAX: usize = 65_536;
/// Largest HNSW M.
pub const M_MAX: usize = 256;
/// Largest ef (build or search).
pub const EF_MAX: usize = 100_000;
/// Largest k of a search.
pub const K_MAX: usize = 100_000;
/// Longest document id, in bytes.
pub const ID_BYTES_MAX: usize = 512;
/// Longest collection name, in bytes.
pub const COLLECTION_NAME_BYTES_MAX: usize = 64;
/// Longest metadata key, in bytes.
pub const METADATA_KEY_BYTES_MAX: usize = 256;
/// Most metadata fields on one document.
pub const METADATA_FIELDS_MAX: usize = 1_024;
/// Largest encoded metadata of one document, in bytes.
pub const METADATA_BYTES_MAX: usize = 1 << 20;
/// Deepest nesting of list values and filters.
pub const NESTING_MAX: usize = 32;
/// Most documents in one `insert_batch`.
pub const BATCH_DOCS_MAX: usize = 100_000;
/// Largest encoded batch (one WAL record), in bytes; the WAL's own record limit.
pub const BATCH_BYTES_MAX: usize = 64 << 20;
/// Most entries (documents + tombstones) in one segment: rows are numbered
/// with `u32` (graph node ids, row sets).
pub const SEGMENT_ENTRIES_MAX: u64 = u32::MAX as u64;
/// Unflushed memory a collection may hold, in multiples of its memtable
/// limit (the active memtable plus frozen ones waiting for their flush).
/// Beyond it writes wait for the background flush — and fail with
/// `Error::Io` while flushes keep failing — rather than grow memory (and
/// the WAL to replay after a crash) without bound.
pub const MEMTABLES_UNFLUSHED_MAX: u64 = 4;
/// Smallest memtable.
pub const MEMTABLE_BYTES_MIN: u64 = 1 << 20;
/// Memtable size when none is set and no expected size is known.
pub const MEMTABLE_BYTES_DEFAULT: u64 = 64 << 20;
/// Largest memtable chosen from `expected_size`: bounds the memory of
/// unflushed documents and the WAL replay after a crash.
pub const MEMTABLE_BYTES_SIZED_MAX: u64 = 512 << 20;
