//! What the background worker does for a collection: flush its frozen
//! memtables, then compact if the policy wants.

use std::sync::Weak;

use crate::engine::shared::DbShared;
use crate::engine::{compaction, flush};

/// The background job for collection `id`: `None` once the database is
/// gone, else whether the flush succeeded (or there was nothing to do).
pub(crate) fn run_job(db: &Weak<DbShared>, id: u64) -> Option<bool> {
    let db = db.upgrade()?;
    // `db` may be the last reference: shutdown then runs here when it drops
    // (see `background`), and the worker exits after it.
    Some(work(&db, id))
}

fn work(db: &DbShared, id: u64) -> bool {
    let Some(core) = db.cores.read().get(&id).cloned() else { return true };
    if db.check_writable().is_err() {
        return true; // closed or poisoned: nothing more is written; no retry
    }
    if flush::flush_frozen_core(db, &core).is_err() {
        return false;
    }
    if compaction::wanted(&core) {
        // A failed compaction changes nothing; the next flush asks again.
        let _ = compaction::compact(db, &core);
    }
    true
}
