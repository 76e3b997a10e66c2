//! `Db`: opening, locking, the collection registry, closing.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;
use vego_manifest::is_database_dir;

use crate::api::collection::Collection;
use crate::engine::backup::{self, Cut};
use crate::engine::flush;
use crate::engine::layout::WAL_DIR;
use crate::engine::lifecycle::{self, OpenGuard};
use crate::engine::shared::DbShared;
use crate::engine::wal;
use crate::model::error::invalid;
use crate::model::options::Options;
use crate::model::stats::{BackupStats, DbStats};
use crate::model::validate;
use crate::{CollectionConfig, Error, Result, Snapshot};
pub use vego_wal::{RecoveryReport, TornTail};

/// Snapshots of every collection at a backup's seq, by collection name:
/// exactly what the backup holds.
pub type BackupSnapshots = BTreeMap<String, Snapshot>;

/// An open database: a directory holding collections.
///
/// Cheap to clone; all clones share one database. Only one process may open
/// a database at a time (a lock file keeps others out).
///
/// ```
/// use vego::{Db, Document, Options};
/// # fn main() -> vego::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let db = Db::open(dir.path(), Options::default().dimension(3))?;
/// let docs = db.collection("docs")?;
/// docs.insert(Document::new("a", vec![1.0, 0.0, 0.0]).with("lang", "en"))?;
/// let hits = docs.search(&[0.9, 0.1, 0.0], 1)?;
/// assert_eq!(hits[0].id, "a");
/// db.close()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Db {
    shared: Arc<DbShared>,
    /// Closes the database when the last handle (`Db` or `Collection`) goes.
    open: Arc<OpenGuard>,
    collections: Arc<RwLock<HashMap<String, Collection>>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("dir", &self.shared.dir).finish_non_exhaustive()
    }
}

impl Db {
    /// Opens the database in `path`, creating it if the directory is missing
    /// or empty. Replays the write-ahead log, truncating a torn tail left by a
    /// crash. Fails with `NotADatabase` for a directory holding other files,
    /// `Locked` if another process has it open.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let (shared, cores) = lifecycle::open(path.as_ref().to_path_buf(), opts)?;
        let open = Arc::new(OpenGuard(shared.clone()));
        let collections = cores.into_iter().map(|c| (c.name.clone(), Collection::new(c, open.clone()))).collect();
        Ok(Db { shared, open, collections: Arc::new(RwLock::new(collections)) })
    }

    /// The collection `name`, created with the database's default
    /// configuration if it does not exist.
    pub fn collection(&self, name: &str) -> Result<Collection> {
        if let Some(c) = self.get_collection(name)? {
            return Ok(c);
        }
        let defaults = &self.shared.options.defaults;
        if defaults.dimension == 0 {
            return Err(invalid(format!(
                "collection {name:?} does not exist and Options has no default dimension; use create_collection"
            )));
        }
        match self.create_collection(name, defaults.clone()) {
            Err(Error::AlreadyExists(_)) => self.get_collection(name)?.ok_or(Error::CollectionNotFound(name.into())),
            other => other,
        }
    }

    /// The collection `name` if it exists.
    pub fn get_collection(&self, name: &str) -> Result<Option<Collection>> {
        self.shared.check_open()?;
        validate::collection_name(name)?;
        Ok(self.collections.read().get(name).cloned())
    }

    /// Creates a collection; `AlreadyExists` if the name is taken.
    pub fn create_collection(&self, name: &str, cfg: CollectionConfig) -> Result<Collection> {
        validate::collection_name(name)?;
        cfg.validate()?;
        self.shared.check_writable()?;
        let mut registry = self.collections.write();
        if registry.contains_key(name) {
            return Err(Error::AlreadyExists(format!("collection {name}")));
        }
        let core = lifecycle::create_collection(&self.shared, name, &cfg)?;
        let coll = Collection::new(core, self.open.clone());
        registry.insert(name.to_owned(), coll.clone());
        Ok(coll)
    }

    /// Drops a collection and its data; returns whether it existed. Handles to
    /// it fail with `CollectionNotFound` afterwards.
    pub fn drop_collection(&self, name: &str) -> Result<bool> {
        validate::collection_name(name)?;
        self.shared.check_writable()?;
        let mut registry = self.collections.write();
        let Some(coll) = registry.get(name).cloned() else { return Ok(false) };
        lifecycle::drop_collection(&self.shared, coll.core())?;
        registry.remove(name);
        Ok(true)
    }

    /// Names of all collections, sorted.
    pub fn collections(&self) -> Vec<String> {
        let mut names: Vec<String> = self.collections.read().keys().cloned().collect();
        names.sort();
        names
    }

    /// Database-wide statistics.
    pub fn stats(&self) -> DbStats {
        let collections: Vec<_> = {
            let registry = self.collections.read();
            let mut v: Vec<_> = registry.values().map(|c| c.stats()).collect();
            v.sort_by(|a, b| a.name.cmp(&b.name));
            v
        };
        DbStats {
            path: self.shared.dir.clone(),
            visible_seq: self.shared.visibility.visible(),
            manifest_version: self.shared.manifest.current().version,
            wal_bytes: wal::dir_bytes(&self.shared.dir.join(WAL_DIR)),
            io: self.shared.io_stats(),
            collections,
        }
    }

    /// Every counter in the Prometheus text exposition format (version
    /// 0.0.4): per-collection gauges (documents, dead versions, segments,
    /// bytes), database I/O and cache counters, and per-collection latency
    /// histograms of writes, gets and searches. Serve it from an HTTP
    /// `/metrics` endpoint to scrape it.
    ///
    /// ```
    /// use vego::{Db, Document, Options};
    /// # fn main() -> vego::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path(), Options::default().dimension(2))?;
    /// db.collection("c")?.insert(Document::new("a", vec![1.0, 2.0]))?;
    /// let text = db.metrics_text();
    /// assert!(text.contains("vego_documents{collection=\"c\"} 1"));
    /// # Ok(()) }
    /// ```
    pub fn metrics_text(&self) -> String {
        let stats = self.stats();
        let registry = self.collections.read();
        let mut names: Vec<&String> = registry.keys().collect();
        names.sort();
        let histograms: Vec<(&str, &crate::model::metrics::CollectionMetrics)> =
            names.iter().map(|n| (n.as_str(), &registry[*n].core().metrics)).collect();
        crate::model::metrics::render(&stats, &histograms)
    }

    /// Writes every collection's memtable to segment files and truncates the WAL.
    pub fn flush(&self) -> Result<()> {
        self.shared.check_writable()?;
        lifecycle::flush_all(&self.shared)?;
        flush::checkpoint_wal(&self.shared)
    }

    /// Writes a consistent copy of the database into `dest` (a missing or
    /// empty directory) while other threads keep reading and writing: the
    /// current manifest, its segment files (hard links where possible) and
    /// the WAL up to the backup's sequence number. The copy holds exactly the
    /// writes with seq ≤ [`BackupStats::seq`] and opens with [`Db::open`]
    /// (or is copied into place with [`Db::restore`]). Flushes and
    /// compactions wait while the files are linked and copied; writes do not.
    ///
    /// ```
    /// use vego::{Db, Document, Options};
    /// # fn main() -> vego::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("db"), Options::default().dimension(2))?;
    /// db.collection("c")?.insert(Document::new("a", vec![1.0, 2.0]))?;
    /// let stats = db.backup(dir.path().join("backup"))?;
    /// db.collection("c")?.insert(Document::new("b", vec![3.0, 4.0]))?; // after the backup
    /// Db::restore(dir.path().join("backup"), dir.path().join("restored"))?;
    /// let restored = Db::open(dir.path().join("restored"), Options::default())?;
    /// assert!(restored.collection("c")?.get("a")?.is_some());
    /// assert!(restored.collection("c")?.get("b")?.is_none());
    /// assert!(stats.seq >= 1);
    /// # Ok(()) }
    /// ```
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<BackupStats> {
        self.backup_with_snapshots(dest).map(|(stats, _)| stats)
    }

    /// [`Db::backup`], also returning a snapshot of every collection at the
    /// backup's sequence number: exactly what the backup holds (to verify
    /// it, or to export the same state elsewhere).
    pub fn backup_with_snapshots(&self, dest: impl AsRef<Path>) -> Result<(BackupStats, BackupSnapshots)> {
        let dest = dest.as_ref();
        self.shared.check_open()?;
        let existed = dest.exists();
        backup::prepare_dest(dest)?;
        let result = self.copy_consistent_cut(dest).and_then(|r| backup::sync_tree(dest).map(|()| r));
        if result.is_err() {
            remove_created(dest, existed);
        }
        result
    }

    fn copy_consistent_cut(&self, dest: &Path) -> Result<(BackupStats, BackupSnapshots)> {
        // The registry lock keeps collections from being created or dropped;
        // the flush and compaction locks (flush locks first, each kind in id
        // order) keep flushes and merges from swapping layers, editing the
        // manifest, deleting segment files or truncating the WAL.
        let registry = self.collections.read();
        let mut colls: Vec<&Collection> = registry.values().collect();
        colls.sort_by_key(|c| c.core().id);
        let _flush_guards: Vec<_> = colls.iter().map(|c| c.core().flush_lock.lock()).collect();
        let _merge_guards: Vec<_> = colls.iter().map(|c| c.core().compaction_lock.lock()).collect();
        self.shared.check_open()?;
        let seq = self.shared.visibility.visible();
        let snapshots = colls.iter().map(|c| (c.name().to_owned(), c.snapshot_under_flush_lock(seq))).collect();
        let manifest = self.shared.manifest.current();
        let cut = Cut { src: &self.shared.dir, manifest: &manifest, seq };
        let stats = backup::copy_cut(&cut, dest)?;
        Ok((stats, snapshots))
    }

    /// Copies the database or backup in `src` (which no process may have
    /// open) into `dest` (a missing or empty directory), then opens and
    /// closes the copy to check it: every manifest, segment and WAL
    /// checksum it needs. On failure nothing is left in `dest`.
    pub fn restore(src: impl AsRef<Path>, dest: impl AsRef<Path>) -> Result<()> {
        let (src, dest) = (src.as_ref(), dest.as_ref());
        if !src.is_dir() || !is_database_dir(src)? {
            return Err(Error::NotADatabase { path: src.to_path_buf() });
        }
        let existed = dest.exists();
        backup::prepare_dest(dest)?;
        let result = backup::copy_db(src, dest)
            .and_then(|()| backup::sync_tree(dest))
            .and_then(|()| Db::open(dest, Options::default().create_if_missing(false))?.close());
        if result.is_err() {
            remove_created(dest, existed);
        }
        result
    }

    /// What the last open found in the WAL: records replayed and any torn
    /// tail that was cut off (the remains of a write interrupted by a crash).
    pub fn recovery(&self) -> &RecoveryReport {
        &self.shared.recovery
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.shared.dir
    }

    /// Flushes, stops background work and releases the lock. Other handles
    /// (clones, collections) fail with `Closed` afterwards. Dropping the last
    /// handle does the same, ignoring errors.
    pub fn close(self) -> Result<()> {
        lifecycle::close(&self.shared)
    }
}

/// Best-effort cleanup of a failed backup or restore: removes `dest` if this
/// call created it, else only what it put inside.
fn remove_created(dest: &Path, existed: bool) {
    if !existed {
        let _ = fs::remove_dir_all(dest);
        return;
    }
    if let Ok(entries) = fs::read_dir(dest) {
        for e in entries.flatten() {
            let p = e.path();
            let _ = if p.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
        }
    }
}
