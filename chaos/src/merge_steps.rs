//! The `merge-steps` mode: a merge interrupted at every one of its storage
//! calls, by a power cut and by each kind of I/O fault.
//!
//! A base database (three segments holding updates and deletes of each
//! other's documents, plus acknowledged writes still only in the WAL) is
//! built once. Each cycle copies it, opens the copy on a [`SimFs`], and runs
//! one of two merges through to close:
//! * `explicit`: `compact()` of every segment (tombstones dropped);
//! * `partial`: a flush makes a third segment, and the policy merges the
//!   two newest in the background — a run that leaves the oldest segment
//!   out, so it must keep the tombstones of the ids that segment holds.
//!
//! The first cycle of each merge counts its storage calls; then, for every
//! call `i`, one cycle cuts the power at `i` and one cycle per
//! [`Fault`] kind fails the first matching call from `i` on. After each,
//! the power goes off, a post-crash disk state is chosen, and the reopened
//! store must hold exactly the base's documents (a merge loses nothing and
//! resurrects nothing), have no file left that it does not use, and still
//! merge to completion.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vego::storage::Storage;
use vego::{CompactionPolicy, Db, Document, Durability, Merge, MergeReason, Options, SegmentInfo};

use crate::powerloss::empty_dir;
use crate::simfs::{Fault, FaultPlan, SimFs};
use crate::Summary;

const DIM: usize = 8;
const COLLECTION: &str = "steps";
/// Documents per base segment.
const ROWS_PER_SEGMENT: u64 = 120;

/// The two merges a cycle can interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `compact()` of every segment.
    Explicit,
    /// A background merge of the two newest of three segments.
    Partial,
}

/// Merges the two newest segments once there are three (the `partial`
/// merge); never merges otherwise.
#[derive(Debug)]
struct NewestPairAtThree;

impl CompactionPolicy for NewestPairAtThree {
    fn choose(&self, segments: &[SegmentInfo]) -> Option<Merge> {
        (segments.len() == 3).then(|| Merge::new(0, 2, MergeReason::Custom))
    }
}

/// Never merges in the background.
#[derive(Debug)]
struct Never;

impl CompactionPolicy for Never {
    fn choose(&self, _segments: &[SegmentInfo]) -> Option<Merge> {
        None
    }
}

fn options(storage: Arc<dyn Storage>, policy: impl CompactionPolicy + 'static) -> Options {
    Options::default()
        .dimension(DIM)
        .durability(Durability::Sync)
        .wal_file_bytes(1 << 16)
        .storage(storage)
        .compaction_policy(policy)
}

fn vector(seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..DIM).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// What the base database holds: id → vector.
type Model = BTreeMap<String, Vec<f32>>;

/// Builds the base in `base`: for `kind`, three segments (explicit) or two
/// (partial; the third comes from the flush the cycle runs), each deleting
/// and replacing documents of the older ones, then writes left in the WAL.
fn build_base(base: &Path, kind: Kind, seed: u64) -> vego::Result<Model> {
    let db = Db::open(base, options(Arc::new(vego::storage::StdStorage), Never))?;
    let c = db.collection(COLLECTION)?;
    let mut model = Model::new();
    let mut rng = StdRng::seed_from_u64(seed);
    let segments = if kind == Kind::Explicit { 3 } else { 2 };
    for s in 0..=segments {
        let fresh: Vec<Document> =
            (0..ROWS_PER_SEGMENT).map(|i| Document::new(format!("s{s}-{i}"), vector(seed ^ (s * 1000 + i)))).collect();
        for d in &fresh {
            model.insert(d.id.clone(), d.vector.clone());
        }
        c.insert_batch(fresh)?;
        let older: Vec<String> = model.keys().filter(|k| !k.starts_with(&format!("s{s}-"))).cloned().collect();
        for id in &older {
            match rng.gen_range(0..20) {
                0..=2 => {
                    c.delete(id)?;
                    model.remove(id);
                }
                3..=5 => {
                    let v = vector(rng.gen());
                    c.upsert(Document::new(id.clone(), v.clone()))?;
                    model.insert(id.clone(), v);
                }
                _ => {}
            }
        }
        // The last round stays in the WAL: the cycle replays it.
        if s < segments {
            c.flush()?;
        }
    }
    drop(c);
    db.close()?;
    Ok(model)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// One session on `sim`: open, run the merge of `kind`, close. Errors are
/// expected once a crash or fault hits; they end the session.
fn session(dir: &Path, sim: &Arc<SimFs>, kind: Kind) {
    let storage: Arc<dyn Storage> = sim.clone();
    let opened = match kind {
        Kind::Explicit => Db::open(dir, options(storage, Never)),
        Kind::Partial => Db::open(dir, options(storage, NewestPairAtThree)),
    };
    let Ok(db) = opened else { return };
    let Ok(c) = db.collection(COLLECTION) else { return };
    match kind {
        Kind::Explicit => drop(c.compact()),
        Kind::Partial => {
            if c.flush().is_ok() {
                // The background merge takes the two newest of three —
                // unless a crash or a fault stops it (a fault ends it at
                // once, with an error no one waits for; close gives up
                // whatever is left of it).
                let deadline = Instant::now() + Duration::from_secs(60);
                let stopped = || sim.crashed() || !sim.hits().is_empty();
                while c.stats().segments != 2 && !stopped() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    drop(c);
    let _ = db.close();
}

/// The names of the files in `dir/segments`.
fn segment_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("segments")) else { return Vec::new() };
    entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()
}

/// Reopens `dir` on the real file system; problems found, described.
fn check(dir: &Path, model: &Model) -> Vec<String> {
    let mut problems = Vec::new();
    let db = match Db::open(dir, options(Arc::new(vego::storage::StdStorage), Never)) {
        Ok(db) => db,
        Err(e) => return vec![format!("reopen failed: {e}")],
    };
    let c = match db.collection(COLLECTION) {
        Ok(c) => c,
        Err(e) => return vec![format!("collection missing: {e}")],
    };
    let mut verify = |when: &str, c: &vego::Collection| {
        for (id, v) in model {
            match c.get(id) {
                Ok(Some(d)) if &d.vector == v => {}
                Ok(Some(_)) => problems.push(format!("{when}: {id} has another vector")),
                Ok(None) => problems.push(format!("{when}: {id} lost")),
                Err(e) => problems.push(format!("{when}: get {id}: {e}")),
            }
        }
        let ids = c.snapshot().ids(None).unwrap_or_default();
        if ids.len() != model.len() || ids.iter().any(|id| !model.contains_key(id)) {
            problems.push(format!("{when}: {} ids listed, {} expected", ids.len(), model.len()));
        }
        let files = segment_files(dir);
        let in_use = c.stats().segments as usize;
        if files.len() != in_use || files.iter().any(|f| !f.ends_with(".vseg")) {
            problems.push(format!("{when}: {in_use} segments in use, files {files:?}"));
        }
    };
    verify("after the crash", &c);
    // The interrupted merge can be done again, and loses nothing either.
    match c.compact() {
        Ok(_) => verify("after a merge", &c),
        Err(e) => problems.push(format!("compact after the crash: {e}")),
    }
    drop(c);
    if let Err(e) = db.close() {
        problems.push(format!("close: {e}"));
    }
    problems
}

/// What `run` did, beyond the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Storage calls of the uninterrupted explicit and partial merges.
    pub steps: [u64; 2],
    /// Cycles with a power cut at a step.
    pub power_cuts: u64,
    /// Cycles with an I/O fault armed at a step.
    pub faults_armed: u64,
    /// Faults that fired.
    pub faults_fired: u64,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "merge steps: explicit {}, partial {}; {} power cuts, {} faults armed ({} fired)",
            self.steps[0], self.steps[1], self.power_cuts, self.faults_armed, self.faults_fired
        )
    }
}

/// One interruption of a cycle.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// Count the steps: nothing interrupts the session.
    None,
    Power(u64),
    Fault(u64, Fault),
}

/// Runs every interruption of both merges in `dir` (which should start
/// empty); `progress` sees the summary after each cycle.
pub fn run(dir: &Path, seed: u64, mut progress: impl FnMut(&Summary)) -> (Summary, Counts) {
    let mut summary = Summary::new("merge-steps");
    let mut counts = Counts::default();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6d65_7267_6573);
    let (base, work) = (dir.join("base"), dir.join("work"));
    for (k, kind) in [Kind::Explicit, Kind::Partial].into_iter().enumerate() {
        let _ = std::fs::remove_dir_all(&base);
        let model = match build_base(&base, kind, seed) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("merge-steps: cannot build the {kind:?} base: {e}");
                summary.corrupt += 1;
                return (summary, counts);
            }
        };
        let mut cuts = vec![Cut::None];
        let mut i = 0;
        while i < cuts.len() {
            let cut = cuts[i];
            i += 1;
            let ok = (|| -> std::io::Result<bool> {
                let _ = std::fs::remove_dir_all(&work);
                copy_dir(&base, &work)?;
                let sim = SimFs::new(&work, rng.gen())?;
                let start = sim.ops();
                match cut {
                    Cut::None => {}
                    Cut::Power(at) => sim.crash_after(at),
                    Cut::Fault(at, kind) => sim.arm(FaultPlan { after_ops: at - 1, kind, times: 1 }),
                }
                session(&work, &sim, kind);
                if let Cut::None = cut {
                    let steps = sim.ops() - start;
                    counts.steps[k] = steps;
                    for at in 1..=steps {
                        cuts.push(Cut::Power(at));
                        cuts.extend(Fault::ALL.iter().map(|&f| Cut::Fault(at, f)));
                    }
                }
                match cut {
                    Cut::Power(_) => counts.power_cuts += 1,
                    Cut::Fault(..) => {
                        counts.faults_armed += 1;
                        counts.faults_fired += sim.hits().len() as u64;
                    }
                    Cut::None => {}
                }
                sim.crash();
                sim.materialize(rng.gen())?;
                drop(sim);
                let problems = check(&work, &model);
                for p in &problems {
                    eprintln!("merge-steps {kind:?} {cut:?} (seed {seed}): {p}");
                }
                summary.lost += problems.iter().filter(|p| p.contains("lost")).count() as u64;
                summary.corrupt += problems.iter().filter(|p| !p.contains("lost")).count() as u64;
                Ok(problems.is_empty())
            })();
            summary.acked += model.len() as u64;
            summary.cycles += 1;
            progress(&summary);
            match ok {
                Ok(true) => {}
                Ok(false) => return (summary, counts),
                Err(e) => {
                    eprintln!("merge-steps {kind:?} {cut:?}: {e}");
                    summary.corrupt += 1;
                    return (summary, counts);
                }
            }
        }
    }
    let _ = empty_dir(dir);
    (summary, counts)
}
