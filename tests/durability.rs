//! Durability holes that need a fault lined up with background work: each
//! test stops a storage call at a gate so the interleaving is certain.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::gate::{Call, GateFs, Then};
use vego::{Collection, Db, Document, Durability, Error, Options};

const DIM: usize = 4;
const WAL: &str = "/wal/";
const SEGMENT_TMP: &str = ".vseg.tmp";

fn vector(key: u64) -> Vec<f32> {
    common::vector(key, DIM)
}

fn open(dir: &std::path::Path, fs: &GateFs) -> (Db, Collection) {
    let opts = Options::default().dimension(DIM).durability(Durability::Sync).storage(Arc::new(fs.clone()));
    let db = Db::open(dir, opts).unwrap();
    let c = db.collection("c").unwrap();
    (db, c)
}

/// Every document `expected` names is found by `get`, by an exact-distance
/// search for its own vector, and exactly once in a search for everything;
/// `len` agrees.
fn assert_state(c: &Collection, expected: &[(&str, u64)], when: &str) {
    for (id, key) in expected {
        let d = c.get(id).unwrap().unwrap_or_else(|| panic!("{when}: get({id}) is None"));
        assert_eq!(d.vector, vector(*key), "{when}: get({id}) returned another version");
        let hits = c.search(&vector(*key), 1).unwrap();
        assert_eq!(hits.first().map(|h| h.id.as_str()), Some(*id), "{when}: search cannot find {id}");
    }
    let all = c.search(&vector(0), expected.len() + 5).unwrap();
    let mut ids: Vec<&str> = all.iter().map(|h| h.id.as_str()).collect();
    ids.sort();
    let mut want: Vec<&str> = expected.iter().map(|(id, _)| *id).collect();
    want.sort();
    assert_eq!(ids, want, "{when}: search over everything (duplicates or missing ids)");
    assert_eq!(c.len(), expected.len(), "{when}: len()");
    assert_eq!(c.snapshot().len(), expected.len(), "{when}: snapshot len()");
}

/// Ten documents `d0..d9`, then the interleaving of defect 1: a flush stops
/// while writing its segment (`d5` v1 is in a frozen memtable), an update of
/// `d5` supersedes the frozen row and stops at its WAL `call`, the flush
/// installs its segment, then the WAL call does `then`. Returns the update's
/// outcome and the ten documents.
fn update_failing_while_a_flush_installs(
    c: &Collection,
    fs: &GateFs,
    call: Call,
    then: Then,
) -> (vego::Result<()>, Vec<(String, u64)>) {
    let docs: Vec<(String, u64)> = (0..10).map(|i| (format!("d{i}"), i + 1)).collect();
    for (id, key) in &docs {
        c.insert(Document::new(id.as_str(), vector(*key))).unwrap();
    }
    fs.arm(Call::Append, SEGMENT_TMP, Then::Proceed);
    let flusher = thread::spawn({
        let c = c.clone();
        move || c.flush()
    });
    fs.wait_reached(SEGMENT_TMP);
    fs.arm(call, WAL, then);
    let writer = thread::spawn({
        let c = c.clone();
        move || c.upsert(Document::new("d5", vector(99)))
    });
    fs.wait_reached(WAL);
    // The flush installs its segment while the write is still in flight…
    fs.release(SEGMENT_TMP);
    flusher.join().unwrap().unwrap();
    // …then the WAL call fails.
    fs.release(WAL);
    (writer.join().unwrap(), docs)
}

/// Defect: the undo of a write whose WAL append failed ran against the
/// layers the write saw when it started. A flush that installed its segment
/// in between had already copied the write's "superseded" mark from the
/// frozen memtable onto the segment, so the older, acknowledged version
/// stayed hidden from search and `len` (though `get` found it), and the
/// next `compact()` dropped it for good.
#[test]
fn failed_write_during_flush_install_keeps_the_acknowledged_version() {
    let dir = tempfile::tempdir().unwrap();
    let fs = GateFs::new();
    let (db, c) = open(dir.path(), &fs);
    let (outcome, docs) = update_failing_while_a_flush_installs(&c, &fs, Call::Append, Then::FailNoSpace);
    assert!(matches!(outcome, Err(Error::Io { .. })), "the failed write reports Io");
    let expected: Vec<(&str, u64)> = docs.iter().map(|(id, k)| (id.as_str(), *k)).collect();

    assert_state(&c, &expected, "after the failed write");
    c.compact().unwrap();
    assert_state(&c, &expected, "after compact");
    drop(c);
    db.close().unwrap();
    let (db, c) = open(dir.path(), &fs);
    assert_state(&c, &expected, "after reopen");
    db.close().unwrap();
}

/// Defect: when a second write of the same id succeeded behind a failed
/// one, the undo of the failed write cleared the older layer's mark
/// entirely, so both the segment's old version and the new one were
/// visible: the document was returned twice.
#[test]
fn failed_write_followed_by_a_successful_one_returns_the_document_once() {
    let dir = tempfile::tempdir().unwrap();
    let fs = GateFs::new();
    let (db, c) = open(dir.path(), &fs);
    let docs: Vec<(String, u64)> = (0..10).map(|i| (format!("d{i}"), i + 1)).collect();
    for (id, key) in &docs {
        c.insert(Document::new(id.as_str(), vector(*key))).unwrap();
    }
    c.flush().unwrap(); // d5 v1 now lives in a segment
                        // The flush's checkpoint asked the log writer to trim the covered log
                        // file (a rotation, which appends to a new file); a write after it
                        // returns once that is done or moot, so the gate below stops the write.
    c.insert(Document::new("warm", vector(50))).unwrap();

    fs.arm(Call::Append, WAL, Then::FailNoSpace);
    let failing = thread::spawn({
        let c = c.clone();
        move || c.upsert(Document::new("d5", vector(98)))
    });
    fs.wait_reached(WAL);
    // A second write of d5 (with a new id, so `len` shows when it applied)
    // queues behind the stopped one and goes into the next WAL batch.
    let succeeding = thread::spawn({
        let c = c.clone();
        move || c.upsert_batch(vec![Document::new("d5", vector(99)), Document::new("new", vector(100))])
    });
    while c.len() != 12 {
        thread::yield_now();
    }
    fs.release(WAL);
    assert!(matches!(failing.join().unwrap(), Err(Error::Io { .. })));
    succeeding.join().unwrap().unwrap();

    let mut expected: Vec<(&str, u64)> =
        docs.iter().map(|(id, k)| (id.as_str(), if id == "d5" { 99 } else { *k })).collect();
    expected.push(("new", 100));
    expected.push(("warm", 50));
    assert_state(&c, &expected, "after the failed and the successful write");
    c.compact().unwrap();
    assert_state(&c, &expected, "after compact");
    drop(c);
    db.close().unwrap();
    let (db, c) = open(dir.path(), &fs);
    assert_state(&c, &expected, "after reopen");
    db.close().unwrap();
}

/// Defect: the same hole after a failed WAL fsync — and `compact()` still
/// ran on the poisoned database, dropping the hidden version for good. Now
/// the undo is right, and flush and compaction refuse to write once the
/// write path is poisoned.
#[test]
fn failed_fsync_during_flush_install_keeps_the_acknowledged_version_and_poisons_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let fs = GateFs::new();
    let (db, c) = open(dir.path(), &fs);
    let (outcome, docs) = update_failing_while_a_flush_installs(&c, &fs, Call::Sync, Then::FailEio);
    assert!(matches!(outcome, Err(Error::Poisoned(_))), "a failed fsync poisons");
    let expected: Vec<(&str, u64)> = docs.iter().map(|(id, k)| (id.as_str(), *k)).collect();

    assert_state(&c, &expected, "after the failed fsync");
    assert!(matches!(c.compact(), Err(Error::Poisoned(_))), "no compaction on a poisoned database");
    assert!(matches!(c.flush(), Err(Error::Poisoned(_))), "no flush on a poisoned database");
    assert_state(&c, &expected, "after the refused compaction");
    drop(c);
    let _ = db.close();
    // The failed write is there whole or not at all; nothing else changed.
    let (db, c) = open(dir.path(), &fs);
    let d5 = c.get("d5").unwrap().expect("d5 survives").vector;
    let key5 = if d5 == vector(99) { 99 } else { 6 };
    let after: Vec<(&str, u64)> = expected.iter().map(|&(id, k)| (id, if id == "d5" { key5 } else { k })).collect();
    assert_state(&c, &after, "after reopen");
    db.close().unwrap();
}

fn wal_files(dir: &std::path::Path) -> Vec<u64> {
    let mut v: Vec<u64> =
        std::fs::read_dir(dir.join("wal")).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).collect();
    v.sort();
    v
}

/// Defect (issue 12, 6): the WAL checkpoint was never recorded in the
/// manifest and the active log file was never trimmed: after a flush the
/// log still held every flushed record, every one was decoded again at
/// open and counted as replayed. Now a flush records the checkpoint, the
/// log rotates away from a covered active file and deletes it, and open
/// replays nothing that is in a segment.
#[test]
fn flushed_records_are_neither_kept_in_the_wal_nor_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let fs = GateFs::new();
    let (db, c) = open(dir.path(), &fs);
    for b in 0..10u64 {
        c.insert_batch((0..100).map(|i| Document::new(format!("d{b}-{i}"), vector(b * 100 + i))).collect()).unwrap();
    }
    db.flush().unwrap();
    c.insert(Document::new("late", vector(7))).unwrap();
    // Closing flushes `late` too and waits for the log writer.
    drop(c);
    db.close().unwrap();
    assert_eq!(wal_files(dir.path()), vec![32], "one empty log file (its header) is all that is left");
    let (db, c) = open(dir.path(), &fs);
    assert_eq!(db.recovery().replayed, 0, "nothing flushed is replayed");
    assert_eq!(db.recovery().records, 0);
    assert_eq!(c.len(), 1001);
    db.close().unwrap();
}

/// Defect (issue 12, 8): a segment header claiming 2^40 rows, with a valid
/// checksum, made open allocate 8 TiB and abort the process before any size
/// check ran. Every count read from disk is now checked against the file
/// and a named limit first: open reports `Corruption` naming the file.
#[test]
fn segment_header_claiming_a_huge_row_count_is_corruption_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let fs = GateFs::new();
    let (db, c) = open(dir.path(), &fs);
    c.insert_batch((0..20).map(|i| Document::new(format!("d{i}"), vector(i))).collect()).unwrap();
    drop(c);
    db.close().unwrap();
    let seg = std::fs::read_dir(dir.path().join("segments")).unwrap().next().unwrap().unwrap().path();
    for (rows, tombstones) in [(1u64 << 40, 0u64), (20, 1 << 40), (u64::MAX, 1), (21, 0)] {
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[24..32].copy_from_slice(&rows.to_le_bytes());
        bytes[32..40].copy_from_slice(&tombstones.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[..60]);
        bytes[60..64].copy_from_slice(&crc.to_le_bytes());
        let copy = tempfile::tempdir().unwrap();
        copy_tree(dir.path(), copy.path());
        std::fs::write(copy.path().join("segments").join(seg.file_name().unwrap()), &bytes).unwrap();
        match Db::open(copy.path(), Options::default()) {
            Err(Error::Corruption { file, .. }) => assert_eq!(file.file_name(), seg.file_name(), "{rows} rows"),
            other => panic!("{rows} rows, {tombstones} tombstones: expected corruption, got {other:?}"),
        }
    }
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Defect (issue 12, 4): after one failed manifest rename no flush could
/// ever succeed (the manifest was poisoned for good), yet writes were still
/// acknowledged: the memtable grew without bound (3 → 20 MB against a 1 MB
/// limit). Now a failed publication does not block later edits, writes are
/// refused with `Io` once unflushed memory passes its named limit while
/// flushes fail, and everything resumes when the fault clears.
#[test]
fn failing_manifest_renames_bound_unflushed_memory_and_writes_resume_when_they_clear() {
    const D: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let fs = GateFs::new();
    let opts = Options::default().dimension(D).storage(Arc::new(fs.clone()));
    let db = Db::open(dir.path(), opts.clone()).unwrap();
    let c = db.create_collection("c", vego::CollectionConfig::new(D).memtable_bytes(1 << 20)).unwrap();
    let doc = |i: u64| Document::new(format!("d{i}"), common::vector(i, D));
    fs.fail_always(Call::Rename, "MANIFEST");
    let (mut acked, mut refused) = (0u64, None);
    for b in 0..200u64 {
        match c.insert_batch((0..100).map(|j| doc(b * 100 + j)).collect()) {
            Ok(()) => acked += 100,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("writes are refused before 20 MB pile up in memory");
    assert!(matches!(&refused, Error::Io { .. }), "{refused}");
    assert!(refused.to_string().contains("flushes are failing"), "{refused}");
    let memtables = c.stats().memtable_bytes;
    assert!(memtables <= 5 << 20, "unflushed memory stays bounded: {memtables} bytes");

    // The fault clears: a retry flushes, and writes are acknowledged again.
    fs.clear();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let next = acked;
    loop {
        match c.insert(doc(next)) {
            Ok(()) => break,
            Err(Error::Io { .. }) if std::time::Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("writes did not resume: {e}"),
        }
    }
    acked += 1;
    assert_eq!(c.len() as u64, acked);
    drop(c);
    db.close().unwrap();
    let db = Db::open(dir.path(), opts).unwrap();
    let c = db.collection("c").unwrap();
    assert_eq!(c.len() as u64, acked, "every acknowledged write survives");
    for i in [0, acked / 2, acked - 1] {
        assert!(c.get(&format!("d{i}")).unwrap().is_some(), "d{i}");
    }
    db.close().unwrap();
}

/// Defect (issue 12, 7): head-of-line blocking across collections — an 8-d
/// upsert in one collection waited 26 s behind a 20k-document batch in
/// another, because a write was acknowledged only once every earlier seq of
/// the database was visible. Now each collection publishes its own writes.
/// The big batch is held mid-indexing (by its progress callback) until the
/// small write in the other collection has been acknowledged.
#[test]
fn a_write_is_not_held_back_by_another_collections_large_batch() {
    use std::sync::mpsc;
    let dir = tempfile::tempdir().unwrap();
    let (small_done_tx, small_done_rx) = mpsc::channel::<()>();
    let small_done_rx = parking_lot::Mutex::new(small_done_rx);
    let (indexing_tx, indexing_rx) = mpsc::channel::<()>();
    let indexing_tx = parking_lot::Mutex::new(indexing_tx);
    let held = std::sync::atomic::AtomicBool::new(false);
    let opts = Options::default().dimension(8).progress(move |p| {
        let mid_batch = p.collection == "big" && p.task == vego::Task::InsertBatch && p.done > 0 && p.done < p.total;
        if mid_batch && !held.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let _ = indexing_tx.lock().send(());
            // Hold the batch until the small write is acknowledged (or 60 s).
            let _ = small_done_rx.lock().recv_timeout(Duration::from_secs(60));
        }
    });
    let db = Db::open(dir.path(), opts).unwrap();
    let (big, small) = (db.collection("big").unwrap(), db.collection("small").unwrap());
    let batch = thread::spawn(move || {
        big.insert_batch((0..20_000).map(|i| Document::new(format!("b{i}"), common::vector(i, 8))).collect())
    });
    indexing_rx.recv_timeout(Duration::from_secs(60)).expect("the big batch is being indexed");
    let (tx, rx) = mpsc::channel();
    let writer = thread::spawn({
        let small = small.clone();
        move || {
            let r = small.upsert(Document::new("s", common::vector(1, 8)));
            let _ = tx.send(());
            r
        }
    });
    let acked = rx.recv_timeout(Duration::from_secs(20)).is_ok();
    let _ = small_done_tx.send(()); // let the batch finish either way
    assert!(acked, "the small write waited for the other collection's batch");
    writer.join().unwrap().unwrap();
    assert!(small.get("s").unwrap().is_some(), "read-your-writes");
    batch.join().unwrap().unwrap();
    db.close().unwrap();
}
