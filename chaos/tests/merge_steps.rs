//! Issue 15: a merge killed midway must lose nothing and leave no file in
//! use. An explicit merge and a partial one (which keeps tombstones) are
//! each interrupted at every one of their storage calls — by a power cut
//! and by each kind of I/O fault — and the reopened store must hold exactly
//! the documents it held before, no unused file, and merge again.

#[test]
fn a_merge_interrupted_at_any_storage_call_loses_nothing_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let seed = 7;
    let (summary, counts) = vego_chaos::merge_steps::run(dir.path(), seed, |_| {});
    eprintln!("{summary}\n{counts}");
    assert!(summary.clean(), "seed {seed}: {summary}");
    // Both merges write and sync a segment and a manifest: each has steps,
    // and every step was cut and faulted.
    assert!(counts.steps.iter().all(|&s| s >= 8), "{counts}");
    let steps: u64 = counts.steps.iter().sum();
    assert_eq!(counts.power_cuts, steps, "{counts}");
    assert_eq!(counts.faults_armed, steps * 6, "{counts}");
    assert!(counts.faults_fired > steps, "faults hit the merges: {counts}");
    assert_eq!(summary.cycles, 2 + steps * 7, "{summary}");
}
