//! Whatever is appended is replayed, exactly and in order, across reopen.

mod common;

use common::{open_collect, payload, replay, write_log, Records};
use proptest::prelude::*;
use vego_wal::{Error, SyncMode, WalOptions, RECORD_BYTES_MAX};

fn arb_records() -> impl Strategy<Value = Records> {
    prop::collection::vec((1u64..1000, prop::collection::vec(any::<u8>(), 0..4096)), 0..30).prop_map(|v| {
        let mut seq = 0;
        v.into_iter()
            .map(|(step, p)| {
                seq += step;
                (seq, p)
            })
            .collect()
    })
}

fn arb_sync() -> impl Strategy<Value = SyncMode> {
    prop_oneof![
        Just(SyncMode::Always),
        Just(SyncMode::Never),
        Just(SyncMode::Periodic(std::time::Duration::from_millis(1))),
    ]
}

proptest! {
    #![proptest_config(common::proptest_config(64))]

    #[test]
    fn random_record_sequences_replay_exactly(
        recs in arb_records(),
        sync in arb_sync(),
        file_bytes_max in prop_oneof![Just(1u64 << 26), 0u64..20_000],
        from_seq in 0u64..5000,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let opts = WalOptions { file_bytes_max, sync };
        // Submit all, then wait, so batches of several records form.
        let (wal, _, _) = open_collect(dir.path(), opts, 0).unwrap();
        let tickets: Vec<_> = recs.iter().map(|(s, p)| wal.submit(*s, p.clone()).unwrap()).collect();
        for t in tickets {
            t.wait().unwrap();
        }
        wal.close().unwrap();
        let (report, got) = replay(dir.path(), 0).unwrap();
        prop_assert_eq!(&got, &recs);
        prop_assert_eq!(report.torn_tail, None);
        prop_assert_eq!(report.last_seq, recs.last().map(|r| r.0));
        let (_, got) = replay(dir.path(), from_seq).unwrap();
        let want: Records = recs.iter().filter(|r| r.0 >= from_seq).cloned().collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn reopen_after_close_appends_after_existing_records() {
    let dir = tempfile::tempdir().unwrap();
    let first: Records = (1..=10).map(|s| (s, payload(s, 20))).collect();
    write_log(dir.path(), WalOptions::default(), &first);
    let (wal, report, got) = open_collect(dir.path(), WalOptions::default(), 0).unwrap();
    assert_eq!(got, first);
    assert_eq!(report.last_seq, Some(10));
    for s in 11..=20 {
        wal.append(s, payload(s, 20)).unwrap();
    }
    wal.close().unwrap();
    let (_, got) = replay(dir.path(), 0).unwrap();
    let want: Records = (1..=20).map(|s| (s, payload(s, 20))).collect();
    assert_eq!(got, want);
}

#[test]
#[should_panic(expected = "not greater than previous seq")]
fn reopened_log_refuses_seq_not_above_recovered_last_seq() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), WalOptions::default(), &vec![(5, vec![1])]);
    let (wal, _, _) = open_collect(dir.path(), WalOptions::default(), 0).unwrap();
    let _ = wal.submit(5, vec![2]);
}

#[test]
fn oversized_record_is_refused_without_poisoning() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open_collect(dir.path(), WalOptions::default(), 0).unwrap();
    let big = vec![0u8; RECORD_BYTES_MAX as usize + 1];
    assert!(matches!(
        wal.submit(1, big),
        Err(Error::RecordTooLarge { bytes, max }) if bytes == max + 1
    ));
    assert!(!wal.is_poisoned());
    // The refused seq was not consumed.
    wal.append(1, vec![0u8; RECORD_BYTES_MAX as usize]).unwrap();
    wal.close().unwrap();
    let (_, got) = replay(dir.path(), 0).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1.len(), RECORD_BYTES_MAX as usize);
}

#[test]
fn empty_directory_is_created_and_reopens_empty() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("nested/wal");
    let (wal, report, got) = open_collect(&dir, WalOptions::default(), 0).unwrap();
    assert!(got.is_empty());
    assert_eq!((report.files, report.records, report.last_seq), (1, 0, None));
    assert_eq!(wal.dir(), dir);
    wal.close().unwrap();
    let (report, _) = replay(&dir, 0).unwrap();
    assert_eq!((report.files, report.torn_tail), (1, None));
}

#[test]
fn sync_in_never_mode_makes_records_durable_and_counts_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions { sync: SyncMode::Never, ..WalOptions::default() };
    let (wal, _, _) = open_collect(dir.path(), opts, 0).unwrap();
    for s in 1..=50 {
        wal.append(s, payload(s, 10)).unwrap();
    }
    assert_eq!(wal.stats().fsyncs, 0);
    wal.sync().unwrap();
    wal.sync().unwrap(); // nothing new: no second fsync
    assert_eq!(wal.stats().fsyncs, 1);
    assert_eq!(wal.stats().records, 50);
    drop(wal);
    assert_eq!(replay(dir.path(), 0).unwrap().1.len(), 50);
}

#[test]
fn periodic_mode_fsyncs_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions { sync: SyncMode::Periodic(std::time::Duration::from_millis(20)), ..WalOptions::default() };
    let (wal, _, _) = open_collect(dir.path(), opts, 0).unwrap();
    wal.append(1, b"a".to_vec()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while wal.stats().fsyncs == 0 {
        assert!(std::time::Instant::now() < deadline, "no periodic fsync");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    wal.close().unwrap();
}
