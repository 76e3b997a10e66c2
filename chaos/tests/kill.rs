//! SIGKILL a writer process at random points (24 cycles), reopen, and check
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
    let summary = vego_chaos::kill::run(dir.path(), 24, 7, &child, |_| {});
    eprintln!("{summary}");
    assert_eq!(summary.cycles, 24, "{summary}");
    assert_eq!((summary.lost, summary.corrupt), (0, 0), "{summary}");
    assert!(summary.acked >= 24, "every cycle acknowledged something: {summary}");
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
