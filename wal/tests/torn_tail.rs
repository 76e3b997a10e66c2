//! Truncation at any offset and lost unsynced pages are recovered as a torn
//! tail: the complete records before the damage survive, nothing after it is
//! replayed, and the log keeps working.

mod common;

use std::fs;
use std::path::Path;

use common::{open_collect, payload, replay, write_log, Records};
use proptest::prelude::*;
use vego_wal::{encode_record, scan_file_bytes, FileRole, SyncMode, WalOptions, FILE_HEADER_BYTES};

fn records(sizes: &[usize]) -> Records {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let seq = 10 + 3 * i as u64;
            (seq, payload(seq, n))
        })
        .collect()
}

/// Writes `recs` into a fresh log and returns the bytes of its only file.
fn log_bytes(recs: &Records, sync: SyncMode) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), WalOptions { sync, ..WalOptions::default() }, recs);
    fs::read(common::only_file(dir.path())).unwrap()
}

/// End offsets of the records in `bytes` (a complete, valid log file).
fn record_ends(bytes: &[u8]) -> Vec<u64> {
    let scan = scan_file_bytes(bytes, FileRole::Sealed, None).unwrap();
    scan.records.iter().map(|r| r.offset + r.header.total_bytes()).collect()
}

/// Opens a log whose only file holds `bytes[..cut]` and checks the recovery
/// outcome, then appends one more record and checks it survives a reopen.
fn check_cut(bytes: &[u8], recs: &Records, ends: &[u64], cut: usize) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(vego_wal::file_name(1));
    fs::write(&file, &bytes[..cut]).unwrap();
    let cut = cut as u64;

    let complete = ends.iter().filter(|&&e| e <= cut).count();
    let keep = if cut < FILE_HEADER_BYTES as u64 {
        0
    } else {
        ends[..complete].last().copied().unwrap_or(FILE_HEADER_BYTES as u64)
    };

    let (wal, report, got) =
        open_collect(dir.path(), WalOptions::default(), 0).unwrap_or_else(|e| panic!("cut {cut}: open failed: {e}"));
    assert_eq!(got, recs[..complete], "cut {cut}");
    // A file shorter than its header (even an empty one) never got its
    // header durably and is reported as torn.
    if keep == cut && cut >= FILE_HEADER_BYTES as u64 {
        assert_eq!(report.torn_tail, None, "cut {cut} is on a record boundary");
    } else {
        let torn = report.torn_tail.unwrap_or_else(|| panic!("cut {cut}: no torn tail"));
        assert_eq!((torn.offset, torn.bytes_dropped), (keep, cut - keep), "cut {cut}");
        assert_eq!(torn.file, file);
    }
    if complete == 0 {
        // No record: the file is cut back to a (fresh) header and appended to.
        assert_eq!(fs::metadata(&file).unwrap().len(), FILE_HEADER_BYTES as u64, "cut {cut}");
        assert_eq!(common::log_files(dir.path()).len(), 1, "cut {cut}");
    } else {
        // Records whose durability nothing proves: the log goes on in a new
        // file holding copies of them, and the old file is left as it was.
        assert_eq!(fs::metadata(&file).unwrap().len(), cut, "cut {cut}");
        assert_eq!(common::log_files(dir.path()).len(), 2, "cut {cut}");
    }

    let next = recs.last().map_or(1, |r| r.0 + 1);
    wal.append(next, b"after".to_vec()).unwrap();
    wal.close().unwrap();
    let (report, got) = replay(dir.path(), 0).unwrap();
    assert_eq!(report.torn_tail, None, "cut {cut}");
    let mut want = recs[..complete].to_vec();
    want.push((next, b"after".to_vec()));
    assert_eq!(got, want, "cut {cut}");
}

#[test]
fn truncation_at_every_byte_offset_recovers_the_complete_prefix() {
    let recs = records(&[0, 1, 5, 17, 32, 40, 3, 0, 64, 9]);
    let bytes = log_bytes(&recs, SyncMode::Always);
    let ends = record_ends(&bytes);
    assert_eq!(ends.len(), recs.len());
    for cut in 0..=bytes.len() {
        check_cut(&bytes, &recs, &ends, cut);
    }
}

proptest! {
    #![proptest_config(common::proptest_config(48))]

    #[test]
    fn truncation_at_random_offset_of_larger_log_recovers_the_complete_prefix(
        sizes in prop::collection::vec(0usize..3000, 1..40),
        never in any::<bool>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let recs = records(&sizes);
        let sync = if never { SyncMode::Never } else { SyncMode::Always };
        let bytes = log_bytes(&recs, sync);
        let ends = record_ends(&bytes);
        check_cut(&bytes, &recs, &ends, cut.index(bytes.len() + 1));
    }
}

fn write_file(dir: &Path, bytes: &[u8]) {
    fs::write(dir.join(vego_wal::file_name(1)), bytes).unwrap();
}

#[test]
fn zeroed_tail_is_truncated_not_corruption() {
    let recs = records(&[10, 20, 30, 40, 500, 600, 700, 800]);
    let bytes = log_bytes(&recs, SyncMode::Always);
    let ends = record_ends(&bytes);
    // Zero from the start of record 5, or from a sector boundary inside a
    // later record, to the end (unsynced sectors that never reached the
    // disk read back as zeros).
    let sector_in = |r: usize| (ends[r - 1] as usize / 512 + 1) * 512;
    for start in [ends[4] as usize, sector_in(6), sector_in(7)] {
        let mut b = bytes.clone();
        b[start..].fill(0);
        let dir = tempfile::tempdir().unwrap();
        write_file(dir.path(), &b);
        let (report, got) = replay(dir.path(), 0).unwrap();
        let complete = ends.iter().filter(|&&e| e as usize <= start).count();
        assert_eq!(got, recs[..complete]);
        let torn = report.torn_tail.expect("torn tail reported");
        assert_eq!(torn.offset, ends[complete - 1]);
        assert_eq!(torn.bytes_dropped, b.len() as u64 - torn.offset);
    }
}

#[test]
fn unsynced_hole_followed_by_persisted_unsynced_records_is_truncated() {
    // SyncMode::Never: no record was fsynced, so every watermark is the file
    // header end. A hole in record 3 with records 4.. intact models pages
    // persisted out of order; the hole is in the unsynced tail.
    let recs = records(&[1000, 1000, 1000, 1000, 1000, 1000]);
    let bytes = log_bytes(&recs, SyncMode::Never);
    let ends = record_ends(&bytes);
    let mut b = bytes.clone();
    // One sector inside record 3 never reached the disk.
    let sector = (ends[1] as usize / 512 + 1) * 512;
    assert!(sector + 512 <= ends[2] as usize);
    b[sector..sector + 512].fill(0);
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), &b);
    let (report, got) = replay(dir.path(), 0).unwrap();
    assert_eq!(got, recs[..2]);
    let torn = report.torn_tail.unwrap();
    assert_eq!(torn.offset, ends[1]);
}

#[test]
fn garbage_then_valid_looking_record_with_small_watermark_is_truncated() {
    let recs = records(&[5, 6, 7, 8, 9]);
    let mut b = log_bytes(&recs, SyncMode::Always);
    let end = b.len() as u64;
    b.extend((0..100u32).map(|i| (i * 37 + 11) as u8));
    // Claims the file was synced only through `end`, i.e. not past the
    // garbage, so the garbage is an unsynced tail.
    encode_record(&mut b, 1000, end, b"stale");
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), &b);
    let (report, got) = replay(dir.path(), 0).unwrap();
    assert_eq!(got, recs);
    let torn = report.torn_tail.unwrap();
    assert_eq!((torn.offset, torn.bytes_dropped), (end, b.len() as u64 - end));
}

#[test]
fn torn_header_of_only_file_is_rewritten() {
    for len in [0usize, 1, 8, 31] {
        let dir = tempfile::tempdir().unwrap();
        let header = vego_wal::encode_file_header(1);
        write_file(dir.path(), &header[..len]);
        let (wal, report, got) = open_collect(dir.path(), WalOptions::default(), 0).unwrap();
        assert!(got.is_empty());
        let torn = report.torn_tail.unwrap();
        assert_eq!((torn.offset, torn.bytes_dropped), (0, len as u64));
        wal.append(1, b"x".to_vec()).unwrap();
        wal.close().unwrap();
        assert_eq!(replay(dir.path(), 0).unwrap().1, vec![(1, b"x".to_vec())]);
    }
}
