//! `vego bench-scale`: the engine at scale, through the public API with
//! default options, as an embedded user would run it. Ingests `--n`
//! synthetic clustered vectors (seeded; metadata `cat = i mod 100`) in
//! batches, printing per 10 % of N the ingest rate of that tenth, segments,
//! memtable bytes, RSS and peak RSS; then recall@10 and QPS at ef 16–128
//! against exact ground truth (brute force, streamed over the regenerated
//! vectors) on `--queries` queries, QPS of a 1 % filter, the time to reopen
//! after a clean close, and the time to open after a SIGKILL of a writer
//! process at a full memtable. One line per figure; `--json` for JSON lines.
//!
//! ```text
//! cargo run --release --bin vego -- bench-scale --n 1000000
//! ```

use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vego::{CollectionConfig, Db, Distance, Document, Filter, Options, SearchOptions};

use crate::rng::Rng;
use crate::{CliResult, Output};

/// Documents per `insert_batch`.
const BATCH_DOCS: u64 = 10_000;
/// Cluster centres of the synthetic data.
const CENTRES: u64 = 1_000;

#[derive(clap::Args)]
pub struct Args {
    /// Documents to ingest.
    #[arg(long, default_value_t = 1_000_000)]
    n: u64,
    /// Vector dimension.
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Queries for recall and QPS.
    #[arg(long, default_value_t = 200)]
    queries: u64,
    /// Database directory (default: a temporary one, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Skip the SIGKILL restart measurement.
    #[arg(long)]
    no_restart: bool,
    /// Internal: run as the writer child of the restart measurement.
    #[arg(long, hide = true)]
    child_writer: bool,
}

/// Vector `i`: around centre `hash(i) mod CENTRES`, regenerated on demand.
fn vector(i: u64, dim: usize) -> Vec<f32> {
    let mut r = Rng(i.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5eed);
    let centre = r.below(CENTRES);
    let mut c = Rng(centre ^ 0xc0ffee);
    (0..dim).map(|_| c.unit() + 0.35 * r.unit()).collect()
}

fn doc(i: u64, dim: usize) -> Document {
    Document::new(format!("{i:010}"), vector(i, dim)).with("cat", (i % 100) as i64)
}

/// Resident and peak resident memory of this process (bytes; 0 if unknown).
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

struct Report {
    out: Output,
}

impl Report {
    fn line(&self, text: String, json: serde_json::Value) {
        if self.out.json {
            println!("{json}");
        } else {
            println!("{text}");
        }
    }
}

pub fn run(args: &Args, out: Output) -> CliResult {
    if args.child_writer {
        return child_writer(args);
    }
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().join("db"));
    let report = Report { out };
    let db = Db::open(&dir, Options::default())?;
    let c = db.create_collection("bench", CollectionConfig::new(args.dim).distance(Distance::L2))?;
    ingest(&c, args, &report)?;
    search(&c, args, &report)?;
    drop(c);
    let t = Instant::now();
    db.close()?;
    let close_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let db = Db::open(&dir, Options::default())?;
    let reopen_s = t.elapsed().as_secs_f64();
    report.line(
        format!("reopen    close {close_s:.2} s, clean reopen {reopen_s:.3} s"),
        serde_json::json!({"phase": "reopen", "close_s": close_s, "reopen_s": reopen_s}),
    );
    db.close()?;
    if !args.no_restart {
        restart_after_kill(args, &tmp.path().join("killed"), &report)?;
    }
    Ok(())
}

fn ingest(c: &vego::Collection, args: &Args, report: &Report) -> CliResult {
    let start = Instant::now();
    let tenth = (args.n / 10).max(1);
    let (mut mark_docs, mut mark_t) = (0u64, Instant::now());
    let mut i = 0;
    while i < args.n {
        let end = (i + BATCH_DOCS).min(args.n);
        c.insert_batch((i..end).map(|j| doc(j, args.dim)).collect())?;
        let before = i / tenth;
        i = end;
        if i / tenth != before || i == args.n {
            let rate = (i - mark_docs) as f64 / mark_t.elapsed().as_secs_f64();
            (mark_docs, mark_t) = (i, Instant::now());
            let s = c.stats();
            let (rss, peak) = rss();
            report.line(
                format!(
                    "ingest {i:>10} docs {:>7.1} s  last-tenth {rate:>8.0} docs/s  segments {:>2}  memtable {:>6.1} MiB  \
                     rss {:>7.1} MiB  peak {:>7.1} MiB",
                    start.elapsed().as_secs_f64(),
                    s.segments,
                    mib(s.memtable_bytes),
                    mib(rss),
                    mib(peak)
                ),
                serde_json::json!({"phase": "ingest", "docs": i, "elapsed_s": start.elapsed().as_secs_f64(),
                    "docs_per_s": rate, "segments": s.segments, "memtable_bytes": s.memtable_bytes,
                    "rss_bytes": rss, "peak_rss_bytes": peak}),
            );
        }
    }
    Ok(())
}

/// Queries: perturbed copies of spread-out stored vectors.
fn queries(args: &Args) -> Vec<Vec<f32>> {
    let mut r = Rng(0xbe7c);
    (0..args.queries)
        .map(|q| {
            let base = vector((q * 7_919) % args.n, args.dim);
            base.iter().map(|x| x + 0.05 * r.unit()).collect()
        })
        .collect()
}

/// Exact top-10 ids of every query (optionally among `cat == 7` only),
/// streamed over the regenerated vectors, on every core.
fn ground_truth(args: &Args, qs: &[Vec<f32>], only_cat7: bool) -> Vec<Vec<u64>> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()) as u64;
    let parts: Vec<Vec<BinaryHeap<(Ordered, u64)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut heaps: Vec<BinaryHeap<(Ordered, u64)>> = qs.iter().map(|_| BinaryHeap::new()).collect();
                    for i in (t..args.n).step_by(threads as usize) {
                        if only_cat7 && i % 100 != 7 {
                            continue;
                        }
                        let v = vector(i, args.dim);
                        for (h, q) in heaps.iter_mut().zip(qs) {
                            let d: f32 = v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
                            h.push((Ordered(d), i));
                            if h.len() > 10 {
                                h.pop();
                            }
                        }
                    }
                    heaps
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("ground-truth thread")).collect()
    });
    (0..qs.len())
        .map(|q| {
            let mut all: Vec<(Ordered, u64)> = parts.iter().flat_map(|p| p[q].iter().copied()).collect();
            all.sort();
            all.into_iter().take(10).map(|(_, i)| i).collect()
        })
        .collect()
}

/// A distance ordered by `total_cmp`, for the heaps.
#[derive(Clone, Copy, PartialEq)]
struct Ordered(f32);
impl Eq for Ordered {}
impl PartialOrd for Ordered {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ordered {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

fn search(c: &vego::Collection, args: &Args, report: &Report) -> CliResult {
    let qs = queries(args);
    let t = Instant::now();
    let truth = ground_truth(args, &qs, false);
    let truth_cat7 = ground_truth(args, &qs, true);
    let gt_s = t.elapsed().as_secs_f64();
    let segments = c.stats().segments;
    let measure = |ef: usize, filter: Option<Filter>, truth: &[Vec<u64>]| -> Result<(f64, f64), vego::Error> {
        let mut found = 0;
        let t = Instant::now();
        for (q, want) in qs.iter().zip(truth) {
            let mut opts = SearchOptions::new(10).ef(ef).include_document(false);
            if let Some(f) = &filter {
                opts = opts.filter(f.clone());
            }
            let hits = c.search_with(q, &opts)?;
            found += hits.iter().filter(|h| want.iter().any(|w| format!("{w:010}") == h.id)).count();
        }
        let qps = qs.len() as f64 / t.elapsed().as_secs_f64();
        Ok((found as f64 / (10 * qs.len()) as f64, qps))
    };
    for ef in [16, 32, 64, 128] {
        let (recall, qps) = measure(ef, None, &truth)?;
        report.line(
            format!(
                "search    ef {ef:>3}  recall@10 {recall:.4}  {qps:>8.0} QPS  ({segments} segments; truth {gt_s:.1} s)"
            ),
            serde_json::json!({"phase": "search", "ef": ef, "recall": recall, "qps": qps, "segments": segments}),
        );
    }
    let (recall, qps) = measure(64, Some(Filter::eq("cat", 7)), &truth_cat7)?;
    report.line(
        format!("filtered  1 % (cat == 7) ef 64  recall@10 {recall:.4}  {qps:>8.0} QPS"),
        serde_json::json!({"phase": "filtered", "selectivity": 0.01, "ef": 64, "recall": recall, "qps": qps}),
    );
    Ok(())
}

/// Starts a writer child that fills one memtable (`Durability::Sync`, the
/// default) and says so, SIGKILLs it, and times the open that recovers it.
fn restart_after_kill(args: &Args, dir: &Path, report: &Report) -> CliResult {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["bench-scale", "--child-writer", "--dim", &args.dim.to_string(), "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().expect("piped")), &mut line)?;
    child.kill()?; // SIGKILL
    child.wait()?;
    let acked: u64 = line.trim().parse().map_err(|_| format!("writer child said {line:?}"))?;
    let t = Instant::now();
    let db = Db::open(dir, Options::default())?;
    let open_s = t.elapsed().as_secs_f64();
    let c = db.collection("bench")?;
    let (found, searchable_s) = (c.len() as u64, t.elapsed().as_secs_f64());
    // The replayed rows are linked in the background; until then searches
    // scan them exactly: the first one shows what that costs.
    let q = Instant::now();
    c.search(&vector(7, args.dim), 10)?;
    let first_search_ms = q.elapsed().as_secs_f64() * 1e3;
    report.line(
        format!(
            "restart   open after SIGKILL with {acked} acknowledged docs in the memtable: {open_s:.2} s \
             ({found} documents; first search {first_search_ms:.1} ms)"
        ),
        serde_json::json!({"phase": "restart", "memtable_docs": acked, "open_s": open_s,
            "documents": found, "searchable_s": searchable_s, "first_search_ms": first_search_ms}),
    );
    if found < acked {
        return Err(format!("lost acknowledged writes: {found} of {acked}").into());
    }
    db.close()?;
    Ok(())
}

/// The child: writes until its first memtable is about to freeze, prints
/// how many documents were acknowledged, then waits to be killed.
fn child_writer(args: &Args) -> CliResult {
    let dir = args.dir.as_ref().ok_or("--child-writer needs --dir")?;
    let db = Db::open(dir, Options::default())?;
    let c = db
        .collection("bench")
        .or_else(|_| db.create_collection("bench", CollectionConfig::new(args.dim).distance(Distance::L2)))?;
    let limit = c.config().memtable_bytes.unwrap_or(64 << 20);
    let mut i = 0;
    while c.stats().memtable_bytes + BATCH_DOCS * (args.dim as u64 * 4 + 64) < limit {
        c.insert_batch((i..i + BATCH_DOCS).map(|j| doc(j, args.dim)).collect())?;
        i += BATCH_DOCS;
    }
    println!("{i}");
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}
