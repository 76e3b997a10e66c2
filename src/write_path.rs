//! The write path: validate → (write lock: check, seq, apply invisibly, queue
//! WAL record) → wait for durability → link into the graph → publish.
//!
//! Applying to the memtable under the write lock, before the record is durable,
//! lets later writers' existence checks see earlier in-flight writes; readers
//! cannot see them until the sequence number is published. If the WAL write
//! fails, the versions are removed again and the write path is poisoned.

use std::collections::HashSet;
use std::sync::Arc;

use crate::collection::CollectionInner;
use crate::error::invalid;
use crate::limits::{BATCH_BYTES_MAX, BATCH_DOCS_MAX};
use crate::wal_record::{self, WalOp};
use crate::{validate, Document, Error, Result};

/// What must hold for each id before a put applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// No check (upsert).
    None,
    /// The id must not be live (insert).
    Absent,
    /// The id must be live (update).
    Present,
}

/// Puts documents atomically under one sequence number; returns it.
pub(crate) fn put(coll: &Arc<CollectionInner>, docs: Vec<Document>, pre: Precondition) -> Result<u64> {
    coll.check_live()?;
    validate_docs(coll, &docs)?;
    let payload = encode_checked(coll.core.id, &docs)?;
    let ids: Vec<String> = docs.iter().map(|d| d.id.clone()).collect();
    let (seq, rows, ticket) = {
        let mut w = coll.db.write.lock();
        coll.check_live()?;
        coll.db.check_writable()?;
        let mem = &coll.core.memtable;
        for d in &docs {
            let live = mem.latest(&d.id).is_some_and(|l| l.live);
            match pre {
                Precondition::Absent if live => return Err(Error::AlreadyExists(d.id.clone())),
                Precondition::Present if !live => return Err(Error::NotFound(d.id.clone())),
                _ => {}
            }
        }
        let wal = w.wal.clone().ok_or(Error::Closed)?;
        let seq = w.next_seq;
        let ticket = wal.submit(seq, payload)?;
        w.next_seq += 1;
        let rows: Vec<u32> = docs.into_iter().map(|d| mem.apply_put(seq, d)).collect();
        (seq, rows, (wal, ticket))
    };
    let (wal, ticket) = ticket;
    if let Err(e) = wal.wait(ticket, coll.core.config.durability) {
        abort(coll, seq, &ids, &e);
        return Err(e);
    }
    index_rows(coll, &rows);
    publish(coll, seq);
    Ok(seq)
}

/// Deletes `id`; returns whether it was live. A delete of a missing id writes nothing.
pub(crate) fn delete(coll: &Arc<CollectionInner>, id: &str) -> Result<bool> {
    coll.check_live()?;
    validate::doc_id(id)?;
    let payload = wal_record::encode(coll.core.id, &[WalOp::Delete { id: id.to_owned() }]);
    let (seq, wal, ticket) = {
        let mut w = coll.db.write.lock();
        coll.check_live()?;
        coll.db.check_writable()?;
        let mem = &coll.core.memtable;
        if !mem.latest(id).is_some_and(|l| l.live) {
            return Ok(false);
        }
        let wal = w.wal.clone().ok_or(Error::Closed)?;
        let seq = w.next_seq;
        let ticket = wal.submit(seq, payload)?;
        w.next_seq += 1;
        mem.apply_delete(seq, id);
        (seq, wal, ticket)
    };
    if let Err(e) = wal.wait(ticket, coll.core.config.durability) {
        abort(coll, seq, &[id.to_owned()], &e);
        return Err(e);
    }
    publish(coll, seq);
    Ok(true)
}

fn validate_docs(coll: &CollectionInner, docs: &[Document]) -> Result<()> {
    if docs.is_empty() {
        return Err(invalid("batch is empty"));
    }
    if docs.len() > BATCH_DOCS_MAX {
        return Err(invalid(format!("batch of {} documents, limit {BATCH_DOCS_MAX}", docs.len())));
    }
    let cfg = &coll.core.config;
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

/// The record may or may not have reached the disk: poison (never retry as if
/// it were safe), hide the versions again and let later sequence numbers publish.
fn abort(coll: &CollectionInner, seq: u64, ids: &[String], e: &Error) {
    coll.db.poison(format!("WAL write of seq {seq} failed: {e}"));
    for id in ids {
        coll.core.memtable.undo(seq, id);
    }
    coll.db.visibility.finish(seq);
}

/// Links new rows into the graph, using every core for large batches.
fn index_rows(coll: &CollectionInner, rows: &[u32]) {
    let mem = &coll.core.memtable;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if rows.len() < 64 || threads == 1 {
        rows.iter().for_each(|&r| mem.index_row(r));
        return;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&row) = rows.get(i) else { break };
                mem.index_row(row);
            });
        }
    });
}

fn publish(coll: &CollectionInner, seq: u64) {
    coll.db.visibility.finish(seq);
    coll.db.visibility.wait_visible(seq);
}
