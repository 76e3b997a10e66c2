//! The write path: validate → (write lock: check, seq, apply invisibly, queue
//! WAL record) → wait for durability → link into the graph → publish.
//!
//! Applying to the memtable under the write lock, before the record is durable,
//! lets later writers' existence checks see earlier in-flight writes; readers
//! cannot see them until the sequence number is published. If the WAL write
//! fails, the versions are removed again; if the failure leaves the record's
//! fate unknown (a failed fsync) the write path is poisoned until reopen.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::codec::wal_record::{self, WalOp};
use crate::engine::apply::{apply_delete, apply_puts, index_rows};
use crate::engine::core::CollectionCore;
use crate::engine::flush;
use crate::engine::inner::CollectionInner;
use crate::engine::layers::Layers;
use crate::model::error::invalid;
use crate::model::limits::{BATCH_BYTES_MAX, BATCH_DOCS_MAX};
use crate::model::progress::{Progress, Reporter, Task};
use crate::model::validate;
use crate::{Document, Error, Result};

/// What must hold for each id before a put applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// No check (upsert).
    None,
    /// The id must not be live (insert).
    Absent,
    /// The id must be live (update).
    Present,
    /// The id's current version must be this (0 = absent): optimistic concurrency.
    Version(u64),
}

/// The version a precondition compares: the live version's seq, 0 if absent.
fn current_version(t: &Layers, id: &str) -> u64 {
    t.latest(id).filter(|l| l.live).map_or(0, |l| l.seq)
}

/// Puts documents atomically under one sequence number; returns it. Timed
/// as one write in the collection's latency histogram, failed or not.
pub(crate) fn put(coll: &Arc<CollectionInner>, docs: Vec<Document>, pre: Precondition) -> Result<u64> {
    coll.core.metrics.write.time(|| put_untimed(coll, docs, pre))
}

fn put_untimed(coll: &Arc<CollectionInner>, docs: Vec<Document>, pre: Precondition) -> Result<u64> {
    coll.check_live()?;
    validate_docs(&coll.core, &docs)?;
    let payload = encode_checked(coll.core.id, &docs)?;
    flush::wait_for_room(coll)?;
    let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
    let (seq, t, rows, wal, ticket) = {
        let mut w = coll.db.write.lock();
        coll.check_live()?;
        coll.db.check_writable()?;
        coll.db.check_wal(&w)?;
        let t = coll.core.layers.load_full();
        for id in &ids {
            let was_live = t.latest(id).is_some_and(|l| l.live);
            if let Precondition::Version(expected) = pre {
                let found = current_version(&t, id);
                if found != expected {
                    return Err(Error::Conflict { id: id.clone(), expected, found });
                }
            }
            match pre {
                Precondition::Absent if was_live => return Err(Error::AlreadyExists(id.clone())),
                Precondition::Present if !was_live => return Err(Error::NotFound(id.clone())),
                _ => {}
            }
        }
        let wal = w.wal.clone().ok_or(Error::Closed)?;
        let seq = w.next_seq;
        let ticket = wal.submit(seq, payload)?;
        w.next_seq += 1;
        coll.db.visibility.begin(seq);
        coll.core.visibility.begin(seq);
        let rows = apply_puts(&coll.core, &t, seq, docs);
        (seq, t, rows, wal, ticket)
    };
    if let Err(e) = wal.wait(ticket, coll.core.config.durability) {
        abort(coll, &t, seq, &ids, &e);
        return Err(e);
    }
    let callback = coll.db.options.progress.as_ref().filter(|_| rows.len() as u64 >= Progress::STEP);
    index_rows(&t.active, &rows, &Reporter::new(callback, Task::InsertBatch, &coll.core.name, rows.len() as u64));
    publish(coll, seq);
    flush::maybe_freeze(coll);
    Ok(seq)
}

/// Deletes `id`; returns whether it was live. A delete of a missing id writes
/// nothing. With `expected`, the live version must match (0 = absent).
pub(crate) fn delete(coll: &Arc<CollectionInner>, id: &str, expected: Option<u64>) -> Result<bool> {
    coll.core.metrics.write.time(|| delete_untimed(coll, &[id], expected)).map(|n| n == 1)
}

/// Deletes every live id of `ids` atomically under one sequence number (one
/// WAL record); returns how many were live. Ids that are not live are
/// skipped; if none is, nothing is written.
pub(crate) fn delete_batch(coll: &Arc<CollectionInner>, ids: &[&str]) -> Result<u64> {
    coll.core.metrics.write.time(|| delete_untimed(coll, ids, None))
}

/// With `expected`, each id's live version must match it (0 = absent).
fn delete_untimed(coll: &Arc<CollectionInner>, ids: &[&str], expected: Option<u64>) -> Result<u64> {
    coll.check_live()?;
    if ids.len() > BATCH_DOCS_MAX {
        return Err(invalid(format!("batch of {} ids, limit {BATCH_DOCS_MAX}", ids.len())));
    }
    ids.iter().try_for_each(|id| validate::doc_id(id))?;
    flush::wait_for_room(coll)?;
    let (seq, t, wal, ticket, live) = {
        let mut w = coll.db.write.lock();
        coll.check_live()?;
        coll.db.check_writable()?;
        coll.db.check_wal(&w)?;
        let t = coll.core.layers.load_full();
        if let Some(expected) = expected {
            for id in ids {
                let found = current_version(&t, id);
                if found != expected {
                    return Err(Error::Conflict { id: id.to_string(), expected, found });
                }
            }
        }
        let mut seen = HashSet::with_capacity(ids.len());
        let live: Vec<String> = ids
            .iter()
            .filter(|id| seen.insert(**id) && t.latest(id).is_some_and(|l| l.live))
            .map(|id| id.to_string())
            .collect();
        if live.is_empty() {
            return Ok(0);
        }
        let ops: Vec<WalOp> = live.iter().map(|id| WalOp::Delete { id: id.clone() }).collect();
        let payload = wal_record::encode(coll.core.id, &ops);
        let wal = w.wal.clone().ok_or(Error::Closed)?;
        let seq = w.next_seq;
        let ticket = wal.submit(seq, payload)?;
        w.next_seq += 1;
        coll.db.visibility.begin(seq);
        coll.core.visibility.begin(seq);
        live.iter().for_each(|id| apply_delete(&coll.core, &t, seq, id));
        (seq, t, wal, ticket, live)
    };
    if let Err(e) = wal.wait(ticket, coll.core.config.durability) {
        abort(coll, &t, seq, &live, &e);
        return Err(e);
    }
    publish(coll, seq);
    flush::maybe_freeze(coll);
    Ok(live.len() as u64)
}

fn validate_docs(core: &CollectionCore, docs: &[Document]) -> Result<()> {
    if docs.is_empty() {
        return Err(invalid("batch is empty"));
    }
    if docs.len() > BATCH_DOCS_MAX {
        return Err(invalid(format!("batch of {} documents, limit {BATCH_DOCS_MAX}", docs.len())));
    }
    let cfg = &core.config;
    let mut seen = HashSet::with_capacity(docs.len());
    for d in docs {
        validate::doc_id(&d.id)?;
        validate::vector(&d.vector, cfg.dimension, cfg.distance)?;
        validate::metadata(&d.metadata)?;
        if !seen.insert(d.id.as_str()) {
            return Err(invalid(format!("id {:?} appears twice in one batch", d.id)));
        }
    }
    Ok(())
}

fn encode_checked(collection_id: u64, docs: &[Document]) -> Result<Vec<u8>> {
    let bytes: usize = docs.iter().map(wal_record::put_len).sum();
    if bytes > BATCH_BYTES_MAX - 64 {
        return Err(invalid(format!("batch encodes to {bytes} bytes, limit {BATCH_BYTES_MAX}; split it")));
    }
    Ok(wal_record::encode_puts(collection_id, docs))
}

/// The write failed: remove its versions again and let later sequence
/// numbers publish. `old` is the layers the write applied to.
///
/// The undo runs under the write lock against the layers as they are *now*
/// (and, for snapshots still pinning them, as they were): a flush or merge
/// may have installed meanwhile, copying the write's "superseded" mark from
/// the layer it was put on onto a new segment. Under the lock no install,
/// freeze or write can interleave, and the live count is recomputed from
/// what the id's newest version is before and after the undo (a later write
/// of the same id may be in flight behind this one).
///
/// `Error::Io` from the log means the failed write was rolled back (truncated
/// and fsynced): the record is gone for good, so only this write fails and
/// later writes may succeed once the fault clears (e.g. ENOSPC). Anything
/// else (a failed fsync, a failed rollback) means the record may or may not
/// survive a crash: poison the write path until reopen, never retrying an
/// fsync as if the data were safe.
fn abort(coll: &CollectionInner, old: &Layers, seq: u64, ids: &[String], e: &Error) {
    if !matches!(e, Error::Io { .. }) {
        coll.db.poison(format!("WAL write of seq {seq} failed: {e}"));
    }
    {
        let _w = coll.db.write.lock();
        let now = coll.core.layers.load_full();
        for id in ids {
            let was_live = now.latest(id).is_some_and(|l| l.live);
            let Some(undone) = old.active.undo(seq, id) else { continue };
            if undone.was_first {
                let to = undone.next_seq.unwrap_or(u64::MAX);
                // A flush waits for every seq of its memtable to finish, so
                // the write's memtable is still one of the current layers.
                let found = now.resupersede_below(&old.active, id, seq, to);
                debug_assert!(found, "the memtable of an unfinished write was flushed");
                old.resupersede_below(&old.active, id, seq, to);
            }
            let is_live = now.latest(id).is_some_and(|l| l.live);
            coll.core.live.fetch_add(is_live as i64 - was_live as i64, Ordering::Relaxed);
        }
    }
    coll.core.visibility.finish(seq);
    coll.db.visibility.finish(seq);
}

/// Makes the write visible and waits until it is (read-your-writes): until
/// every earlier write *of this collection* has finished — not those of
/// other collections, so a large batch elsewhere holds nothing back.
fn publish(coll: &CollectionInner, seq: u64) {
    coll.core.visibility.finish(seq);
    coll.db.visibility.finish(seq);
    coll.core.visibility.wait_finished(seq);
}
