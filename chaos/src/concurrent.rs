//! The concurrent modes (`powerloss --concurrent`, `iofault --concurrent`):
//! several writer threads across two collections, with flushes and
//! compactions running beside them, on a [`SimFs`] that cuts the power (or
//! injects one I/O fault) at a random storage call — so faults land during
//! group commits, flush and merge installs, WAL rotations and checkpoints,
//! with other writes in flight. One writer at a time never meets those.
//!
//! Each writer owns its ids, so its operations form a sequential history of
//! their own, and each operation is bracketed by sequence numbers: `lo`, the
//! collection's visible seq before the call (the write's seq is above it),
//! and `hi`, the visible seq once acknowledged (the write's seq is at or
//! below it: read-your-writes). After every power loss the reopened store
//! must be explained by **one cut** `C` of the global history: for every
//! writer, its ids hold exactly the state after its operations with
//! seq ≤ C — a prefix of its history — where
//! * under `Durability::Sync` the prefix holds every acknowledged operation
//!   (the interrupted one whole or not at all);
//! * under `Periodic` and `None` it holds at least every operation
//!   acknowledged before a `flush()` that returned (the only sync points the
//!   contract names), and may lose any suffix after that — but never a
//!   write while keeping a later one (the prefix must be a common cut).
//!
//! Besides the states: every document `get` finds must also be found by a
//! search for its own vector and in a search for everything (exactly once),
//! and `len()` must count exactly them. A failed write that reports `Io`
//! was rolled back and must never appear; after a failed WAL fsync no write
//! may be acknowledged until reopen.
//!
//! In `iofault --concurrent` half the cycles replay the fsyncgate sequence
//! after the fault: reopen on the same disk (the page cache still shows what
//! failed), write more, then cut the power and reopen.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vego::storage::Storage;
use vego::{Collection, CollectionConfig, Db, Document, Durability, Error, Options, Value};

use crate::simfs::{Fault, FaultPlan, SimFs};
use crate::{workload, Summary};

/// Writer threads.
pub const WRITERS: usize = 4;
/// Ids each writer reuses for upserts, updates and deletes.
pub const POOL: u64 = 12;
/// The collections; writer `w` writes `COLLECTIONS[w % 2]`.
pub const COLLECTIONS: [&str; 2] = ["a", "b"];
/// Cycles after which a run starts over with an empty database.
pub const EPOCH_CYCLES: u64 = 50;

/// What ends a cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The power goes off at a random storage call.
    PowerLoss,
    /// One I/O fault at a random storage call, then (maybe a second session
    /// on the same disk, then) the power goes off.
    IoFault,
}

/// One writer operation on the writer's own ids.
#[derive(Clone, Debug, PartialEq)]
enum Op {
    Upsert(Vec<(String, u64)>),
    Insert(Vec<(String, u64)>),
    Update(String, u64),
    Delete(Vec<String>),
}

type State = BTreeMap<String, u64>;

fn apply(s: &mut State, op: &Op) {
    match op {
        Op::Upsert(docs) | Op::Insert(docs) => docs.iter().for_each(|(id, k)| {
            s.insert(id.clone(), *k);
        }),
        Op::Update(id, k) => {
            if let Some(v) = s.get_mut(id) {
                *v = *k;
            }
        }
        Op::Delete(ids) => ids.iter().for_each(|id| {
            s.remove(id);
        }),
    }
}

fn doc(id: &str, key: u64) -> Document {
    Document::new(id, workload::vector(key)).with("key", key as i64)
}

/// Runs `op`; `Ok(false)` when it wrote nothing (an update or delete of an
/// absent id: no WAL record, so no durability promise is involved).
fn run_op(c: &Collection, op: &Op) -> vego::Result<bool> {
    match op {
        Op::Upsert(d) if d.len() == 1 => c.upsert(doc(&d[0].0, d[0].1)).map(|()| true),
        Op::Upsert(d) => c.upsert_batch(d.iter().map(|(id, k)| doc(id, *k)).collect()).map(|()| true),
        Op::Insert(d) => c.insert_batch(d.iter().map(|(id, k)| doc(id, *k)).collect()).map(|()| true),
        Op::Update(id, k) => match c.update(doc(id, *k)) {
            Err(Error::NotFound(_)) => Ok(false),
            other => other.map(|()| true),
        },
        Op::Delete(ids) if ids.len() == 1 => c.delete(&ids[0]),
        Op::Delete(ids) => c.delete_batch(&ids.iter().map(String::as_str).collect::<Vec<_>>()).map(|n| n > 0),
    }
}

/// An operation of this cycle: its seq lies in `(lo, hi]`.
#[derive(Clone, Debug)]
struct Rec {
    op: Op,
    lo: u64,
    hi: u64,
}

/// A writer across cycles.
struct Writer {
    /// Its ids' state as verified at the end of the last cycle.
    base: State,
    /// Every id it ever wrote.
    ids: Vec<String>,
    fresh: u64,
}

/// What one session of one writer did.
#[derive(Default)]
struct Outcome {
    /// Operations that may have been applied, in order (acknowledged ones,
    /// then possibly one whose fate is unknown).
    recs: Vec<Rec>,
    /// How many of `recs` were acknowledged.
    acked: usize,
    /// Operations that failed with `Io` (rolled back), for diagnostics.
    rolled_back: Vec<(Op, String)>,
    /// Contract breaks seen while running.
    broken: Vec<String>,
}

/// The shared state of one session's threads.
struct Session<'a> {
    sim: &'a SimFs,
    /// Faults that fired before this session (a reopen clears poisoning).
    hits_before: usize,
    wal_dir: std::path::PathBuf,
    /// Acknowledged operations per writer, for the flush barriers.
    acked: Vec<AtomicU64>,
    /// Per writer: operations acknowledged before a `flush()` that returned.
    floor: Vec<AtomicU64>,
    /// Per writer: operations recorded in earlier sessions of this cycle.
    offset: Vec<usize>,
    stop: AtomicBool,
}

impl Session<'_> {
    /// Whether a log file's fsync (not a new file's under its temp name) failed.
    fn wal_fsync_failed(&self) -> bool {
        self.sim.hits()[self.hits_before..].iter().any(|h| {
            h.kind == Fault::FsyncEio
                && h.path.starts_with(&self.wal_dir)
                && !h.path.to_string_lossy().ends_with(".tmp")
        })
    }
}

fn writer_thread(s: &Session<'_>, c: &Collection, w: usize, mut rng: StdRng, ops: usize, fresh: &mut u64) -> Outcome {
    let mut out = Outcome::default();
    let pool = |rng: &mut StdRng| format!("w{w}-p{}", rng.gen_range(0..POOL));
    for i in 0..ops {
        if s.stop.load(Ordering::Relaxed) {
            break;
        }
        let key = ((w as u64) << 48) | (rng.gen::<u32>() as u64 * 64);
        let op = match rng.gen_range(0..10) {
            0..=3 => Op::Upsert(vec![(pool(&mut rng), key)]),
            4 => Op::Delete(vec![pool(&mut rng)]),
            5 => Op::Update(pool(&mut rng), key),
            6 | 7 => {
                let mut ids: Vec<String> = (0..rng.gen_range(2..6)).map(|_| pool(&mut rng)).collect();
                ids.sort();
                ids.dedup();
                Op::Upsert(ids.into_iter().enumerate().map(|(j, id)| (id, key + j as u64)).collect())
            }
            8 => {
                let n = rng.gen_range(1..4);
                *fresh += 1;
                Op::Insert((0..n).map(|j| (format!("w{w}-f{fresh}-{j}"), key + j)).collect())
            }
            _ => {
                let mut ids: Vec<String> = (0..rng.gen_range(2..4)).map(|_| pool(&mut rng)).collect();
                ids.sort();
                ids.dedup();
                Op::Delete(ids)
            }
        };
        let fsync_failed_before = s.wal_fsync_failed();
        let lo = c.snapshot().seq();
        match run_op(c, &op) {
            // An update or delete of an absent id wrote nothing and took no
            // seq: it is no step of the history (it would change nothing,
            // and an empty seq bracket would wrongly constrain the cut).
            Ok(false) => {}
            Ok(true) => {
                if fsync_failed_before {
                    let hits: Vec<_> = s.sim.hits()[s.hits_before..].to_vec();
                    out.broken
                        .push(format!("writer {w} op {i} ({op:?}) acknowledged after a WAL fsync failed: {hits:?}"));
                }
                let hi = c.snapshot().seq();
                out.recs.push(Rec { op, lo, hi });
                out.acked += 1;
                s.acked[w].store((s.offset[w] + out.acked) as u64, Ordering::Release);
            }
            // Rolled back (or never written): it must never appear. The
            // database stays writable; go on.
            Err(e @ Error::Io { .. }) => out.rolled_back.push((op, e.to_string())),
            // Fate unknown (failed fsync, power off, …): whole or not at
            // all; nothing this writer does later may be acknowledged.
            Err(_) => {
                out.recs.push(Rec { op, lo, hi: u64::MAX });
                break;
            }
        }
    }
    out
}

fn maintenance_thread(s: &Session<'_>, db: &Db, mut rng: StdRng) {
    while !s.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_micros(rng.gen_range(200..3000)));
        let Ok(c) = db.collection(COLLECTIONS[rng.gen_range(0..2)]) else { return };
        if rng.gen_bool(0.7) {
            let before: Vec<u64> = s.acked.iter().map(|a| a.load(Ordering::Acquire)).collect();
            if c.flush().is_ok() {
                for (f, b) in s.floor.iter().zip(before) {
                    f.fetch_max(b, Ordering::AcqRel);
                }
            }
        } else {
            let _ = c.compact();
        }
    }
}

/// Opens the two collections of the run.
fn open(dir: &Path, storage: Arc<dyn Storage>, durability: Durability) -> vego::Result<(Db, Vec<Collection>)> {
    let opts = Options::default()
        .dimension(workload::DIM)
        .durability(durability)
        .wal_file_bytes(crate::powerloss::WAL_FILE_BYTES)
        .storage(storage);
    let db = Db::open(dir, opts)?;
    let mut colls = Vec::new();
    for name in COLLECTIONS {
        let cfg = CollectionConfig::new(workload::DIM).durability(durability).memtable_bytes(1 << 20);
        colls.push(match db.get_collection(name)? {
            Some(c) => c,
            None => db.create_collection(name, cfg)?,
        });
    }
    Ok((db, colls))
}

/// Runs one session: the writers and the maintenance thread until each
/// writer did its operations (or met an error it must stop at).
fn session(s: &Session<'_>, db: &Db, colls: &[Collection], writers: &mut [Writer], rng: &mut StdRng) -> Vec<Outcome> {
    let seeds: Vec<u64> = (0..writers.len() + 1).map(|_| rng.gen()).collect();
    let ops: Vec<usize> = writers.iter().map(|_| rng.gen_range(10..80)).collect();
    std::thread::scope(|scope| {
        let maint_seed = seeds[writers.len()];
        let maint = scope.spawn(move || maintenance_thread(s, db, StdRng::seed_from_u64(maint_seed)));
        let handles: Vec<_> = writers
            .iter_mut()
            .enumerate()
            .map(|(w, wr)| {
                let c = &colls[w % 2];
                let (seed, n) = (seeds[w], ops[w]);
                scope.spawn(move || writer_thread(s, c, w, StdRng::seed_from_u64(seed), n, &mut wr.fresh))
            })
            .collect();
        let outs: Vec<Outcome> = handles.into_iter().map(|h| h.join().expect("writer panicked")).collect();
        s.stop.store(true, Ordering::Relaxed);
        maint.join().expect("maintenance panicked");
        outs
    })
}

/// What the store holds for `ids`, plus damaged documents.
fn read(c: &Collection, ids: &[String]) -> vego::Result<(State, Vec<String>)> {
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut state = State::new();
    let mut damaged = Vec::new();
    for (id, d) in ids.iter().zip(c.get_batch(&refs)?) {
        let Some(d) = d else { continue };
        match d.metadata.get("key") {
            Some(Value::Int(k)) if d.vector == workload::vector(*k as u64) => {
                state.insert(id.clone(), *k as u64);
            }
            _ => damaged.push(id.clone()),
        }
    }
    Ok((state, damaged))
}

/// `get`, search and `len` agree on `found` (the live documents of `c`);
/// returns the problems and the number of graph recall misses.
fn cross_check(c: &Collection, found: &State) -> vego::Result<(Vec<String>, u64)> {
    let mut problems = Vec::new();
    if c.len() != found.len() || c.snapshot().len() != found.len() {
        problems.push(format!("{}: len() {} but get finds {}", c.name(), c.len(), found.len()));
    }
    let all = c.search(&workload::vector(0), found.len() + 5)?;
    let mut seen: Vec<&str> = all.iter().map(|h| h.id.as_str()).collect();
    seen.sort_unstable();
    let dups = seen.windows(2).filter(|w| w[0] == w[1]).count();
    seen.dedup();
    let want: Vec<&str> = found.keys().map(String::as_str).collect();
    if dups > 0 || seen != want {
        problems.push(format!(
            "{}: a search for everything returns {} hits ({dups} duplicates) for {} documents",
            c.name(),
            all.len(),
            found.len()
        ));
    }
    let mut misses = 0;
    for (id, key) in found {
        let v = workload::vector(*key);
        let hit = c.search(&v, 1)?;
        if hit.first().map(|h| h.id.as_str()) == Some(id.as_str()) {
            continue;
        }
        // An exhaustive walk (ef above the collection size) tells graph
        // recall from a document hidden from search.
        let wide = c.search_with(&v, &vego::SearchOptions::new(1).ef(2000))?;
        if wide.first().map(|h| h.id.as_str()) == Some(id.as_str()) {
            misses += 1;
            continue;
        }
        problems.push(format!(
            "{}: get finds {id} (version {:?}) but no search for its vector does: it gives {:?}; {}",
            c.name(),
            c.get(id)?.map(|d| d.version),
            wide.first().map(|h| (&h.id, h.distance)),
            c.snapshot().explain(id),
        ));
    }
    Ok((problems, misses))
}

/// The prefix lengths of a writer's history that explain `found`, each with
/// the range of cuts `C` it allows.
fn explanations(base: &State, recs: &[Rec], found: &State, floor: usize) -> Vec<(u64, u64)> {
    let mut state = base.clone();
    let mut out = Vec::new();
    for p in 0..=recs.len() {
        if p > 0 {
            apply(&mut state, &recs[p - 1].op);
        }
        if p < floor || state != *found {
            continue;
        }
        // seq(recs[p-1]) <= C < seq(recs[p]), with seq(r) in (r.lo, r.hi].
        let lo = if p > 0 { recs[p - 1].lo + 1 } else { 0 };
        let hi = if p < recs.len() { recs[p].hi.saturating_sub(1) } else { u64::MAX };
        if lo <= hi {
            out.push((lo, hi));
        }
    }
    out
}

/// Whether one cut `C` lies in some allowed range of every writer.
fn common_cut(ranges: &[Vec<(u64, u64)>]) -> bool {
    let mut candidates: Vec<u64> = ranges.iter().flatten().map(|r| r.0).collect();
    candidates.sort_unstable();
    candidates.dedup();
    candidates.iter().any(|&c| ranges.iter().all(|rs| rs.iter().any(|&(lo, hi)| lo <= c && c <= hi)))
}

/// Runs `cycles` cycles in `dir` (which should start empty).
pub fn run(
    dir: &Path,
    cycles: u64,
    seed: u64,
    mode: Mode,
    durability: Durability,
    mut progress: impl FnMut(&Summary),
) -> Summary {
    let name = match mode {
        Mode::PowerLoss => "powerloss-concurrent",
        Mode::IoFault => "iofault-concurrent",
    };
    let mut summary = Summary::new(name);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x636f_6e63_7572);
    let new_writers = || (0..WRITERS).map(|_| Writer { base: State::new(), ids: Vec::new(), fresh: 0 }).collect();
    let mut writers: Vec<Writer> = new_writers();
    for cycle in 0..cycles {
        let fail = |summary: &mut Summary, why: String| {
            eprintln!("{name} cycle {cycle} (seed {seed}): {why}");
            summary.corrupt += 1;
        };
        if cycle > 0 && cycle % EPOCH_CYCLES == 0 {
            if let Err(e) = crate::powerloss::empty_dir(dir) {
                fail(&mut summary, format!("cannot empty {}: {e}", dir.display()));
                break;
            }
            writers = new_writers();
        }
        let sim = match SimFs::new(dir, rng.gen()) {
            Ok(s) => s,
            Err(e) => {
                fail(&mut summary, format!("cannot scan the directory: {e}"));
                break;
            }
        };
        let mut recs: Vec<Vec<Rec>> = vec![Vec::new(); WRITERS];
        let mut rolled_back: Vec<Vec<(Op, String)>> = vec![Vec::new(); WRITERS];
        let mut acked = vec![0usize; WRITERS];
        let mut floor = vec![0usize; WRITERS];
        let second_session = mode == Mode::IoFault && rng.gen_bool(0.5);
        match mode {
            Mode::PowerLoss => sim.crash_after(rng.gen_range(1..1500)),
            Mode::IoFault => {
                let kind = Fault::ALL[rng.gen_range(0..Fault::ALL.len())];
                let times = if kind == Fault::Enospc { rng.gen_range(1..6) } else { 1 };
                sim.arm(FaultPlan { after_ops: rng.gen_range(0..400), kind, times });
            }
        }
        for pass in 0..if second_session { 2 } else { 1 } {
            if pass == 1 {
                sim.disarm();
            }
            let opened = match open(dir, sim.clone(), durability) {
                // An injected fault may fail the open itself (an fsync of
                // the recovery, a new log file): it must say so, and the
                // next open, the fault cleared, must succeed.
                Err(Error::Io { .. } | Error::Poisoned(_)) if !sim.crashed() && !sim.hits().is_empty() => {
                    sim.disarm();
                    open(dir, sim.clone(), durability)
                }
                other => other,
            };
            let (db, colls) = match opened {
                Ok(x) => x,
                Err(_) if sim.crashed() => break, // the power went off while opening
                Err(e) => {
                    fail(&mut summary, format!("open (session {pass}) failed: {e}"));
                    break;
                }
            };
            if pass == 1 {
                // The reopen decided each unknown operation's fate (replayed
                // or not), and whatever it replayed it made durable.
                for (w, wr) in writers.iter().enumerate() {
                    let found = match read(&colls[w % 2], &wr.ids) {
                        Ok((found, _)) => found,
                        Err(e) => {
                            fail(&mut summary, format!("writer {w}: reads fail after the reopen: {e}"));
                            continue;
                        }
                    };
                    let (mut all, mut acked_only) = (wr.base.clone(), wr.base.clone());
                    recs[w].iter().for_each(|r| apply(&mut all, &r.op));
                    recs[w][..acked[w]].iter().for_each(|r| apply(&mut acked_only, &r.op));
                    if found == all {
                        acked[w] = recs[w].len();
                    } else if found == acked_only {
                        recs[w].truncate(acked[w]);
                    } else {
                        summary.lost += 1;
                        eprintln!(
                            "{name} cycle {cycle}: writer {w}: the reopen on the same disk lost acknowledged writes"
                        );
                    }
                    floor[w] = recs[w].len();
                }
            }
            let s = Session {
                sim: &sim,
                hits_before: sim.hits().len(),
                wal_dir: dir.join("wal"),
                acked: (0..WRITERS).map(|w| AtomicU64::new(acked[w] as u64)).collect(),
                floor: (0..WRITERS).map(|w| AtomicU64::new(floor[w] as u64)).collect(),
                offset: acked.clone(),
                stop: AtomicBool::new(false),
            };
            let outs = session(&s, &db, &colls, &mut writers, &mut rng);
            for (w, out) in outs.into_iter().enumerate() {
                out.broken.into_iter().for_each(|b| fail(&mut summary, b));
                rolled_back[w].extend(out.rolled_back);
                recs[w].extend(out.recs);
                acked[w] += out.acked;
                floor[w] = s.floor[w].load(Ordering::Acquire) as usize;
            }
            for (w, wr) in writers.iter_mut().enumerate() {
                wr.ids.extend(recs[w].iter().flat_map(|r| op_ids(&r.op)));
                wr.ids.sort();
                wr.ids.dedup();
            }
            if mode == Mode::IoFault && !sim.crashed() {
                // Live: reads work and show exactly the acknowledged writes
                // (a write whose fate is unknown was undone in memory).
                for (w, wr) in writers.iter().enumerate() {
                    let mut want = wr.base.clone();
                    recs[w][..acked[w]].iter().for_each(|r| apply(&mut want, &r.op));
                    match read(&colls[w % 2], &wr.ids) {
                        Ok((found, damaged)) if found == want && damaged.is_empty() => {}
                        Ok(_) => {
                            fail(&mut summary, format!("writer {w}: live reads differ from the acknowledged writes"))
                        }
                        Err(e) => fail(&mut summary, format!("writer {w}: live reads fail: {e}")),
                    }
                }
                for (i, c) in colls.iter().enumerate() {
                    let ids: Vec<String> = writers.iter().skip(i).step_by(2).flat_map(|w| w.ids.clone()).collect();
                    check_layers(c, &ids, &mut summary, &fail, "live");
                }
            }
            drop(colls);
            drop(db);
        }
        summary.acked += acked.iter().sum::<usize>() as u64;
        sim.crash();
        if let Err(e) = sim.materialize(rng.gen()) {
            fail(&mut summary, format!("cannot write the crashed state: {e}"));
            break;
        }
        drop(sim);
        if durability == Durability::Sync {
            floor.clone_from(&acked);
        }
        if !verify(dir, durability, &mut writers, &recs, &floor, &mut summary, &fail) {
            for (w, rb) in rolled_back.iter().enumerate().filter(|(_, rb)| !rb.is_empty()) {
                eprintln!("writer {w} had {} writes rolled back: {rb:?}", rb.len());
            }
            summary.cycles += 1;
            progress(&summary);
            break;
        }
        summary.cycles += 1;
        progress(&summary);
    }
    summary
}

fn op_ids(op: &Op) -> Vec<String> {
    match op {
        Op::Upsert(d) | Op::Insert(d) => d.iter().map(|(id, _)| id.clone()).collect(),
        Op::Update(id, _) => vec![id.clone()],
        Op::Delete(ids) => ids.clone(),
    }
}

/// Reopens with the real file system and checks the cut and the layers;
/// on success the found states become the writers' new bases.
fn verify(
    dir: &Path,
    durability: Durability,
    writers: &mut [Writer],
    recs: &[Vec<Rec>],
    floor: &[usize],
    summary: &mut Summary,
    fail: &impl Fn(&mut Summary, String),
) -> bool {
    let (db, colls) = match open(dir, Arc::new(vego::storage::StdStorage), durability) {
        Ok(x) => x,
        Err(e) => {
            fail(summary, format!("reopen after the power loss failed: {e}"));
            return false;
        }
    };
    let before = summary.lost + summary.corrupt;
    let mut ranges = Vec::new();
    let mut founds = Vec::new();
    for (w, wr) in writers.iter().enumerate() {
        let (found, damaged) = match read(&colls[w % 2], &wr.ids) {
            Ok(x) => x,
            Err(e) => {
                fail(summary, format!("writer {w}: reads fail after reopen: {e}"));
                return false;
            }
        };
        summary.corrupt += damaged.len() as u64;
        let r = explanations(&wr.base, &recs[w], &found, floor[w]);
        if r.is_empty() {
            let mut want = wr.base.clone();
            recs[w][..floor[w]].iter().for_each(|r| apply(&mut want, &r.op));
            let lost = want.iter().filter(|(id, k)| found.get(*id) != Some(k)).count() as u64;
            summary.lost += lost.max(1);
            eprintln!(
                "writer {w}: no prefix of its {} operations ({} must survive) explains what the store holds \
                 ({} documents; {lost} durable effects missing)",
                recs[w].len(),
                floor[w],
                found.len()
            );
            // The closest prefix, and where the store differs from it.
            let mut state = wr.base.clone();
            let mut best = (usize::MAX, 0, State::new());
            for p in 0..=recs[w].len() {
                if p > 0 {
                    apply(&mut state, &recs[w][p - 1].op);
                }
                let ids = wr.ids.iter().filter(|id| found.get(*id) != state.get(*id)).count();
                if ids < best.0 {
                    best = (ids, p, state.clone());
                }
            }
            let (_, p, closest) = best;
            let around: Vec<_> = recs[w]
                .iter()
                .enumerate()
                .skip(p.saturating_sub(1))
                .take(floor[w].saturating_sub(p) + 2)
                .map(|(i, r)| (i, r.lo, r.hi, format!("{:?}", r.op).chars().take(50).collect::<String>()))
                .collect();
            eprintln!(
                "  closest prefix {p} of {} (floor {}); operations from there: {around:?}",
                recs[w].len(),
                floor[w]
            );
            for id in wr.ids.iter().filter(|id| found.get(*id) != closest.get(*id)) {
                let touched: Vec<_> = recs[w]
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| op_ids(&r.op).contains(id))
                    .map(|(i, r)| (i, r.lo, r.hi, format!("{:?}", r.op).chars().take(60).collect::<String>()))
                    .collect();
                eprintln!(
                    "  closest prefix {p}: {id} found {:?}, prefix says {:?}, base {:?}; its operations: {touched:?}",
                    found.get(id),
                    closest.get(id),
                    wr.base.get(id)
                );
            }
        }
        ranges.push(r);
        founds.push(found);
    }
    if summary.lost + summary.corrupt == before && !common_cut(&ranges) {
        fail(summary, "each writer's state is a prefix of its history, but no single cut explains them all".into());
    }
    for (i, c) in colls.iter().enumerate() {
        let ids: Vec<String> = writers.iter().skip(i).step_by(2).flat_map(|w| w.ids.clone()).collect();
        check_layers(c, &ids, summary, fail, "after reopen");
    }
    let ok = summary.lost + summary.corrupt == before;
    for (wr, found) in writers.iter_mut().zip(founds) {
        wr.base = found;
    }
    drop(colls);
    if let Err(e) = db.close() {
        fail(summary, format!("close failed: {e}"));
        return false;
    }
    ok
}

fn check_layers(
    c: &Collection,
    ids: &[String],
    summary: &mut Summary,
    fail: &impl Fn(&mut Summary, String),
    when: &str,
) {
    match read(c, ids).and_then(|(found, _)| cross_check(c, &found)) {
        Ok((problems, misses)) => {
            summary.recall_misses += misses;
            problems.into_iter().for_each(|p| fail(summary, format!("{when}: {p}")));
        }
        Err(e) => fail(summary, format!("{when}: {}: reads fail: {e}", c.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(op: Op, lo: u64, hi: u64) -> Rec {
        Rec { op, lo, hi }
    }

    fn up(id: &str, k: u64) -> Op {
        Op::Upsert(vec![(id.into(), k)])
    }

    #[test]
    fn the_oracle_accepts_prefixes_and_rejects_holes_and_lost_acknowledged_writes() {
        let recs = vec![rec(up("x", 1), 0, 1), rec(up("y", 2), 1, 2), rec(up("x", 3), 2, 3)];
        let state = |pairs: &[(&str, u64)]| pairs.iter().map(|(i, k)| (i.to_string(), *k)).collect::<State>();
        let base = State::new();
        // Every prefix explains itself.
        assert_eq!(explanations(&base, &recs, &state(&[("x", 1), ("y", 2)]), 0), vec![(2, 2)]);
        // A hole (the second write lost, the third kept) explains nothing.
        assert!(explanations(&base, &recs, &state(&[("x", 3)]), 0).is_empty());
        // Under a floor of 3 (all acknowledged durable) the 2-prefix fails.
        assert!(explanations(&base, &recs, &state(&[("x", 1), ("y", 2)]), 3).is_empty());
        // Two writers: both cuts must meet.
        assert!(common_cut(&[vec![(2, 2)], vec![(0, 5)]]));
        assert!(!common_cut(&[vec![(2, 2)], vec![(3, 5)]]), "writer 2 kept a write after writer 1's loss");
    }
}
