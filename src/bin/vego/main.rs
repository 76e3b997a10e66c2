//! `vego`: command-line tools around the Vego embedded vector database.
//!
//! * `vego bench-ann`: the ANN benchmark that `../shared/bench/compare.py`
//!   calls (build a real collection, sweep `ef`, print one JSON line per
//!   `ef`). See `bench_ann.rs`.

mod bench_ann;
mod fvecs;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "vego", version, about = "Tools for the Vego embedded vector database")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Recall / QPS / latency of the public search path on an fvecs dataset.
    BenchAnn(bench_ann::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::BenchAnn(args) => bench_ann::run(&args),
    };
    if let Err(e) = result {
        eprintln!("vego: {e}");
        std::process::exit(1);
    }
}
