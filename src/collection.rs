//! `Collection`: the public entry points of the write and read paths.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::codec::distance;
use crate::db::DbShared;
use crate::hnsw::Metric;
use crate::memtable::Memtable;
use crate::model::metrics::CollectionMetrics;
use crate::model::options::IndexParams;
use crate::model::stats::CollectionStats;
use crate::read_path;
use crate::segment::reader::Segment;
use crate::tables::Tables;
use crate::visibility::Visibility;
use crate::write_path::{self, Precondition};
use crate::{flush, CollectionConfig, CompactionStats, Document, Error, Hit, Result, SearchOptions, Snapshot};

/// A collection's data and configuration, independent of the database handle
/// (so the database can track collections without a reference cycle).
pub(crate) struct CollectionCore {
    pub name: String,
    pub id: u64,
    pub config: CollectionConfig,
    pub params: IndexParams,
    /// Where this database keeps segment files.
    pub segments_dir: PathBuf,
    pub tables: ArcSwap<Tables>,
    /// Live documents, counting writes in flight.
    pub live: AtomicI64,
    /// Which of this collection's writes readers may see: its own, so no
    /// other collection's slow write holds its writes back.
    pub visibility: Visibility,
    /// One flush at a time per collection, oldest frozen memtable first.
    pub flush_lock: Mutex<()>,
    /// The outcome of the last flush, for writers waiting for room.
    pub flush_state: Mutex<FlushState>,
    /// Signalled after every flush attempt.
    pub flushed: parking_lot::Condvar,
    pub dropped: AtomicBool,
    /// Latency histograms of this collection's operations.
    pub metrics: CollectionMetrics,
}

impl CollectionCore {
    pub fn new(
        name: String,
        id: u64,
        config: CollectionConfig,
        segments_dir: PathBuf,
        segments: Vec<Arc<Segment>>,
    ) -> Self {
        let params = config.index_params();
        let live = segments.iter().map(|s| (0..s.rows()).filter(|&r| s.is_current(r)).count() as i64).sum();
        let active = Arc::new(Memtable::new(config.dimension, distance::metric(config.distance), params));
        CollectionCore {
            name,
            id,
            params,
            segments_dir,
            tables: ArcSwap::from_pointee(Tables { active, frozen: Vec::new(), segments }),
            live: AtomicI64::new(live),
            visibility: Visibility::new(0),
            flush_lock: Mutex::new(()),
            flush_state: Mutex::new(FlushState::default()),
            flushed: parking_lot::Condvar::new(),
            dropped: AtomicBool::new(false),
            config,
            metrics: CollectionMetrics::default(),
        }
    }

    pub fn new_memtable(&self) -> Memtable {
        Memtable::new(self.config.dimension, distance::metric(self.config.distance), self.params)
    }

    pub fn metric(&self) -> Metric {
        distance::metric(self.config.distance)
    }
}

/// What writers waiting for room need to know about flushes.
#[derive(Default)]
pub(crate) struct FlushState {
    /// Why the last flush failed, if it did.
    pub last_error: Option<String>,
}

pub(crate) struct CollectionInner {
    pub core: Arc<CollectionCore>,
    pub db: Arc<DbShared>,
}

impl CollectionInner {
    pub fn check_live(&self) -> Result<()> {
        self.db.check_open()?;
        if self.core.dropped.load(Ordering::Acquire) {
            return Err(Error::CollectionNotFound(self.core.name.clone()));
        }
        Ok(())
    }
}

/// A named set of documents with one vector dimension and metric.
///
/// Cheap to clone; safe to use from many threads at once: readers never wait
/// for writers, and concurrent writers are group-committed to the WAL.
///
/// ```
/// use vego::{CollectionConfig, Db, Distance, Document, Filter, Options, SearchOptions};
/// # fn main() -> vego::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::open(dir.path(), Options::default())?;
/// let c = db.create_collection("imgs", CollectionConfig::new(2).distance(Distance::Cosine))?;
/// c.insert(Document::new("x", vec![1.0, 0.0]).with("year", 2024))?;
/// c.insert(Document::new("y", vec![0.0, 1.0]).with("year", 2019))?;
/// let hits = c.search_with(&[1.0, 1.0], &SearchOptions::new(5).filter(Filter::gte("year", 2020)))?;
/// assert_eq!(hits.len(), 1);
/// assert_eq!(hits[0].id, "x");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Collection {
    inner: Arc<CollectionInner>,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection").field("name", &self.inner.core.name).finish_non_exhaustive()
    }
}

impl Collection {
    pub(crate) fn new(core: Arc<CollectionCore>, db: Arc<DbShared>) -> Collection {
        Collection { inner: Arc::new(CollectionInner { core, db }) }
    }

    pub(crate) fn core(&self) -> &Arc<CollectionCore> {
        &self.inner.core
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.inner.core.name
    }

    /// The collection's configuration (M and ef resolved).
    pub fn config(&self) -> &CollectionConfig {
        &self.inner.core.config
    }

    /// Inserts a new document; `AlreadyExists` if the id is live.
    pub fn insert(&self, doc: Document) -> Result<()> {
        write_path::put(&self.inner, vec![doc], Precondition::Absent).map(drop)
    }

    /// Inserts all documents or none (one WAL record, one sequence number).
    /// `AlreadyExists` if any id is live; `InvalidArgument` if an id repeats.
    pub fn insert_batch(&self, docs: Vec<Document>) -> Result<()> {
        write_path::put(&self.inner, docs, Precondition::Absent).map(drop)
    }

    /// Inserts or replaces all documents, atomically.
    pub fn upsert_batch(&self, docs: Vec<Document>) -> Result<()> {
        write_path::put(&self.inner, docs, Precondition::None).map(drop)
    }

    /// Replaces an existing document; `NotFound` if the id is not live.
    pub fn update(&self, doc: Document) -> Result<()> {
        write_path::put(&self.inner, vec![doc], Precondition::Present).map(drop)
    }

    /// Inserts or replaces a document.
    pub fn upsert(&self, doc: Document) -> Result<()> {
        write_path::put(&self.inner, vec![doc], Precondition::None).map(drop)
    }

    /// Deletes a document; returns whether it existed.
    pub fn delete(&self, id: &str) -> Result<bool> {
        write_path::delete(&self.inner, id, None)
    }

    /// Deletes all live ids of `ids` atomically (one WAL record, one
    /// sequence number); returns how many were live. Missing ids are
    /// skipped; repeated ids count once.
    ///
    /// ```
    /// use vego::{Db, Document, Options};
    /// # fn main() -> vego::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let c = Db::open(dir.path(), Options::default().dimension(1))?.collection("c")?;
    /// c.insert_batch(vec![Document::new("a", vec![0.0]), Document::new("b", vec![1.0])])?;
    /// assert_eq!(c.delete_batch(&["a", "b", "b", "missing"])?, 2);
    /// assert!(c.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn delete_batch(&self, ids: &[&str]) -> Result<u64> {
        write_path::delete_batch(&self.inner, ids)
    }

    /// Replaces the document only if its stored version is `expected_version`
    /// (the `version` of the document as read; 0 = "must not exist"), else
    /// `Error::Conflict`. The check and the write are atomic, so concurrent
    /// read-modify-write loops lose no update.
    ///
    /// ```
    /// use vego::{Db, Document, Error, Options};
    /// # fn main() -> vego::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let c = Db::open(dir.path(), Options::default().dimension(1))?.collection("c")?;
    /// c.insert(Document::new("n", vec![0.0]).with("count", 0))?;
    /// let read = c.get("n")?.unwrap();
    /// c.update_if(Document::new("n", vec![0.0]).with("count", 1), read.version)?;
    /// let stale = c.update_if(Document::new("n", vec![0.0]).with("count", 1), read.version);
    /// assert!(matches!(stale, Err(Error::Conflict { .. })));
    /// # Ok(()) }
    /// ```
    pub fn update_if(&self, doc: Document, expected_version: u64) -> Result<()> {
        write_path::put(&self.inner, vec![doc], Precondition::Version(expected_version)).map(drop)
    }

    /// Deletes the document only if its stored version is `expected_version`,
    /// else `Error::Conflict`; returns whether it existed.
    pub fn delete_if(&self, id: &str, expected_version: u64) -> Result<bool> {
        write_path::delete(&self.inner, id, Some(expected_version))
    }

    /// The document with this id, or `None`. Average O(1).
    pub fn get(&self, id: &str) -> Result<Option<Document>> {
        self.snapshot().get(id)
    }

    /// Several documents, in the order asked, all from one snapshot.
    pub fn get_batch(&self, ids: &[&str]) -> Result<Vec<Option<Document>>> {
        self.snapshot().get_batch(ids)
    }

    /// The `k` nearest documents to `query`, nearest first.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        self.search_with(query, &SearchOptions::new(k))
    }

    /// Search with a filter, beam width and projection.
    pub fn search_with(&self, query: &[f32], opts: &SearchOptions) -> Result<Vec<Hit>> {
        self.snapshot().search_with(query, opts)
    }

    /// Several searches against one snapshot, run in parallel.
    pub fn search_batch(&self, queries: &[Vec<f32>], k: usize) -> Result<Vec<Vec<Hit>>> {
        self.snapshot().search_batch(queries, &SearchOptions::new(k))
    }

    /// A consistent view: sees exactly the writes visible now, whatever
    /// happens afterwards (writes, flushes).
    pub fn snapshot(&self) -> Snapshot {
        // The seq must be read while the tables stay the same: a freeze in
        // between would hide writes in the new active memtable; a finished
        // flush in between would give an old seq segment rows that dropped
        // the versions it needs.
        let tables = &self.inner.core.tables;
        loop {
            let t = tables.load_full();
            let seq = self.inner.core.visibility.visible();
            if Arc::ptr_eq(&t, &tables.load()) {
                return Snapshot::new(self.inner.clone(), t, seq);
            }
        }
    }

    /// A snapshot at `seq` for a caller that holds the collection's flush
    /// lock (so no flush swaps layers) and read `seq` from the visible seq
    /// before this call: the tables loaded now still hold every write ≤ `seq`.
    pub(crate) fn snapshot_under_flush_lock(&self, seq: u64) -> Snapshot {
        Snapshot::new(self.inner.clone(), self.inner.core.tables.load_full(), seq)
    }

    /// Live documents (counting writes in flight).
    pub fn len(&self) -> usize {
        self.inner.core.live.load(Ordering::Relaxed).max(0) as usize
    }

    /// True if there are no live documents.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the memtable to a segment file and waits for it; afterwards
    /// the data no longer needs the WAL (which is truncated). Every write
    /// acknowledged before the call — in any collection, under any
    /// `Durability` — is durable when it returns.
    pub fn flush(&self) -> Result<()> {
        self.inner.check_live()?;
        flush::freeze(&self.inner);
        flush::flush_frozen(&self.inner)?;
        // Even when there was nothing to flush here.
        flush::sync_wal(&self.inner.db)
    }

    /// Merges the collection's segments into one, dropping versions no
    /// snapshot can see and tombstones; reclaims their disk and memory once
    /// older snapshots are dropped. Also runs in the background after flushes
    /// when segments pile up or many rows are dead.
    pub fn compact(&self) -> Result<CompactionStats> {
        self.inner.check_live()?;
        crate::compaction::compact(&self.inner.db, &self.inner.core)
    }

    /// Counters for monitoring.
    pub fn stats(&self) -> CollectionStats {
        read_path::stats(&self.inner.core)
    }
}
