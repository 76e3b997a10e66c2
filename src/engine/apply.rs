//! Applying writes to a collection's layers, shared by the write path and
//! WAL replay: puts and deletes at a sequence number (invisible until it is
//! published), the live count, superseded marks on older layers, and
//! linking new rows into the memtable graph.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::engine::core::CollectionCore;
use crate::engine::layers::Layers;
use crate::memtable::Memtable;
use crate::model::progress::Reporter;
use crate::Document;

/// Applies puts at `seq` to the layers (invisibly until `seq` is published);
/// returns the new active-memtable rows. Shared by writes and WAL replay.
pub(crate) fn apply_puts(core: &CollectionCore, t: &Layers, seq: u64, docs: Vec<Document>) -> Vec<u32> {
    let mut rows = Vec::with_capacity(docs.len());
    for doc in docs {
        let was_live = t.latest(&doc.id).is_some_and(|l| l.live);
        let id = doc.id.clone();
        let (row, had) = t.active.apply_put(seq, doc);
        if !had {
            t.supersede_below_active(&id, seq);
        }
        if !was_live {
            core.live.fetch_add(1, Ordering::Relaxed);
        }
        rows.push(row);
    }
    rows
}

/// Applies a delete at `seq`. Shared by writes and WAL replay.
pub(crate) fn apply_delete(core: &CollectionCore, t: &Layers, seq: u64, id: &str) {
    let was_live = t.latest(id).is_some_and(|l| l.live);
    if !t.active.apply_delete(seq, id) {
        t.supersede_below_active(id, seq);
    }
    if was_live {
        core.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Links new rows into the graph, using every core for large batches.
pub(crate) fn index_rows(mem: &Memtable, rows: &[u32], progress: &Reporter<'_>) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if rows.len() < 64 || threads == 1 {
        rows.iter().for_each(|&r| {
            mem.index_row(r);
            progress.add(1);
        });
        return;
    }
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&row) = rows.get(i) else { break };
                mem.index_row(row);
                progress.add(1);
            });
        }
    });
}
