//! Which sequence numbers readers may see.
//!
//! Writers take sequence numbers in order under the database's write lock,
//! but finish (WAL fsync, graph insert) in any order. A write becomes visible
//! only once it and every earlier write have finished, so a snapshot taken at
//! `visible()` sees a gap-free prefix of the history.

use std::collections::BTreeSet;

use crate::sync::{AtomicU64, Condvar, Mutex, Ordering};

pub(crate) struct Visibility {
    visible: AtomicU64,
    finished: Mutex<BTreeSet<u64>>,
    advanced: Condvar,
}

impl Visibility {
    /// Everything up to and including `last_seq` is already visible.
    pub fn new(last_seq: u64) -> Self {
        Visibility {
            visible: AtomicU64::new(last_seq),
            finished: Mutex::new(BTreeSet::new()),
            advanced: Condvar::new(),
        }
    }

    /// The highest sequence number readers may see.
    pub fn visible(&self) -> u64 {
        self.visible.load(Ordering::Acquire)
    }

    /// Marks `seq` finished (applied, or aborted and undone) and publishes
    /// every gap-free finished sequence number.
    pub fn finish(&self, seq: u64) {
        // A poisoned lock means a panic mid-update of a plain set; the set is
        // still consistent (insert/pop are atomic w.r.t. panics), so go on.
        let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        let mut visible = self.visible.load(Ordering::Acquire);
        assert!(seq > visible, "sequence number {seq} finished twice");
        finished.insert(seq);
        while finished.first() == Some(&(visible + 1)) {
            finished.pop_first();
            visible += 1;
        }
        self.visible.store(visible, Ordering::Release);
        self.advanced.notify_all();
    }

    /// Blocks until `seq` is visible (read-your-writes for the writer).
    pub fn wait_visible(&self, seq: u64) {
        let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        while self.visible.load(Ordering::Acquire) < seq {
            finished = self.advanced.wait(finished).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(all(test, not(vego_loom)))]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_finishes_publish_only_gap_free_prefix() {
        let v = Visibility::new(10);
        v.finish(12);
        assert_eq!(v.visible(), 10);
        v.finish(13);
        assert_eq!(v.visible(), 10);
        v.finish(11);
        assert_eq!(v.visible(), 13);
        v.wait_visible(12);
    }
}

/// Model checks: `RUSTFLAGS="--cfg vego_loom" cargo test --release --lib loom_`.
#[cfg(all(test, vego_loom))]
mod loom_tests {
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Arc;
    use loom::thread;

    use super::*;

    /// Publish protocol: writers finish out of order; a reader that sees
    /// `visible() = s` finds every write `<= s` applied (no gap), and each
    /// writer returns only once its own write is visible.
    #[test]
    fn loom_visible_prefix_is_gap_free_and_writers_read_their_writes() {
        loom::model(|| {
            let v = Arc::new(Visibility::new(0));
            let applied: Arc<[AtomicBool; 3]> = Arc::new(Default::default());
            let writers: Vec<_> = (1..=2u64)
                .map(|seq| {
                    let (v, applied) = (v.clone(), applied.clone());
                    thread::spawn(move || {
                        applied[seq as usize].store(true, Ordering::Release);
                        v.finish(seq);
                        v.wait_visible(seq);
                        assert!(v.visible() >= seq, "returned before its write was visible");
                    })
                })
                .collect();
            let s = v.visible();
            for seq in 1..=s {
                assert!(applied[seq as usize].load(Ordering::Acquire), "visible {s} but write {seq} not applied");
            }
            writers.into_iter().for_each(|w| w.join().unwrap());
            assert_eq!(v.visible(), 2);
        });
    }

    /// File release: a segment file is deleted exactly once, and only after
    /// every reader (tables, snapshots) has let go — with the compaction's
    /// order (swap the tables, mark obsolete, then drop its own reference)
    /// racing a snapshot's drop.
    #[test]
    fn loom_obsolete_files_are_deleted_once_and_only_when_unreferenced() {
        struct File {
            obsolete: AtomicBool,
            deleted: Arc<AtomicU64>,
            readers: Arc<AtomicU64>,
        }
        impl Drop for File {
            fn drop(&mut self) {
                if self.obsolete.load(Ordering::Acquire) {
                    assert_eq!(self.readers.load(Ordering::Acquire), 0, "deleted while read");
                    self.deleted.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        loom::model(|| {
            let deleted = Arc::new(AtomicU64::new(0));
            let readers = Arc::new(AtomicU64::new(1));
            let file =
                Arc::new(File { obsolete: AtomicBool::new(false), deleted: deleted.clone(), readers: readers.clone() });
            let tables = Mutex::new(Some(file.clone()));
            let snapshot = file.clone();
            drop(file);
            let tables = Arc::new(tables);
            let reader = {
                let readers = readers.clone();
                thread::spawn(move || {
                    // The snapshot finishes reading, then lets go.
                    readers.fetch_sub(1, Ordering::AcqRel);
                    drop(snapshot);
                })
            };
            let compactor = {
                let tables = tables.clone();
                thread::spawn(move || {
                    let own = tables.lock().unwrap().take().expect("in the tables");
                    own.obsolete.store(true, Ordering::Release);
                    drop(own);
                })
            };
            reader.join().unwrap();
            compactor.join().unwrap();
            assert_eq!(deleted.load(Ordering::Acquire), 1, "deleted exactly once");
        });
    }
}
