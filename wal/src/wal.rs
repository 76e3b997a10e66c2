//! The public [`Wal`] handle.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::format::RECORD_BYTES_MAX;
use crate::io::{LogFs, StdFs};
use crate::options::WalOptions;
use crate::recovery::{recover, RecoveryReport};
use crate::stats::{Counters, WalStats};
use crate::ticket::{Completer, Ticket};
use crate::writer::{delete_covered, spawn, Pending, Queue, Shared};

/// A write-ahead log in one directory, with a background group-commit writer.
///
/// `Wal` is `Send + Sync`; share it by reference or `Arc`.
#[derive(Debug)]
pub struct Wal {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Wal {
    /// Opens the log in `dir` (creating the directory and a first file if
    /// there is no log yet), validates every file, truncates a torn tail of
    /// the last file (reported in [`RecoveryReport::torn_tail`]), and calls
    /// `visit(seq, payload)` for every valid record with `seq >= from_seq`, in
    /// log order.
    ///
    /// Error type: `open` is generic over the caller's error type `E`, which
    /// must be constructible from this crate's [`Error`]. An `Err` returned by
    /// `visit` aborts the open and is returned unchanged; WAL failures are
    /// converted with `E::from`. Use `E = vego_wal::Error` when `visit` cannot
    /// fail.
    ///
    /// Files are validated and replayed in one pass, so if `open` fails,
    /// `visit` may already have been called for records of earlier files:
    /// discard whatever it built.
    pub fn open<E, F>(
        dir: &Path,
        opts: WalOptions,
        from_seq: u64,
        visit: F,
    ) -> std::result::Result<(Wal, RecoveryReport), E>
    where
        E: From<Error>,
        F: FnMut(u64, &[u8]) -> std::result::Result<(), E>,
    {
        Self::open_with_fs(dir, opts, Arc::new(StdFs), from_seq, visit)
    }

    /// [`Wal::open`] with a custom file layer, e.g. one that injects faults
    /// or simulates power loss. Recovery's reads and directory listing use
    /// `std::fs`; every change (create, append, fsync, truncate, delete)
    /// goes through `fs`.
    pub fn open_with_fs<E, F>(
        dir: &Path,
        opts: WalOptions,
        fs: Arc<dyn LogFs>,
        from_seq: u64,
        visit: F,
    ) -> std::result::Result<(Wal, RecoveryReport), E>
    where
        E: From<Error>,
        F: FnMut(u64, &[u8]) -> std::result::Result<(), E>,
    {
        let rec = recover(dir, &*fs, from_seq, visit)?;
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            fs,
            opts,
            queue: Mutex::new(Queue { last_seq: rec.last_seq, ..Queue::default() }),
            wake: Condvar::new(),
            files: Mutex::new(rec.files),
            counters: Counters::default(),
        });
        let thread = spawn(Arc::clone(&shared), rec.active).map_err(|e| Error::io(dir, e))?;
        Ok((Wal { shared, thread: Some(thread) }, rec.report))
    }

    /// Enqueues a record and returns at once (after a short mutex).
    ///
    /// Records reach the log in the order `submit` was called. `seq` must be
    /// strictly greater than every seq previously submitted or recovered —
    /// including records whose tickets failed — otherwise this panics (the
    /// caller's sequencing is broken). Returns `RecordTooLarge`, `Poisoned` or
    /// `Closed` immediately when applicable.
    pub fn submit(&self, seq: u64, payload: Vec<u8>) -> Result<Ticket> {
        if payload.len() as u64 > u64::from(RECORD_BYTES_MAX) {
            return Err(Error::RecordTooLarge { bytes: payload.len() as u64, max: u64::from(RECORD_BYTES_MAX) });
        }
        let (done, slot) = Completer::new();
        {
            let mut q = self.shared.queue.lock();
            check_open(&q)?;
            if let Some(last) = q.last_seq {
                assert!(seq > last, "WAL seq {seq} is not greater than previous seq {last}");
            }
            q.last_seq = Some(seq);
            q.pending.push(Pending { seq, payload, done });
        }
        self.shared.wake.notify_one();
        Ok(Ticket { slot })
    }

    /// [`Wal::submit`] then [`Ticket::wait`].
    pub fn append(&self, seq: u64, payload: Vec<u8>) -> Result<()> {
        self.submit(seq, payload)?.wait()
    }

    /// Makes everything submitted so far durable (fsync). Needed for
    /// durability in `Periodic`/`Never` modes; cheap in `Always` mode. A
    /// failed fsync poisons the log.
    pub fn sync(&self) -> Result<()> {
        let (done, slot) = Completer::new();
        {
            let mut q = self.shared.queue.lock();
            check_open(&q)?;
            q.sync_waiters.push(done);
        }
        self.shared.wake.notify_one();
        slot.wait()
    }

    /// Deletes every log file all of whose records have `seq <= seq`, oldest
    /// first, then fsyncs the directory. Files are deleted as a prefix so a
    /// crash mid-checkpoint leaves no gap in file numbers. If the active
    /// file's records are all covered too, the writer thread is asked to
    /// rotate away from it and delete it (asynchronously: this call never
    /// waits behind a write in progress), so the log shrinks to what is not
    /// yet covered. Allowed on a poisoned log (it writes no log data).
    pub fn checkpoint(&self, seq: u64) -> Result<()> {
        let active_covered = self.shared.files.lock().last().is_some_and(|f| f.max_seq.is_some_and(|m| m <= seq));
        if active_covered {
            let mut q = self.shared.queue.lock();
            q.trim_through = Some(q.trim_through.map_or(seq, |s| s.max(seq)));
            drop(q);
            self.shared.wake.notify_one();
        }
        delete_covered(&self.shared, seq)
    }

    /// Syncs, stops the writer thread, and reports the final sync's outcome
    /// (`Poisoned` if the log was poisoned). Dropping a `Wal` does the same,
    /// ignoring errors.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    /// Whether an earlier write/fsync failure has poisoned the log.
    pub fn is_poisoned(&self) -> bool {
        self.shared.queue.lock().poisoned.is_some()
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Counters of the writer's work since open.
    pub fn stats(&self) -> WalStats {
        self.shared.counters.snapshot()
    }

    fn shutdown(&mut self) -> Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let (done, slot) = Completer::new();
        {
            let mut q = self.shared.queue.lock();
            if q.closed {
                // The writer already exited; dropping the completer makes the
                // slot report `Closed`.
                drop(done);
            } else {
                q.closed = true;
                q.close_waiter = Some(done);
            }
        }
        self.shared.wake.notify_one();
        let outcome = slot.wait();
        if thread.join().is_err() {
            return Err(Error::Poisoned("WAL writer thread panicked".into()));
        }
        outcome
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn check_open(q: &Queue) -> Result<()> {
    if let Some(why) = &q.poisoned {
        return Err(Error::Poisoned(why.clone()));
    }
    if q.closed {
        return Err(Error::Closed);
    }
    Ok(())
}
