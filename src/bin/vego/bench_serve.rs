//! `vego bench-serve`: a bounded HTTP load test of `vego serve`.
//!
//! Against a running server (`--addr http://HOST:PORT`) or, by default, an
//! in-process [`vego::server::Server`] on `127.0.0.1:0` over a temporary
//! directory: create a collection, preload it, then for `--seconds` run
//! `--writers` threads upserting random points (`wait=true`, so each answer
//! means the write is durable) and `--searchers` threads running
//! `points/query` with k = 10, every other one with a payload filter. Prints
//! per operation kind the requests, throughput, p50 / p99 / max latency and
//! errors. Any transport error or non-2xx answer is an error and makes the
//! exit status 1. It is a benchmark: nothing here asserts a timing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::rng::Rng;
use crate::{fail, CliResult, Output};

#[derive(clap::Args)]
pub struct Args {
    /// URL of a running `vego serve` (default: an in-process server on a free port over a temp dir).
    #[arg(long)]
    addr: Option<String>,
    /// How long the timed phase runs.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Writer threads (upserts with wait=true).
    #[arg(long, default_value_t = 2)]
    writers: usize,
    /// Searcher threads (query_points, k = 10; every other query filtered).
    #[arg(long, default_value_t = 2)]
    searchers: usize,
    /// Vector dimension of the benchmark collection.
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// Points per upsert request.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Points loaded before the timed phase (batches of 256).
    #[arg(long, default_value_t = 10_000)]
    preload: u64,
    /// Collection to create (an existing one of the same name is reused; its points with the same ids are overwritten).
    #[arg(long, default_value = "bench_serve")]
    collection: String,
    /// API key: sent as the `api-key` header (and required by the in-process server).
    #[arg(long)]
    api_key: Option<String>,
}

/// Payload tags: a filter on one tag matches a tenth of the points.
const TAGS: u64 = 10;
const PRELOAD_BATCH: u64 = 256;
/// How many failed requests are shown in full.
const SHOWN_ERRORS: usize = 5;

/// The operation kinds, in report order.
const KINDS: [&str; 3] = ["upsert", "query", "query_filtered"];

/// A blocking client for one base URL.
#[derive(Clone)]
struct Client {
    agent: ureq::Agent,
    base: String,
    api_key: Option<String>,
}

impl Client {
    fn new(base: &str, api_key: Option<String>) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client { agent, base: base.trim_end_matches('/').to_string(), api_key }
    }

    /// Sends `body` with `method` to `path`; the status and body of the answer.
    fn call(&self, method: &str, path: &str, body: &Json) -> Result<(u16, String), String> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "PUT" => self.agent.put(&url),
            _ => self.agent.post(&url),
        };
        let req = req.header("content-type", "application/json");
        let req = match &self.api_key {
            Some(k) => req.header("api-key", k),
            None => req,
        };
        let mut resp = req.send(body.to_string()).map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().map_err(|e| format!("{method} {path}: reading the answer: {e}"))?;
        Ok((status, text))
    }

    /// Like [`Client::call`], but a non-2xx answer is an error too.
    fn ok(&self, method: &str, path: &str, body: &Json) -> Result<String, String> {
        match self.call(method, path, body)? {
            (s, text) if (200..300).contains(&s) => Ok(text),
            (s, text) => Err(format!("{method} {path}: HTTP {s}: {}", snippet(&text))),
        }
    }
}

fn snippet(text: &str) -> String {
    let t: String = text.chars().take(300).collect();
    if t.len() < text.len() {
        format!("{t}…")
    } else {
        t
    }
}

fn random_vector(rng: &mut Rng, dim: usize) -> Vec<f32> {
    (0..dim).map(|_| rng.unit()).collect()
}

fn point(rng: &mut Rng, id: u64, dim: usize) -> Json {
    json!({
        "id": id,
        "vector": random_vector(rng, dim),
        "payload": {"tag": format!("t{}", id % TAGS), "n": id, "source": "bench-serve"},
    })
}

/// Latencies and failures of one operation kind.
#[derive(Default)]
struct Recorder {
    latencies: Vec<Duration>,
    points: u64,
    errors: u64,
    shown: Vec<String>,
}

impl Recorder {
    fn merge(&mut self, o: Recorder) {
        self.latencies.extend(o.latencies);
        self.points += o.points;
        self.errors += o.errors;
        self.shown.extend(o.shown);
    }

    fn error(&mut self, msg: String) {
        self.errors += 1;
        if self.shown.len() < SHOWN_ERRORS {
            self.shown.push(msg);
        }
    }
}

/// One row of the report.
struct Row {
    kind: &'static str,
    requests: u64,
    errors: u64,
    req_per_s: f64,
    points_per_s: Option<f64>,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn row(kind: &'static str, mut r: Recorder, wall_s: f64) -> (Row, Vec<String>) {
    r.latencies.sort_unstable();
    let pick = |p: f64| -> f64 {
        if r.latencies.is_empty() {
            return 0.0;
        }
        let i = ((r.latencies.len() as f64 * p).ceil() as usize).clamp(1, r.latencies.len()) - 1;
        r.latencies[i].as_secs_f64() * 1e3
    };
    let requests = r.latencies.len() as u64 + r.errors;
    let row = Row {
        kind,
        requests,
        errors: r.errors,
        req_per_s: requests as f64 / wall_s,
        points_per_s: (kind == "upsert").then(|| r.points as f64 / wall_s),
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
        max_ms: pick(1.0),
    };
    (row, r.shown)
}

pub fn run(args: &Args, out: Output) -> CliResult {
    if args.dim == 0 || args.batch == 0 || !args.seconds.is_finite() || args.seconds <= 0.0 {
        return fail("--dim, --batch and --seconds must be positive");
    }
    if args.writers + args.searchers == 0 {
        return fail("nothing to do: --writers and --searchers are both 0");
    }
    // The server (in-process unless --addr) and its base URL.
    let mut local = None;
    let base = match &args.addr {
        Some(a) if a.contains("://") => a.clone(),
        Some(a) => format!("http://{a}"),
        None => {
            let dir = tempfile::tempdir()?;
            let db = vego::Db::open(dir.path(), vego::Options::default().durability(vego::Durability::Sync))?;
            let addr: SocketAddr = "127.0.0.1:0".parse().expect("literal address");
            let mut opts = vego::server::ServerOptions::new(addr);
            if let Some(key) = &args.api_key {
                opts = opts.api_key(key.clone());
            }
            let server = vego::server::Server::start(db, opts)?;
            let base = format!("http://{}", server.addr());
            local = Some((server, dir));
            base
        }
    };
    let client = Client::new(&base, args.api_key.clone());
    let result = bench(args, &client, out);
    if let Some((server, dir)) = local {
        server.shutdown()?;
        drop(dir);
    }
    result
}

fn bench(args: &Args, client: &Client, out: Output) -> CliResult {
    let coll = format!("/collections/{}", args.collection);
    let create = json!({"vectors": {"size": args.dim, "distance": "Cosine"}});
    match client.call("PUT", &coll, &create)? {
        (s, _) if (200..300).contains(&s) => {}
        (409, _) => eprintln!("collection {:?} exists; reusing it", args.collection),
        (s, text) => return fail(format!("creating the collection: HTTP {s}: {}", snippet(&text))),
    }
    let upsert_path = format!("{coll}/points?wait=true");
    let query_path = format!("{coll}/points/query");

    // Preload, in one thread, not timed as part of the run.
    let t = Instant::now();
    let mut rng = Rng(0x5eed);
    let mut id = 0;
    while id < args.preload {
        let end = (id + PRELOAD_BATCH).min(args.preload);
        let points: Vec<Json> = (id..end).map(|i| point(&mut rng, i, args.dim)).collect();
        client.ok("PUT", &upsert_path, &json!({ "points": points }))?;
        id = end;
    }
    let preload_s = t.elapsed().as_secs_f64();
    if !out.json && args.preload > 0 {
        println!(
            "preloaded {} points (dim {}) in {:.2} s ({:.0} points/s) into {}",
            args.preload,
            args.dim,
            preload_s,
            args.preload as f64 / preload_s,
            client.base
        );
    }

    // The timed phase.
    let next_id = AtomicU64::new(args.preload);
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let recorders: Mutex<Vec<(usize, Recorder)>> = Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|s| {
        for w in 0..args.writers {
            let (client, next_id, recorders, path) = (client.clone(), &next_id, &recorders, &upsert_path);
            s.spawn(move || {
                let mut rng = Rng(1000 + w as u64);
                let mut rec = Recorder::default();
                while Instant::now() < deadline {
                    let first = next_id.fetch_add(args.batch as u64, Ordering::Relaxed);
                    let points: Vec<Json> =
                        (first..first + args.batch as u64).map(|i| point(&mut rng, i, args.dim)).collect();
                    let body = json!({ "points": points });
                    let t = Instant::now();
                    match client.ok("PUT", path, &body) {
                        Ok(_) => {
                            rec.latencies.push(t.elapsed());
                            rec.points += args.batch as u64;
                        }
                        Err(e) => rec.error(e),
                    }
                }
                recorders.lock().expect("recorders").push((0, rec));
            });
        }
        for q in 0..args.searchers {
            let (client, recorders, path) = (client.clone(), &recorders, &query_path);
            s.spawn(move || {
                let mut rng = Rng(2000 + q as u64);
                let (mut plain, mut filtered) = (Recorder::default(), Recorder::default());
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let filter = n % 2 == 1;
                    n += 1;
                    let mut body = json!({
                        "query": random_vector(&mut rng, args.dim),
                        "limit": 10,
                        "with_payload": true,
                    });
                    if filter {
                        let tag = format!("t{}", rng.below(TAGS));
                        body["filter"] = json!({"must": [{"key": "tag", "match": {"value": tag}}]});
                    }
                    let rec = if filter { &mut filtered } else { &mut plain };
                    let t = Instant::now();
                    let answer = client.ok("POST", path, &body).and_then(|text| check_query(&text));
                    match answer {
                        Ok(()) => rec.latencies.push(t.elapsed()),
                        Err(e) => rec.error(e),
                    }
                }
                let mut all = recorders.lock().expect("recorders");
                all.push((1, plain));
                all.push((2, filtered));
            });
        }
    });
    let wall_s = start.elapsed().as_secs_f64();

    let mut per_kind: Vec<Recorder> = KINDS.iter().map(|_| Recorder::default()).collect();
    for (k, r) in recorders.into_inner().expect("recorders") {
        per_kind[k].merge(r);
    }
    let mut rows = Vec::new();
    let mut shown = Vec::new();
    for (kind, r) in KINDS.iter().zip(per_kind) {
        let (row, msgs) = row(kind, r, wall_s);
        rows.push(row);
        shown.extend(msgs);
    }
    let count = match client.ok("POST", &format!("{coll}/points/count"), &json!({"exact": true})) {
        Ok(text) => serde_json::from_str::<Json>(&text).ok().and_then(|j| j["result"]["count"].as_u64()),
        Err(e) => {
            shown.push(e);
            None
        }
    };
    let errors: u64 = rows.iter().map(|r| r.errors).sum::<u64>() + u64::from(count.is_none());

    if out.json {
        let ops: serde_json::Map<String, Json> = rows
            .iter()
            .map(|r| {
                let mut o = json!({
                    "requests": r.requests,
                    "errors": r.errors,
                    "req_per_s": r.req_per_s,
                    "p50_ms": r.p50_ms,
                    "p99_ms": r.p99_ms,
                    "max_ms": r.max_ms,
                });
                if let Some(p) = r.points_per_s {
                    o["points_per_s"] = json!(p);
                }
                (r.kind.to_string(), o)
            })
            .collect();
        let doc = json!({
            "server": client.base,
            "seconds": wall_s,
            "writers": args.writers,
            "searchers": args.searchers,
            "dim": args.dim,
            "batch": args.batch,
            "preload": args.preload,
            "preload_s": preload_s,
            "points": count,
            "operations": ops,
            "errors": errors,
            "error_samples": shown,
        });
        println!("{doc}");
    } else {
        println!(
            "{:.1} s, {} writer(s) (batch {}), {} searcher(s), dim {}",
            wall_s, args.writers, args.batch, args.searchers, args.dim
        );
        println!(
            "{:<16} {:>9} {:>10} {:>11} {:>9} {:>9} {:>9} {:>7}",
            "operation", "requests", "req/s", "points/s", "p50 ms", "p99 ms", "max ms", "errors"
        );
        for r in &rows {
            let pts = r.points_per_s.map_or("-".to_string(), |p| format!("{p:.0}"));
            println!(
                "{:<16} {:>9} {:>10.1} {:>11} {:>9.2} {:>9.2} {:>9.2} {:>7}",
                r.kind, r.requests, r.req_per_s, pts, r.p50_ms, r.p99_ms, r.max_ms, r.errors
            );
        }
        match count {
            Some(c) => println!("collection {:?} holds {c} points", args.collection),
            None => println!("count failed"),
        }
        for m in &shown {
            println!("error: {m}");
        }
    }
    if errors > 0 {
        return fail(format!("{errors} request(s) failed"));
    }
    Ok(())
}

/// A query answer must be JSON with at most 10 points.
fn check_query(text: &str) -> Result<(), String> {
    let j: Json =
        serde_json::from_str(text).map_err(|e| format!("query answer is not JSON ({e}): {}", snippet(text)))?;
    match j["result"]["points"].as_array() {
        Some(p) if p.len() <= 10 => Ok(()),
        Some(p) => Err(format!("query asked for 10 points, got {}", p.len())),
        None => Err(format!("query answer has no result.points: {}", snippet(text))),
    }
}
