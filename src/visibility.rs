//! Which sequence numbers readers may see.
//!
//! Writers take sequence numbers in order under the database's write lock,
//! but finish (WAL fsync, graph insert) in any order. A write becomes visible
//! only once it and every earlier write have finished, so a snapshot taken at
//! `visible()` sees a gap-free prefix of the history.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex};

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
        let mut finished = self.finished.lock();
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
        let mut finished = self.finished.lock();
        while self.visible.load(Ordering::Acquire) < seq {
            self.advanced.wait(&mut finished);
        }
    }
}

#[cfg(test)]
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
