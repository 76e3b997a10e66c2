//! Rotation by size, and checkpoints deleting exactly the fully covered files.

mod common;

use std::fs;

use common::{log_files, open_collect, payload, replay, Records};
use vego_wal::{scan_file_bytes, FileRole, WalOptions, FILE_HEADER_BYTES};

/// Max seq of every log file in `dir` (None for a file without records).
fn max_seqs(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Option<u64>)> {
    let files = log_files(dir);
    let n = files.len();
    files
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let bytes = fs::read(&p).unwrap();
            let role = if i + 1 == n { FileRole::Last } else { FileRole::Sealed };
            let scan = scan_file_bytes(&bytes, role, None).unwrap();
            (p, scan.records.last().map(|r| r.header.seq))
        })
        .collect()
}

#[test]
fn rotation_respects_file_bytes_max_and_replays_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions { file_bytes_max: 300, ..WalOptions::default() };
    let (wal, _, _) = open_collect(dir.path(), opts.clone(), 0).unwrap();
    let recs: Records = (1..=30).map(|s| (s * 2, payload(s, 50))).collect();
    for (s, p) in &recs {
        wal.append(*s, p.clone()).unwrap();
    }
    // A single record larger than file_bytes_max is still accepted.
    wal.append(100, payload(100, 1000)).unwrap();
    wal.close().unwrap();
    let files = log_files(dir.path());
    assert!(files.len() > 5, "{} files", files.len());
    for f in &files[..files.len() - 1] {
        let len = fs::metadata(f).unwrap().len();
        // Rotation happens before a batch once the limit is reached, so a
        // sealed file overshoots by less than one batch (here one record).
        assert!(len > FILE_HEADER_BYTES as u64, "{f:?} is empty");
        assert!(len < 300 + 82, "{f:?} has {len} bytes");
    }
    let (report, got) = replay(dir.path(), 0).unwrap();
    let mut want = recs.clone();
    want.push((100, payload(100, 1000)));
    assert_eq!(got, want);
    // The last file held records, so open continued the log in a new one.
    assert_eq!(report.files as usize, files.len() + 1);
    assert_eq!(report.last_seq, Some(100));
}

#[test]
fn checkpoint_deletes_exactly_the_covered_files_and_replay_from_seq_works() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions { file_bytes_max: 250, ..WalOptions::default() };
    let (wal, _, _) = open_collect(dir.path(), opts.clone(), 0).unwrap();
    let recs: Records = (1..=40).map(|s| (s, payload(s, 40))).collect();
    for (s, p) in &recs {
        wal.append(*s, p.clone()).unwrap();
    }
    wal.sync().unwrap();

    for upto in [0u64, 7, 8, 23, 40, 1000] {
        let before = max_seqs(dir.path());
        let active = before.last().unwrap().0.clone();
        // Deletable: the longest prefix of sealed files whose max seq <= upto.
        let deleted: Vec<_> = before[..before.len() - 1]
            .iter()
            .take_while(|(_, m)| m.is_none_or(|m| m <= upto))
            .map(|(p, _)| p.clone())
            .collect();
        wal.checkpoint(upto).unwrap();
        // The writer trims a covered active file asynchronously; a sync is
        // served after it.
        wal.sync().unwrap();
        let after = log_files(dir.path());
        if before.last().unwrap().1.is_some_and(|m| m <= upto) {
            // Every record is covered: the active file was rotated away and
            // deleted, leaving only a fresh, empty one.
            assert_eq!(after.len(), 1, "checkpoint({upto}): {after:?}");
            assert_ne!(after[0], active, "checkpoint({upto})");
            assert_eq!(fs::metadata(&after[0]).unwrap().len(), FILE_HEADER_BYTES as u64);
            continue;
        }
        let expected: Vec<_> = before.iter().map(|(p, _)| p.clone()).filter(|p| !deleted.contains(p)).collect();
        assert_eq!(after, expected, "checkpoint({upto})");
        assert!(after.contains(&active), "active file must survive");
    }

    // Everything but the active file is gone; replay from a seq.
    wal.append(41, payload(41, 40)).unwrap();
    wal.close().unwrap();
    let first_kept = {
        let (_, got) = replay(dir.path(), 0).unwrap();
        got[0].0
    };
    let (_, got) = replay(dir.path(), 39).unwrap();
    let want: Vec<u64> = (39.max(first_kept)..=41).collect();
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), want);
}

#[test]
fn checkpoint_midway_then_replay_from_checkpoint_seq() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions { file_bytes_max: 200, ..WalOptions::default() };
    let (wal, _, _) = open_collect(dir.path(), opts.clone(), 0).unwrap();
    for s in 1..=30 {
        wal.append(s, payload(s, 30)).unwrap();
    }
    wal.checkpoint(15).unwrap();
    wal.close().unwrap();
    let (report, got) = replay(dir.path(), 16).unwrap();
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), (16..=30).collect::<Vec<_>>());
    // Some records <= 15 may remain in the first kept file; none was lost.
    assert!(report.records >= 15);
    assert_eq!(report.replayed, 15);
}
