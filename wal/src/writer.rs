//! The background writer thread: group commit, fsync policy, rotation,
//! failure handling.
//!
//! Submitters append to [`Queue::pending`] under a mutex and notify a condvar.
//! The thread takes *everything* pending at once, encodes it into one buffer,
//! issues one write and (in `SyncMode::Always`) one fsync, then completes all
//! the tickets. Under load, batches grow while an fsync is in flight, so many
//! concurrent writers share each fsync.
//!
//! Failure policy:
//! * write fails → roll the file back to its pre-batch length and fsync. If
//!   that works, only this batch fails (`Error::Io`); the log stays usable
//!   (e.g. ENOSPC may clear).
//! * fsync fails, or the rollback fails → poison. Every later operation gets
//!   `Error::Poisoned`. We never retry an fsync: after a failed fsync the
//!   kernel may have dropped the dirty pages and a second fsync would report
//!   success for data that is gone (PostgreSQL "fsyncgate", 2018).

use std::mem;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::error::Failure;
use crate::file_name::file_path;
use crate::format::{encode_record, FILE_HEADER_BYTES};
use crate::io::{LogFile, LogFs};
use crate::options::{SyncMode, WalOptions};
use crate::recovery::create_log_file;
use crate::stats::Counters;
use crate::ticket::Completer;
use vego_storage::AtomicWriteStage;

/// Largest encode buffer kept between batches; a bigger one (after a burst of
/// large records) is freed rather than pinned for the life of the log.
const BATCH_BUFFER_RETAIN_MAX: usize = 16 << 20;

/// A log file that exists on disk, with the highest seq it holds (used by
/// checkpoint to decide which files are fully covered).
#[derive(Debug, Clone)]
pub(crate) struct FileEntry {
    pub number: u64,
    pub path: PathBuf,
    pub max_seq: Option<u64>,
}

/// A record waiting to be written.
#[derive(Debug)]
pub(crate) struct Pending {
    pub seq: u64,
    pub payload: Vec<u8>,
    pub done: Completer,
}

/// State shared between submitters and the writer, guarded by one mutex.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    /// Records in submit order.
    pub pending: Vec<Pending>,
    /// `Wal::sync` callers waiting for everything before them to be fsynced.
    pub sync_waiters: Vec<Completer>,
    /// Set by close: sync, complete it, and exit.
    pub close_waiter: Option<Completer>,
    /// Set by a checkpoint: if the active file's records are all at or
    /// below this seq, rotate and delete it (see `Writer::trim_if_covered`).
    pub trim_through: Option<u64>,
    /// Highest seq ever accepted (recovered or submitted).
    pub last_seq: Option<u64>,
    /// Why the log is poisoned, if it is.
    pub poisoned: Option<String>,
    /// No further requests are accepted.
    pub closed: bool,
}

/// Everything the `Wal` handle and the writer thread share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub fs: Arc<dyn LogFs>,
    pub opts: WalOptions,
    pub queue: Mutex<Queue>,
    /// Wakes the writer when work arrives.
    pub wake: Condvar,
    /// Files on disk, oldest first; the last one is the active file.
    pub files: Mutex<Vec<FileEntry>>,
    pub counters: Counters,
}

/// The file the writer appends to.
pub(crate) struct ActiveFile {
    pub file: Box<dyn LogFile>,
    pub number: u64,
    pub path: PathBuf,
    /// Current length (all successful writes).
    pub len: u64,
    /// Length known durable: the watermark stamped into each record.
    pub synced: u64,
}

/// Starts the writer thread.
pub(crate) fn spawn(shared: Arc<Shared>, active: ActiveFile) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("vego-wal-writer".into()).spawn(move || {
        let _guard = ExitGuard(Arc::clone(&shared));
        Writer { shared, active, last_sync: Instant::now(), poisoned: false, buf: Vec::new() }.run()
    })
}

/// Marks the queue closed when the writer exits for any reason (including a
/// panic), and fails whatever is still queued, so no caller waits forever.
struct ExitGuard(Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let drained = {
            let mut q = self.0.queue.lock();
            q.closed = true;
            (mem::take(&mut q.pending), mem::take(&mut q.sync_waiters), q.close_waiter.take())
        };
        // Dropping the completers fails their tickets with `Closed`.
        drop(drained);
    }
}

struct Writer {
    shared: Arc<Shared>,
    active: ActiveFile,
    last_sync: Instant,
    /// Local copy of "queue.poisoned is Some", to avoid locking.
    poisoned: bool,
    buf: Vec<u8>,
}

type Outcome = std::result::Result<(), Failure>;

impl Writer {
    fn run(mut self) {
        loop {
            let (batch, syncs, close, trim) = self.next_work();
            if !batch.is_empty() {
                self.write_batch(batch);
            }
            self.periodic_sync_if_due();
            // Before the syncs, so that a `sync` after a `checkpoint` returns
            // once the trim it asked for is done.
            if let Some(seq) = trim {
                self.trim_if_covered(seq);
            }
            if !syncs.is_empty() {
                let outcome = self.sync_active();
                for s in syncs {
                    s.complete(outcome.clone());
                }
            }
            if let Some(c) = close {
                c.complete(self.sync_active());
                return;
            }
        }
    }

    /// Waits until there is work (or a periodic fsync is due) and takes it all.
    fn next_work(&mut self) -> (Vec<Pending>, Vec<Completer>, Option<Completer>, Option<u64>) {
        let mut q = self.shared.queue.lock();
        loop {
            if !q.pending.is_empty()
                || !q.sync_waiters.is_empty()
                || q.close_waiter.is_some()
                || q.trim_through.is_some()
            {
                break;
            }
            match self.periodic_deadline() {
                Some(deadline) => {
                    if self.shared.wake.wait_until(&mut q, deadline).timed_out() {
                        break;
                    }
                }
                None => self.shared.wake.wait(&mut q),
            }
        }
        (mem::take(&mut q.pending), mem::take(&mut q.sync_waiters), q.close_waiter.take(), q.trim_through.take())
    }

    fn dirty(&self) -> bool {
        self.active.synced < self.active.len
    }

    fn periodic_deadline(&self) -> Option<Instant> {
        match self.shared.opts.sync {
            // checked_add: a huge interval (e.g. Duration::MAX) means "never"
            // rather than an Instant overflow panic.
            SyncMode::Periodic(d) if self.dirty() && !self.poisoned => self.last_sync.checked_add(d),
            _ => None,
        }
    }

    fn periodic_sync_if_due(&mut self) {
        if let Some(deadline) = self.periodic_deadline() {
            if Instant::now() >= deadline {
                // A failure poisons; later calls will report it.
                let _ = self.sync_active();
            }
        }
    }

    fn poison(&mut self, why: String) -> Failure {
        self.poisoned = true;
        let mut q = self.shared.queue.lock();
        // Keep the first cause: later failures are consequences of it.
        Failure::Poisoned(q.poisoned.get_or_insert(why).clone())
    }

    fn poisoned_failure(&self) -> Option<Failure> {
        let q = self.shared.queue.lock();
        q.poisoned.clone().map(Failure::Poisoned)
    }

    /// fsyncs the active file if it has unsynced bytes.
    fn sync_active(&mut self) -> Outcome {
        if self.poisoned {
            return Err(self.poisoned_failure().unwrap_or(Failure::Closed));
        }
        if !self.dirty() {
            return Ok(());
        }
        self.shared.counters.add_fsync();
        match self.active.file.sync() {
            Ok(()) => {
                self.active.synced = self.active.len;
                self.last_sync = Instant::now();
                Ok(())
            }
            Err(e) => Err(self.poison(format!(
                "fsync of {} failed: {e}; bytes after offset {} may be lost",
                self.active.path.display(),
                self.active.synced
            ))),
        }
    }

    fn write_batch(&mut self, batch: Vec<Pending>) {
        if self.poisoned {
            let f = self.poisoned_failure().unwrap_or(Failure::Closed);
            return complete_all(batch, Err(f));
        }
        let opts = &self.shared.opts;
        // Rotate only a file that holds records, so no empty sealed files
        // are produced even when file_bytes_max is tiny.
        if self.active.len >= opts.file_bytes_max && self.active.len > FILE_HEADER_BYTES as u64 {
            if let Err(f) = self.rotate() {
                return complete_all(batch, Err(f));
            }
        }

        self.buf.clear();
        for p in &batch {
            encode_record(&mut self.buf, p.seq, self.active.synced, &p.payload);
        }
        let before = self.active.len;
        if let Err(e) = self.active.file.append(&self.buf) {
            let f = self.roll_back(before, &e);
            return complete_all(batch, Err(f));
        }
        let written = self.buf.len() as u64;
        self.active.len += written;
        // Shrink a buffer that one huge batch inflated, so it isn't pinned.
        if self.buf.capacity() > BATCH_BUFFER_RETAIN_MAX {
            self.buf = Vec::new();
        }
        self.shared.counters.add_batch(batch.len() as u64, written);
        if let Some(last) = batch.last() {
            let mut files = self.shared.files.lock();
            let entry = files.last_mut().expect("active file is listed");
            debug_assert_eq!(entry.number, self.active.number);
            entry.max_seq = Some(last.seq);
        }

        let outcome = match self.shared.opts.sync {
            SyncMode::Always => self.sync_active(),
            SyncMode::Periodic(_) | SyncMode::Never => Ok(()),
        };
        complete_all(batch, outcome);
    }

    /// After a failed write: truncate back to `before` and fsync. Success
    /// means the failed bytes are gone for good, so only this batch fails.
    fn roll_back(&mut self, before: u64, e: &std::io::Error) -> Failure {
        let path = self.active.path.clone();
        let undo = self.active.file.set_len(before).and_then(|()| {
            self.shared.counters.add_fsync();
            self.active.file.sync()
        });
        match undo {
            Ok(()) => {
                self.active.len = before;
                // The sync above made everything up to `before` durable.
                self.active.synced = before;
                self.last_sync = Instant::now();
                Failure::from_io(&path, e)
            }
            Err(e2) => self.poison(format!(
                "write to {} failed ({e}) and rolling back to offset {before} failed ({e2})",
                path.display()
            )),
        }
    }

    /// Seals the active file (fsync) and starts the next one, created
    /// atomically (temp, fsync, rename, directory fsync). If the creation
    /// fails before the rename, no next file exists and the log goes on in
    /// the old one (the caller's batch fails with `Io`). If the rename or the
    /// directory fsync fails, the next file may or may not appear after a
    /// crash — and if it did, the old file would count as sealed while
    /// records appended to it later were never covered by its seal — so the
    /// log is poisoned.
    fn rotate(&mut self) -> Outcome {
        self.sync_active()?;
        let number = self.active.number + 1;
        let path = file_path(&self.shared.dir, number);
        // The new file's fsync (directory fsyncs are not counted).
        self.shared.counters.add_fsync();
        match create_log_file(&*self.shared.fs, &self.shared.dir, number, 0, &[]) {
            Ok((file, len)) => {
                self.shared.files.lock().push(FileEntry { number, path: path.clone(), max_seq: None });
                self.active = ActiveFile { file, number, path, len, synced: len };
                Ok(())
            }
            Err((AtomicWriteStage::Temp, e)) => Err(Failure::from_io(&path, &e)),
            Err((AtomicWriteStage::Publish, e)) => {
                Err(self.poison(format!("creating log file {} failed: {e}", path.display())))
            }
        }
    }

    /// After a checkpoint at `seq`: if every record of the active file is
    /// covered, rotate so the file becomes sealed, then delete it — the log
    /// then holds only what is not yet in segments. A failure just leaves
    /// the file for a later checkpoint (or poisons, see [`Writer::rotate`]).
    fn trim_if_covered(&mut self, seq: u64) {
        let covered = self.shared.files.lock().last().is_some_and(|f| f.max_seq.is_some_and(|m| m <= seq));
        if !covered || self.poisoned || self.rotate().is_err() {
            return;
        }
        let _ = delete_covered(&self.shared, seq);
    }
}

/// Deletes every sealed file all of whose records have `seq <= seq`, oldest
/// first, then fsyncs the directory. Files are deleted as a prefix so a crash
/// mid-checkpoint leaves no gap in file numbers.
pub(crate) fn delete_covered(shared: &Shared, seq: u64) -> crate::Result<()> {
    let mut files = shared.files.lock();
    let sealed = files.len().saturating_sub(1);
    let covered = files[..sealed].iter().take_while(|f| f.max_seq.is_none_or(|m| m <= seq)).count();
    if covered == 0 {
        return Ok(());
    }
    let mut deleted = 0;
    let result = files[..covered].iter().try_for_each(|f| {
        crate::io::remove_file(&*shared.fs, &f.path)?;
        deleted += 1;
        Ok(())
    });
    files.drain(..deleted);
    drop(files);
    result?;
    shared.fs.sync_dir(&shared.dir).map_err(|e| crate::Error::io(&shared.dir, e))
}

fn complete_all(batch: Vec<Pending>, outcome: Outcome) {
    for p in batch {
        p.done.complete(outcome.clone());
    }
}
