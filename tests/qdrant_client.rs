//! End to end: `vego serve` driven by the real Python `qdrant-client` from
//! PyPI (version pinned in `tests/qdrant/requirements.txt`).
//!
//! The client is installed once into a virtualenv under the target directory
//! (reused while the requirements file and the Python version stay the same).
//! `tests/qdrant/workflow.py --phase load` then creates collections, upserts,
//! updates, deletes, searches with filters, counts, retrieves and scrolls,
//! checking every answer against a brute-force model; the server is stopped
//! and started again on the same data directory and `--phase verify` checks
//! that it holds exactly the expected state. Twice: once with a graceful stop
//! (SIGTERM, exit status 0) and once with SIGKILL (acknowledged writes must
//! survive a kill -9).
//!
//! `differential_against_qdrant_local_mode` runs `tests/qdrant/differential.py`:
//! the same seeded random workload against an in-process server and against
//! qdrant-client's local mode, comparing every answer, while a thread flushes
//! and compacts the collections underneath (so answers come from memtables,
//! frozen memtables and segments alike). `VEGO_DIFF_SEED`, `VEGO_DIFF_ROUNDS`,
//! `VEGO_DIFF_STEPS` and `VEGO_DIFF_POINTS` size it (CI: the defaults, well
//! under a minute).
//!
//! Without `python3` (with `venv` and `pip`) or without access to PyPI the
//! test fails with a message saying so, unless `VEGO_SKIP_QDRANT_CLIENT=1`
//! is set, which turns that case into a skip.

#![cfg(all(unix, feature = "server"))]

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const REQUIREMENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/qdrant/requirements.txt");
const WORKFLOW: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/qdrant/workflow.py");
const DIFFERENTIAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/qdrant/differential.py");
const SKIP_VAR: &str = "VEGO_SKIP_QDRANT_CLIENT";
const API_KEY: &str = "vego-e2e-key-7f3a";
const LISTENING: &str = "vego serve: listening on ";
/// Time for the server to print its listening line, and to exit after SIGTERM.
const SERVER_TIMEOUT: Duration = Duration::from_secs(60);
/// Time for one phase of the workflow (a few seconds normally).
const PHASE_TIMEOUT: Duration = Duration::from_secs(300);
/// Time for creating the virtualenv and installing the client from PyPI.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(900);

#[test]
fn qdrant_client_against_vego_serve() {
    let t0 = Instant::now();
    let Some(python) = client_venv() else { return };
    println!("qdrant-client venv ready in {:.1} s", t0.elapsed().as_secs_f64());

    let tmp = tempfile::tempdir().expect("tempdir");
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();

    // Graceful restart.
    let data = tmp.path().join("graceful");
    let server = Server::start(&data, &logs, "graceful-1");
    run_phase(&python, &server, "load", &logs);
    server.terminate();
    let server = Server::start(&data, &logs, "graceful-2");
    run_phase(&python, &server, "verify", &logs);
    server.terminate();

    // kill -9 right after the last acknowledged write.
    let data = tmp.path().join("killed");
    let server = Server::start(&data, &logs, "killed-1");
    run_phase(&python, &server, "load", &logs);
    server.kill9();
    let server = Server::start(&data, &logs, "killed-2");
    run_phase(&python, &server, "verify", &logs);
    server.terminate();

    println!("qdrant-client end-to-end test passed in {:.1} s", t0.elapsed().as_secs_f64());
}

/// A `VEGO_DIFF_*` setting, else `default`.
fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn differential_against_qdrant_local_mode() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let Some(python) = client_venv() else { return };
    let seed = setting("VEGO_DIFF_SEED", 20261201);
    let rounds = setting("VEGO_DIFF_ROUNDS", 40);
    let steps = setting("VEGO_DIFF_STEPS", 80);
    let points = setting("VEGO_DIFF_POINTS", 120);
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = vego::Db::open(tmp.path(), vego::Options::default()).expect("open");
    let opts = vego::server::ServerOptions::new("127.0.0.1:0".parse().unwrap()).api_key(API_KEY);
    let server = vego::server::Server::start(db.clone(), opts).expect("start the server");
    let url = format!("http://{}", server.addr());

    // Flushes (every pass) and compactions (every fourth) while the workload
    // runs. A collection the workload dropped meanwhile is skipped; any
    // other error fails the test.
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let churn = {
        let (db, stop, errors) = (db.clone(), stop.clone(), errors.clone());
        std::thread::spawn(move || {
            let mut pass = 0u64;
            while !stop.load(Ordering::Relaxed) {
                pass += 1;
                for name in db.collections() {
                    let Ok(Some(c)) = db.get_collection(&name) else { continue };
                    let r =
                        c.flush().and_then(|()| if pass.is_multiple_of(4) { c.compact().map(drop) } else { Ok(()) });
                    match r {
                        Ok(()) | Err(vego::Error::CollectionNotFound(_)) => {}
                        Err(e) => errors.lock().unwrap().push(format!("{name}: {e}")),
                    }
                }
                std::thread::sleep(Duration::from_millis(40));
            }
            pass
        })
    };
    let tmp_logs = tmp.path().join("logs");
    std::fs::create_dir_all(&tmp_logs).unwrap();
    let log = tmp_logs.join("differential.log");
    let t = Instant::now();
    let (status, output) = run_logged(
        Command::new(&python)
            .arg(DIFFERENTIAL)
            .args(["--url", &url, "--api-key", API_KEY])
            .args(["--seed", &seed.to_string(), "--rounds", &rounds.to_string()])
            .args(["--steps", &steps.to_string(), "--points", &points.to_string()])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONWARNINGS", "ignore"),
        &log,
        PHASE_TIMEOUT * 4,
    );
    stop.store(true, Ordering::Relaxed);
    let passes = churn.join().expect("flush thread");
    server.shutdown().expect("shutdown");
    let errors = errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "flush / compact failed during the differential run: {errors:?}");
    let summary = output.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    match status {
        Some(s) if s.success() => {
            println!("{summary} ({passes} flush passes, {:.1} s)", t.elapsed().as_secs_f64());
        }
        other => {
            let shown: Vec<&str> = output.lines().filter(|l| !l.starts_with("round ")).collect();
            panic!(
                "differential test against qdrant-client's local mode failed ({other:?}), seed {seed} \
                 (rerun: VEGO_DIFF_SEED={seed} VEGO_DIFF_ROUNDS={rounds} cargo test --release --test qdrant_client \
                 differential -- --nocapture)\n{}",
                tail(&shown.join("\n"), 300)
            );
        }
    }
}

// --------------------------------------------------------------------------
// The server process

/// A running `vego serve`; killed (SIGKILL) when dropped, so a failing test
/// never leaves it behind.
struct Server {
    child: Option<Child>,
    url: String,
    name: String,
    stderr_path: PathBuf,
    started: Instant,
}

impl Server {
    fn start(data: &Path, logs: &Path, name: &str) -> Server {
        let stderr_path = logs.join(format!("{name}.stderr"));
        let stderr = File::create(&stderr_path).expect("server log file");
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_vego"))
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--addr", "127.0.0.1:0", "--api-key", API_KEY])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn vego serve");
        let stdout = child.stdout.take().unwrap();
        let mut server = Server { child: Some(child), url: String::new(), name: name.into(), stderr_path, started };

        // Read stdout on a thread (it keeps draining it after the first line,
        // so the server never blocks on a full pipe) and wait for the
        // listening line with a timeout.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let line = match rx.recv_timeout(SERVER_TIMEOUT) {
            Ok(line) => line,
            Err(e) => {
                let status = server.child.as_mut().unwrap().try_wait().ok().flatten();
                panic!(
                    "{name}: no listening line from `vego serve` after {:.1} s ({e}; process status {status:?})\n{}",
                    server.started.elapsed().as_secs_f64(),
                    server.log()
                );
            }
        };
        let url = line.strip_prefix(LISTENING).unwrap_or_else(|| {
            panic!("{name}: first stdout line {line:?} is not `{LISTENING}http://127.0.0.1:PORT`\n{}", server.log())
        });
        let port = url.strip_prefix("http://127.0.0.1:").and_then(|p| p.parse::<u16>().ok());
        assert!(matches!(port, Some(p) if p != 0), "{name}: bad listening address in {line:?}");
        server.url = url.to_string();
        println!("{name}: {line} ({:.2} s after spawn)", started.elapsed().as_secs_f64());
        server
    }

    fn pid(&self) -> libc::pid_t {
        self.child.as_ref().unwrap().id() as libc::pid_t
    }

    /// The server's stderr so far, for failure messages.
    fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        format!("--- `vego serve` stderr ({}) ---\n{}\n--- end of stderr ---", self.name, tail(&text, 200))
    }

    /// SIGTERM: the server must flush, close and exit with status 0.
    fn terminate(mut self) {
        let t = Instant::now();
        // SAFETY: plain kill(2) on our own child, which has not been reaped.
        let rc = unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM): {}", std::io::Error::last_os_error());
        let status = self.wait(SERVER_TIMEOUT);
        match status {
            Some(status) => assert!(
                status.success(),
                "{}: `vego serve` exited with {status} after SIGTERM, expected status 0\n{}",
                self.name,
                self.log()
            ),
            None => {
                panic!("{}: `vego serve` still running {:?} after SIGTERM\n{}", self.name, SERVER_TIMEOUT, self.log())
            }
        }
        println!("{}: stopped by SIGTERM in {:.2} s, exit status 0", self.name, t.elapsed().as_secs_f64());
        self.child = None;
    }

    /// SIGKILL: no chance to flush anything.
    fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        println!("{}: killed with SIGKILL ({status})", self.name);
    }

    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_timeout(self.child.as_mut().unwrap(), timeout)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let skip = all.len().saturating_sub(lines);
    let mut out = if skip > 0 { format!("[... {skip} lines ...]\n") } else { String::new() };
    out.push_str(&all[skip..].join("\n"));
    out
}

// --------------------------------------------------------------------------
// Python

/// Runs a command with stdout and stderr going to one file, killing it after
/// `timeout`; returns the exit status (None on timeout) and the output.
fn run_logged(cmd: &mut Command, log: &Path, timeout: Duration) -> (Option<ExitStatus>, String) {
    let out = File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let status = wait_timeout(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut bytes = Vec::new();
    File::open(log).and_then(|mut f| f.read_to_end(&mut bytes)).expect("read log");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn run_phase(python: &Path, server: &Server, phase: &str, logs: &Path) {
    let t = Instant::now();
    let log = logs.join(format!("{}-{phase}.log", server.name));
    let (status, output) = run_logged(
        Command::new(python)
            .arg(WORKFLOW)
            .args(["--url", &server.url, "--api-key", API_KEY, "--phase", phase])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONIOENCODING", "utf-8"),
        &log,
        PHASE_TIMEOUT,
    );
    let what = match status {
        Some(s) if s.success() => {
            let summary = output.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            println!("{}: {summary} ({:.1} s with interpreter start)", server.name, t.elapsed().as_secs_f64());
            return;
        }
        Some(s) => format!("failed ({s})"),
        None => format!("did not finish within {PHASE_TIMEOUT:?}"),
    };
    // The passed checks ("ok ..." lines) are left out; sections, failures
    // and tracebacks stay.
    let shown: Vec<&str> = output.lines().filter(|l| !l.starts_with("ok ")).collect();
    panic!(
        "{}: workflow.py --phase {phase} {what}\n--- workflow.py output ({} passed checks not shown) ---\n{}\n--- end of workflow.py output ---\n{}",
        server.name,
        output.lines().count() - shown.len(),
        tail(&shown.join("\n"), 400),
        server.log()
    );
}

/// The virtualenv's python with qdrant-client installed, or None when Python
/// or PyPI is unavailable and `VEGO_SKIP_QDRANT_CLIENT=1` says to skip.
fn client_venv() -> Option<PathBuf> {
    match prepare_venv() {
        Ok(python) => Some(python),
        Err(why) => {
            if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") {
                println!("SKIPPED the qdrant-client end-to-end test ({SKIP_VAR}=1): {why}");
                None
            } else {
                panic!(
                    "the qdrant-client end-to-end test needs python3 (with venv and pip) and access to PyPI: {why}\n\
                     (set {SKIP_VAR}=1 to skip this test where that is unavailable)"
                );
            }
        }
    }
}

fn prepare_venv() -> Result<PathBuf, String> {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&base).map_err(|e| format!("create {}: {e}", base.display()))?;
    // One test process at a time sets the venv up.
    let lock = File::create(base.join("qdrant-venv.lock")).map_err(|e| format!("lock file: {e}"))?;
    // SAFETY: flock on a descriptor we own; released when `lock` is dropped.
    if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) } != 0 {
        return Err(format!("flock: {}", std::io::Error::last_os_error()));
    }

    let venv = base.join("qdrant-venv");
    let python = venv.join("bin").join("python");
    let stamp_path = venv.join("vego-requirements.stamp");
    let requirements = std::fs::read(REQUIREMENTS).map_err(|e| format!("read {REQUIREMENTS}: {e}"))?;
    let version = Command::new("python3").arg("--version").output().map_err(|e| format!("cannot run python3: {e}"))?;
    if !version.status.success() {
        return Err(format!("python3 --version failed: {}", String::from_utf8_lossy(&version.stderr)));
    }
    let python_version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let stamp = format!("{python_version}\nrequirements xxh3 {:016x}\n", xxhash_rust::xxh3::xxh3_64(&requirements));

    let reusable = std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp)
        && Command::new(&python)
            .args(["-c", "import qdrant_client"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if reusable {
        return Ok(python);
    }

    println!("creating the qdrant-client virtualenv in {} ({python_version})", venv.display());
    if venv.exists() {
        std::fs::remove_dir_all(&venv).map_err(|e| format!("remove old {}: {e}", venv.display()))?;
    }
    let log = base.join("qdrant-venv-install.log");
    let (status, output) = run_logged(Command::new("python3").arg("-m").arg("venv").arg(&venv), &log, INSTALL_TIMEOUT);
    if !status.is_some_and(|s| s.success()) {
        return Err(format!("`python3 -m venv {}` failed ({status:?}):\n{}", venv.display(), tail(&output, 40)));
    }
    let (status, output) = run_logged(
        Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-r", REQUIREMENTS])
            .env("PIP_NO_INPUT", "1"),
        &log,
        INSTALL_TIMEOUT,
    );
    if !status.is_some_and(|s| s.success()) {
        return Err(format!("`pip install -r {REQUIREMENTS}` failed ({status:?}):\n{}", tail(&output, 40)));
    }
    std::fs::write(&stamp_path, stamp).map_err(|e| format!("write {}: {e}", stamp_path.display()))?;
    Ok(python)
}
