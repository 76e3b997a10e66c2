//! Progress reports of long-running work (`Options::progress`).

use std::sync::Arc;

use parking_lot::Mutex;

/// Work that reports progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Task {
    /// Linking the documents of one large `insert_batch` / `upsert_batch`
    /// into the graph (batches of at least [`Progress::STEP`] documents).
    InsertBatch,
    /// Building the graph of a segment being flushed.
    Flush,
    /// Building the graph of a compacted segment.
    Compaction,
    /// Linking the documents replayed from the WAL at open into their
    /// memtable's graph. Runs in the background after open returns; the
    /// documents are searchable (by exact scan) meanwhile.
    Recovery,
}

/// One progress report: `done` of `total` items of `task` on `collection`.
/// Reports of one task arrive with `done` increasing, at most every
/// [`Progress::STEP`] items, and always once with `done == total`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// What is running.
    pub task: Task,
    /// The collection it runs on.
    pub collection: String,
    /// Items finished.
    pub done: u64,
    /// Items in all.
    pub total: u64,
}

impl Progress {
    /// Items between two reports.
    pub const STEP: u64 = 1024;
}

/// A progress callback, shared by every collection of a database.
#[derive(Clone)]
pub struct ProgressFn(pub Arc<dyn Fn(&Progress) + Send + Sync>);

impl std::fmt::Debug for ProgressFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressFn(..)")
    }
}

impl PartialEq for ProgressFn {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Counts finished items from any number of threads and calls the callback
/// every `STEP` items and at the end, in increasing order.
pub(crate) struct Reporter<'a> {
    callback: Option<&'a ProgressFn>,
    task: Task,
    collection: &'a str,
    total: u64,
    /// (items done, items done at the last report)
    state: Mutex<(u64, u64)>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(callback: Option<&'a ProgressFn>, task: Task, collection: &'a str, total: u64) -> Self {
        Reporter { callback, task, collection, total, state: Mutex::new((0, 0)) }
    }

    /// Counts `n` more finished items.
    pub(crate) fn add(&self, n: u64) {
        let Some(callback) = self.callback else { return };
        let mut state = self.state.lock();
        state.0 += n;
        let done = state.0;
        if done == self.total || done >= state.1 + Progress::STEP {
            state.1 = done;
            // Called under the lock so reports stay in order.
            (callback.0)(&Progress {
                task: self.task,
                collection: self.collection.to_owned(),
                done,
                total: self.total,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_step_and_at_the_end_in_order() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let f = ProgressFn(Arc::new(move |p: &Progress| sink.lock().push(p.done)));
        let r = Reporter::new(Some(&f), Task::Flush, "c", 3000);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| (0..1000).for_each(|_| r.add(1)));
            }
        });
        let seen = seen.lock().clone();
        assert_eq!(seen, vec![1024, 2048, 3000]);
        Reporter::new(None, Task::Flush, "", 0).add(5);
    }
}
