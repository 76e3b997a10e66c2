//! 50 simulated power losses at random storage calls (mid-write, mid-flush,
//! mid-compaction, mid-rotation, mid-recovery): every acknowledged write
//! survives, the interrupted one is whole or absent, nothing else appears.

#[test]
fn power_loss_at_random_points_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let summary = vego_chaos::powerloss::run(dir.path(), 50, 11, |_| {});
    eprintln!("{summary}");
    assert_eq!(summary.cycles, 50, "{summary}");
    assert!(summary.clean(), "{summary}");
    assert!(summary.acked >= 500, "cycles ran real work: {summary}");
}
