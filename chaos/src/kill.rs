//! The `kill` mode: SIGKILL a writer child at random moments, reopen, compare
//! with the model of acknowledged operations.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vego::{Collection, Db, Durability, Options};

use crate::workload::{self, Model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The collection the workload writes.
pub const COLLECTION: &str = "chaos";

pub use crate::Summary;

/// Opens the database and the workload's collection.
pub fn open(dir: &Path) -> vego::Result<(Db, Collection)> {
    let db = Db::open(dir, Options::default().dimension(workload::DIM).durability(Durability::Sync))?;
    let c = db.collection(COLLECTION)?;
    Ok((db, c))
}

/// Child side: run operations `start..` forever, printing `ack i` after each.
pub fn child(dir: &Path, seed: u64, start: u64) -> ! {
    let (_db, c) = match open(dir) {
        Ok(x) => x,
        Err(e) => {
            println!("err open {e}");
            std::process::exit(3);
        }
    };
    let mut out = std::io::stdout().lock();
    for i in start.. {
        if let Err(e) = workload::run(&c, &workload::op(seed, i)) {
            let _ = writeln!(out, "err {i} {e}");
            std::process::exit(3);
        }
        if writeln!(out, "ack {i}").and_then(|_| out.flush()).is_err() {
            std::process::exit(4);
        }
    }
    unreachable!("operation index overflowed")
}

/// Child side of the kill-during-compaction test: forever, rewrite every
/// document with its own content (new versions, same data), flush, compact —
/// printing `compacting` before each compaction so the parent can aim.
pub fn compact_child(dir: &Path) -> ! {
    let (_db, c) = match open(dir) {
        Ok(x) => x,
        Err(e) => {
            println!("err open {e}");
            std::process::exit(3);
        }
    };
    let mut out = std::io::stdout().lock();
    loop {
        let ids: Vec<String> = (0..workload::POOL).map(|p| format!("p{p}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let same: Vec<vego::Document> = c
            .get_batch(&refs)
            .expect("read")
            .into_iter()
            .flatten()
            .map(|d| vego::Document { version: 0, ..d })
            .collect();
        if !same.is_empty() {
            c.upsert_batch(same).expect("rewrite");
        }
        c.flush().expect("flush");
        let _ = writeln!(out, "compacting").and_then(|_| out.flush());
        c.compact().expect("compact");
    }
}

/// Parent side: `cycles` rounds of spawn child → wait for some acks → SIGKILL
/// → reopen → compare. `child_cmd` builds the command that runs
/// [`child`] for (dir, seed, start).
pub fn run(
    dir: &Path,
    cycles: u64,
    seed: u64,
    child_cmd: &dyn Fn(&Path, u64, u64) -> Command,
    mut progress: impl FnMut(&Summary),
) -> Summary {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut model = Model::new();
    let mut next = 0u64;
    let mut summary = Summary::new("kill");
    for _ in 0..cycles {
        let acked = match one_cycle(dir, seed, next, &mut rng, child_cmd) {
            Ok(acked) => acked,
            Err(why) => {
                eprintln!("cycle {}: {why}", summary.cycles);
                summary.corrupt += 1;
                return summary;
            }
        };
        for i in next..next + acked {
            workload::apply(&mut model, &workload::op(seed, i));
        }
        summary.acked += acked;
        let in_flight = next + acked;
        match verify(dir, seed, in_flight, &mut model) {
            Ok((lost, corrupt)) => {
                summary.lost += lost;
                summary.corrupt += corrupt;
            }
            Err(e) => {
                eprintln!("cycle {}: reopen failed: {e}", summary.cycles);
                summary.corrupt += 1;
                return summary;
            }
        }
        summary.cycles += 1;
        progress(&summary);
        if summary.lost + summary.corrupt > 0 {
            break;
        }
        next = in_flight + 1;
    }
    summary
}

/// Runs one child from `start`; returns how many operations it acknowledged.
fn one_cycle(
    dir: &Path,
    seed: u64,
    start: u64,
    rng: &mut StdRng,
    child_cmd: &dyn Fn(&Path, u64, u64) -> Command,
) -> Result<u64, String> {
    let mut proc = child_cmd(dir, seed, start)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let stdout = proc.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut last = None::<u64>;
    let mut note = |line: String| -> Result<(), String> {
        if let Some(i) = line.strip_prefix("ack ") {
            last = Some(i.parse().map_err(|_| format!("bad line {line:?}"))?);
            Ok(())
        } else {
            Err(format!("child: {line}"))
        }
    };
    let kill_after = 1 + rng.gen_range(0..200);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = 0;
    while seen < kill_after {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                note(line)?;
                seen += 1;
            }
            Err(_) if Instant::now() > deadline => return Err("child made no progress".into()),
            Err(_) => {
                if let Some(status) = proc.try_wait().map_err(|e| e.to_string())? {
                    return Err(format!("child exited early: {status}"));
                }
            }
        }
    }
    // Land the kill at an arbitrary point of a later operation.
    std::thread::sleep(Duration::from_micros(rng.gen_range(0..4_000)));
    proc.kill().map_err(|e| format!("kill: {e}"))?;
    proc.wait().map_err(|e| format!("wait: {e}"))?;
    reader.join().map_err(|_| "reader panicked".to_string())?;
    for line in rx.try_iter() {
        note(line)?;
    }
    let last = last.ok_or("no acknowledgement")?;
    Ok(last + 1 - start)
}

/// Reopens and compares with the model; the operation after the last
/// acknowledged one may have been applied (whole) or not at all. Returns
/// (lost, corrupt) counts and updates the model if the in-flight op landed.
fn verify(dir: &Path, seed: u64, in_flight: u64, model: &mut Model) -> vego::Result<(u64, u64)> {
    let (db, c) = open(dir)?;
    let ids = workload::ids(seed, in_flight);
    let (lost, corrupt) = workload::check(&c, &ids, model, Some(&workload::op(seed, in_flight)))?;
    // Open removed whatever a killed flush or compaction left behind.
    let files = std::fs::read_dir(dir.join("segments")).map(|d| d.count()).unwrap_or(0) as u64;
    if files != c.stats().segments {
        eprintln!("{files} segment files on disk, {} in use", c.stats().segments);
        return Ok((lost, corrupt + 1));
    }
    drop(c);
    db.close()?;
    Ok((lost, corrupt))
}
