//! Synchronisation primitives, swapped for loom's model-checked ones under
//! `RUSTFLAGS="--cfg vego_loom"` (see the loom tests in `visibility.rs`).
//! The cfg is crate-specific because dependencies such as boxcar switch to
//! loom themselves under a plain `cfg(loom)`.

#[cfg(vego_loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicU64, Ordering},
    Condvar, Mutex, MutexGuard,
};
#[cfg(not(vego_loom))]
pub(crate) use std::sync::{
    atomic::{AtomicU64, Ordering},
    Condvar, Mutex, MutexGuard,
};
