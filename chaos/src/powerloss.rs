//! The `powerloss` mode: run the workload on a [`SimFs`], cut the power at a
//! random storage call (during a write, a flush, a compaction, a WAL
//! rotation or checkpoint, or the recovery of the previous crash), pick a
//! post-crash disk state (unsynced data dropped, torn or zeroed; unsynced
//! directory operations kept or lost), reopen, and compare with the model:
//! every acknowledged operation must be there, the interrupted one whole or
//! not at all, and nothing else.

use std::path::Path;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vego::storage::Storage;
use vego::{Collection, Db, Durability, Options};

use crate::kill::COLLECTION;
use crate::simfs::SimFs;
use crate::workload::{self, Model, Op};
use crate::Summary;

/// WAL file size in the chaos runs: small, so rotations and checkpoints
/// happen every few dozen operations.
pub const WAL_FILE_BYTES: u64 = 1 << 16;

/// Cycles after which a run starts over with an empty database.
pub const EPOCH_CYCLES: u64 = 100;

/// Opens the workload's database over `storage`.
pub fn open_with(dir: &Path, storage: Arc<dyn Storage>) -> vego::Result<(Db, Collection)> {
    let opts = Options::default()
        .dimension(workload::DIM)
        .durability(Durability::Sync)
        .wal_file_bytes(WAL_FILE_BYTES)
        .storage(storage);
    let db = Db::open(dir, opts)?;
    let c = db.collection(COLLECTION)?;
    Ok((db, c))
}

/// Deletes everything inside `dir`.
pub(crate) fn empty_dir(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// The state a run carries from cycle to cycle.
pub(crate) struct Run {
    pub seed: u64,
    pub model: Model,
    pub ids: Vec<String>,
    pub next: u64,
    pub summary: Summary,
}

impl Run {
    pub fn new(mode: &'static str, seed: u64) -> Run {
        Run { seed, model: Model::new(), ids: workload::pool_ids(), next: 0, summary: Summary::new(mode) }
    }

    /// The next operation; its fresh ids join the checked set.
    pub fn take_op(&mut self) -> (u64, Op) {
        let i = self.next;
        self.next += 1;
        let op = workload::op(self.seed, i);
        self.ids.extend(op.fresh_ids());
        (i, op)
    }

    pub fn acked(&mut self, op: &Op) {
        workload::apply(&mut self.model, op);
        self.summary.acked += 1;
    }

    /// Every [`EPOCH_CYCLES`] cycles, starts over with an empty database
    /// (so that a long run's cycles stay cheap: compaction rebuilds the
    /// graph of everything).
    pub fn maybe_start_over(&mut self, dir: &Path) -> std::io::Result<()> {
        if self.summary.cycles == 0 || !self.summary.cycles.is_multiple_of(EPOCH_CYCLES) {
            return Ok(());
        }
        empty_dir(dir)?;
        self.model.clear();
        self.ids = workload::pool_ids();
        Ok(())
    }

    /// Reopens with the real file system and compares with the model.
    pub fn verify(&mut self, dir: &Path, in_flight: Option<&Op>) -> bool {
        let outcome = open_with(dir, Arc::new(vego::storage::StdStorage)).and_then(|(db, c)| {
            let r = workload::check(&c, &self.ids, &mut self.model, in_flight)?;
            drop(c);
            db.close()?;
            Ok(r)
        });
        match outcome {
            Ok((lost, corrupt)) => {
                self.summary.lost += lost;
                self.summary.corrupt += corrupt;
                lost + corrupt == 0
            }
            Err(e) => {
                eprintln!("{} cycle {}: reopen failed: {e}", self.summary.mode, self.summary.cycles);
                self.summary.corrupt += 1;
                false
            }
        }
    }
}

/// Runs `cycles` power losses in `dir` (which should start empty).
pub fn run(dir: &Path, cycles: u64, seed: u64, mut progress: impl FnMut(&Summary)) -> Summary {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x706f_7765_726c_6f73);
    let mut run = Run::new("powerloss", seed);
    for _ in 0..cycles {
        if let Err(e) = run.maybe_start_over(dir) {
            eprintln!("powerloss: cannot empty {}: {e}", dir.display());
            run.summary.corrupt += 1;
            break;
        }
        let sim = match SimFs::new(dir, rng.gen()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("powerloss cycle {}: cannot scan {}: {e}", run.summary.cycles, dir.display());
                run.summary.corrupt += 1;
                break;
            }
        };
        sim.crash_after(rng.gen_range(1..500));
        let mut in_flight = None;
        match open_with(dir, sim.clone()) {
            Ok((db, c)) => {
                for _ in 0..rng.gen_range(1..400) {
                    let (i, op) = run.take_op();
                    match workload::run(&c, &op) {
                        Ok(()) => run.acked(&op),
                        Err(e) => {
                            if !sim.crashed() {
                                eprintln!(
                                    "powerloss cycle {}: op {i} failed before the crash: {e}",
                                    run.summary.cycles
                                );
                                run.summary.corrupt += 1;
                            }
                            in_flight = Some(op);
                            break;
                        }
                    }
                }
                sim.crash();
                drop(c);
                drop(db);
            }
            // The power went off while recovering from the previous crash.
            Err(_) if sim.crashed() => {}
            Err(e) => {
                eprintln!("powerloss cycle {}: open failed: {e}", run.summary.cycles);
                run.summary.corrupt += 1;
                sim.crash();
            }
        }
        if let Err(e) = sim.materialize(rng.gen()) {
            eprintln!("powerloss cycle {}: cannot write the crashed state: {e}", run.summary.cycles);
            run.summary.corrupt += 1;
            break;
        }
        drop(sim);
        let ok = run.verify(dir, in_flight.as_ref());
        run.summary.cycles += 1;
        progress(&run.summary);
        if !ok {
            break;
        }
    }
    run.summary
}
