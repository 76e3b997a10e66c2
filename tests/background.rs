//! The background workers: flushes, compactions and the linking of replayed
//! rows run on three long-lived threads per database (flusher, compactor,
//! indexer), stopped and joined by `close`. (A file of its own,
//! run one test at a time: it counts the process's threads.)

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::gate::{Call, GateFs, Then};
use vego::{CollectionConfig, Db, Document, Options};

const DIM: usize = 64;
static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// Threads of this process doing Vego's background work.
fn background_threads() -> usize {
    let names = std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten();
    names
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|n| ["vego-flush", "vego-compact", "vego-index", "vego-backgroun"].iter().any(|p| n.starts_with(p)))
        .count()
}

/// Every file under `dir` with its length.
fn files(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                let len = std::fs::metadata(e.path()).map_or(0, |m| m.len());
                out.insert(e.path().strip_prefix(dir).unwrap().display().to_string(), len);
            }
        }
    }
    out
}

fn batch(b: u64, n: u64) -> Vec<Document> {
    (0..n).map(|i| Document::new(format!("d{b}-{i}"), common::vector(b * n + i, DIM))).collect()
}

/// Options whose progress callback stops the first merge inside its graph
/// build: `held` reports it stopped; sending on (or dropping) the returned
/// sender lets it go on.
fn holding_the_first_merge() -> (Options, std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let once = parking_lot::Mutex::new(Some((held_tx, release_rx)));
    let progress = move |p: &vego::Progress| {
        if p.task == vego::Task::Compaction && p.done < p.total {
            if let Some((held, release)) = once.lock().take() {
                held.send(()).unwrap();
                let _ = release.recv(); // until the test lets go
            }
        }
    };
    (Options::default().progress(progress), held_rx, release_tx)
}

/// A database whose collection `c` holds three flushed segments of 2,000
/// rows, opened with [`holding_the_first_merge`].
fn three_segments_whose_first_merge_is_held(
) -> (tempfile::TempDir, Db, vego::Collection, std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
    let dir = tempfile::tempdir().unwrap();
    let (options, held_rx, hold) = holding_the_first_merge();
    let db = Db::open(dir.path(), options).unwrap();
    let c = db.create_collection("c", CollectionConfig::new(DIM)).unwrap();
    for b in 0..3 {
        c.insert_batch(batch(b, 2_000)).unwrap();
        c.flush().unwrap();
    }
    (dir, db, c, held_rx, hold)
}

/// Defect (issue 12, 9): every background flush started a thread of its
/// own, joined only at close — while one flush was slow, each further full
/// memtable started another (79 → 203 mappings over ~96 flushes). One
/// worker does every flush now; requests wait in its queue.
#[test]
fn a_stuck_flush_does_not_make_later_flushes_start_threads() {
    let _serial = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let fs = GateFs::new();
    fs.arm(Call::Append, ".vseg.tmp", Then::Proceed); // the first flush sticks here
    let db = Db::open(dir.path(), Options::default().storage(Arc::new(fs.clone()))).unwrap();
    let c = db.create_collection("c", CollectionConfig::new(DIM).memtable_bytes(1 << 20)).unwrap();
    // About 3 MiB: three memtables fill and freeze while the first flush is stuck.
    for b in 0..14 {
        c.insert_batch(batch(b, 500)).unwrap();
    }
    fs.wait_reached(".vseg.tmp");
    // Checked after the gate opens: a failed assertion while the flush is
    // held would hang the test in the handles' drop instead of failing it.
    let threads = background_threads();
    fs.release(".vseg.tmp");
    assert_eq!(threads, 3, "one flusher, one compactor, one indexer, however many flushes wait");
    c.flush().unwrap();
    assert_eq!(c.len(), 14 * 500);
    drop(c);
    db.close().unwrap();
    assert_eq!(background_threads(), 0, "close joined the workers");
}

/// Defect (issue 12, 9): a write in flight while `close()` ran could start a
/// flush — and after it the compaction the policy wanted — that wrote after
/// `close` had released the lock. Here seven segments make a compaction
/// due, and the write that fills the memtable is held in its WAL append
/// until `close` is under way; once `close` returns, nothing in the
/// directory changes any more.
#[test]
fn a_write_racing_close_starts_no_flush_after_close_returns() {
    let _serial = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let fs = GateFs::new();
    let db = Db::open(dir.path(), Options::default().storage(Arc::new(fs.clone()))).unwrap();
    let c = db.create_collection("c", CollectionConfig::new(DIM).memtable_bytes(1 << 20)).unwrap();
    for b in 0..7 {
        c.insert_batch(batch(100 + b, 20)).unwrap();
        c.flush().unwrap(); // seven segments: the next background flush compacts
    }
    for b in 0..4 {
        c.insert_batch(batch(b, 500)).unwrap(); // just under one memtable
    }
    fs.arm(Call::Append, "/wal/", Then::Proceed);
    let writer = thread::spawn({
        let c = c.clone();
        move || c.insert_batch(batch(99, 500)) // fills the memtable
    });
    fs.wait_reached("/wal/");
    let closer = thread::spawn(move || db.close());
    thread::sleep(Duration::from_millis(200)); // close is under way, waiting for the write
    fs.release("/wal/");
    closer.join().unwrap().unwrap();
    let closed = files(dir.path());
    let _ = writer.join().unwrap();
    drop(c);
    thread::sleep(Duration::from_millis(500));
    assert_eq!(files(dir.path()), closed, "files changed after close returned");
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert!(db.collection("c").unwrap().len() >= 4 * 500);
    db.close().unwrap();
}

/// Issue 15: a flush waited for a running merge (both took the flush lock,
/// and one worker did both), so writers stalled behind compactions. Here an
/// explicit `compact()` is held inside its graph build (its progress
/// callback blocks) while another thread writes and flushes: the flush
/// completes meanwhile, and once the merge finishes nothing is lost — the
/// segment the flush installed during the merge is kept beside the merged one.
#[test]
fn a_flush_completes_while_a_merge_runs() {
    let _serial = SERIAL.lock();
    let (dir, db, c, held_rx, hold) = three_segments_whose_first_merge_is_held();
    let gone: Vec<String> = (0..1_000).map(|i| format!("d0-{i}")).collect();
    c.delete_batch(&gone.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    let merge = thread::spawn({
        let c = c.clone();
        move || c.compact()
    });
    held_rx.recv_timeout(Duration::from_secs(120)).expect("the merge reached its graph build");

    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let writer = thread::spawn({
        let c = c.clone();
        move || {
            c.insert_batch(batch(7, 500)).unwrap();
            done_tx.send(c.flush()).unwrap();
        }
    });
    // Generous: this detects waiting for the merge, it does not time the flush.
    let flushed = done_rx.recv_timeout(Duration::from_secs(60));
    drop(hold); // let the merge finish either way
    flushed.expect("the flush waited for the merge").unwrap();
    writer.join().unwrap();
    assert_eq!(merge.join().unwrap().unwrap().segments_out, 1);

    assert_eq!(c.stats().segments, 2, "the merged segment and the one flushed during the merge");
    assert_eq!(c.len(), 3 * 2_000 - 1_000 + 500);
    assert!(
        c.get("d7-0").unwrap().is_some() && c.get("d0-0").unwrap().is_none() && c.get("d0-1000").unwrap().is_some()
    );
    drop(c);
    db.close().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.collection("c").unwrap();
    assert_eq!(c.len(), 3 * 2_000 - 1_000 + 500);
    assert!(c.get("d7-499").unwrap().is_some() && c.get("d0-999").unwrap().is_none());
    db.close().unwrap();
}

/// Dropping the last handle while a background merge ran returned at once,
/// but the merge job still held the database (and its lock): a reopen right
/// after the drop failed with `Locked` (seen in the concurrent chaos run
/// after merges became more frequent). The last handle's drop now closes
/// the database there and then, waiting for the job.
#[test]
fn dropping_the_last_handle_during_a_background_merge_releases_the_lock_before_it_returns() {
    let _serial = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let (options, held_rx, hold) = holding_the_first_merge();
    let db = Db::open(dir.path(), options).unwrap();
    let c = db.create_collection("c", CollectionConfig::new(DIM)).unwrap();
    for b in 0..4 {
        c.insert_batch(batch(b, 1_500)).unwrap();
        c.flush().unwrap(); // the fourth similar segment starts a background merge
    }
    held_rx.recv_timeout(Duration::from_secs(120)).expect("the background merge reached its graph build");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        drop(c);
        drop(db);
        done_tx.send(()).unwrap();
    });
    // If the drop returns while the merge is still held, the lock must be free already.
    let returned_early = done_rx.recv_timeout(Duration::from_millis(500)).is_ok();
    if returned_early {
        let reopened = Db::open(dir.path(), Options::default());
        assert!(reopened.is_ok(), "dropped, yet still locked: {:?}", reopened.err());
    }
    drop(hold);
    if !returned_early {
        done_rx.recv_timeout(Duration::from_secs(120)).expect("the drop finished once the merge did");
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.collection("c").unwrap().len(), 4 * 1_500);
    db.close().unwrap();
}

/// Issue 15: close waited for a running merge to finish (103.8 s after a
/// 1M-row ingest). It now gives the merge up at its next graph insert: the
/// caller of `compact()` gets `Error::Closed`, nothing of the merge is left
/// on disk, and its input segments stay as they were.
#[test]
fn close_gives_up_a_running_merge_and_keeps_its_inputs() {
    let _serial = SERIAL.lock();
    let (dir, db, c, held_rx, hold) = three_segments_whose_first_merge_is_held();
    let merge = thread::spawn({
        let c = c.clone();
        move || c.compact()
    });
    held_rx.recv_timeout(Duration::from_secs(120)).expect("the merge reached its graph build");
    let closer = thread::spawn({
        let db = db.clone();
        move || db.close()
    });
    // Close has begun once writes are refused.
    let probe = Document::new("probe", common::vector(1, DIM));
    let t = std::time::Instant::now();
    let mut probed = false; // a probe written before close began: close flushes it
    loop {
        match c.insert(probe.clone()) {
            Err(vego::Error::Closed) => break,
            other => probed |= other.is_ok(),
        }
        assert!(t.elapsed() < Duration::from_secs(60), "close never began");
        thread::sleep(Duration::from_millis(5));
    }
    drop(hold);
    assert!(matches!(merge.join().unwrap(), Err(vego::Error::Closed)), "the merge gave up");
    closer.join().unwrap().unwrap();
    assert!(files(dir.path()).keys().all(|f| !f.ends_with(".tmp")), "no merge leftovers: {:?}", files(dir.path()));
    drop(c);
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.collection("c").unwrap();
    let flushed_by_close = usize::from(probed);
    assert_eq!(c.stats().segments as usize, 3 + flushed_by_close, "the inputs are still the collection's segments");
    assert_eq!(c.len(), 3 * 2_000 + flushed_by_close);
    db.close().unwrap();
}
