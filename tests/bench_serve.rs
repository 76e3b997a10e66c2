//! `vego bench-serve` runs a short load against an in-process server and
//! reports every operation kind with zero errors (a smoke test: no timings
//! are asserted).
#![cfg(feature = "server")]

use std::process::Command;

use serde_json::Value as Json;

#[test]
fn bench_serve_runs_every_operation_without_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_vego"))
        .args(["bench-serve", "--seconds", "1", "--preload", "200", "--dim", "8", "--json"])
        .output()
        .expect("run vego bench-serve");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench-serve failed: {stdout}{stderr}");
    let report: Json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    assert_eq!(report["errors"], 0, "{report}");
    for kind in ["upsert", "query", "query_filtered"] {
        let op = &report["operations"][kind];
        assert!(op["requests"].as_u64().unwrap_or(0) > 0, "no {kind} requests: {report}");
        assert_eq!(op["errors"], 0, "{kind}: {report}");
    }
    // The preload and every acknowledged upsert are in the collection.
    assert!(report["points"].as_u64().unwrap_or(0) >= 200, "{report}");
}

#[test]
fn bench_serve_fails_against_no_server() {
    // A port that was free a moment ago: a connection failure is an error
    // and the exit status says so.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("http://127.0.0.1:{port}");
    let out = Command::new(env!("CARGO_BIN_EXE_vego"))
        .args(["bench-serve", "--addr", &addr, "--seconds", "1", "--preload", "0", "--dim", "8"])
        .output()
        .expect("run vego bench-serve");
    assert!(!out.status.success(), "bench-serve reported success without a server");
}
