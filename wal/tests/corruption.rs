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

    // Record 4 was never fsynced, but a flipped bit in a complete record is
    // not what a torn write looks like: still corruption.
    fs::write(&file, &pristine).unwrap();
    flip(&file, offsets[3] + 35);
    expect_corruption(dir.path(), &file, offsets[3]);

    // Record 5 cut short by the end of the file: a torn write.
    fs::write(&file, &pristine[..pristine.len() - 3]).unwrap();
    let (report, got) = replay(dir.path(), 0).unwrap();
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(report.torn_tail.unwrap().offset, offsets[4]);
}

/// Defect (issue 12, 5): a bit flip inside the last WAL record — an
/// acknowledged, fsynced write that no later record vouches for — was
/// treated as a torn write: the write disappeared and only
/// `recovery().torn_tail` showed it. A complete record (header intact, all
/// its bytes present, no zero sector) whose checksum fails is now
/// `Corruption` naming the file and offset.
#[test]
fn bit_flip_in_the_last_record_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), WalOptions::default(), &records(4, 20));
    let file = common::only_file(dir.path());
    let offsets = record_offsets(&file);
    let pristine = fs::read(&file).unwrap();
    for delta in [36u64, 16, 40] {
        fs::write(&file, &pristine).unwrap();
        flip(&file, offsets[3] + delta);
        expect_corruption(dir.path(), &file, offsets[3]);
    }
}

/// What a torn write of the last record looks like — a sector of it that
/// never reached the disk reads back as zeros — is still cut off as a torn
/// tail, whatever the sector.
#[test]
fn zero_sector_in_the_last_record_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), WalOptions::default(), &records(4, 3000));
    let file = common::only_file(dir.path());
    let offsets = record_offsets(&file);
    let pristine = fs::read(&file).unwrap();
    let (start, end) = (offsets[3], pristine.len() as u64);
    let mut sector = start / 512;
    while sector * 512 < end {
        let mut b = pristine.clone();
        let from = (sector * 512).max(start) as usize;
        let to = ((sector + 1) * 512).min(end) as usize;
        b[from..to].fill(0);
        let d2 = tempfile::tempdir().unwrap();
        fs::write(d2.path().join(file.file_name().unwrap()), &b).unwrap();
        let (report, got) = replay(d2.path(), 0).unwrap_or_else(|e| panic!("sector {sector}: {e}"));
        assert_eq!(got.len(), 3, "sector {sector}");
        assert_eq!(report.torn_tail.unwrap().offset, start, "sector {sector}");
        sector += 1;
    }
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
