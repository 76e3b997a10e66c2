//! Completion slots: how the writer thread tells submitters their outcome.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::{Failure, Result};

/// A one-shot result cell shared by a submitter and the writer thread.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    outcome: Mutex<Option<std::result::Result<(), Failure>>>,
    done: Condvar,
}

impl Slot {
    /// Publishes the outcome and wakes the waiter. Completing twice is a bug.
    pub(crate) fn complete(&self, outcome: std::result::Result<(), Failure>) {
        let mut g = self.outcome.lock();
        assert!(g.is_none(), "completion slot filled twice");
        *g = Some(outcome);
        self.done.notify_all();
    }

    /// Completes the slot unless it already has an outcome (used when tearing
    /// down, where a slot may or may not have been served).
    pub(crate) fn complete_if_pending(&self, outcome: std::result::Result<(), Failure>) {
        let mut g = self.outcome.lock();
        if g.is_none() {
            *g = Some(outcome);
            self.done.notify_all();
        }
    }

    /// Blocks until an outcome is published.
    pub(crate) fn wait(&self) -> Result<()> {
        let mut g = self.outcome.lock();
        loop {
            if let Some(outcome) = g.as_ref() {
                return outcome.clone().map_err(|f| f.to_error());
            }
            self.done.wait(&mut g);
        }
    }
}

/// The writer's end of a [`Slot`]. Dropping it without completing (e.g. the
/// writer thread panicked or exited) fails the slot with `Closed`, so no
/// waiter can block forever.
#[derive(Debug)]
pub(crate) struct Completer(Arc<Slot>);

impl Completer {
    /// Creates a linked (completer, slot) pair.
    pub(crate) fn new() -> (Completer, Arc<Slot>) {
        let slot = Arc::new(Slot::default());
        (Completer(Arc::clone(&slot)), slot)
    }

    /// Publishes the outcome.
    pub(crate) fn complete(self, outcome: std::result::Result<(), Failure>) {
        self.0.complete(outcome);
    }
}

impl Drop for Completer {
    fn drop(&mut self) {
        self.0.complete_if_pending(Err(Failure::Closed));
    }
}

/// Handle for one submitted record; see [`Ticket::wait`].
#[derive(Debug)]
#[must_use = "a record is not known to be durable until its ticket is waited on"]
pub struct Ticket {
    pub(crate) slot: Arc<Slot>,
}

impl Ticket {
    /// Blocks until the record is durable per the log's [`crate::SyncMode`]:
    /// `Always` — written and fsynced; `Periodic`/`Never` — written to the OS.
    ///
    /// On `Err` the record's fate depends on the error: [`crate::Error::Io`]
    /// means the write failed and was rolled back, so the record will not be
    /// replayed; [`crate::Error::Poisoned`] means the outcome is unknown — the
    /// record may or may not be replayed after reopening.
    pub fn wait(self) -> Result<()> {
        self.slot.wait()
    }
}
