//! Database and collection configuration.

use std::sync::Arc;
use std::time::Duration;

use vego_storage::{StdStorage, Storage};

use serde::{Deserialize, Serialize};

use crate::engine::compaction::policy::{CompactionPolicy, TieredPolicy};
use crate::model::error::invalid;
use crate::model::limits::{
    DIMENSION_MAX, EF_MAX, MEMTABLE_BYTES_DEFAULT, MEMTABLE_BYTES_MIN, MEMTABLE_BYTES_SIZED_MAX, M_MAX,
};
use crate::model::progress::{Progress, ProgressFn};
use crate::Result;

/// How vectors are compared. Every metric reports "smaller is closer".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Distance {
    /// Euclidean distance (`Hit::distance` is the square root of the summed squares).
    L2,
    /// `1 − cos(a, b)`; vectors are normalised at insert, so zero vectors are refused.
    Cosine,
    /// `−dot(a, b)`.
    InnerProduct,
}

/// How the graph search reads vectors.
///
/// `Int8` keeps a one-byte-per-dimension copy of every vector beside the
/// full one and walks the HNSW graph on those (a quarter of the memory
/// traffic), then re-scores the candidates it found with the full vectors:
/// distances in results are exact, recall can drop slightly at a given ef
/// (measured figures in `docs/TUNING.md`). Inserts always build the graph on
/// the full vectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Quantization {
    /// Full-precision f32 distances everywhere (the default).
    #[default]
    None,
    /// 7-bit scalar codes per dimension for the graph walk, f32 re-scoring.
    Int8,
}

/// When a write is acknowledged, relative to the disk.
///
/// All collections of a database share one write-ahead log, whose fsync
/// policy is the database default (`Options::durability`). A collection
/// configured with `Sync` on a database whose default is weaker waits for an
/// fsync after each write (still shared with concurrent writers); a
/// collection configured weaker than the database default gets the
/// database's stronger guarantee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Durability {
    /// Acknowledge only after the WAL record is fsynced (group-committed with
    /// concurrent writers). Survives power loss. The default.
    Sync,
    /// Acknowledge after the record reached the OS; fsync at most this often.
    /// Survives a process crash; a power loss may lose the last interval.
    Periodic(Duration),
    /// Acknowledge after the record reached the OS; fsync only on flush/close.
    /// Survives a process crash, not a power loss.
    None,
}

/// Configuration of one collection. `dimension` is required; everything else
/// has a default, and with `adaptive` (on by default) M and ef are picked from
/// the dimension and the expected size unless set explicitly.
///
/// ```
/// use vego::{CollectionConfig, Distance};
/// let cfg = CollectionConfig::new(384).distance(Distance::Cosine).expected_size(50_000);
/// assert_eq!(cfg.dimension, 384);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CollectionConfig {
    /// Vector length.
    pub dimension: usize,
    /// Metric.
    pub distance: Distance,
    /// HNSW M (links per node; 2·M on the bottom layer). `None` = chosen.
    pub m: Option<usize>,
    /// HNSW beam width while building. `None` = chosen.
    pub ef_construction: Option<usize>,
    /// Default HNSW beam width while searching. `None` = chosen.
    pub ef_search: Option<usize>,
    /// Expected number of documents, used by `adaptive`.
    pub expected_size: Option<u64>,
    /// Pick unset M / ef values from dimension and expected size.
    pub adaptive: bool,
    /// When writes are acknowledged.
    pub durability: Durability,
    /// How the graph search reads vectors (default: full precision).
    pub quantization: Quantization,
    /// Memtable size that triggers a flush to a segment. `None` = chosen:
    /// 64 MiB, or, with `adaptive` and `expected_size`, room for the expected
    /// documents (at most 512 MiB), so a bulk load builds one graph instead
    /// of one per 64 MiB segment.
    pub memtable_bytes: Option<u64>,
}

/// Fully resolved HNSW parameters of a collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IndexParams {
    pub m: usize,
    pub ef_construction: usize,
    pub ef_search: usize,
    pub quantize: bool,
}

impl CollectionConfig {
    /// Defaults for a collection of `dimension`-long vectors.
    pub fn new(dimension: usize) -> CollectionConfig {
        CollectionConfig {
            dimension,
            distance: Distance::L2,
            m: None,
            ef_construction: None,
            ef_search: None,
            expected_size: None,
            adaptive: true,
            durability: Durability::Sync,
            quantization: Quantization::None,
            memtable_bytes: None,
        }
    }
    /// Sets the metric.
    pub fn distance(mut self, d: Distance) -> Self {
        self.distance = d;
        self
    }
    /// Sets HNSW M.
    pub fn m(mut self, m: usize) -> Self {
        self.m = Some(m);
        self
    }
    /// Sets HNSW ef at build time.
    pub fn ef_construction(mut self, ef: usize) -> Self {
        self.ef_construction = Some(ef);
        self
    }
    /// Sets the default HNSW ef at search time.
    pub fn ef_search(mut self, ef: usize) -> Self {
        self.ef_search = Some(ef);
        self
    }
    /// Sets the expected number of documents (for `adaptive`).
    pub fn expected_size(mut self, n: u64) -> Self {
        self.expected_size = Some(n);
        self
    }
    /// Turns adaptive parameter choice on or off.
    pub fn adaptive(mut self, on: bool) -> Self {
        self.adaptive = on;
        self
    }
    /// Sets the durability mode.
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }
    /// Sets how the graph search reads vectors (see [`Quantization`]).
    pub fn quantization(mut self, q: Quantization) -> Self {
        self.quantization = q;
        self
    }
    /// Sets the memtable size that triggers a flush.
    pub fn memtable_bytes(mut self, bytes: u64) -> Self {
        self.memtable_bytes = Some(bytes);
        self
    }

    /// The memtable size that triggers a flush: the explicit value, else one
    /// sized for `expected_size` documents (adaptive), else the default.
    pub(crate) fn memtable_bytes_limit(&self) -> u64 {
        if let Some(bytes) = self.memtable_bytes {
            return bytes;
        }
        match (self.adaptive, self.expected_size) {
            (true, Some(n)) => {
                // Vector plus the row, id and WAL-record overhead `Row` counts.
                let per_doc = 4 * self.dimension as u64 + 192;
                (n.saturating_mul(per_doc) / 4 * 5).clamp(MEMTABLE_BYTES_DEFAULT, MEMTABLE_BYTES_SIZED_MAX)
            }
            _ => MEMTABLE_BYTES_DEFAULT,
        }
    }

    /// Checks every field; bad values get `InvalidArgument` naming the field.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.dimension == 0 || self.dimension > DIMENSION_MAX {
            return Err(invalid(format!("dimension must be 1..={DIMENSION_MAX}, got {}", self.dimension)));
        }
        if let Some(m) = self.m {
            if !(2..=M_MAX).contains(&m) {
                return Err(invalid(format!("m must be 2..={M_MAX}, got {m}")));
            }
        }
        for (name, ef) in [("ef_construction", self.ef_construction), ("ef_search", self.ef_search)] {
            if let Some(ef) = ef {
                if !(1..=EF_MAX).contains(&ef) {
                    return Err(invalid(format!("{name} must be 1..={EF_MAX}, got {ef}")));
                }
            }
        }
        if let Some(bytes) = self.memtable_bytes.filter(|&b| b < MEMTABLE_BYTES_MIN) {
            return Err(invalid(format!("memtable_bytes must be at least {MEMTABLE_BYTES_MIN}, got {bytes}")));
        }
        if let Durability::Periodic(d) = self.durability {
            if d.is_zero() {
                return Err(invalid("periodic durability needs a non-zero interval"));
            }
        }
        Ok(())
    }

    /// Explicit values win; otherwise adaptive choice (or fixed defaults).
    pub(crate) fn index_params(&self) -> IndexParams {
        let (m, efc, efs) = if self.adaptive {
            adaptive_params(self.dimension, self.expected_size.unwrap_or(100_000))
        } else {
            (16, 200, 64)
        };
        IndexParams {
            m: self.m.unwrap_or(m),
            ef_construction: self.ef_construction.unwrap_or(efc),
            ef_search: self.ef_search.unwrap_or(efs),
            quantize: self.quantization == Quantization::Int8,
        }
    }
}

/// M, ef_construction, ef_search for a dimension and an expected size.
///
/// Small collections are well served by a sparse graph; large or very
/// high-dimensional ones need more links and wider beams to keep recall@10
/// above 0.95 (the hnswlib guidance: M 12–48, ef_construction ≥ 100).
fn adaptive_params(dimension: usize, expected: u64) -> (usize, usize, usize) {
    let (mut m, mut efc, mut efs) = match expected {
        0..=20_000 => (16, 200, 100),
        20_001..=2_000_000 => (16, 200, 100),
        _ => (24, 256, 128),
    };
    if dimension >= 1024 {
        m += 8;
        efc += 56;
        efs += 32;
    }
    (m, efc, efs)
}

/// Database-wide options: the defaults of collections created with
/// [`Db::collection`](crate::Db::collection), plus WAL settings.
///
/// ```
/// use vego::{Options, Durability};
/// let opts = Options::default().dimension(768).durability(Durability::Sync);
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    /// Defaults for new collections; `dimension` 0 means "not set".
    pub defaults: CollectionConfig,
    /// WAL file size before rotation.
    pub wal_file_bytes: u64,
    /// Create the database if the directory holds none.
    pub create_if_missing: bool,
    /// How segment files are read (memory-mapped by default).
    pub segment_io: SegmentIo,
    /// Called with progress reports of long work (large batch inserts,
    /// flushes, compactions); see [`Options::progress`].
    pub progress: Option<ProgressFn>,
    /// The file layer every writer (WAL, manifest, segments) changes files
    /// through: the real file system by default. Tests and the chaos harness
    /// plug in fault-injecting or power-loss-simulating implementations.
    pub storage: Arc<dyn Storage>,
    /// Chooses the background merges ([`TieredPolicy`] by default); see
    /// [`Options::compaction_policy`].
    pub compaction_policy: Arc<dyn CompactionPolicy>,
}

impl PartialEq for Options {
    fn eq(&self, o: &Options) -> bool {
        self.defaults == o.defaults
            && self.wal_file_bytes == o.wal_file_bytes
            && self.create_if_missing == o.create_if_missing
            && self.segment_io == o.segment_io
            && Arc::ptr_eq(&self.storage, &o.storage)
            && self.progress == o.progress
            && Arc::ptr_eq(&self.compaction_policy, &o.compaction_policy)
    }
}

/// One shared default policy, so that two default `Options` compare equal.
fn default_policy() -> Arc<dyn CompactionPolicy> {
    static DEFAULT: std::sync::OnceLock<Arc<dyn CompactionPolicy>> = std::sync::OnceLock::new();
    DEFAULT.get_or_init(|| Arc::new(TieredPolicy::default())).clone()
}

impl Default for Options {
    fn default() -> Self {
        Options {
            defaults: CollectionConfig::new(0),
            wal_file_bytes: 64 << 20,
            create_if_missing: true,
            segment_io: SegmentIo::Mmap,
            progress: None,
            storage: Arc::new(StdStorage),
            compaction_policy: default_policy(),
        }
    }
}

macro_rules! forward {
    ($($(#[$doc:meta])* $name:ident($arg:ident: $t:ty);)*) => {
        impl Options {
            $($(#[$doc])* pub fn $name(mut self, $arg: $t) -> Self {
                self.defaults = self.defaults.$name($arg);
                self
            })*
        }
    };
}
forward! {
    /// Default distance metric of new collections.
    distance(d: Distance);
    /// Default HNSW M.
    m(m: usize);
    /// Default HNSW ef at build time.
    ef_construction(ef: usize);
    /// Default HNSW ef at search time.
    ef_search(ef: usize);
    /// Default expected size (for adaptive parameters).
    expected_size(n: u64);
    /// Default adaptive setting.
    adaptive(on: bool);
    /// Default durability.
    durability(d: Durability);
    /// Default memtable size.
    memtable_bytes(bytes: u64);
    /// Default quantization of the graph search.
    quantization(q: Quantization);
}

impl Options {
    /// Default vector dimension of new collections.
    pub fn dimension(mut self, dimension: usize) -> Self {
        self.defaults.dimension = dimension;
        self
    }
    /// WAL file size before rotation.
    pub fn wal_file_bytes(mut self, bytes: u64) -> Self {
        self.wal_file_bytes = bytes;
        self
    }
    /// How segment files are read: memory-mapped (default), or `pread` /
    /// io_uring with an LRU block cache for metadata and raw vectors.
    pub fn segment_io(mut self, io: SegmentIo) -> Self {
        self.segment_io = io;
        self
    }
    /// Calls `f` with progress reports of long work: graph linking of large
    /// batch inserts, flushes and compactions (see [`Progress`]). `f` runs
    /// on the thread doing the work, so it should return quickly.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use vego::{Db, Document, Options};
    /// # fn main() -> vego::Result<()> {
    /// let reports = Arc::new(AtomicU64::new(0));
    /// let counter = reports.clone();
    /// let opts = Options::default().dimension(2).progress(move |p| {
    ///     counter.fetch_add(1, Ordering::Relaxed);
    ///     assert!(p.done <= p.total);
    /// });
    /// let dir = tempfile::tempdir().unwrap();
    /// let c = Db::open(dir.path(), opts)?.collection("c")?;
    /// c.insert_batch((0..3000).map(|i| Document::new(i.to_string(), vec![i as f32, 1.0])).collect())?;
    /// assert!(reports.load(Ordering::Relaxed) >= 3);
    /// # Ok(()) }
    /// ```
    pub fn progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(ProgressFn(std::sync::Arc::new(f)));
        self
    }
    /// The file layer writes go through (default: the real file system).
    /// Whatever it writes must reach the real files, which reads (recovery,
    /// memory-mapped segments) use directly; see [`crate::storage`].
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = storage;
        self
    }
    /// The policy that chooses background merges (default: [`TieredPolicy`]
    /// with its default thresholds). Every policy is safe; it decides how
    /// often rows are rewritten and how many segments a search visits.
    ///
    /// ```
    /// use vego::{Options, TieredPolicy};
    /// let opts = Options::default().compaction_policy(TieredPolicy { merge_min: 8, ..TieredPolicy::default() });
    /// ```
    pub fn compaction_policy(mut self, policy: impl CompactionPolicy + 'static) -> Self {
        self.compaction_policy = Arc::new(policy);
        self
    }
    /// Whether `Db::open` may create a new database.
    pub fn create_if_missing(mut self, on: bool) -> Self {
        self.create_if_missing = on;
        self
    }
}

/// Which backend reads segment files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentIo {
    /// Memory-map segment files (the default).
    Mmap,
    /// Read hot sections into memory at open; read the rest with `pread`
    /// through an LRU block cache of `cache_bytes` shared by the database.
    Pread {
        /// Capacity of the block cache.
        cache_bytes: u64,
    },
    /// As `Pread`, but block-cache misses are read through io_uring where the
    /// kernel permits it (Linux), falling back to `pread` where it does not.
    Uring {
        /// Capacity of the block cache.
        cache_bytes: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_parameters_override_adaptive_choice() {
        let p = CollectionConfig::new(128).m(8).index_params();
        assert_eq!(p.m, 8);
        assert_eq!(p.ef_construction, 200);
    }

    #[test]
    fn adaptive_grows_with_size_and_dimension() {
        let small = CollectionConfig::new(64).expected_size(1_000).index_params();
        let big = CollectionConfig::new(64).expected_size(10_000_000).index_params();
        let wide = CollectionConfig::new(1536).expected_size(1_000).index_params();
        assert!(small.m < big.m && small.ef_search < big.ef_search && small.ef_construction < big.ef_construction);
        assert!(small.m < wide.m);
        let fixed = CollectionConfig::new(64).adaptive(false).expected_size(10_000_000).index_params();
        assert_eq!((fixed.m, fixed.ef_construction, fixed.ef_search), (16, 200, 64));
    }

    #[test]
    fn memtable_is_sized_for_the_expected_documents_within_bounds() {
        assert_eq!(CollectionConfig::new(768).memtable_bytes_limit(), MEMTABLE_BYTES_DEFAULT);
        let bulk = CollectionConfig::new(768).expected_size(100_000).memtable_bytes_limit();
        assert!((100_000 * 768 * 4..=MEMTABLE_BYTES_SIZED_MAX).contains(&bulk), "{bulk}");
        let tiny = CollectionConfig::new(768).expected_size(10).memtable_bytes_limit();
        assert_eq!(tiny, MEMTABLE_BYTES_DEFAULT, "never below the default");
        let huge = CollectionConfig::new(768).expected_size(100_000_000).memtable_bytes_limit();
        assert_eq!(huge, MEMTABLE_BYTES_SIZED_MAX, "capped");
        let fixed = CollectionConfig::new(768).adaptive(false).expected_size(100_000).memtable_bytes_limit();
        assert_eq!(fixed, MEMTABLE_BYTES_DEFAULT, "sizing is part of adaptive");
        let explicit = CollectionConfig::new(768).expected_size(100_000).memtable_bytes(2 << 20);
        assert_eq!(explicit.memtable_bytes_limit(), 2 << 20, "an explicit size wins");
    }

    #[test]
    fn invalid_configs_are_refused() {
        assert!(CollectionConfig::new(4).memtable_bytes(1).validate().is_err());
        assert!(CollectionConfig::new(0).validate().is_err());
        assert!(CollectionConfig::new(DIMENSION_MAX + 1).validate().is_err());
        assert!(CollectionConfig::new(4).m(1).validate().is_err());
        assert!(CollectionConfig::new(4).ef_search(0).validate().is_err());
        assert!(CollectionConfig::new(4).durability(Durability::Periodic(Duration::ZERO)).validate().is_err());
        assert!(CollectionConfig::new(4).validate().is_ok());
    }
}
