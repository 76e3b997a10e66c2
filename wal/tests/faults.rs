//! Injected I/O failures: a failed write fails only its batch; a failed fsync
//! (or failed rollback) poisons the log; nothing acknowledged earlier is lost.

mod common;

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use common::{payload, replay};
use vego_wal::{Error, LogFile, LogFs, StdFs, SyncMode, Wal, WalOptions};

/// How many of the next calls of each kind fail.
#[derive(Debug, Default)]
struct Faults {
    appends: AtomicU32,
    syncs: AtomicU32,
    set_lens: AtomicU32,
    renames: AtomicU32,
}

fn take(n: &AtomicU32) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1)).is_ok()
}

#[derive(Debug)]
struct FaultFs(Arc<Faults>);

struct FaultFile {
    inner: Box<dyn LogFile>,
    faults: Arc<Faults>,
}

impl LogFs for FaultFs {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let inner = StdFs.create_new(path)?;
        Ok(Box::new(FaultFile { inner, faults: Arc::clone(&self.0) }))
    }
    fn open_existing(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let inner = StdFs.open_existing(path)?;
        Ok(Box::new(FaultFile { inner, faults: Arc::clone(&self.0) }))
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let inner = StdFs.create(path)?;
        Ok(Box::new(FaultFile { inner, faults: Arc::clone(&self.0) }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        if take(&self.0.renames) {
            return Err(io::Error::other("injected EIO on rename"));
        }
        StdFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdFs.remove_file(path)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        StdFs.create_dir_all(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdFs.sync_dir(dir)
    }
}

impl LogFile for FaultFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        if take(&self.faults.appends) {
            // A short write: half the batch reaches the file, then ENOSPC.
            self.inner.append(&buf[..buf.len() / 2])?;
            return Err(io::Error::new(io::ErrorKind::StorageFull, "injected ENOSPC"));
        }
        self.inner.append(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        if take(&self.faults.syncs) {
            return Err(io::Error::other("injected EIO on fsync"));
        }
        self.inner.sync()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        if take(&self.faults.set_lens) {
            return Err(io::Error::other("injected EIO on ftruncate"));
        }
        self.inner.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

fn open_faulty(dir: &Path, sync: SyncMode) -> (Wal, Arc<Faults>) {
    let faults = Arc::new(Faults::default());
    let fs = Arc::new(FaultFs(Arc::clone(&faults)));
    let opts = WalOptions { sync, ..WalOptions::default() };
    let (wal, _) = Wal::open_with_fs(dir, opts, fs, 0, |_, _| Ok::<(), Error>(())).unwrap();
    (wal, faults)
}

fn seqs(records: &[(u64, Vec<u8>)]) -> Vec<u64> {
    records.iter().map(|r| r.0).collect()
}

#[test]
fn failed_write_fails_its_ticket_then_next_write_succeeds_and_nothing_earlier_is_lost() {
    for sync in [SyncMode::Always, SyncMode::Never] {
        let dir = tempfile::tempdir().unwrap();
        let (wal, faults) = open_faulty(dir.path(), sync);
        for s in 1..=5 {
            wal.append(s, payload(s, 100)).unwrap();
        }
        faults.appends.store(1, Ordering::SeqCst);
        match wal.append(6, payload(6, 100)) {
            Err(Error::Io { source, .. }) => assert_eq!(source.kind(), io::ErrorKind::StorageFull),
            other => panic!("expected Io error, got {other:?}"),
        }
        assert!(!wal.is_poisoned());
        wal.append(7, payload(7, 100)).unwrap();
        wal.close().unwrap();

        let (report, got) = replay(dir.path(), 0).unwrap();
        assert_eq!(seqs(&got), vec![1, 2, 3, 4, 5, 7], "{sync:?}");
        assert_eq!(report.torn_tail, None, "rollback removed the partial batch");
    }
}

#[test]
fn failed_fsync_poisons_refuses_later_writes_and_keeps_earlier_data_replayable() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, faults) = open_faulty(dir.path(), SyncMode::Always);
    for s in 1..=3 {
        wal.append(s, payload(s, 100)).unwrap();
    }
    faults.syncs.store(1, Ordering::SeqCst);
    assert!(matches!(wal.append(4, payload(4, 100)), Err(Error::Poisoned(_))));
    assert!(wal.is_poisoned());
    assert!(matches!(wal.submit(5, payload(5, 100)), Err(Error::Poisoned(_))));
    assert!(matches!(wal.sync(), Err(Error::Poisoned(_))));
    // No fsync is retried after the failure.
    let fsyncs = wal.stats().fsyncs;
    assert!(matches!(wal.close(), Err(Error::Poisoned(_))));

    let (_, got) = replay(dir.path(), 0).unwrap();
    // Record 4's outcome is unknown (its write reached the page cache, its
    // fsync failed); records 1..=3 were acknowledged and must be there.
    assert!(got.len() == 3 || got.len() == 4, "{:?}", seqs(&got));
    assert_eq!(seqs(&got[..3]), vec![1, 2, 3]);
    assert!(fsyncs >= 4);
}

#[test]
fn failed_rollback_after_failed_write_poisons_and_reopen_cuts_the_partial_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, faults) = open_faulty(dir.path(), SyncMode::Always);
    for s in 1..=5 {
        wal.append(s, payload(s, 100)).unwrap();
    }
    faults.appends.store(1, Ordering::SeqCst);
    faults.set_lens.store(1, Ordering::SeqCst);
    assert!(matches!(wal.append(6, payload(6, 100)), Err(Error::Poisoned(_))));
    assert!(matches!(wal.append(7, payload(7, 100)), Err(Error::Poisoned(_))));
    drop(wal);

    let (report, got) = replay(dir.path(), 0).unwrap();
    assert_eq!(seqs(&got), vec![1, 2, 3, 4, 5]);
    let torn = report.torn_tail.expect("half-written record is a torn tail");
    assert_eq!(torn.bytes_dropped, (32 + 100) / 2);
}

#[test]
fn failed_fsync_on_explicit_sync_poisons_in_never_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, faults) = open_faulty(dir.path(), SyncMode::Never);
    wal.append(1, b"a".to_vec()).unwrap();
    faults.syncs.store(1, Ordering::SeqCst);
    assert!(matches!(wal.sync(), Err(Error::Poisoned(_))));
    assert!(matches!(wal.submit(2, b"b".to_vec()), Err(Error::Poisoned(_))));
    drop(wal);
    assert_eq!(seqs(&replay(dir.path(), 0).unwrap().1), vec![1]);
}

#[test]
fn failed_creation_of_the_next_file_fails_the_batch_and_the_log_goes_on_in_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    let fs = Arc::new(FaultFs(Arc::clone(&faults)));
    let opts = WalOptions { file_bytes_max: 100, sync: SyncMode::Always };
    let (wal, _) = Wal::open_with_fs(dir.path(), opts, fs, 0, |_, _| Ok::<(), Error>(())).unwrap();
    wal.append(1, payload(1, 100)).unwrap();
    // Next append rotates; the new file's fsync (under its temp name) fails.
    // The first sync is the old file's seal (nothing dirty: skipped). No file
    // was named, so only the batch fails and the log stays in the old file.
    faults.syncs.store(1, Ordering::SeqCst);
    assert!(matches!(wal.append(2, payload(2, 10)), Err(Error::Io { .. })));
    assert!(!wal.is_poisoned());
    wal.append(3, payload(3, 10)).unwrap();
    drop(wal);
    let (_, got) = replay(dir.path(), 0).unwrap();
    assert_eq!(seqs(&got), vec![1, 3]);
}

#[test]
fn failed_rename_of_the_next_file_poisons() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Arc::new(Faults::default());
    let fs = Arc::new(FaultFs(Arc::clone(&faults)));
    let opts = WalOptions { file_bytes_max: 100, sync: SyncMode::Always };
    let (wal, _) = Wal::open_with_fs(dir.path(), opts, fs, 0, |_, _| Ok::<(), Error>(())).unwrap();
    wal.append(1, payload(1, 100)).unwrap();
    // Whether the next file exists after a crash is unknown: poison.
    faults.renames.store(1, Ordering::SeqCst);
    assert!(matches!(wal.append(2, payload(2, 10)), Err(Error::Poisoned(_))));
    assert!(wal.is_poisoned());
    drop(wal);
    let (_, got) = replay(dir.path(), 0).unwrap();
    assert_eq!(seqs(&got), vec![1]);
}

/// Defect (issue 12, 2): after a failed fsync, a reopen replayed the failed
/// record from the page cache, fsynced the file (which "succeeded": the
/// kernel had already reported the error and dropped the dirty state), and
/// appended new records whose watermarks then vouched for the failed
/// record's bytes. After a power loss those bytes were garbage on disk and
/// open refused the whole log as `Corruption`. Now the reopen copies the
/// unproven records into a fresh file (really written and fsynced) and
/// appends there; the old file counts only up to its proven length.
#[test]
fn records_after_a_reopen_never_vouch_for_the_unproven_tail_of_a_failed_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, faults) = open_faulty(dir.path(), SyncMode::Always);
    for s in 1..=3 {
        wal.append(s, payload(s, 40)).unwrap();
    }
    faults.syncs.store(1, Ordering::SeqCst);
    assert!(matches!(wal.append(4, payload(4, 40)), Err(Error::Poisoned(_))));
    drop(wal);
    let first = common::log_files(dir.path())[0].clone();
    let failed_at = std::fs::metadata(&first).unwrap().len() - (32 + 40);

    // Reopen: the page cache still shows record 4; write more.
    let (wal, report, got) = common::open_collect(dir.path(), WalOptions::default(), 0).unwrap();
    assert_eq!(seqs(&got), vec![1, 2, 3, 4]);
    assert_eq!(report.records_rewritten, 1, "record 4 was copied into the new file");
    for s in 5..=6 {
        wal.append(s, payload(s, 40)).unwrap();
    }
    wal.close().unwrap();

    // Power loss: record 4's bytes in the first file never reached the disk.
    let mut bytes = std::fs::read(&first).unwrap();
    let failed = failed_at as usize..failed_at as usize + 32 + 40;
    bytes[failed].fill(0xee);
    std::fs::write(&first, bytes).unwrap();
    let (_, got) = replay(dir.path(), 0).expect("the log opens");
    assert_eq!(seqs(&got), vec![1, 2, 3, 4, 5, 6], "record 4 survives whole, through its copy");
}
