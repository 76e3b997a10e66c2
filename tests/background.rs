//! The background worker: flushes and compactions run on one long-lived
//! thread per database, stopped and joined by `close`. (A file of its own:
//! it counts the process's memory mappings, which other tests would move.)

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::thread;
use std::time::Duration;

use vego::{CollectionConfig, Db, Document, Options};

const DIM: usize = 16;

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count())
}

/// Every file under `dir` with its length.
fn files(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for e in walk(dir) {
        out.insert(e.strip_prefix(dir).unwrap().display().to_string(), std::fs::metadata(&e).map_or(0, |m| m.len()));
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// Defect (issue 12, 9): every background flush started a thread that was
/// joined only at close, so a long-running database piled up thread stacks
/// (79 → 203 mappings over ~96 flushes). One worker does every flush now.
#[test]
fn background_flushes_do_not_pile_up_threads_or_mappings() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.create_collection("c", CollectionConfig::new(DIM).memtable_bytes(1 << 20)).unwrap();
    let batch = |b: u64| (0..400).map(move |i| Document::new(format!("d{b}-{i}"), common::vector(b * 400 + i, DIM)));
    // Warm up: the worker, the first segments and a compaction exist.
    for b in 0..40 {
        c.insert_batch(batch(b).collect()).unwrap();
    }
    thread::sleep(Duration::from_millis(500));
    let before = mappings();
    let flushes_before = c.stats().segments;
    for b in 40..200 {
        c.insert_batch(batch(b).collect()).unwrap();
    }
    thread::sleep(Duration::from_millis(500));
    let after = mappings();
    // Dozens more flushes ran (a thread stack each, before: two mappings);
    // compaction keeps the segments (and their mappings) few.
    assert!(
        after <= before + 40,
        "mappings grew from {before} to {after} (segments {flushes_before} → {})",
        c.stats().segments
    );
    assert_eq!(c.len(), 200 * 400);
    db.close().unwrap();
}

/// Defect (issue 12, 9): a flush started while `close()` ran could write
/// after the lock was released. Writers race `close` here; once it returns,
/// nothing in the directory changes any more.
#[test]
fn nothing_is_written_after_close_returns() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let c = db.create_collection("c", CollectionConfig::new(DIM).memtable_bytes(1 << 20)).unwrap();
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let c = c.clone();
                thread::spawn(move || {
                    for b in 0u64.. {
                        let docs = (0..200).map(|i| Document::new(format!("w{w}-{b}-{i}"), common::vector(i, DIM)));
                        if c.insert_batch(docs.collect()).is_err() {
                            return; // closed
                        }
                    }
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(150 + 50 * round));
        db.close().unwrap();
        let closed = files(dir.path());
        writers.into_iter().for_each(|w| w.join().unwrap());
        thread::sleep(Duration::from_millis(300));
        assert_eq!(files(dir.path()), closed, "round {round}: files changed after close returned");
        // And the lock is really free: another open succeeds at once.
        Db::open(dir.path(), Options::default()).unwrap().close().unwrap();
    }
}
