//! `vego-chaos MODE --cycles N --seed S`: crash loops against Vego.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Crash loops that check Vego loses no acknowledged write")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

/// What every crash loop takes.
#[derive(clap::Args)]
struct Run {
    /// Cycles (crashes, power losses or fault rounds) to run.
    #[arg(long, default_value_t = 50)]
    cycles: u64,
    /// Seed of the workload and of every crash or fault choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Database directory (default: a fresh temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// `powerloss` / `iofault`: several writer threads over two collections
    /// with flushes and compactions running (checked against one cut of the
    /// global history).
    #[arg(long)]
    concurrent: bool,
    /// Durability of the concurrent modes: `sync`, `periodic` (every 5 ms)
    /// or `none`.
    #[arg(long, default_value = "sync", value_parser = ["sync", "periodic", "none"])]
    durability: String,
}

impl Run {
    fn durability(&self) -> vego::Durability {
        match self.durability.as_str() {
            "periodic" => vego::Durability::Periodic(std::time::Duration::from_millis(5)),
            "none" => vego::Durability::None,
            _ => vego::Durability::Sync,
        }
    }
}

impl Run {
    /// The database directory, in `tmp` unless one was given.
    fn dir(&self, tmp: &tempfile::TempDir) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf())
    }
}

#[derive(Subcommand)]
enum Mode {
    /// SIGKILL a writer process at random moments; reopen and compare with the model.
    Kill(Run),
    /// Simulate power losses at random storage calls (unsynced writes dropped,
    /// torn or zeroed; unsynced directory operations kept or lost); reopen
    /// and compare with the model.
    Powerloss(Run),
    /// Inject I/O faults (EIO on write / fsync / directory fsync / rename,
    /// ENOSPC, short writes); check errors, reads, poisoning and, after a
    /// power loss, that nothing acknowledged is lost.
    Iofault(Run),
    /// Interrupt an explicit and a partial merge at every one of their
    /// storage calls (power cut, each I/O fault kind); reopen and check
    /// nothing was lost or left behind (`--cycles` is ignored: the steps
    /// decide).
    MergeSteps(Run),
    /// SIGKILL the HTTP server under concurrent upserts, deletes and queries;
    /// restart it and check over HTTP that every acknowledged write is there.
    Server(Run),
    /// Internal: the writer process of `kill`.
    #[command(hide = true)]
    Child {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        start: u64,
    },
    /// Internal: the server process of `server` (prints its listening line, serves until SIGTERM).
    #[command(hide = true)]
    ServerChild {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Internal: rewrite and compact forever (for kill-during-compaction tests).
    #[command(hide = true)]
    CompactChild {
        #[arg(long)]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cli_mode = match &cli.mode {
        Mode::Iofault(_) => Some("iofault"),
        _ => None,
    };
    match cli.mode {
        Mode::Child { dir, seed, start } => vego_chaos::kill::child(&dir, seed, start),
        Mode::CompactChild { dir } => vego_chaos::kill::compact_child(&dir),
        Mode::ServerChild { dir } => vego_chaos::server::child(&dir),
        Mode::Server(run) => {
            let Run { cycles, seed, .. } = run;
            let tmp = tempfile::tempdir().expect("temp dir");
            let dir = run.dir(&tmp);
            let exe = std::env::current_exe().expect("own executable");
            let child = |dir: &std::path::Path| {
                let mut cmd = Command::new(&exe);
                cmd.arg("server-child").arg("--dir").arg(dir);
                cmd
            };
            let summary = vego_chaos::server::run(&dir, cycles, seed, &child, &mut |line| eprintln!("{line}"));
            println!("{summary}");
            if summary.clean() && summary.cycles == cycles {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Mode::Kill(run) => {
            let Run { cycles, seed, .. } = run;
            let tmp = tempfile::tempdir().expect("temp dir");
            let dir = run.dir(&tmp);
            let exe = std::env::current_exe().expect("own executable");
            let child = |dir: &std::path::Path, seed: u64, start: u64| {
                let mut cmd = Command::new(&exe);
                cmd.arg("child").arg("--dir").arg(dir).arg("--seed").arg(seed.to_string());
                cmd.arg("--start").arg(start.to_string());
                cmd
            };
            let summary = vego_chaos::kill::run(&dir, cycles, seed, &child, every_100);
            finish(&summary, cycles)
        }
        Mode::Powerloss(run) | Mode::Iofault(run) if run.concurrent => {
            let mode = if matches!(cli_mode, Some("iofault")) {
                vego_chaos::concurrent::Mode::IoFault
            } else {
                vego_chaos::concurrent::Mode::PowerLoss
            };
            let tmp = tempfile::tempdir().expect("temp dir");
            let dir = run.dir(&tmp);
            let summary = vego_chaos::concurrent::run(&dir, run.cycles, run.seed, mode, run.durability(), every_100);
            finish(&summary, run.cycles)
        }
        Mode::Powerloss(run) => {
            let Run { cycles, seed, .. } = run;
            let tmp = tempfile::tempdir().expect("temp dir");
            let dir = run.dir(&tmp);
            let summary = vego_chaos::powerloss::run(&dir, cycles, seed, every_100);
            finish(&summary, cycles)
        }
        Mode::MergeSteps(run) => {
            let tmp = tempfile::tempdir().expect("temp dir");
            let dir = run.dir(&tmp);
            let (summary, counts) = vego_chaos::merge_steps::run(&dir, run.seed, every_100);
            eprintln!("{counts}");
            let cycles = summary.cycles;
            finish(&summary, cycles)
        }
        Mode::Iofault(run) => {
            let Run { cycles, seed, .. } = run;
            let tmp = tempfile::tempdir().expect("temp dir");
            let dir = run.dir(&tmp);
            let (summary, counts) = vego_chaos::iofault::run(&dir, cycles, seed, every_100);
            eprintln!("{counts}");
            finish(&summary, cycles)
        }
    }
}

fn every_100(s: &vego_chaos::Summary) {
    if s.cycles.is_multiple_of(100) {
        eprintln!("{s}");
    }
}

/// Prints the final line; failure if anything was lost or corrupt, or the
/// run stopped early.
fn finish(summary: &vego_chaos::Summary, cycles: u64) -> ExitCode {
    println!("{summary}");
    if !summary.clean() || summary.cycles < cycles {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
