//! `Db`: opening, locking, the collection registry, closing.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use vego_manifest::{is_database_dir, CollectionEntry, Manifest};

use crate::background::Background;
use crate::backup::{self, BackupSnapshots, BackupStats, Cut};
use crate::codec::config::{config_from_record, config_to_record};
use crate::collection::{Collection, CollectionCore};
use crate::flush;
use crate::model::error::{invalid, io_err};
use crate::model::options::Options;
use crate::model::stats::{DbStats, IoStats};
use crate::model::validate;
use crate::recovery;
use crate::segment::io::IoConfig;
use crate::visibility::Visibility;
use crate::wal_glue::{self, WalHandle};
use crate::{CollectionConfig, Error, Result};
pub use vego_wal::{RecoveryReport, TornTail};

/// Name of the lock file that keeps a second process out.
pub(crate) const LOCK_FILE: &str = "LOCK";
/// Sub-directory of the write-ahead log.
pub(crate) const WAL_DIR: &str = "wal";
/// Sub-directory of segment files.
pub(crate) const SEGMENTS_DIR: &str = "segments";

/// State shared by a database and all its collections.
pub(crate) struct DbShared {
    pub dir: PathBuf,
    pub options: Options,
    pub manifest: Manifest,
    /// The write lock: sequence numbers are handed out and WAL records queued
    /// under it, so the log order is the sequence order.
    pub write: Mutex<WriteState>,
    pub visibility: Visibility,
    pub closed: AtomicBool,
    /// Set when a WAL write or fsync failed: the on-disk state of in-flight
    /// writes is unknown, so writes stop until reopen (reads continue).
    pub poisoned: Mutex<Option<String>>,
    pub recovery: RecoveryReport,
    /// Every live collection's data, by collection id (for WAL checkpoints).
    pub cores: RwLock<HashMap<u64, Arc<CollectionCore>>>,
    /// Next segment file id.
    pub next_file_id: AtomicU64,
    /// The background worker (flushes, compactions); stopped and joined at close.
    pub background: Background,
    /// How segment files are read.
    pub io: IoConfig,
    /// Bytes of segment files written (flushes and compactions) since open.
    pub segment_bytes_written: AtomicU64,
    lock: Mutex<Option<File>>,
}

pub(crate) struct WriteState {
    pub next_seq: u64,
    pub wal: Option<Arc<WalHandle>>,
}

impl DbShared {
    /// I/O and cache counters since open.
    pub fn io_stats(&self) -> IoStats {
        let wal = self.write.lock().wal.as_ref().map(|w| w.stats()).unwrap_or_default();
        IoStats {
            wal_records: wal.records,
            wal_writes: wal.batches,
            wal_fsyncs: wal.fsyncs,
            wal_bytes_written: wal.bytes,
            segment_bytes_written: self.segment_bytes_written.load(Ordering::Relaxed),
            block_cache_hits: self.io.cache.hits.load(Ordering::Relaxed),
            block_cache_misses: self.io.cache.misses.load(Ordering::Relaxed),
            page_cache_hits: self.io.pages.hits.load(Ordering::Relaxed),
            page_cache_misses: self.io.pages.misses.load(Ordering::Relaxed),
        }
    }

    /// Error unless the database is open and writable.
    pub fn check_writable(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        self.check_not_poisoned()
    }

    /// `Poisoned` once a WAL failure left the fate of a write unknown: from
    /// then on nothing is written (no log record, no segment, no manifest
    /// edit) until reopen, which recovers exactly what the log holds.
    pub fn check_not_poisoned(&self) -> Result<()> {
        match self.poisoned.lock().as_ref() {
            Some(why) => Err(Error::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    pub fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Under the write lock: `Poisoned` if the log poisoned itself (a failed
    /// fsync no write was waiting for — a periodic one, a trim's), and the
    /// database with it, so that every write — even one that would write
    /// nothing, such as an update of a missing id — and every flush and
    /// compaction is refused alike.
    pub fn check_wal(&self, w: &WriteState) -> Result<()> {
        if w.wal.as_ref().is_some_and(|wal| wal.is_poisoned()) {
            self.poison("the write-ahead log is poisoned by a failed write or fsync".into());
            return self.check_not_poisoned();
        }
        Ok(())
    }

    pub fn poison(&self, why: String) {
        self.poisoned.lock().get_or_insert(why);
    }

    /// Refuses new writes, flushes every memtable to segments (so the next
    /// open replays nothing), truncates the WAL, closes it and releases the lock.
    fn shut_down(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // No background write may outlive this call (nor the lock it releases).
        self.background.stop();
        let mut result = self.flush_all();
        let Some(mut wal) = self.write.lock().wal.take() else {
            self.lock.lock().take();
            return result;
        };
        // Writers that queued a record before `closed` was set still hold the
        // log; wait for them so nothing is written after the lock is released.
        let closed = loop {
            match Arc::try_unwrap(wal) {
                Ok(handle) => break handle.close(),
                Err(shared) => {
                    wal = shared;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        };
        result = result.and(closed);
        self.lock.lock().take();
        result
    }

    fn flush_all(&self) -> Result<()> {
        if self.poisoned.lock().is_some() {
            return Ok(()); // nothing more may be written; the WAL holds what is durable
        }
        let cores: Vec<_> = self.cores.read().values().cloned().collect();
        for core in cores {
            flush::freeze_core(self, &core);
            flush::flush_frozen_core(self, &core)?;
        }
        Ok(())
    }
}

impl Drop for DbShared {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

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
        let dir = path.as_ref().to_path_buf();
        if opts.defaults.dimension != 0 {
            opts.defaults.validate()?;
        } else {
            CollectionConfig { dimension: 1, ..opts.defaults.clone() }.validate()?;
        }
        if opts.wal_file_bytes < 1 << 16 {
            return Err(invalid("wal_file_bytes must be at least 64 KiB"));
        }
        check_dir_is_ours(&dir, opts.create_if_missing)?;
        let created = !dir.exists();
        opts.storage.create_dir_all(&dir).map_err(io_err(&dir))?;
        if created {
            // The new directory's own entry must survive a power loss too.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                opts.storage.sync_dir(parent).map_err(io_err(parent))?;
            }
        }
        let lock = lock_dir(&dir)?;
        let manifest = if is_database_dir(&dir)? {
            Manifest::open_with(&dir, opts.storage.clone())?
        } else {
            check_dir_is_ours(&dir, opts.create_if_missing)?;
            Manifest::create_with(&dir, opts.storage.clone())?
        };
        let io = IoConfig::with_storage(opts.segment_io, opts.storage.clone());
        let recovered = recovery::recover(&dir, &opts, &manifest, &io)?;
        // Recovery may have created `wal/` and `segments/`: make their
        // entries durable before anything is written into them.
        opts.storage.sync_dir(&dir).map_err(io_err(&dir))?;
        // Everything recovered (segments and replayed records) is visible.
        recovered.cores.iter().for_each(|c| c.visibility.advance_to(recovered.last_seq));
        let cores: HashMap<u64, Arc<CollectionCore>> = recovered.cores.iter().map(|c| (c.id, c.clone())).collect();
        let shared = Arc::new(DbShared {
            dir,
            options: opts,
            manifest,
            write: Mutex::new(WriteState { next_seq: recovered.last_seq + 1, wal: Some(Arc::new(recovered.wal)) }),
            visibility: Visibility::new(recovered.last_seq),
            closed: AtomicBool::new(false),
            poisoned: Mutex::new(None),
            recovery: recovered.report,
            cores: RwLock::new(cores),
            next_file_id: AtomicU64::new(recovered.next_file_id),
            segment_bytes_written: AtomicU64::new(0),
            background: Background::default(),
            io,
            lock: Mutex::new(Some(lock)),
        });
        shared.background.start(Arc::downgrade(&shared)).map_err(io_err(&shared.dir))?;
        let collections =
            recovered.cores.into_iter().map(|c| (c.name.clone(), Collection::new(c, shared.clone()))).collect();
        Ok(Db { shared, collections: Arc::new(RwLock::new(collections)) })
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
        let params = cfg.index_params();
        let record = config_to_record(&cfg, params);
        let state = self.shared.manifest.edit(|s| {
            let id = s.next_collection_id;
            s.next_collection_id += 1;
            let entry = CollectionEntry { id, config: record.clone(), flushed_seq: 0, segments: vec![] };
            s.collections.insert(name.to_owned(), entry);
            Ok(())
        })?;
        let id = state.collections[name].id;
        let config = config_from_record(&self.shared.manifest.path(), &record)?;
        let segments_dir = self.shared.dir.join(SEGMENTS_DIR);
        let core = Arc::new(CollectionCore::new(name.to_owned(), id, config, segments_dir, Vec::new()));
        self.shared.cores.write().insert(id, core.clone());
        let coll = Collection::new(core, self.shared.clone());
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
        self.shared.manifest.edit(|s| {
            s.collections.remove(name);
            Ok(())
        })?;
        let core = coll.core().clone();
        core.dropped.store(true, Ordering::Release);
        registry.remove(name);
        self.shared.cores.write().remove(&core.id);
        // Files go when the last snapshot still reading them drops.
        core.tables.load().segments.iter().for_each(|s| s.mark_obsolete());
        flush::checkpoint_wal(&self.shared)?;
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
            wal_bytes: wal_glue::dir_bytes(&self.shared.dir.join(WAL_DIR)),
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
        self.shared.flush_all()?;
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
        // the flush locks (taken in id order) keep flushes and compactions
        // from editing the manifest, deleting segment files or truncating the WAL.
        let registry = self.collections.read();
        let mut colls: Vec<&Collection> = registry.values().collect();
        colls.sort_by_key(|c| c.core().id);
        let _flush_guards: Vec<_> = colls.iter().map(|c| c.core().flush_lock.lock()).collect();
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
        self.shared.shut_down()
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

/// Refuses directories that hold files but no database.
fn check_dir_is_ours(dir: &Path, create: bool) -> Result<()> {
    let meta = match fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if create { Ok(()) } else { Err(Error::NotADatabase { path: dir.to_path_buf() }) };
        }
        other => other.map_err(io_err(dir))?,
    };
    if !meta.is_dir() {
        return Err(Error::NotADatabase { path: dir.to_path_buf() });
    }
    if is_database_dir(dir)? {
        return Ok(());
    }
    let foreign = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok())
        .any(|e| !is_ours_before_manifest(&e.file_name().to_string_lossy()));
    if foreign || !create {
        return Err(Error::NotADatabase { path: dir.to_path_buf() });
    }
    Ok(())
}

/// Names a directory may hold before its first manifest version is
/// complete: what a crash while creating the database leaves behind (the
/// lock file, the WAL and segment directories, a manifest temp file).
fn is_ours_before_manifest(name: &str) -> bool {
    name == LOCK_FILE
        || name == WAL_DIR
        || name == SEGMENTS_DIR
        || (name.starts_with(vego_manifest::MANIFEST_PREFIX) && name.ends_with(".tmp"))
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io_err(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked { path: dir.to_path_buf() }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::Io { path, source: e }),
    }
}
