//! `vego`: command-line tools around the Vego embedded vector database.
//!
//! * `import`: load JSON lines or `.fvecs` into a collection (`import.rs`).
//! * `search`, `get`, `delete`, `stats`, `compact`, `backup`, `restore`
//!   (`commands.rs`).
//! * `inspect`: dump and check any WAL, segment or manifest file (`inspect.rs`).
//! * `bench-ann`: the ANN benchmark that `../shared/bench/compare.py` calls
//!   (`bench_ann.rs`).
//! * `bench-scale`: the engine at scale with default options (`bench_scale.rs`).
//! * `bench-serve`: a bounded HTTP load test of the server (`bench_serve.rs`).
//! * `serve`: the Qdrant-compatible HTTP server (`serve.rs`, `vego::server`).
//!
//! Output is for people by default; `--json` prints one JSON document for
//! scripts. Errors go to stderr with exit status 1 (2 for usage errors).

mod bench_ann;
mod bench_scale;
#[cfg(feature = "server")]
mod bench_serve;
mod commands;
mod fvecs;
mod import;
mod inspect;
mod json;
mod rng;
#[cfg(feature = "server")]
mod serve;

use clap::{Parser, Subcommand};
use vego::Distance;

#[derive(Parser)]
#[command(name = "vego", version, about = "Tools for the Vego embedded vector database")]
struct Cli {
    /// Print JSON for scripts instead of human-readable text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load JSON lines or .fvecs into a collection (created with the file's dimension).
    Import(import::Args),
    /// Nearest neighbours of a vector, optionally filtered by metadata.
    Search(commands::SearchArgs),
    /// Print documents by id.
    Get(commands::GetArgs),
    /// Delete documents by id.
    Delete(commands::DeleteArgs),
    /// Database and collection statistics.
    Stats(commands::StatsArgs),
    /// Flush and compact collections (merge segments, drop dead versions).
    Compact(commands::CompactArgs),
    /// Consistent copy of a database (it may be in use by no other process).
    Backup(commands::BackupArgs),
    /// Copy a backup into a new database directory and check it.
    Restore(commands::RestoreArgs),
    /// Dump a WAL, segment or manifest file and check every checksum.
    Inspect(inspect::Args),
    /// Recall / QPS / latency of the public search path on an fvecs dataset.
    BenchAnn(bench_ann::Args),
    /// The engine at scale: ingest N synthetic vectors with default options, then recall / QPS, filtered QPS, reopen and restart times.
    BenchScale(bench_scale::Args),
    /// Serve a database over HTTP with the Qdrant API subset (until SIGINT / SIGTERM).
    #[cfg(feature = "server")]
    Serve(serve::Args),
    /// HTTP load test: concurrent upserts and (filtered) queries against a server.
    #[cfg(feature = "server")]
    BenchServe(bench_serve::Args),
}

/// How to print.
#[derive(Clone, Copy)]
pub struct Output {
    /// JSON instead of text.
    pub json: bool,
}

/// What every command returns.
pub type CliResult = Result<(), Box<dyn std::error::Error>>;

/// An error with a message.
pub fn fail(msg: impl Into<String>) -> CliResult {
    Err(msg.into().into())
}

/// Parses a metric name.
pub fn parse_metric(s: &str) -> Result<Distance, String> {
    match s {
        "l2" | "euclidean" => Ok(Distance::L2),
        "cos" | "cosine" | "angular" => Ok(Distance::Cosine),
        "ip" | "dot" | "inner_product" => Ok(Distance::InnerProduct),
        _ => Err(format!("unknown metric {s:?}; use l2, cos or ip")),
    }
}

/// The name of a metric.
pub fn distance_name(d: Distance) -> &'static str {
    match d {
        Distance::L2 => "l2",
        Distance::Cosine => "cosine",
        Distance::InnerProduct => "inner_product",
    }
}

fn main() {
    let cli = Cli::parse();
    let out = Output { json: cli.json };
    let result = match cli.command {
        Command::Import(args) => import::run(&args, out),
        Command::Search(args) => commands::search(&args, out),
        Command::Get(args) => commands::get(&args, out),
        Command::Delete(args) => commands::delete(&args, out),
        Command::Stats(args) => commands::stats(&args, out),
        Command::Compact(args) => commands::compact(&args, out),
        Command::Backup(args) => commands::backup(&args, out),
        Command::Restore(args) => commands::restore(&args, out),
        Command::Inspect(args) => inspect::run(&args, out),
        Command::BenchAnn(args) => bench_ann::run(&args),
        Command::BenchScale(args) => bench_scale::run(&args, out),
        #[cfg(feature = "server")]
        Command::Serve(args) => serve::run(&args),
        #[cfg(feature = "server")]
        Command::BenchServe(args) => bench_serve::run(&args, out),
    };
    if let Err(e) = result {
        eprintln!("vego: {e}");
        std::process::exit(1);
    }
}
