//! What the background workers do for a collection: the flusher writes its
//! frozen memtables to segments and, if the policy then wants a merge, asks
//! the compactor, which merges. Two workers, so a long merge never holds up
//! the flushes that writers wait for.

use std::sync::Weak;

use crate::engine::shared::DbShared;
use crate::engine::{compaction, flush};

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
    let core = db.cores.read().get(&id).cloned();
    if let Some(core) = core.filter(|c| compaction::wanted(c)) {
        let _ = compaction::compact(&db, &core);
    }
    Some(true)
}

fn flush(db: &DbShared, id: u64) -> bool {
    let Some(core) = db.cores.read().get(&id).cloned() else { return true };
    if db.check_writable().is_err() {
        return true; // closed or poisoned: nothing more is written; no retry
    }
    if flush::flush_frozen_core(db, &core).is_err() {
        return false;
    }
    if compaction::wanted(&core) {
        db.compactor.request(id);
    }
    true
}
