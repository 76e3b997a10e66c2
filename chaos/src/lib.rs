//! `vego-chaos`: crash loops and fault injection that check Vego against a
//! model of acknowledged writes.
//!
//! * [`workload`] — a deterministic random workload (upserts, deletes,
//!   updates, inserts, atomic batches, flushes, compactions) and the model
//!   that says what the store must hold after any prefix of it.
//! * [`kill`] — the `kill` mode: a child process runs the workload with
//!   `Durability::Sync`, reporting each acknowledged operation over a pipe;
//!   the parent SIGKILLs it at random moments, reopens the database and
//!   compares it with the model.
//! * [`simfs`] — a simulated disk behind Vego's storage trait: it knows
//!   which writes and directory entries an fsync made durable, simulates
//!   power loss (dropping, tearing and zeroing what was not) and injects
//!   I/O faults.
//! * [`powerloss`] — the `powerloss` mode: cut the power at a random storage
//!   call, pick a post-crash disk state, reopen, compare with the model.
//! * [`server`] — the `server` mode: SIGKILL `vego serve` (the server
//!   module over a `Durability::Sync` database) under concurrent HTTP
//!   upserts, deletes and queries, restart it and check over HTTP that every
//!   acknowledged write is there and nothing else.
//! * [`concurrent`] — `powerloss --concurrent` and `iofault --concurrent`:
//!   several writer threads over two collections with flushes and
//!   compactions running, checked against one cut of the global history
//!   (also for `Durability::Periodic` and `None`).
//! * [`iofault`] — the `iofault` mode: failing writes and fsyncs, ENOSPC,
//!   short writes; the caller must get errors, reads must keep working,
//!   writes must resume after a write fault and stop after a failed fsync
//!   until reopen, and nothing acknowledged may be lost.
//! * [`merge_steps`] — the `merge-steps` mode: an explicit and a partial
//!   (tombstone-keeping) merge, each interrupted at every one of its storage
//!   calls by a power cut and by each kind of I/O fault; nothing may be
//!   lost or come back, no file may be left unused, and the merge must
//!   still complete afterwards.

pub mod concurrent;
pub mod iofault;
pub mod kill;
pub mod merge_steps;
pub mod powerloss;
pub mod server;
pub mod simfs;
pub mod workload;

/// Totals of a run, printed as its final line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The mode: `kill`, `powerloss` or `iofault`.
    pub mode: &'static str,
    /// Cycles completed.
    pub cycles: u64,
    /// Acknowledged operations checked against the store.
    pub acked: u64,
    /// Acknowledged effects missing after reopen.
    pub lost: u64,
    /// Documents present that no prefix of the workload explains, damaged
    /// documents, failed reopens, broken contracts (e.g. a write accepted
    /// after a failed fsync).
    pub corrupt: u64,
    /// Live documents a default-`ef` search for their own vector missed but
    /// an exhaustive one (`ef` 2000) found: graph recall, not hidden data
    /// (a document `get` finds that no search finds is counted as corrupt).
    pub recall_misses: u64,
}

impl Summary {
    /// Zero totals for `mode`.
    pub fn new(mode: &'static str) -> Summary {
        Summary { mode, ..Summary::default() }
    }

    /// Whether the run found no lost or corrupt data.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.corrupt == 0
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} cycles, {} acked ops verified, {} lost, {} corrupt",
            self.mode, self.cycles, self.acked, self.lost, self.corrupt
        )?;
        if self.recall_misses > 0 {
            write!(f, " ({} graph recall misses at the default ef)", self.recall_misses)?;
        }
        Ok(())
    }
}
