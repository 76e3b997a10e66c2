//! `Collection`: the public entry points of the write and read paths.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::engine::compaction;
use crate::engine::core::CollectionCore;
use crate::engine::inner::CollectionInner;
use crate::engine::lifecycle::OpenGuard;
use crate::engine::read::stats;
use crate::engine::write::{self, Precondition};
use crate::engine::{flush, maintenance};
use crate::model::stats::CollectionStats;
use crate::{CollectionConfig, CompactionStats, Document, Hit, Result, SearchOptions, Snapshot};

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
    /// Keeps the database open while this handle lives.
    _open: Arc<OpenGuard>,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection").field("name", &self.inner.core.name).finish_non_exhaustive()
    }
}

impl Collection {
    pub(crate) fn new(core: Arc<CollectionCore>, open: Arc<OpenGuard>) -> Collection {
        Collection { inner: Arc::new(CollectionInner { core, db: open.0.clone() }), _open: open }
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
        write::put(&self.inner, vec![doc], Precondition::Absent).map(drop)
    }

    /// Inserts all documents or none (one WAL record, one sequence number).
    /// `AlreadyExists` if any id is live; `InvalidArgument` if an id repeats.
    pub fn insert_batch(&self, docs: Vec<Document>) -> Result<()> {
        write::put(&self.inner, docs, Precondition::Absent).map(drop)
    }

    /// Inserts or replaces all documents, atomically.
    pub fn upsert_batch(&self, docs: Vec<Document>) -> Result<()> {
        write::put(&self.inner, docs, Precondition::None).map(drop)
    }

    /// Replaces an existing document; `NotFound` if the id is not live.
    pub fn update(&self, doc: Document) -> Result<()> {
        write::put(&self.inner, vec![doc], Precondition::Present).map(drop)
    }

    /// Inserts or replaces a document.
    pub fn upsert(&self, doc: Document) -> Result<()> {
        write::put(&self.inner, vec![doc], Precondition::None).map(drop)
    }

    /// Deletes a document; returns whether it existed.
    pub fn delete(&self, id: &str) -> Result<bool> {
        write::delete(&self.inner, id, None)
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
        write::delete_batch(&self.inner, ids)
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
        write::put(&self.inner, vec![doc], Precondition::Version(expected_version)).map(drop)
    }

    /// Deletes the document only if its stored version is `expected_version`,
    /// else `Error::Conflict`; returns whether it existed.
    pub fn delete_if(&self, id: &str, expected_version: u64) -> Result<bool> {
        write::delete(&self.inner, id, Some(expected_version))
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
        // The seq must be read while the layers stay the same: a freeze in
        // between would hide writes in the new active memtable; a finished
        // flush in between would give an old seq segment rows that dropped
        // the versions it needs.
        let layers = &self.inner.core.layers;
        loop {
            let t = layers.load_full();
            let seq = self.inner.core.visibility.visible();
            if Arc::ptr_eq(&t, &layers.load()) {
                return Snapshot::new(self.inner.clone(), t, seq);
            }
        }
    }

    /// A snapshot at `seq` for a caller that holds the collection's flush
    /// and compaction locks (so no flush or merge swaps layers) and read
    /// `seq` from the visible seq before this call: the layers loaded now
    /// still hold every write ≤ `seq`.
    pub(crate) fn snapshot_under_flush_lock(&self, seq: u64) -> Snapshot {
        Snapshot::new(self.inner.clone(), self.inner.core.layers.load_full(), seq)
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
        maintenance::request_merge_if_wanted(&self.inner.db, &self.inner.core);
        // Even when there was nothing to flush here.
        flush::sync_wal(&self.inner.db)
    }

    /// Merges the collection's segments into one, dropping versions no
    /// snapshot can see and tombstones; reclaims their disk and memory once
    /// older snapshots are dropped. Also runs in the background after flushes
    /// when segments pile up or many rows are dead.
    pub fn compact(&self) -> Result<CompactionStats> {
        self.inner.check_live()?;
        compaction::compact(&self.inner.db, &self.inner.core)
    }

    /// Counters for monitoring.
    pub fn stats(&self) -> CollectionStats {
        stats::stats(&self.inner.core)
    }
}
