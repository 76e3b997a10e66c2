//! Short runs of the concurrent modes (the README names the long ones):
//! four writers over two collections with flushes and compactions running,
//! power losses and I/O faults at random storage calls, in every durability
//! mode — every acknowledged write that must survive does, the store is one
//! cut of the history, and get, search and len agree.

use std::time::Duration;

use vego::Durability;
use vego_chaos::concurrent::{self, Mode};

fn check(mode: Mode, durability: Durability, cycles: u64, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let summary = concurrent::run(dir.path(), cycles, seed, mode, durability, |_| {});
    eprintln!("{durability:?}: {summary}");
    assert_eq!(summary.cycles, cycles, "{summary}");
    assert!(summary.clean(), "{durability:?}, seed {seed}: {summary}");
    assert!(summary.acked >= cycles * 20, "cycles ran real work: {summary}");
}

#[test]
fn concurrent_power_losses_lose_no_acknowledged_write_under_sync() {
    check(Mode::PowerLoss, Durability::Sync, 25, 1);
}

#[test]
fn concurrent_io_faults_lose_no_acknowledged_write_under_sync() {
    check(Mode::IoFault, Durability::Sync, 25, 2);
}

#[test]
fn concurrent_power_losses_recover_a_prefix_under_periodic_and_none() {
    check(Mode::PowerLoss, Durability::Periodic(Duration::from_millis(5)), 12, 3);
    check(Mode::PowerLoss, Durability::None, 12, 4);
}

#[test]
fn concurrent_io_faults_recover_a_prefix_under_periodic_and_none() {
    check(Mode::IoFault, Durability::Periodic(Duration::from_millis(5)), 12, 5);
    check(Mode::IoFault, Durability::None, 12, 6);
}
