//! A database's life: open (lock the directory, open or create the
//! manifest, recover, start the background worker) and the catalogue edits
//! that create and drop collections. The `Db` handle checks arguments and
//! keeps the registry of handles; this is what changes underneath.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use vego_manifest::{is_database_dir, CollectionEntry, Manifest};

use crate::codec::config::{config_from_record, config_to_record};
use crate::engine::background::Background;
use crate::engine::core::CollectionCore;
use crate::engine::flush;
use crate::engine::layout::{check_dir_is_ours, lock_dir, SEGMENTS_DIR};
use crate::engine::maintenance;
use crate::engine::recovery;
use crate::engine::shared::{DbShared, WriteState};
use crate::engine::visibility::Visibility;
use crate::model::error::{invalid, io_err};
use crate::model::options::Options;
use crate::segment::io::IoConfig;
use crate::{CollectionConfig, Result};

/// Opens (or creates) the database in `dir`: the shared state, with the
/// background worker running, and every recovered collection.
pub(crate) fn open(dir: PathBuf, opts: Options) -> Result<(Arc<DbShared>, Vec<Arc<CollectionCore>>)> {
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
        flusher: Background::default(),
        compactor: Background::default(),
        indexer: Background::default(),
        io,
        lock: Mutex::new(Some(lock)),
    });
    let weak = Arc::downgrade(&shared);
    shared.flusher.start("vego-flusher", move |id| maintenance::flush_job(&weak, id)).map_err(io_err(&shared.dir))?;
    let weak = Arc::downgrade(&shared);
    shared
        .compactor
        .start("vego-compactor", move |id| maintenance::compaction_job(&weak, id))
        .map_err(io_err(&shared.dir))?;
    let weak = Arc::downgrade(&shared);
    shared.indexer.start("vego-indexer", move |id| maintenance::link_job(&weak, id)).map_err(io_err(&shared.dir))?;
    for core in recovered.cores.iter().filter(|c| c.layers.load().active.unlinked_below() > 0) {
        shared.indexer.request(core.id);
    }
    Ok((shared, recovered.cores))
}

/// Records a new collection in the manifest and registers its core.
pub(crate) fn create_collection(db: &DbShared, name: &str, cfg: &CollectionConfig) -> Result<Arc<CollectionCore>> {
    let params = cfg.index_params();
    let record = config_to_record(cfg, params);
    let state = db.manifest.edit(|s| {
        let id = s.next_collection_id;
        s.next_collection_id += 1;
        let entry = CollectionEntry { id, config: record.clone(), flushed_seq: 0, segments: vec![] };
        s.collections.insert(name.to_owned(), entry);
        Ok(())
    })?;
    let id = state.collections[name].id;
    let config = config_from_record(&db.manifest.path(), &record)?;
    let segments_dir = db.dir.join(SEGMENTS_DIR);
    let core = Arc::new(CollectionCore::new(name.to_owned(), id, config, segments_dir, Vec::new()));
    db.cores.write().insert(id, core.clone());
    Ok(core)
}

/// Forgets a collection in the manifest, marks its core dropped and its
/// segment files obsolete, and lets the WAL drop its records.
pub(crate) fn drop_collection(db: &DbShared, core: &CollectionCore) -> Result<()> {
    db.manifest.edit(|s| {
        s.collections.remove(&core.name);
        Ok(())
    })?;
    core.dropped.store(true, Ordering::Release);
    db.cores.write().remove(&core.id);
    // Files go when the last snapshot still reading them drops.
    core.layers.load().segments.iter().for_each(|s| s.mark_obsolete());
    flush::checkpoint_wal(db)?;
    Ok(())
}

/// Refuses new writes, flushes every memtable to segments (so the next
/// open replays nothing), truncates the WAL, closes it and releases the lock.
pub(crate) fn close(db: &DbShared) -> Result<()> {
    if db.closed.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    // No background write may outlive this call (nor the lock it releases).
    db.indexer.stop();
    db.flusher.stop();
    db.compactor.stop();
    let mut result = flush_all(db);
    // A merge a caller started (`compact()`) gives up at its next graph
    // insert (it sees `closed`; its caller gets `Error::Closed`) and ends
    // before the lock goes; later ones see `closed` once they hold the lock.
    db.cores.read().values().for_each(|c| drop(c.compaction_lock.lock()));
    let Some(mut wal) = db.write.lock().wal.take() else {
        db.lock.lock().take();
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
    db.lock.lock().take();
    result
}

pub(crate) fn flush_all(db: &DbShared) -> Result<()> {
    if db.poisoned.lock().is_some() {
        return Ok(()); // nothing more may be written; the WAL holds what is durable
    }
    let cores: Vec<_> = db.cores.read().values().cloned().collect();
    for core in cores {
        flush::freeze_core(db, &core);
        flush::flush_frozen_core(db, &core)?;
    }
    Ok(())
}

/// Held by every public `Db` and `Collection` handle (not by snapshots or
/// the background workers): when the last one goes, the database closes
/// right there, so the directory lock is released when that drop returns.
/// (The workers hold the shared state while a job runs; without this, a
/// process that dropped its handles and reopened at once could find the
/// database still locked by its own background merge.)
pub(crate) struct OpenGuard(pub Arc<DbShared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let _ = close(&self.0);
    }
}

// Here rather than beside the struct: closing flushes, and the shared state
// sits below the flush path.
impl Drop for DbShared {
    fn drop(&mut self) {
        let _ = close(self);
    }
}
