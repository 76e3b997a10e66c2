//! Online backup: a backup taken while writers, flushes and compactions run
//! restores to exactly the state a snapshot at the backup's seq sees.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{vector, Rng};
use vego::{CollectionConfig, Db, Document, Durability, Error, Options};

const IDS: u64 = 300;
const DIM: usize = 8;

fn options() -> Options {
    // Small WAL files so the backup copies several (and cuts the last one).
    Options::default().wal_file_bytes(1 << 16)
}

fn config() -> CollectionConfig {
    CollectionConfig::new(DIM).durability(Durability::None)
}

/// One random write: upsert (single or batch), update, or delete.
fn write(coll: &vego::Collection, r: &mut Rng, step: u64) {
    let id = r.below(IDS);
    let doc = |id: u64| Document::new(format!("id-{id}"), vector(step * 1_000 + id, DIM)).with("step", step as i64);
    let result = match r.below(10) {
        0..=4 => coll.upsert(doc(id)),
        5 => coll.upsert_batch((0..3).map(|j| doc((id + j) % IDS)).collect()),
        6 => coll.update(doc(id)).or_else(|e| if matches!(e, Error::NotFound(_)) { Ok(()) } else { Err(e) }),
        _ => coll.delete(&format!("id-{id}")).map(drop),
    };
    result.expect("write");
}

#[test]
fn backup_under_concurrent_writes_restores_exactly_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), options()).unwrap();
    let colls: Vec<_> = ["alpha", "beta"].iter().map(|n| db.create_collection(n, config()).unwrap()).collect();
    let done = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    const OPS_PER_WRITER: u64 = 1_500;
    let writers: Vec<_> = (0..3u64)
        .map(|t| {
            let coll = colls[t as usize % 2].clone();
            let ops = ops.clone();
            std::thread::spawn(move || {
                let mut r = Rng::new(t + 11);
                for step in 0..OPS_PER_WRITER {
                    write(&coll, &mut r, t * OPS_PER_WRITER + step);
                    ops.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Flushes and compactions keep changing the segment files meanwhile.
    let churn = {
        let (colls, done) = (colls.clone(), done.clone());
        std::thread::spawn(move || {
            let mut rounds = 0u64;
            while !done.load(Ordering::Relaxed) {
                for c in &colls {
                    c.flush().unwrap();
                    if rounds % 3 == 2 {
                        c.compact().unwrap();
                    }
                }
                rounds += 1;
            }
            rounds
        })
    };
    while ops.load(Ordering::Relaxed) < OPS_PER_WRITER {
        std::thread::yield_now();
    }
    let (stats, snaps) = db.backup_with_snapshots(dir.path().join("backup")).unwrap();
    writers.into_iter().for_each(|w| w.join().unwrap());
    done.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    eprintln!("{stats:?}");
    assert!(stats.seq > 0 && stats.collections == 2, "{stats:?}");
    assert!(stats.wal_records > 0 || stats.segments_linked + stats.segments_copied > 0, "{stats:?}");
    let seq_after = db.stats().visible_seq;
    assert!(seq_after > stats.seq, "writes continued after the backup");

    let restored_dir = dir.path().join("restored");
    Db::restore(dir.path().join("backup"), &restored_dir).unwrap();
    let restored = Db::open(&restored_dir, Options::default()).unwrap();
    assert_eq!(restored.collections(), vec!["alpha".to_string(), "beta".to_string()]);
    for (name, snap) in &snaps {
        assert_eq!(snap.seq(), stats.seq);
        let coll = restored.collection(name).unwrap();
        assert_eq!(coll.len(), snap.len(), "{name}: document count");
        for id in 0..IDS {
            let id = format!("id-{id}");
            assert_eq!(coll.get(&id).unwrap(), snap.get(&id).unwrap(), "{name}/{id}");
        }
    }
    // Nothing after the backup's seq leaked in.
    assert!(restored.stats().visible_seq <= stats.seq);
    restored.close().unwrap();

    // The backup itself opens as a database too.
    let direct = Db::open(dir.path().join("backup"), Options::default()).unwrap();
    assert_eq!(direct.collection("alpha").unwrap().len(), snaps["alpha"].len());
    direct.close().unwrap();
    db.close().unwrap();
}

#[test]
fn backup_and_restore_refuse_bad_destinations_and_sources() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), Options::default().dimension(2)).unwrap();
    db.collection("c").unwrap().insert(Document::new("a", vec![1.0, 2.0])).unwrap();
    let busy = dir.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("file"), b"x").unwrap();
    assert!(matches!(db.backup(&busy), Err(Error::InvalidArgument(_))));
    assert!(busy.join("file").exists(), "a refused backup touches nothing");

    // A live database cannot be restored from (its files are changing).
    assert!(matches!(Db::restore(dir.path().join("db"), dir.path().join("r1")), Err(Error::Locked { .. })));
    assert!(!dir.path().join("r1").exists(), "a failed restore leaves nothing behind");
    assert!(matches!(Db::restore(&busy, dir.path().join("r2")), Err(Error::NotADatabase { .. })));

    db.backup(dir.path().join("b")).unwrap();
    db.close().unwrap();
    // A damaged backup fails the restore's check and leaves nothing.
    let seg_dir = dir.path().join("db").join("segments");
    let manifest = std::fs::read_dir(dir.path().join("b"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("MANIFEST-"))
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&manifest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&manifest, bytes).unwrap();
    assert!(matches!(Db::restore(dir.path().join("b"), dir.path().join("r3")), Err(Error::Corruption { .. })));
    assert!(!dir.path().join("r3").exists());
    assert!(seg_dir.exists());
}
