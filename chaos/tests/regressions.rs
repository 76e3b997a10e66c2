//! Engine bugs the fault-injecting storage found, each pinned by a test.

use std::sync::Arc;

use vego::storage::StdStorage;
use vego_chaos::powerloss::open_with;
use vego_chaos::simfs::{Fault, FaultPlan, SimFs};
use vego_chaos::workload::{self, Model};

/// The workload's options with `durability`, over `storage`.
fn options(durability: vego::Durability, storage: Arc<dyn vego::storage::Storage>) -> vego::Options {
    vego::Options::default().dimension(workload::DIM).durability(durability).storage(storage)
}

/// Bug: a power loss while the very first open created the database could
/// leave only a manifest temp file (and the lock file), and every later open
/// refused the directory as `NotADatabase`. A power loss at any storage call
/// of the first open and first write now leaves a directory that opens,
/// holding the write whole or not at all.
#[test]
fn power_loss_while_creating_the_database_leaves_an_openable_directory() {
    for k in 1..40 {
        for seed in 0..4 {
            let dir = tempfile::tempdir().unwrap();
            let sim = SimFs::new(dir.path(), seed).unwrap();
            sim.crash_after(k);
            if let Ok((db, c)) = open_with(dir.path(), sim.clone()) {
                let _ = workload::run(&c, &workload::op(1, 0));
                drop(c);
                drop(db);
            }
            sim.crash();
            sim.materialize(seed).unwrap();
            let (db, c) = open_with(dir.path(), Arc::new(StdStorage))
                .unwrap_or_else(|e| panic!("crash at call {k}, seed {seed}: reopen failed: {e}"));
            let op = workload::op(1, 0);
            let mut after = Model::new();
            workload::apply(&mut after, &op);
            let found = workload::read_back(&c, &workload::ids(1, 0)).unwrap().0;
            assert!(found.is_empty() || found == after, "crash at call {k}, seed {seed}: {found:?}");
            db.close().unwrap();
        }
    }
}

/// Bug: when the manifest edit recording a flushed segment failed after the
/// rename (directory fsync EIO), flush deleted the segment file although the
/// new manifest version naming it was already in place: the database then
/// failed to open ("No such file or directory"). Now the file is kept while
/// the manifest is poisoned.
#[test]
fn failed_manifest_directory_fsync_during_flush_keeps_the_database_openable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let mut model = Model::new();
    let sim = SimFs::new(&root, 1).unwrap();
    let (db, c) = open_with(&root, sim.clone()).unwrap();
    for i in 0..20 {
        let op = workload::op(9, i);
        if op.is_write() {
            workload::run(&c, &op).unwrap();
            workload::apply(&mut model, &op);
        }
    }
    // The flush: segment tmp (create, append, sync), rename, segments dir
    // fsync (calls 1-5), then the manifest: tmp (create, append, sync),
    // rename, root fsync (calls 6-10). Fail the root fsync.
    sim.arm(FaultPlan { after_ops: 6, kind: Fault::DirFsyncEio, times: 1 });
    let err = c.flush();
    let hits = sim.hits();
    assert!(err.is_err(), "the flush reports the failure");
    assert!(hits.iter().any(|h| h.path == root), "the fault hit the manifest's directory fsync: {hits:?}");
    drop(c);
    drop(db);
    // Without a crash (the rename is in the page cache) and after one.
    let (db, c) = open_with(&root, Arc::new(StdStorage)).expect("reopen after the failed flush");
    let ids = workload::ids(9, 20);
    assert_eq!(workload::read_back(&c, &ids).unwrap().0, model);
    db.close().unwrap();
}

/// Defect (issue 12, 3): under `Durability::None` and `Periodic`, a flush made
/// one collection's rows durable (segment + manifest) without first syncing
/// the shared WAL, so after a power loss collection `a` lost all its earlier
/// writes while `b`'s later ones survived — a state no prefix of the history
/// explains. A flush now syncs the WAL up to its seq first.
#[test]
fn flush_in_a_weak_durability_mode_makes_earlier_writes_of_other_collections_durable_first() {
    use vego::{Db, Document, Durability};
    for mode in [Durability::None, Durability::Periodic(std::time::Duration::from_secs(3600))] {
        for seed in 0..6 {
            let dir = tempfile::tempdir().unwrap();
            let sim = SimFs::new(dir.path(), seed).unwrap();
            let opts = |storage| options(mode, storage).wal_file_bytes(1 << 20);
            let db = Db::open(dir.path(), opts(sim.clone())).unwrap();
            let (a, b) = (db.collection("a").unwrap(), db.collection("b").unwrap());
            for i in 0..100u64 {
                a.upsert(Document::new(format!("a{i}"), workload::vector(i))).unwrap();
            }
            for chunk in 0..10u64 {
                let docs =
                    (0..100).map(|j| Document::new(format!("b{}", chunk * 100 + j), workload::vector(j))).collect();
                b.upsert_batch(docs).unwrap();
            }
            b.flush().unwrap();
            sim.crash();
            drop((a, b));
            drop(db);
            sim.materialize(seed).unwrap();
            let db = Db::open(dir.path(), opts(Arc::new(StdStorage))).unwrap();
            let (a, b) = (db.collection("a").unwrap(), db.collection("b").unwrap());
            let (a_n, b_n) = (a.len(), b.len());
            assert_eq!(b_n, 1000, "{mode:?} seed {seed}: the flushed collection is durable");
            assert_eq!(a_n, 100, "{mode:?} seed {seed}: b's flush survived but a's earlier writes did not");
            db.close().unwrap();
        }
    }
}

/// Defect (issue 12, 2): failed WAL fsync → reopen → writes → power loss →
/// the database would not open (`Corruption`), and every acknowledged
/// document was unreachable: the reopen had replayed the failed record from
/// the page cache and new records then vouched for bytes the disk never
/// got. Every seed must reopen with all acknowledged writes, the failed one
/// whole or absent.
#[test]
fn failed_fsync_then_reopen_then_power_loss_keeps_the_database_openable() {
    use vego::{Db, Document, Durability};
    let doc = |i: u64| Document::new(format!("d{i}"), workload::vector(i));
    for seed in 0..16 {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimFs::new(dir.path(), seed).unwrap();
        let opts = |storage| options(Durability::Sync, storage);
        let db = Db::open(dir.path(), opts(sim.clone())).unwrap();
        let c = db.collection("c").unwrap();
        for i in 0..5 {
            c.insert(doc(i)).unwrap();
        }
        sim.arm(FaultPlan { after_ops: 0, kind: Fault::FsyncEio, times: 1 });
        assert!(matches!(c.insert(doc(5)), Err(vego::Error::Poisoned(_))), "seed {seed}");
        drop(c);
        let _ = db.close();
        // Reopen on the same disk (the page cache still shows the failed record).
        let db = Db::open(dir.path(), opts(sim.clone())).unwrap();
        let c = db.collection("c").unwrap();
        for i in 6..25 {
            c.insert(doc(i)).unwrap();
        }
        sim.crash();
        drop(c);
        drop(db);
        sim.materialize(seed).unwrap();
        let db = Db::open(dir.path(), opts(Arc::new(StdStorage)))
            .unwrap_or_else(|e| panic!("seed {seed}: the database does not open after the power loss: {e}"));
        let c = db.collection("c").unwrap();
        for i in (0..5).chain(6..25) {
            let got = c.get(&format!("d{i}")).unwrap().unwrap_or_else(|| panic!("seed {seed}: d{i} lost"));
            assert_eq!(got.vector, workload::vector(i), "seed {seed}");
        }
        assert!(matches!(c.len(), 24 | 25), "seed {seed}: {} documents", c.len());
        db.close().unwrap();
    }
}

/// Defect (issue 12, 6): after a crash, open decoded and counted as
/// replayed every record in the log, flushed or not. Now only the writes
/// that are not in a segment are replayed.
#[test]
fn only_unflushed_writes_are_replayed_after_a_power_loss() {
    use vego::{Db, Document, Durability};
    for seed in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimFs::new(dir.path(), seed).unwrap();
        let opts = |storage| options(Durability::Sync, storage);
        let db = Db::open(dir.path(), opts(sim.clone())).unwrap();
        let c = db.collection("c").unwrap();
        for b in 0..10u64 {
            c.insert_batch((0..50).map(|i| Document::new(format!("d{b}-{i}"), workload::vector(i))).collect()).unwrap();
        }
        c.flush().unwrap();
        for i in 0..5u64 {
            c.insert(Document::new(format!("late{i}"), workload::vector(i))).unwrap();
        }
        sim.crash();
        drop(c);
        drop(db);
        sim.materialize(seed).unwrap();
        let db = Db::open(dir.path(), opts(Arc::new(StdStorage))).unwrap();
        assert_eq!(db.recovery().replayed, 5, "seed {seed}: {:?}", db.recovery());
        assert_eq!(db.collection("c").unwrap().len(), 505, "seed {seed}");
        db.close().unwrap();
    }
}

/// Found by `powerloss --concurrent --durability none`: under `Periodic` and
/// `None`, compaction dropped versions superseded by writes that were not yet
/// durable (only in the page cache), so a power loss lost both the old
/// version (compacted away) and the new one (never synced): the document
/// vanished, which no prefix of the history explains. Compaction now syncs
/// the WAL before it drops anything.
#[test]
fn compaction_in_a_weak_durability_mode_never_drops_the_only_durable_version() {
    use vego::{Db, Document, Durability};
    for seed in 0..12 {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimFs::new(dir.path(), seed).unwrap();
        let opts = |storage| options(Durability::None, storage);
        let db = Db::open(dir.path(), opts(sim.clone())).unwrap();
        let c = db.collection("c").unwrap();
        for prefix in ["d", "e"] {
            c.insert_batch((0..10).map(|i| Document::new(format!("{prefix}{i}"), workload::vector(i))).collect())
                .unwrap();
            c.flush().unwrap(); // one segment each, durable
        }
        for i in 0..10 {
            c.upsert(Document::new(format!("d{i}"), workload::vector(100 + i))).unwrap();
            // not synced
        }
        c.compact().unwrap();
        sim.crash();
        drop(c);
        drop(db);
        sim.materialize(seed).unwrap();
        let db = Db::open(dir.path(), opts(Arc::new(StdStorage))).unwrap();
        let c = db.collection("c").unwrap();
        for i in 0..10 {
            let d = c.get(&format!("d{i}")).unwrap().unwrap_or_else(|| panic!("seed {seed}: d{i} vanished"));
            assert!(d.vector == workload::vector(i) || d.vector == workload::vector(100 + i), "seed {seed}");
        }
        assert_eq!(c.len(), 20, "seed {seed}");
        db.close().unwrap();
    }
}
