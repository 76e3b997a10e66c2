//! The `server` mode: SIGKILL `vego serve` under HTTP load, restart it on the
//! same directory and check over HTTP that every acknowledged write is there.
//!
//! Each cycle runs client threads against a server child (the chaos binary in
//! its hidden `server-child` mode: [`child`]) doing upserts of fresh ids,
//! deletes of acknowledged ids and (filtered) queries. A point's vector and
//! payload are pure functions of (seed, id) (every third id is sent as a
//! UUID, half of those in upper case), and every id is upserted at most
//! once, so the parent knows exactly what each id must hold. Each write is
//! recorded as acknowledged (HTTP 200 to `?wait=true`: durable) or of
//! unknown outcome (a transport error, the kill, a non-2xx answer). After a
//! seeded random delay the child is SIGKILLed and restarted, and a retrieve
//! of every id ever sent (plus a few never sent) and an exact count must show:
//! every acknowledged upsert present with its exact vector and payload, every
//! acknowledged delete absent, each unknown write applied whole or not at all,
//! nothing that was never written. The child also flushes every 150 ms and
//! compacts every 600 ms, so kills land mid-flush and mid-compaction too.
//! What the restarted server shows for an
//! unknown write is what later cycles expect. The last server is stopped with
//! SIGTERM while the clients keep sending (graceful shutdown must finish the
//! requests in flight and exit 0), started and checked once more, and
//! stopped with SIGTERM when idle.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value as Json};

/// The collection the clients write.
pub const COLLECTION: &str = "chaos_http";
/// Vector dimension (Euclid distance: vectors are stored as sent, and
/// compared bit for bit when read back).
pub const DIM: usize = 8;
/// Client threads per cycle.
pub const CLIENTS: usize = 4;
/// Ids past the last one sent that are checked too (must be absent).
const BEYOND: u64 = 32;
/// Ids per retrieve request while verifying.
const RETRIEVE_CHUNK: u64 = 512;
/// What the child prints once it listens (the same line as `vego serve`).
pub const LISTENING: &str = "vego serve: listening on ";

/// Totals of a `server` run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerSummary {
    /// Cycles completed (a kill, a restart and a check each).
    pub cycles: u64,
    /// Upserted points whose request was acknowledged (checked after every later crash).
    pub acked_upserts: u64,
    /// Deleted points whose request was acknowledged.
    pub acked_deletes: u64,
    /// Points written by requests whose outcome the client could not know.
    pub unknown: u64,
    /// Acknowledged effects missing after a restart.
    pub lost: u64,
    /// Points with the wrong vector or payload, points never written,
    /// wrong counts, failed restarts or shutdowns.
    pub corrupt: u64,
    /// Non-2xx answers from a live server (none are expected).
    pub bad_answers: u64,
    /// HTTP requests of the load phases.
    pub requests: u64,
}

impl ServerSummary {
    /// Counts what one load phase sent and how it was answered.
    fn add_load(&mut self, l: &Load) {
        self.requests += l.requests;
        self.acked_upserts += l.acked_upserts;
        self.acked_deletes += l.acked_deletes;
        self.unknown += l.unknown;
        self.bad_answers += l.bad_answers;
    }

    /// Whether nothing was lost or corrupt and every answer was 2xx.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.corrupt == 0 && self.bad_answers == 0
    }
}

impl std::fmt::Display for ServerSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "server: {} cycles, {} acked upserts, {} acked deletes, {} unknown outcome, {} lost, {} corrupt, {} bad answers, {} requests",
            self.cycles,
            self.acked_upserts,
            self.acked_deletes,
            self.unknown,
            self.lost,
            self.corrupt,
            self.bad_answers,
            self.requests
        )
    }
}

/// Child side: open `dir` (`Durability::Sync`), serve it on a free port of
/// 127.0.0.1, print the listening line, serve until SIGINT / SIGTERM.
pub fn child(dir: &Path) -> std::process::ExitCode {
    use std::io::Write;
    let db = match vego::Db::open(dir, vego::Options::default().durability(vego::Durability::Sync)) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("server-child: open {}: {e}", dir.display());
            return std::process::ExitCode::from(3);
        }
    };
    // The server only flushes when a memtable fills (64 MiB: never, in a
    // chaos run); flush and compact in the background so kills also land
    // mid-flush and mid-compaction, and restarts combine segments and WAL.
    let bg = db.clone();
    std::thread::spawn(move || {
        for round in 1u64.. {
            std::thread::sleep(Duration::from_millis(150));
            let Ok(Some(c)) = bg.get_collection(COLLECTION) else { continue };
            let done = if round % 4 == 0 { c.flush().and_then(|_| c.compact().map(drop)) } else { c.flush() };
            if let Err(e) = done {
                eprintln!("server-child: flush/compact: {e}");
            }
        }
    });
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let server = match vego::server::Server::start(db, vego::server::ServerOptions::new(addr)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("server-child: start: {e}");
            return std::process::ExitCode::from(3);
        }
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{LISTENING}http://{}", server.addr()).and_then(|_| out.flush()).is_err() {
        return std::process::ExitCode::from(4);
    }
    drop(out);
    match server.run_until_signal() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server-child: shutdown: {e}");
            std::process::ExitCode::from(5)
        }
    }
}

/// The vector of point `id` in the run seeded with `seed`.
pub fn vector(seed: u64, id: u64) -> Vec<f32> {
    let mut r = StdRng::seed_from_u64(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (0..DIM).map(|_| r.gen_range(-1.0f32..1.0)).collect()
}

/// The payload of point `id`.
pub fn payload(seed: u64, id: u64) -> Json {
    json!({"tag": format!("t{}", id % 7), "n": id, "check": format!("{seed:x}-{:x}", id.wrapping_mul(0xA24B_AED4_963E_E407))})
}

/// The UUID of point `id` (every third point), lowercase hyphenated.
fn uuid(seed: u64, id: u64) -> String {
    format!("{:08x}-{:04x}-4abc-8def-{:012x}", seed as u32, (seed >> 32) as u16, id)
}

/// The API id of point `id`: every third one a UUID (sent in upper case
/// half the time: the server stores the canonical spelling), the rest
/// unsigned integers.
pub fn point_id(seed: u64, id: u64) -> Json {
    match id % 6 {
        0 => Json::String(uuid(seed, id).to_uppercase()),
        3 => Json::String(uuid(seed, id)),
        _ => json!(id),
    }
}

/// The point behind an id the server returned: integers for ids not
/// divisible by 3, the canonical UUID for the others; anything else `None`.
pub fn parse_point_id(seed: u64, j: &Json) -> Option<u64> {
    match j {
        Json::Number(n) => n.as_u64().filter(|id| id % 3 != 0),
        Json::String(s) => {
            let id = u64::from_str_radix(s.get(24..)?, 16).ok()?;
            (id % 3 == 0 && *s == uuid(seed, id)).then_some(id)
        }
        _ => None,
    }
}

fn point(seed: u64, id: u64) -> Json {
    json!({"id": point_id(seed, id), "vector": vector(seed, id), "payload": payload(seed, id)})
}

/// A blocking HTTP client for one server.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
}

/// The outcome of a request: an answer (status, body) or a transport error.
pub type Answer = Result<(u16, String), String>;

impl Client {
    /// A client for `base` (`http://host:port`).
    pub fn new(base: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Client { agent, base: base.trim_end_matches('/').to_string() }
    }

    /// `method` (PUT or POST) `path` with a JSON body.
    pub fn call(&self, method: &str, path: &str, body: &Json) -> Answer {
        let url = format!("{}{path}", self.base);
        let req = if method == "PUT" { self.agent.put(&url) } else { self.agent.post(&url) };
        let mut resp = req
            .header("content-type", "application/json")
            .send(body.to_string())
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().map_err(|e| format!("{method} {path}: body: {e}"))?;
        Ok((status, text))
    }

    /// Like [`Client::call`], but only a 2xx answer's JSON body is a success.
    pub fn ok(&self, method: &str, path: &str, body: &Json) -> Result<Json, String> {
        match self.call(method, path, body)? {
            (s, text) if (200..300).contains(&s) => {
                serde_json::from_str(&text).map_err(|e| format!("{method} {path}: answer is not JSON ({e}): {text}"))
            }
            (s, text) => Err(format!("{method} {path}: HTTP {s}: {text}")),
        }
    }
}

/// What the parent knows about one id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Upsert acknowledged: must be present.
    Present,
    /// Delete acknowledged: must be absent.
    Deleted,
    /// An unacknowledged upsert that a restart showed did not land: must stay absent.
    Gone,
    /// Upsert sent, outcome unknown.
    UnknownUpsert,
    /// Delete (of a present id) sent, outcome unknown.
    UnknownDelete,
}

/// The parent's model: the state of every id sent so far.
#[derive(Default)]
struct Model {
    states: HashMap<u64, State>,
    /// Present ids that no delete is in flight for.
    deletable: Vec<u64>,
}

/// A running server child.
struct Running {
    proc: Child,
    client: Client,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Running {
    fn stderr_tail(&self) -> String {
        self.stderr.lock().iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

/// Starts the child and waits for its listening line.
fn start(dir: &Path, child_cmd: &dyn Fn(&Path) -> Command) -> Result<Running, String> {
    let mut proc = child_cmd(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let stderr = Arc::new(Mutex::new(VecDeque::new()));
    let err_pipe = proc.stderr.take().expect("piped stderr");
    let tail = stderr.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
            let mut t = tail.lock();
            if t.len() == 20 {
                t.pop_front();
            }
            t.push_back(line);
        }
    });
    let out = proc.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Read until the listening line, then keep draining so the child never blocks on stdout.
        let mut sent = false;
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if !sent && line.starts_with(LISTENING) {
                let _ = tx.send(line[LISTENING.len()..].trim().to_string());
                sent = true;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(url) => {
                let client = Client::new(&url);
                return Ok(Running { proc, client, stderr });
            }
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                if let Some(status) = proc.try_wait().map_err(|e| e.to_string())? {
                    std::thread::sleep(Duration::from_millis(50));
                    let tail = stderr.lock().iter().cloned().collect::<Vec<_>>().join("\n");
                    return Err(format!("server exited before listening ({status}): {tail}"));
                }
            }
            Err(_) => {
                let _ = proc.kill();
                let _ = proc.wait();
                return Err("server printed no listening line within 60 s".into());
            }
        }
    }
}

/// SIGTERM, then wait (up to 60 s) for a clean exit.
fn stop_gracefully(mut r: Running) -> Result<(), String> {
    terminate(&mut r)
}

/// Sends SIGTERM and waits (up to 60 s) for exit status 0.
fn terminate(r: &mut Running) -> Result<(), String> {
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    let rc = unsafe { libc::kill(r.proc.id() as libc::pid_t, libc::SIGTERM) };
    if rc != 0 {
        return Err(format!("SIGTERM: {}", std::io::Error::last_os_error()));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = r.proc.try_wait().map_err(|e| e.to_string())? {
            std::thread::sleep(Duration::from_millis(50));
            return if status.success() {
                Ok(())
            } else {
                Err(format!("graceful shutdown exited with {status}: {}", r.stderr_tail()))
            };
        }
        if Instant::now() > deadline {
            let _ = r.proc.kill();
            let _ = r.proc.wait();
            return Err("server still running 60 s after SIGTERM".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Counts of one load phase.
#[derive(Default)]
struct Load {
    requests: u64,
    acked_upserts: u64,
    acked_deletes: u64,
    unknown: u64,
    searches: u64,
    bad_answers: u64,
    failed: u64,
    /// With [`End::Term`]: from SIGTERM to exit.
    term_ms: u128,
    /// With [`End::Term`]: the transport errors after SIGTERM.
    term_errors: Vec<String>,
}

/// Per-thread counters, merged at the end.
#[derive(Default)]
struct Tally {
    /// The first transport error after SIGTERM.
    first_error: Option<String>,
    requests: u64,
    searches: u64,
    bad_answers: u64,
    failed: u64,
}

impl Tally {
    /// Counts a request that got no answer; true if the client should stop
    /// (the server is draining after SIGTERM: keep the first such error).
    fn transport_failed(&mut self, e: String, draining: bool) -> bool {
        self.failed += 1;
        if draining {
            self.first_error.get_or_insert(e);
        }
        draining
    }
}

/// How a load phase ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// SIGKILL.
    Kill,
    /// SIGTERM while the clients keep sending: requests in flight must
    /// finish, and the server must exit 0.
    Term,
}

/// Drives `r` with [`CLIENTS`] threads for `kill_after`, then ends it.
fn load(
    r: &mut Running,
    seed: u64,
    cycle: u64,
    kill_after: Duration,
    end: End,
    model: &Mutex<Model>,
    next_id: &AtomicU64,
) -> Result<Load, String> {
    let stop = AtomicBool::new(false);
    // Set at SIGTERM: a client whose request fails then stops sending.
    let draining = AtomicBool::new(false);
    let tallies = Mutex::new(Vec::new());
    let before = model.lock().states.clone();
    let bad_shown = AtomicU64::new(0);
    let mut early_exit = None;
    let mut terminated = None;
    std::thread::scope(|s| {
        for t in 0..CLIENTS {
            let (client, stop, draining, tallies, bad_shown) =
                (r.client.clone(), &stop, &draining, &tallies, &bad_shown);
            s.spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed ^ (cycle << 8) ^ t as u64 ^ 0x5EED_0000);
                let mut tally = Tally::default();
                let path = |p: &str| format!("/collections/{COLLECTION}/points{p}");
                let bad = |tally: &mut Tally, what: &str, status: u16, text: &str| {
                    tally.bad_answers += 1;
                    if bad_shown.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("cycle {cycle}: {what}: HTTP {status}: {}", text.chars().take(300).collect::<String>());
                    }
                };
                while !stop.load(Ordering::Relaxed) {
                    let roll = rng.gen_range(0..10);
                    tally.requests += 1;
                    if roll < 5 {
                        let n = rng.gen_range(1..=4u64);
                        let first = next_id.fetch_add(n, Ordering::Relaxed);
                        let ids: Vec<u64> = (first..first + n).collect();
                        {
                            let mut m = model.lock();
                            for &id in &ids {
                                m.states.insert(id, State::UnknownUpsert);
                            }
                        }
                        let body = json!({"points": ids.iter().map(|&id| point(seed, id)).collect::<Vec<_>>()});
                        match client.call("PUT", &path("?wait=true"), &body) {
                            Ok((200, _)) => {
                                let mut m = model.lock();
                                for &id in &ids {
                                    m.states.insert(id, State::Present);
                                    m.deletable.push(id);
                                }
                            }
                            Ok((status, text)) => bad(&mut tally, "upsert", status, &text),
                            Err(e) => {
                                if tally.transport_failed(e, draining.load(Ordering::Relaxed)) {
                                    break;
                                }
                            }
                        }
                    } else if roll < 7 {
                        let ids: Vec<u64> = {
                            let mut m = model.lock();
                            let n = rng.gen_range(1..=2usize).min(m.deletable.len());
                            let mut ids = Vec::with_capacity(n);
                            for _ in 0..n {
                                let i = rng.gen_range(0..m.deletable.len());
                                let id = m.deletable.swap_remove(i);
                                m.states.insert(id, State::UnknownDelete);
                                ids.push(id);
                            }
                            ids
                        };
                        if ids.is_empty() {
                            tally.requests -= 1;
                            continue;
                        }
                        match client.call("POST", &path("/delete?wait=true"), &json!({ "points": ids.iter().map(|&id| point_id(seed, id)).collect::<Vec<_>>() }),
                        ) {
                            Ok((200, _)) => {
                                let mut m = model.lock();
                                for &id in &ids {
                                    m.states.insert(id, State::Deleted);
                                }
                            }
                            Ok((status, text)) => bad(&mut tally, "delete", status, &text),
                            Err(e) => {
                                if tally.transport_failed(e, draining.load(Ordering::Relaxed)) {
                                    break;
                                }
                            }
                        }
                    } else {
                        tally.searches += 1;
                        let mut body = json!({"query": vector(seed ^ 1, rng.gen()), "limit": 10, "with_payload": true});
                        if roll == 9 {
                            body["filter"] =
                                json!({"must": [{"key": "tag", "match": {"value": format!("t{}", rng.gen_range(0..7))}}]});
                        }
                        match client.call("POST", &path("/query"), &body) {
                            Ok((200, _)) => {}
                            Ok((status, text)) => bad(&mut tally, "query", status, &text),
                            Err(e) => {
                                if tally.transport_failed(e, draining.load(Ordering::Relaxed)) {
                                    break;
                                }
                            }
                        }
                    }
                }
                tallies.lock().push(tally);
            });
        }
        // Sleep until the kill, watching for a child that dies on its own.
        let deadline = Instant::now() + kill_after;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = r.proc.try_wait() {
                early_exit = Some(status);
                break;
            }
            std::thread::sleep((deadline - Instant::now()).min(Duration::from_millis(10)));
        }
        if early_exit.is_none() && end == End::Term {
            draining.store(true, Ordering::Relaxed);
            let t = Instant::now();
            terminated = Some(terminate(r).map(|()| t.elapsed()));
        }
        stop.store(true, Ordering::Relaxed);
        let _ = r.proc.kill();
        let _ = r.proc.wait();
    });
    if let Some(status) = early_exit {
        std::thread::sleep(Duration::from_millis(50));
        return Err(format!("server exited on its own under load ({status}): {}", r.stderr_tail()));
    }
    let mut l = Load::default();
    match terminated {
        Some(Err(e)) => return Err(format!("SIGTERM under load: {e}")),
        Some(Ok(took)) => l.term_ms = took.as_millis(),
        None => {}
    }
    for t in tallies.into_inner() {
        l.requests += t.requests;
        l.searches += t.searches;
        l.bad_answers += t.bad_answers;
        l.failed += t.failed;
        l.term_errors.extend(t.first_error);
    }
    let m = model.lock();
    for (id, st) in &m.states {
        let old = before.get(id).copied();
        match st {
            State::Present if old != Some(State::Present) => l.acked_upserts += 1,
            State::Deleted if old != Some(State::Deleted) => l.acked_deletes += 1,
            State::UnknownUpsert | State::UnknownDelete => l.unknown += 1,
            _ => {}
        }
    }
    Ok(l)
}

/// What a check found.
#[derive(Default, Debug)]
struct Check {
    present: u64,
    /// Writes of unknown outcome that the restart shows applied / not applied.
    unknown_applied: u64,
    unknown_absent: u64,
    lost: u64,
    corrupt: u64,
}

/// Reads every id below `next_id + BEYOND` back and compares with the model,
/// resolving unknown outcomes; then the exact count and a query.
fn verify(
    client: &Client,
    seed: u64,
    model: &mut Model,
    next_id: u64,
    log: &mut dyn FnMut(String),
) -> Result<Check, String> {
    let mut found: HashMap<u64, (Vec<f32>, Json)> = HashMap::new();
    let mut c = Check::default();
    let end = next_id + BEYOND;
    let retrieve = format!("/collections/{COLLECTION}/points");
    for start in (0..end).step_by(RETRIEVE_CHUNK as usize) {
        let ids: Vec<Json> = (start..(start + RETRIEVE_CHUNK).min(end)).map(|id| point_id(seed, id)).collect();
        let answer = client.ok("POST", &retrieve, &json!({"ids": ids, "with_payload": true, "with_vector": true}))?;
        let points = answer["result"].as_array().ok_or_else(|| format!("retrieve: no result list: {answer}"))?;
        for p in points {
            let Some(id) = parse_point_id(seed, &p["id"]) else {
                log(format!("retrieve returned a point with id {}", p["id"]));
                c.corrupt += 1;
                continue;
            };
            let vector: Option<Vec<f32>> =
                p["vector"].as_array().and_then(|v| v.iter().map(|x| x.as_f64().map(|f| f as f32)).collect());
            let Some(vector) = vector else {
                log(format!("point {id}: no vector in {p}"));
                c.corrupt += 1;
                continue;
            };
            if found.insert(id, (vector, p["payload"].clone())).is_some() {
                log(format!("point {id} returned twice"));
                c.corrupt += 1;
            }
        }
    }
    let intact = |id: u64, (v, p): &(Vec<f32>, Json)| -> bool {
        let want = vector(seed, id);
        *v == want && *p == payload(seed, id)
    };
    let mut bad_logged = 0;
    let mut note = |c: &mut Check, lost: bool, msg: String| {
        if lost {
            c.lost += 1;
        } else {
            c.corrupt += 1;
        }
        if bad_logged < 10 {
            bad_logged += 1;
            log(msg);
        }
    };
    for id in 0..end {
        let got = found.get(&id);
        if let Some(g) = got {
            if !intact(id, g) {
                note(&mut c, false, format!("point {id} damaged: vector {:?} payload {}", g.0, g.1));
                continue;
            }
        }
        let state = model.states.get(&id).copied();
        match (state, got.is_some()) {
            (Some(State::Present), true) | (Some(State::Deleted | State::Gone) | None, false) => {}
            (Some(State::Present), false) => note(&mut c, true, format!("point {id}: acknowledged upsert lost")),
            (Some(State::Deleted), true) => note(&mut c, true, format!("point {id}: acknowledged delete lost")),
            (Some(State::Gone), true) => {
                note(&mut c, false, format!("point {id}: reappeared after a restart showed it absent"))
            }
            (None, true) => note(&mut c, false, format!("point {id}: never written, but present")),
            (Some(s @ (State::UnknownUpsert | State::UnknownDelete)), true) => {
                if s == State::UnknownUpsert {
                    c.unknown_applied += 1;
                } else {
                    c.unknown_absent += 1;
                }
                model.states.insert(id, State::Present);
                model.deletable.push(id);
            }
            (Some(State::UnknownUpsert), false) => {
                c.unknown_absent += 1;
                model.states.insert(id, State::Gone);
            }
            (Some(State::UnknownDelete), false) => {
                c.unknown_applied += 1;
                model.states.insert(id, State::Deleted);
            }
        }
    }
    c.present = found.len() as u64;
    let count = client.ok("POST", &format!("/collections/{COLLECTION}/points/count"), &json!({"exact": true}))?;
    match count["result"]["count"].as_u64() {
        Some(n) if n == c.present => {}
        other => {
            log(format!("count says {other:?}, {} points found", c.present));
            c.corrupt += 1;
        }
    }
    let q = json!({"query": vector(seed ^ 1, 0), "limit": 10, "with_payload": true});
    let hits = client.ok("POST", &format!("/collections/{COLLECTION}/points/query"), &q)?;
    let n = hits["result"]["points"].as_array().map_or(0, |p| p.len()) as u64;
    if n != c.present.min(10) {
        log(format!("query found {n} points, expected {}", c.present.min(10)));
        c.corrupt += 1;
    }
    Ok(c)
}

/// Parent side: `cycles` rounds of load → SIGKILL → restart → check, then a
/// graceful stop, a restart and a last check. `child_cmd` builds the command
/// that runs [`child`] on a directory; `log` gets one line per cycle (and
/// any problem found).
pub fn run(
    dir: &Path,
    cycles: u64,
    seed: u64,
    child_cmd: &dyn Fn(&Path) -> Command,
    log: &mut dyn FnMut(String),
) -> ServerSummary {
    run_with(dir, cycles, seed, child_cmd, log, &|_, _| {})
}

/// [`run`], calling `tamper(client, next_id)` on each restarted server
/// before it is checked (`next_id`: the first id never sent). Tests use it
/// to prove the check catches a lost or an unexplained point.
pub fn run_with(
    dir: &Path,
    cycles: u64,
    seed: u64,
    child_cmd: &dyn Fn(&Path) -> Command,
    log: &mut dyn FnMut(String),
    tamper: &dyn Fn(&Client, u64),
) -> ServerSummary {
    let mut summary = ServerSummary::default();
    let mut rng = StdRng::seed_from_u64(seed);
    let model = Mutex::new(Model::default());
    let next_id = AtomicU64::new(0);
    fn fail(summary: &mut ServerSummary, log: &mut dyn FnMut(String), why: String) {
        log(format!("cycle {}: {why}", summary.cycles));
        summary.corrupt += 1;
    }
    let mut server = match start(dir, child_cmd) {
        Ok(s) => s,
        Err(e) => {
            fail(&mut summary, log, e);
            return summary;
        }
    };
    let create = json!({"vectors": {"size": DIM, "distance": "Euclid"}});
    if let Err(e) = server.client.ok("PUT", &format!("/collections/{COLLECTION}"), &create) {
        fail(&mut summary, log, format!("create collection: {e}"));
        let _ = server.proc.kill();
        let _ = server.proc.wait();
        return summary;
    }
    for cycle in 0..cycles {
        // Mostly mid-load; sometimes right after the start.
        let kill_after = if rng.gen_bool(0.15) {
            Duration::from_millis(rng.gen_range(0..30))
        } else {
            Duration::from_millis(rng.gen_range(100..1200))
        };
        let l = match load(&mut server, seed, cycle, kill_after, End::Kill, &model, &next_id) {
            Ok(l) => l,
            Err(e) => {
                fail(&mut summary, log, e);
                return summary;
            }
        };
        summary.add_load(&l);
        let restart = Instant::now();
        server = match start(dir, child_cmd) {
            Ok(s) => s,
            Err(e) => {
                fail(&mut summary, log, format!("restart after SIGKILL: {e}"));
                return summary;
            }
        };
        let restart_ms = restart.elapsed().as_millis();
        let t = Instant::now();
        tamper(&server.client, next_id.load(Ordering::Relaxed));
        let check = verify(&server.client, seed, &mut model.lock(), next_id.load(Ordering::Relaxed), log);
        let check = match check {
            Ok(c) => c,
            Err(e) => {
                fail(&mut summary, log, format!("check after restart: {e}"));
                let _ = server.proc.kill();
                let _ = server.proc.wait();
                return summary;
            }
        };
        summary.lost += check.lost;
        summary.corrupt += check.corrupt;
        summary.cycles += 1;
        log(format!(
            "cycle {cycle}: killed after {} ms: {} requests ({} searches, {} failed by the kill), {} acked upserts, {} acked deletes, {} unknown; restart in {} ms: {} points checked in {} ms ({} unknown applied, {} not), {} lost, {} corrupt",
            kill_after.as_millis(),
            l.requests,
            l.searches,
            l.failed,
            l.acked_upserts,
            l.acked_deletes,
            l.unknown,
            restart_ms,
            check.present,
            t.elapsed().as_millis(),
            check.unknown_applied,
            check.unknown_absent,
            check.lost,
            check.corrupt
        ));
        if !summary.clean() {
            let _ = server.proc.kill();
            let _ = server.proc.wait();
            return summary;
        }
    }
    // A graceful stop under load must finish the requests in flight, flush
    // and exit 0; what it leaves must check out too.
    let l = match load(&mut server, seed, cycles, Duration::from_millis(500), End::Term, &model, &next_id) {
        Ok(l) => l,
        Err(e) => {
            fail(&mut summary, log, e);
            return summary;
        }
    };
    summary.add_load(&l);
    match start(dir, child_cmd) {
        Ok(server) => {
            match verify(&server.client, seed, &mut model.lock(), next_id.load(Ordering::Relaxed), log) {
                Ok(c) => {
                    summary.lost += c.lost;
                    summary.corrupt += c.corrupt;
                    log(format!(
                        "SIGTERM under load after 500 ms: {} requests ({} failed by the stop), {} acked upserts, {} acked deletes, {} unknown ({} applied, {} not), exit 0 after {} ms; restart: {} points, {} lost, {} corrupt",
                        l.requests, l.failed, l.acked_upserts, l.acked_deletes, l.unknown, c.unknown_applied, c.unknown_absent, l.term_ms, c.present, c.lost, c.corrupt
                    ));
                }
                Err(e) => fail(&mut summary, log, format!("check after graceful restart: {e}")),
            }
            for e in &l.term_errors {
                log(format!("  a client after SIGTERM: {e}"));
            }
            // And once more when idle.
            if let Err(e) = stop_gracefully(server) {
                fail(&mut summary, log, format!("final SIGTERM: {e}"));
            }
        }
        Err(e) => fail(&mut summary, log, format!("restart after SIGTERM: {e}")),
    }
    summary
}
