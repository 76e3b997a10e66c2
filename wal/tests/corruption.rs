//! Damage to bytes that were durable is reported as `Error::Corruption` (or
//! `IncompatibleFormat`), never silently skipped.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{log_files, payload, replay, write_log, Records};
use vego_wal::{encode_file_header, scan_file_bytes, Error, FileRole, SyncMode, Wal, WalOptions};

fn records(n: u64, len: usize) -> Records {
    (1..=n).map(|s| (s, payload(s, len))).collect()
}

fn record_offsets(path: &Path) -> Vec<u64> {
    let bytes = fs::read(path).unwrap();
    let scan = scan_file_bytes(&bytes, FileRole::Sealed, None).unwrap();
    scan.records.iter().map(|r| r.offset).collect()
}

fn flip(path: &Path, at: u64) {
    let mut b = fs::read(path).unwrap();
    b[at as usize] ^= 0x40;
    fs::write(path, b).unwrap();
}

fn expect_corruption(dir: &Path, file: &PathBuf, offset: u64) {
    match replay(dir, 0) {
        Err(Error::Corruption { file: f, offset: o, .. }) => {
            assert_eq!((&f, o), (file, offset));
        }
        other => panic!("expected corruption at {offset}, got {other:?}"),
    }
}

#[test]
fn flipped_byte_in_synced_record_of_last_file_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), WalOptions::default(), &records(10, 50));
    let file = common::only_file(dir.path());
    let offsets = record_offsets(&file);
    // Payload byte of record 3, then (on a fresh copy) its seq field.
    for delta in [40u64, 17] {
        let d2 = tempfile::tempdir().unwrap();
        let f2 = d2.path().join(file.file_name().unwrap());
        fs::copy(&file, &f2).unwrap();
        flip(&f2, offsets[2] + delta);
        expect_corruption(d2.path(), &f2, offsets[2]);
    }
}

#[test]
fn never_mode_watermark_after_sync_marks_earlier_records_durable() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions { sync: SyncMode::Never, ..WalOptions::default() };
    let (wal, _, _) = common::open_collect(dir.path(), opts, 0).unwrap();
    for s in 1..=3 {
        wal.append(s, payload(s, 30)).unwrap();
    }
    wal.sync().unwrap();
    for s in 4..=5 {
        wal.append(s, payload(s, 30)).unwrap();
    }
    wal.close().unwrap();
    let file = common::only_file(dir.path());
    let offsets = record_offsets(&file);
    let pristine = fs::read(&file).unwrap();

    // Record 2 was fsynced before record 4 was written: corruption.
    flip(&file, offsets[1] + 35);
    expect_corruption(dir.path(), &file, offsets[1]);

    // Record 4 was never fsynced: indistinguishable from a torn write.
    fs::write(&file, &pristine).unwrap();
    flip(&file, offsets[3] + 35);
    let (report, got) = replay(dir.path(), 0).unwrap();
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(report.torn_tail.unwrap().offset, offsets[3]);
}

#[test]
fn flipped_last_record_is_a_torn_tail_the_documented_blind_spot() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), WalOptions::default(), &records(4, 20));
    let file = common::only_file(dir.path());
    let offsets = record_offsets(&file);
    flip(&file, offsets[3] + 36);
    let (report, got) = replay(dir.path(), 0).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(report.torn_tail.unwrap().offset, offsets[3]);
}

fn rotated_log(dir: &Path) -> Vec<PathBuf> {
    let opts = WalOptions { file_bytes_max: 200, ..WalOptions::default() };
    write_log(dir, opts, &records(20, 40));
    let files = log_files(dir);
    assert!(files.len() >= 3, "{files:?}");
    files
}

#[test]
fn flipped_byte_in_sealed_file_is_corruption_even_in_its_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let files = rotated_log(dir.path());
    let offsets = record_offsets(&files[0]);
    let last = *offsets.last().unwrap();
    flip(&files[0], last + 40);
    expect_corruption(dir.path(), &files[0], last);
}

#[test]
fn truncated_sealed_file_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let files = rotated_log(dir.path());
    let len = fs::metadata(&files[1]).unwrap().len();
    fs::OpenOptions::new().write(true).open(&files[1]).unwrap().set_len(len - 3).unwrap();
    assert!(matches!(replay(dir.path(), 0), Err(Error::Corruption { file, .. }) if file == files[1]));
}

#[test]
fn gap_in_file_numbers_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let files = rotated_log(dir.path());
    fs::remove_file(&files[1]).unwrap();
    assert!(matches!(replay(dir.path(), 0), Err(Error::Corruption { file, .. }) if file == files[2]));
}

#[test]
fn header_naming_another_file_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(vego_wal::file_name(1)), encode_file_header(2)).unwrap();
    assert!(matches!(replay(dir.path(), 0), Err(Error::Corruption { offset: 16, .. })));
}

#[test]
fn unknown_major_version_is_incompatible() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = encode_file_header(1);
    h[8] = 2;
    let path = dir.path().join(vego_wal::file_name(1));
    fs::write(&path, h).unwrap();
    match replay(dir.path(), 0) {
        Err(Error::IncompatibleFormat { file, found: 2, supported: 1 }) => assert_eq!(file, path),
        other => panic!("{other:?}"),
    }
}

#[test]
fn foreign_files_are_ignored_and_temp_files_removed() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("LOCK"), b"x").unwrap();
    fs::write(dir.path().join("00000000000000000009.wal.tmp"), b"junk").unwrap();
    let (wal, _, _) = common::open_collect(dir.path(), WalOptions::default(), 0).unwrap();
    wal.close().unwrap();
    assert!(dir.path().join("LOCK").exists());
    assert!(!dir.path().join("00000000000000000009.wal.tmp").exists());
    assert_eq!(log_files(dir.path()).len(), 1);
}

#[test]
fn visit_error_aborts_open_and_is_returned() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), WalOptions::default(), &records(3, 5));
    #[derive(Debug)]
    enum MyErr {
        Wal,
        Stop(u64),
    }
    impl From<Error> for MyErr {
        fn from(_: Error) -> Self {
            MyErr::Wal
        }
    }
    let r =
        Wal::open(dir.path(), WalOptions::default(), 0, |seq, _| if seq == 2 { Err(MyErr::Stop(seq)) } else { Ok(()) });
    assert!(matches!(r, Err(MyErr::Stop(2))));
    let r = Wal::open(&dir.path().join(vego_wal::file_name(1)), WalOptions::default(), 0, |_, _| Ok::<(), MyErr>(()));
    assert!(matches!(r, Err(MyErr::Wal)));
}
