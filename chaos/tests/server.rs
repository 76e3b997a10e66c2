//! SIGKILL the HTTP server under concurrent upserts, deletes and queries (3
//! cycles), restart it, and check over HTTP that every acknowledged write is
//! there and nothing else; then a graceful SIGTERM stop and a last check.

use std::process::Command;

#[test]
fn sigkill_of_the_server_under_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let child = |dir: &std::path::Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vego-chaos"));
        cmd.arg("server-child").arg("--dir").arg(dir);
        cmd
    };
    let summary = vego_chaos::server::run(dir.path(), 3, 11, &child, &mut |line| eprintln!("{line}"));
    eprintln!("{summary}");
    assert_eq!(summary.cycles, 3, "{summary}");
    assert!(summary.clean(), "{summary}");
    assert!(summary.acked_upserts > 0, "the clients got acknowledgements: {summary}");
}

#[test]
fn points_are_pure_functions_of_seed_and_id() {
    // Guard against a checker that cannot fail: payloads and vectors are
    // pure functions of (seed, id) and differ between ids and seeds.
    use vego_chaos::server::{payload, vector};
    assert_eq!(vector(1, 5), vector(1, 5));
    assert_ne!(vector(1, 5), vector(1, 6));
    assert_ne!(vector(1, 5), vector(2, 5));
    assert_ne!(payload(1, 5), payload(2, 5));
}
