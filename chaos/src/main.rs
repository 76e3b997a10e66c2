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

#[derive(Subcommand)]
enum Mode {
    /// SIGKILL a writer process at random moments; reopen and compare with the model.
    Kill {
        /// Kill cycles to run.
        #[arg(long, default_value_t = 50)]
        cycles: u64,
        /// Seed of the workload and of the kill timing.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Database directory (default: a fresh temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Simulate power losses at random storage calls (unsynced writes dropped,
    /// torn or garbled; unsynced directory operations kept or lost); reopen
    /// and compare with the model.
    Powerloss {
        /// Power losses to simulate.
        #[arg(long, default_value_t = 50)]
        cycles: u64,
        /// Seed of the workload and of every crash choice.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Database directory (default: a fresh temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Inject I/O faults (EIO on write / fsync / directory fsync / rename,
    /// ENOSPC, short writes); check errors, reads, poisoning and, after a
    /// power loss, that nothing acknowledged is lost.
    Iofault {
        /// Fault cycles to run.
        #[arg(long, default_value_t = 50)]
        cycles: u64,
        /// Seed of the workload and of every fault choice.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Database directory (default: a fresh temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
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
    /// Internal: rewrite and compact forever (for kill-during-compaction tests).
    #[command(hide = true)]
    CompactChild {
        #[arg(long)]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    match Cli::parse().mode {
        Mode::Child { dir, seed, start } => vego_chaos::kill::child(&dir, seed, start),
        Mode::CompactChild { dir } => vego_chaos::kill::compact_child(&dir),
        Mode::Kill { cycles, seed, dir } => {
            let tmp = tempfile::tempdir().expect("temp dir");
            let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
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
        Mode::Powerloss { cycles, seed, dir } => {
            let tmp = tempfile::tempdir().expect("temp dir");
            let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
            let summary = vego_chaos::powerloss::run(&dir, cycles, seed, every_100);
            finish(&summary, cycles)
        }
        Mode::Iofault { cycles, seed, dir } => {
            let tmp = tempfile::tempdir().expect("temp dir");
            let dir = dir.unwrap_or_else(|| tmp.path().to_path_buf());
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
