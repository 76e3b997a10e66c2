//! 50 fault cycles (EIO on write / fsync / directory fsync / rename, ENOSPC,
//! short writes), each ended by a power loss: errors reach the caller, reads
//! keep working, writes resume after write faults and stop after a failed
//! fsync, and nothing acknowledged is lost.

use vego_chaos::simfs::Fault;

#[test]
fn io_faults_are_reported_and_lose_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, counts) = vego_chaos::iofault::run(dir.path(), 50, 5, |_| {});
    eprintln!("{summary}\n{counts}");
    assert_eq!(summary.cycles, 50, "{summary}");
    assert!(summary.clean(), "{summary}");
    // The harness really injected every kind of fault, callers saw errors,
    // writing resumed after write faults and failed fsyncs poisoned.
    for (kind, n) in Fault::ALL.iter().zip(counts.fired) {
        assert!(n > 0, "{kind:?} never fired: {counts}");
    }
    assert!(counts.errors > 0 && counts.resumed > 0 && counts.poisoned > 0, "{counts}");
}
