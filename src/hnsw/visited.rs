//! Reusable "visited" marks for graph traversal, and the pool that lets
//! queries reuse them (and their other scratch buffers) without allocating.

use parking_lot::Mutex;
use std::ops::{Deref, DerefMut};

/// Set of node ids seen during one traversal.
///
/// Instead of clearing a bitmap per query (O(n)), every slot stores the epoch
/// in which it was last marked; starting a new traversal just bumps the
/// epoch. The full clear happens only when the `u16` epoch wraps, once per
/// 65535 traversals. `u16` halves the memory traffic of `u32` marks.
#[derive(Default)]
pub(crate) struct VisitedSet {
    marks: Vec<u16>,
    epoch: u16,
}

impl VisitedSet {
    /// Forgets all marks; `capacity` is the expected id bound, used to size
    /// the mark array up front.
    pub(crate) fn clear(&mut self, capacity: usize) {
        if self.marks.len() < capacity {
            self.marks.resize(capacity, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `id`; returns true if it was not marked before.
    #[inline]
    pub(crate) fn insert(&mut self, id: u32) -> bool {
        let i = id as usize;
        if i >= self.marks.len() {
            // Nodes inserted after `clear` sized the array; grow
            // geometrically so this stays rare.
            self.marks.resize((i + 1).next_power_of_two(), 0);
        }
        let mark = &mut self.marks[i];
        if *mark == self.epoch {
            false
        } else {
            *mark = self.epoch;
            true
        }
    }

    /// Heap bytes held.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.marks.capacity() * std::mem::size_of::<u16>()
    }
}

/// A stack of reusable values. Each concurrent user takes one and the guard
/// returns it on drop, so the pool grows to the peak concurrency and then
/// stops allocating.
pub(crate) struct Pool<T> {
    free: Mutex<Vec<T>>,
}

impl<T: Default> Pool<T> {
    pub(crate) fn new() -> Pool<T> {
        Pool { free: Mutex::new(Vec::new()) }
    }

    /// Takes a pooled value, or a fresh one if all are in use.
    pub(crate) fn get(&self) -> Pooled<'_, T> {
        let value = self.free.lock().pop().unwrap_or_default();
        Pooled { pool: self, value: Some(value) }
    }

    /// Applies `f` to every idle value (for memory accounting).
    pub(crate) fn sum_idle(&self, f: impl Fn(&T) -> usize) -> usize {
        self.free.lock().iter().map(f).sum()
    }
}

/// A value borrowed from a [`Pool`].
pub(crate) struct Pooled<'a, T> {
    pool: &'a Pool<T>,
    value: Option<T>,
}

impl<T> Deref for Pooled<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_ref().expect("present until drop")
    }
}

impl<T> DerefMut for Pooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().expect("present until drop")
    }
}

impl<T> Drop for Pooled<'_, T> {
    fn drop(&mut self) {
        if let Some(v) = self.value.take() {
            self.pool.free.lock().push(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_separate_traversals_and_survive_wraparound() {
        let mut v = VisitedSet::default();
        v.clear(4);
        assert!(v.insert(3));
        assert!(!v.insert(3));
        assert!(v.insert(100), "ids past the capacity grow the set");
        for _ in 0..70_000 {
            v.clear(4);
            assert!(v.insert(3));
        }
        v.clear(4);
        assert!(v.insert(100) && v.insert(3) && !v.insert(100));
    }

    #[test]
    fn pool_reuses_values() {
        let pool: Pool<Vec<u8>> = Pool::new();
        {
            let mut a = pool.get();
            a.reserve(1000);
        }
        assert!(pool.get().capacity() >= 1000);
    }
}
