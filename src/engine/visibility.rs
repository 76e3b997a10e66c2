//! Which sequence numbers readers may see.
//!
//! Writers take sequence numbers in order under the database's write lock
//! (and [`Visibility::begin`] them there), but finish (WAL fsync, graph
//! insert) in any order. A reader may see up to the seq just below the
//! oldest unfinished one, so a snapshot taken at `visible()` sees a gap-free
//! prefix of the history.
//!
//! There is one `Visibility` per collection — tracking only that
//! collection's writes, so a write is acknowledged (and visible) without
//! waiting for other collections' slow writes (a large batch's graph
//! indexing) — and one for the whole database, for the consistent cut of a
//! backup.

use std::collections::BTreeSet;

use crate::engine::sync::{AtomicU64, Condvar, Mutex, Ordering};

pub(crate) struct Visibility {
    visible: AtomicU64,
    state: Mutex<State>,
    advanced: Condvar,
}

struct State {
    /// Seqs begun and not yet finished.
    pending: BTreeSet<u64>,
    /// The highest seq begun (or recovered).
    high: u64,
}

impl State {
    /// Everything below the oldest pending seq; everything begun if none is.
    fn visible(&self) -> u64 {
        self.pending.first().map_or(self.high, |&oldest| oldest - 1)
    }
}

impl Visibility {
    /// Everything up to and including `last_seq` is already visible.
    pub fn new(last_seq: u64) -> Self {
        Visibility {
            visible: AtomicU64::new(last_seq),
            state: Mutex::new(State { pending: BTreeSet::new(), high: last_seq }),
            advanced: Condvar::new(),
        }
    }

    fn state(&self) -> crate::engine::sync::MutexGuard<'_, State> {
        // A poisoned lock means a panic mid-update of a plain set; the set is
        // still consistent (insert/remove are atomic w.r.t. panics), so go on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The highest sequence number readers may see.
    pub fn visible(&self) -> u64 {
        self.visible.load(Ordering::Acquire)
    }

    /// Everything up to `seq` is visible (after recovery replayed it).
    /// Nothing may be pending.
    pub fn advance_to(&self, seq: u64) {
        let mut s = self.state();
        assert!(s.pending.is_empty(), "advance_to with writes in flight");
        s.high = s.high.max(seq);
        self.visible.store(s.visible(), Ordering::Release);
    }

    /// A write took `seq` (greater than every seq begun before): it is
    /// invisible until it finishes.
    pub fn begin(&self, seq: u64) {
        let mut s = self.state();
        assert!(seq > s.high, "sequence number {seq} begun after {}", s.high);
        s.high = seq;
        s.pending.insert(seq);
        self.visible.store(s.visible(), Ordering::Release);
    }

    /// Marks `seq` finished (applied, or aborted and undone) and publishes
    /// what became gap-free.
    pub fn finish(&self, seq: u64) {
        let mut s = self.state();
        assert!(s.pending.remove(&seq), "sequence number {seq} finished twice or never begun");
        self.visible.store(s.visible(), Ordering::Release);
        self.advanced.notify_all();
    }

    /// Blocks until every seq begun at or below `seq` has finished — then
    /// `visible() >= seq` if `seq` was begun here (read-your-writes for the
    /// writer), and a flush of a memtable whose writes are all `<= seq` may
    /// read them.
    pub fn wait_finished(&self, seq: u64) {
        let mut s = self.state();
        while s.pending.first().is_some_and(|&oldest| oldest <= seq) {
            s = self.advanced.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(all(test, not(vego_loom)))]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_finishes_publish_only_gap_free_prefix() {
        let v = Visibility::new(10);
        (11..=13).for_each(|s| v.begin(s));
        v.finish(12);
        assert_eq!(v.visible(), 10);
        v.finish(13);
        assert_eq!(v.visible(), 10);
        v.finish(11);
        assert_eq!(v.visible(), 13);
        v.wait_finished(12);
    }

    /// A collection's visibility skips the seqs other collections took.
    #[test]
    fn seqs_never_begun_here_do_not_hold_visibility_back() {
        let v = Visibility::new(3);
        v.begin(7);
        assert_eq!(v.visible(), 6, "seqs 4..=6 belong to other collections");
        v.begin(9);
        v.finish(9);
        assert_eq!(v.visible(), 6, "7 is still pending");
        v.finish(7);
        assert_eq!(v.visible(), 9);
        v.wait_finished(100); // nothing pending: returns at once
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
            // Begun in order under the write lock, before the writers run.
            v.begin(1);
            v.begin(2);
            let applied: Arc<[AtomicBool; 3]> = Arc::new(Default::default());
            let writers: Vec<_> = (1..=2u64)
                .map(|seq| {
                    let (v, applied) = (v.clone(), applied.clone());
                    thread::spawn(move || {
                        applied[seq as usize].store(true, Ordering::Release);
                        v.finish(seq);
                        v.wait_finished(seq);
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
    /// every reader (layers, snapshots) has let go — with the compaction's
    /// order (swap the layers, mark obsolete, then drop its own reference)
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
            let layers = Mutex::new(Some(file.clone()));
            let snapshot = file.clone();
            drop(file);
            let layers = Arc::new(layers);
            let reader = {
                let readers = readers.clone();
                thread::spawn(move || {
                    // The snapshot finishes reading, then lets go.
                    readers.fetch_sub(1, Ordering::AcqRel);
                    drop(snapshot);
                })
            };
            let compactor = {
                let layers = layers.clone();
                thread::spawn(move || {
                    let own = layers.lock().unwrap().take().expect("in the layers");
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
