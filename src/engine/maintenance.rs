//! What the background workers do for a collection: the flusher writes its
//! frozen memtables to segments and, if the policy then wants a merge, asks
//! the compactor, which merges. Two workers, so a long merge never holds up
//! the flushes that writers wait for. A third, the indexer, links the rows
//! WAL replay left unlinked so that open need not wait for their graph.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use crate::engine::core::CollectionCore;
use crate::engine::shared::DbShared;
use crate::engine::{compaction, flush};
use crate::model::progress::{Reporter, Task};
use crate::Error;

/// The flusher's job for collection `id`: `None` once the database is gone,
/// else whether the flush succeeded (or there was nothing to do).
pub(crate) fn flush_job(db: &Weak<DbShared>, id: u64) -> Option<bool> {
    let db = db.upgrade()?;
    // `db` may be the last reference: shutdown then runs here when it drops
    // (see `background`), and the worker exits after it.
    Some(flush(&db, id))
}

/// The compactor's job for collection `id`: merge if the policy wants.
/// Never retried: a failed merge changes nothing, and the next flush asks
/// again.
pub(crate) fn compaction_job(db: &Weak<DbShared>, id: u64) -> Option<bool> {
    let db = db.upgrade()?;
    let Some(core) = db.cores.read().get(&id).cloned() else { return Some(true) };
    // One merge can make the next one due (four merged runs form a run of
    // the next tier); a bound keeps a rewrite that could not drop its dead
    // rows yet (superseded by writes still in flight) from spinning.
    for _ in 0..MERGES_PER_JOB_MAX {
        match compaction::compact_wanted(&db, &core) {
            Ok(Some(_)) => continue,
            Ok(None) | Err(Error::Closed) => break,
            Err(e) => {
                // Nothing waits for a background merge: its error is kept
                // for `Collection::stats` instead of vanishing.
                let mut failures = core.merge_failures.lock();
                *failures = (failures.0 + 1, Some(e.to_string()));
                break;
            }
        }
    }
    Some(true)
}

/// The indexer's job for collection `id`: link the rows WAL replay left
/// unlinked in each of its memtables. Stops early once the database closes,
/// the collection is dropped, or the memtable has left the collection's
/// layers (flushed: its segment has a graph of its own).
pub(crate) fn link_job(db: &Weak<DbShared>, id: u64) -> Option<bool> {
    let db = db.upgrade()?;
    let Some(core) = db.cores.read().get(&id).cloned() else { return Some(true) };
    let t = core.layers.load_full();
    for mem in std::iter::once(&t.active).chain(t.frozen.iter().map(|f| &f.mem)) {
        let below = u64::from(mem.unlinked_below());
        if below == 0 {
            continue;
        }
        let still_here = || {
            let now = core.layers.load();
            Arc::ptr_eq(&now.active, mem) || now.frozen.iter().any(|f| Arc::ptr_eq(&f.mem, mem))
        };
        let stop = || db.closed.load(Ordering::Acquire) || core.dropped.load(Ordering::Acquire) || !still_here();
        let progress = Reporter::new(db.options.progress.as_ref(), Task::Recovery, &core.name, below);
        mem.link_deferred(&stop, &|| progress.add(1));
    }
    Some(true)
}

/// Merges one compaction job may run back to back.
const MERGES_PER_JOB_MAX: usize = 8;

fn flush(db: &DbShared, id: u64) -> bool {
    let Some(core) = db.cores.read().get(&id).cloned() else { return true };
    if db.check_writable().is_err() {
        return true; // closed or poisoned: nothing more is written; no retry
    }
    if flush::flush_frozen_core(db, &core).is_err() {
        return false;
    }
    request_merge_if_wanted(db, &core);
    true
}

/// After a flush (background or `Collection::flush`): asks the compactor
/// for a merge if the policy wants one.
pub(crate) fn request_merge_if_wanted(db: &DbShared, core: &CollectionCore) {
    if compaction::wanted(db, core) {
        db.compactor.request(core.id);
    }
}
