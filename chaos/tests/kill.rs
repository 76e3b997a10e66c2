//! SIGKILL a writer process at random points (50 cycles), reopen, and check
//! that every acknowledged insert / update / delete / batch is there and
//! nothing else is.

use std::process::Command;

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_vego-chaos");
    let child = |dir: &std::path::Path, seed: u64, start: u64| {
        let mut cmd = Command::new(exe);
        cmd.arg("child").arg("--dir").arg(dir).arg("--seed").arg(seed.to_string());
        cmd.arg("--start").arg(start.to_string());
        cmd
    };
    let summary = vego_chaos::kill::run(dir.path(), 50, 7, &child, |_| {});
    eprintln!("{summary}");
    assert_eq!(summary.cycles, 50, "{summary}");
    assert_eq!((summary.lost, summary.corrupt), (0, 0), "{summary}");
    assert!(summary.acked >= 50, "every cycle acknowledged something: {summary}");
}

#[test]
fn the_model_detects_a_lost_write() {
    // Guard against a checker that cannot fail: a store missing an
    // acknowledged document must not match the model.
    use vego_chaos::workload::{apply, op, read_back, Model};
    let dir = tempfile::tempdir().unwrap();
    let (db, c) = vego_chaos::kill::open(dir.path()).unwrap();
    let mut model = Model::new();
    for i in 0..50 {
        let o = op(3, i);
        vego_chaos::workload::run(&c, &o).unwrap();
        apply(&mut model, &o);
    }
    let ids = vego_chaos::workload::ids(3, 50);
    assert_eq!(read_back(&c, &ids).unwrap().0, model);
    let victim = model.keys().next().unwrap().clone();
    c.delete(&victim).unwrap();
    assert_ne!(read_back(&c, &ids).unwrap().0, model);
    db.close().unwrap();
}

#[test]
fn sigkill_during_compaction_loses_nothing_and_leaves_no_files() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::Duration;
    use vego_chaos::workload::{apply, op, read_back, Model};

    // A store with several segments and many versions to merge.
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    {
        let (db, c) = vego_chaos::kill::open(dir.path()).unwrap();
        for i in 0..400u64 {
            let o = op(5, i);
            if matches!(o, vego_chaos::workload::Op::Compact) {
                continue;
            }
            vego_chaos::workload::run(&c, &o).unwrap();
            apply(&mut model, &o);
        }
        db.close().unwrap();
    }
    let ids = vego_chaos::workload::ids(5, 400);
    for cycle in 0..8u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vego-chaos"))
            .arg("compact-child")
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for _ in 0..=cycle % 3 {
            assert_eq!(lines.next().unwrap().unwrap(), "compacting", "cycle {cycle}");
        }
        // Somewhere inside (or just after) the compaction that just started.
        std::thread::sleep(Duration::from_micros(500 + cycle * 3_000));
        child.kill().unwrap();
        child.wait().unwrap();
        let (db, c) = vego_chaos::kill::open(dir.path()).unwrap();
        let (found, damaged) = read_back(&c, &ids).unwrap();
        assert_eq!(found, model, "cycle {cycle}: contents changed");
        assert!(damaged.is_empty(), "cycle {cycle}: damaged documents {damaged:?}");
        let files = std::fs::read_dir(dir.path().join("segments")).unwrap().count() as u64;
        assert_eq!(files, c.stats().segments, "cycle {cycle}: leftover segment files after open");
        drop(c);
        db.close().unwrap();
    }
}
