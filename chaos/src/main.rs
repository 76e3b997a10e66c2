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
            let summary = vego_chaos::kill::run(&dir, cycles, seed, &child, |s| {
                if s.cycles % 100 == 0 {
                    eprintln!("{s}");
                }
            });
            println!("{summary}");
            if summary.lost + summary.corrupt > 0 || summary.cycles < cycles {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
