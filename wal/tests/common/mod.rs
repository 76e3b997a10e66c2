//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use vego_wal::{Error, RecoveryReport, Wal, WalOptions};

/// Records as replayed: (seq, payload).
pub type Records = Vec<(u64, Vec<u8>)>;

/// Opens the log and collects every replayed record.
pub fn open_collect(dir: &Path, opts: WalOptions, from_seq: u64) -> Result<(Wal, RecoveryReport, Records), Error> {
    let mut got = Vec::new();
    let (wal, report) = Wal::open(dir, opts, from_seq, |seq, p| {
        got.push((seq, p.to_vec()));
        Ok::<(), Error>(())
    })?;
    Ok((wal, report, got))
}

/// Opens, collects, and closes.
pub fn replay(dir: &Path, from_seq: u64) -> Result<(RecoveryReport, Records), Error> {
    let (wal, report, got) = open_collect(dir, WalOptions::default(), from_seq)?;
    wal.close()?;
    Ok((report, got))
}

/// Log files in `dir`, sorted.
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// The single log file in `dir`.
pub fn only_file(dir: &Path) -> PathBuf {
    let files = log_files(dir);
    assert_eq!(files.len(), 1, "expected one log file, got {files:?}");
    files[0].clone()
}

/// Deterministic payload for seq `seq` with `len` bytes.
pub fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize * 31 + i * 7) as u8).collect()
}

/// Writes `records` with one append each (so each record is its own batch)
/// and closes the log.
pub fn write_log(dir: &Path, opts: WalOptions, records: &Records) {
    let (wal, _, _) = open_collect(dir, opts, 0).unwrap();
    for (seq, p) in records {
        wal.append(*seq, p.clone()).unwrap();
    }
    wal.close().unwrap();
}

/// Proptest config with `cases` cases (overridable by the `PROPTEST_CASES`
/// environment variable, for soak runs) that stores regressions next to the
/// test source (the default looks for lib.rs, which integration tests lack).
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    proptest::test_runner::Config {
        cases,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..proptest::test_runner::Config::default()
    }
}
