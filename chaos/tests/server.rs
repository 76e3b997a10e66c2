//! SIGKILL the HTTP server under concurrent upserts, deletes and queries (3
//! cycles), restart it, and check over HTTP that every acknowledged write is
//! there and nothing else; then a graceful SIGTERM stop and a last check.

use std::process::Command;

#[test]
fn sigkill_of_the_server_under_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let summary = vego_chaos::server::run(dir.path(), 3, 11, &child, &mut |line| eprintln!("{line}"));
    eprintln!("{summary}");
    assert_eq!(summary.cycles, 3, "{summary}");
    assert!(summary.clean(), "{summary}");
    assert!(summary.acked_upserts > 0, "the clients got acknowledgements: {summary}");
}

fn child(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vego-chaos"));
    cmd.arg("server-child").arg("--dir").arg(dir);
    cmd
}

#[test]
fn the_check_catches_a_lost_point_and_a_point_never_written() {
    // Guard against a check that cannot fail: behind the harness's back,
    // delete points after the restart (ids 0..100: the first upserts, some
    // of them acknowledged), or write one that was never sent.
    use serde_json::json;
    use vego_chaos::server::{run_with, COLLECTION};
    let path = format!("/collections/{COLLECTION}/points");
    let dir = tempfile::tempdir().unwrap();
    let drop_first = |c: &vego_chaos::server::Client, _next: u64| {
        let ids: Vec<u64> = (0..100).collect();
        c.ok("POST", &format!("{path}/delete?wait=true"), &json!({ "points": ids })).unwrap();
    };
    let s = run_with(dir.path(), 1, 11, &child, &mut |line| eprintln!("{line}"), &drop_first);
    assert!(s.lost > 0, "deleted acknowledged points went unnoticed: {s}");

    let dir = tempfile::tempdir().unwrap();
    let add_unsent = |c: &vego_chaos::server::Client, next: u64| {
        let p = json!({"id": next + 3, "vector": vec![0.5f32; vego_chaos::server::DIM], "payload": {}});
        c.ok("PUT", &format!("{path}?wait=true"), &json!({ "points": [p] })).unwrap();
    };
    let s = run_with(dir.path(), 1, 11, &child, &mut |line| eprintln!("{line}"), &add_unsent);
    assert!(s.corrupt > 0, "a point never written went unnoticed: {s}");
}

#[test]
fn points_are_pure_functions_of_seed_and_id() {
    use serde_json::json;
    use vego_chaos::server::{parse_point_id, payload, point_id, vector};
    assert_eq!(vector(1, 5), vector(1, 5));
    assert_ne!(vector(1, 5), vector(1, 6));
    assert_ne!(vector(1, 5), vector(2, 5));
    assert_ne!(payload(1, 5), payload(2, 5));
    // Integer ids and canonical UUIDs map back; the upper-case spelling
    // sent for every sixth id must come back canonical, so it does not.
    assert_eq!(point_id(1, 5), json!(5));
    assert_eq!(parse_point_id(1, &point_id(1, 5)), Some(5));
    assert_eq!(parse_point_id(1, &point_id(1, 9)), Some(9));
    assert_eq!(parse_point_id(1, &point_id(1, 6)), None);
    assert_eq!(parse_point_id(1, &json!(point_id(1, 6).as_str().unwrap().to_lowercase())), Some(6));
    assert_eq!(parse_point_id(1, &json!(6)), None, "a UUID point must not come back as an integer");
    assert_eq!(parse_point_id(2, &point_id(1, 9)), None);
}
