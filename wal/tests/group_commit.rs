//! Concurrent appenders share writes and fsyncs.

mod common;

use std::sync::Arc;

use common::{open_collect, payload, replay};
use parking_lot::Mutex;
use vego_wal::{SyncMode, WalOptions};

#[test]
fn concurrent_appends_coalesce_fsyncs_and_all_replay() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions { sync: SyncMode::Always, ..WalOptions::default() };
    let (wal, _, _) = open_collect(dir.path(), opts, 0).unwrap();
    let wal = Arc::new(wal);
    // Stands in for the database's write lock: seq allocation and submit
    // happen under it, so seqs reach the log in increasing order.
    let next_seq = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let wal = Arc::clone(&wal);
            let next_seq = Arc::clone(&next_seq);
            std::thread::spawn(move || {
                for _ in 0..PER_THREAD {
                    let ticket = {
                        let mut seq = next_seq.lock();
                        *seq += 1;
                        wal.submit(*seq, payload(*seq, 64)).unwrap()
                    };
                    ticket.wait().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = wal.stats();
    let records = THREADS * PER_THREAD;
    assert_eq!(stats.records, records);
    assert!(stats.fsyncs < records, "no coalescing: {stats:?}");
    assert!(stats.batches < records, "no coalescing: {stats:?}");
    eprintln!("{stats:?}");
    Arc::try_unwrap(wal).unwrap().close().unwrap();

    let (_, got) = replay(dir.path(), 0).unwrap();
    let want: Vec<_> = (1..=records).map(|s| (s, payload(s, 64))).collect();
    assert_eq!(got, want);
}
