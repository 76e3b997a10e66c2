//! `Snapshot`: a pinned, consistent view of one collection.

use std::sync::Arc;

use crate::engine::inner::CollectionInner;
use crate::engine::layers::Layers;
use crate::engine::read::search;
use crate::{Document, Filter, Hit, Result, SearchOptions};

/// A consistent view of a collection at one sequence number: it sees exactly
/// the writes that were visible when it was taken, while other threads keep
/// writing and flushing. It pins the memtables and segments it reads, so
/// their memory and files stay until the last snapshot using them drops.
/// Cheap to clone.
///
/// ```
/// use vego::{Db, Document, Options};
/// # fn main() -> vego::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::open(dir.path(), Options::default().dimension(2))?;
/// let c = db.collection("c")?;
/// c.insert(Document::new("a", vec![1.0, 2.0]))?;
/// let snap = c.snapshot();
/// c.delete("a")?;
/// assert!(snap.get("a")?.is_some());
/// assert!(c.get("a")?.is_none());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Snapshot {
    coll: Arc<CollectionInner>,
    layers: Arc<Layers>,
    seq: u64,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("collection", &self.coll.core.name).field("seq", &self.seq).finish()
    }
}

impl Snapshot {
    pub(crate) fn new(coll: Arc<CollectionInner>, layers: Arc<Layers>, seq: u64) -> Snapshot {
        Snapshot { coll, layers, seq }
    }

    /// Where `id` lives in every layer, as this snapshot sees it: for
    /// diagnosing a document that `get` finds and search does not (the chaos
    /// harness prints it). Not a stable format.
    #[doc(hidden)]
    pub fn explain(&self, id: &str) -> String {
        self.layers.explain(id, self.seq)
    }

    /// The sequence number this snapshot sees up to (inclusive).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The document as of this snapshot.
    pub fn get(&self, id: &str) -> Result<Option<Document>> {
        self.coll.core.metrics.get.time(|| {
            self.coll.check_live()?;
            crate::model::validate::doc_id(id)?;
            self.layers.get(id, self.seq)
        })
    }

    /// Several documents as of this snapshot.
    pub fn get_batch(&self, ids: &[&str]) -> Result<Vec<Option<Document>>> {
        self.coll.core.metrics.get.time(|| {
            self.coll.check_live()?;
            ids.iter().try_for_each(|id| crate::model::validate::doc_id(id))?;
            ids.iter().map(|id| self.layers.get(id, self.seq)).collect()
        })
    }

    /// The `k` nearest documents as of this snapshot.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        self.search_with(query, &SearchOptions::new(k))
    }

    /// Search with options as of this snapshot.
    pub fn search_with(&self, query: &[f32], opts: &SearchOptions) -> Result<Vec<Hit>> {
        self.coll.core.metrics.search.time(|| {
            self.coll.check_live()?;
            search::search(&self.coll.core, &self.layers, self.seq, query, opts)
        })
    }

    /// Several searches in parallel as of this snapshot.
    pub fn search_batch(&self, queries: &[Vec<f32>], opts: &SearchOptions) -> Result<Vec<Vec<Hit>>> {
        self.coll.check_live()?;
        let start = std::time::Instant::now();
        let out = search::search_batch(&self.coll.core, &self.layers, self.seq, queries, opts);
        // Counted per query, as if each had taken the batch's mean time.
        if let Some(per_query) = start.elapsed().checked_div(queries.len().max(1) as u32) {
            queries.iter().for_each(|_| self.coll.core.metrics.search.record(per_query));
        }
        out
    }

    /// The ids of the documents in this snapshot that match `filter` (every
    /// document's without one), in ascending byte order: a scan of every
    /// layer, for counting and for paging through a collection by id.
    ///
    /// ```
    /// use vego::{Db, Document, Filter, Options};
    /// # fn main() -> vego::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path(), Options::default().dimension(2))?;
    /// let c = db.collection("c")?;
    /// c.insert(Document::new("b", vec![1.0, 2.0]).with("year", 2024))?;
    /// c.insert(Document::new("a", vec![2.0, 1.0]).with("year", 1999))?;
    /// let snap = c.snapshot();
    /// assert_eq!(snap.ids(None)?, ["a", "b"]);
    /// assert_eq!(snap.ids(Some(&Filter::gt("year", 2000)))?, ["b"]);
    /// # Ok(()) }
    /// ```
    pub fn ids(&self, filter: Option<&Filter>) -> Result<Vec<String>> {
        self.coll.check_live()?;
        crate::engine::read::scan::ids(&self.layers, self.seq, filter)
    }

    /// How many documents in this snapshot match `filter` (exact).
    pub fn count(&self, filter: Option<&Filter>) -> Result<u64> {
        match filter {
            None => {
                self.coll.check_live()?;
                Ok(self.layers.live_at(self.seq))
            }
            Some(_) => {
                let mut n = 0u64;
                self.visit_ids(filter, |_| n += 1)?;
                Ok(n)
            }
        }
    }

    /// Calls `f` with the id of each document in this snapshot that matches
    /// `filter`, in no particular order (the allocation-free form of `ids`).
    pub(crate) fn visit_ids(&self, filter: Option<&Filter>, f: impl FnMut(&str)) -> Result<()> {
        self.coll.check_live()?;
        crate::engine::read::scan::visit_ids(&self.layers, self.seq, filter, f)
    }

    /// Live documents as of this snapshot (exact; walks every layer).
    pub fn len(&self) -> usize {
        self.layers.live_at(self.seq) as usize
    }

    /// True if no document is live in this snapshot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
