//! The `iofault` mode: each cycle arms one fault on a [`SimFs`] — EIO on a
//! write, ENOSPC (lasting a few calls), a short write, EIO on a file or
//! directory fsync, EIO on a rename — at a random storage call, runs the
//! workload through it, then cuts the power and checks the reopened store.
//!
//! Checked contracts:
//! * a failed operation returns an error, and reads keep working and show
//!   exactly the acknowledged writes;
//! * a write that fails with `Error::Io` was rolled back: it is not applied,
//!   before or after the crash, and later writes succeed once the fault
//!   clears;
//! * a failed WAL fsync is never followed by an acknowledged write until
//!   reopen (the write path is poisoned: no retrying an fsync as if the data
//!   were safe), and the write it hit is reported failed;
//! * after the power loss, every acknowledged write is there; the one write
//!   whose fate the fault left unknown is there whole or not at all.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::powerloss::{open_with, Run};
use crate::simfs::{Fault, FaultPlan, SimFs};
use crate::workload;
use crate::Summary;

/// What a run injected, beyond the summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Faults that fired, by kind (in [`Fault::ALL`] order).
    pub fired: [u64; 6],
    /// Operations that returned an error.
    pub errors: u64,
    /// Writes acknowledged after an earlier write in the same session had
    /// failed (the fault cleared and writing resumed without a reopen).
    pub resumed: u64,
    /// Sessions whose write path was poisoned by a failed fsync.
    pub poisoned: u64,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fired: Vec<String> = Fault::ALL.iter().zip(self.fired).map(|(k, n)| format!("{k:?} {n}")).collect();
        write!(
            f,
            "faults fired: {}; {} errors returned, {} writes acknowledged after a failed write, {} sessions poisoned",
            fired.join(", "),
            self.errors,
            self.resumed,
            self.poisoned
        )
    }
}

/// Runs `cycles` fault cycles in `dir` (which should start empty).
pub fn run(dir: &Path, cycles: u64, seed: u64, mut progress: impl FnMut(&Summary)) -> (Summary, Counts) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x0069_6f66_6175_6c74);
    let mut run = Run::new("iofault", seed);
    let mut counts = Counts::default();
    let wal_dir = dir.join("wal");
    for _ in 0..cycles {
        let cycle = run.summary.cycles;
        let fail = |run: &mut Run, why: String| {
            eprintln!("iofault cycle {cycle}: {why}");
            run.summary.corrupt += 1;
        };
        if let Err(e) = run.maybe_start_over(dir) {
            fail(&mut run, format!("cannot empty {}: {e}", dir.display()));
            break;
        }
        let sim = match SimFs::new(dir, rng.gen()) {
            Ok(s) => s,
            Err(e) => {
                fail(&mut run, format!("cannot scan {}: {e}", dir.display()));
                break;
            }
        };
        let (db, c) = match open_with(dir, sim.clone()) {
            Ok(x) => x,
            Err(e) => {
                fail(&mut run, format!("open failed: {e}"));
                break;
            }
        };
        let kind = Fault::ALL[rng.gen_range(0..Fault::ALL.len())];
        let times = if kind == Fault::Enospc { rng.gen_range(1..6) } else { 1 };
        sim.arm(FaultPlan { after_ops: rng.gen_range(0..150), kind, times });
        let mut uncertain = None;
        let mut poisoned = false;
        let mut failed_write = false;
        for _ in 0..rng.gen_range(20..200) {
            let (i, op) = run.take_op();
            let hits_before = sim.hits().len();
            let result = workload::run(&c, &op);
            // A log file's fsync, not a new file's under its temp name (that
            // file is never named, so nothing depends on it: the batch or the
            // trim that created it just fails).
            let wal_fsync_failed = sim.hits()[hits_before..].iter().any(|h| {
                h.kind == Fault::FsyncEio && h.path.starts_with(&wal_dir) && !h.path.to_string_lossy().ends_with(".tmp")
            });
            match result {
                Ok(()) => {
                    if op.is_write() && (poisoned || wal_fsync_failed) {
                        fail(&mut run, format!("write {i} acknowledged after its WAL fsync failed"));
                    }
                    if op.is_write() && failed_write && !poisoned {
                        counts.resumed += 1;
                    }
                    run.acked(&op);
                }
                Err(e) => {
                    counts.errors += 1;
                    if op.is_write() && !poisoned {
                        failed_write = true;
                        if !matches!(e, vego::Error::Io { .. }) {
                            // The record's fate is unknown; nothing may be
                            // written after it until reopen.
                            uncertain = Some(op.clone());
                            poisoned = true;
                            counts.poisoned += 1;
                        }
                    }
                    // Reads work and show exactly the acknowledged writes.
                    match workload::read_back(&c, &run.ids) {
                        Ok((found, damaged)) if found == run.model && damaged.is_empty() => {}
                        Ok(_) => fail(&mut run, format!("after op {i} failed ({e}), reads differ from the model")),
                        Err(e2) => fail(&mut run, format!("after op {i} failed ({e}), reads fail: {e2}")),
                    }
                }
            }
            if wal_fsync_failed {
                poisoned = true;
            }
        }
        for h in sim.hits() {
            counts.fired[Fault::ALL.iter().position(|k| *k == h.kind).expect("known kind")] += 1;
        }
        sim.crash();
        drop(c);
        drop(db);
        if let Err(e) = sim.materialize(rng.gen()) {
            fail(&mut run, format!("cannot write the crashed state: {e}"));
            break;
        }
        drop(sim);
        let ok = run.verify(dir, uncertain.as_ref());
        run.summary.cycles += 1;
        progress(&run.summary);
        if !ok || !run.summary.clean() {
            break;
        }
    }
    (run.summary, counts)
}
