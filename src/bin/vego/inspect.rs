//! `vego inspect FILE`: dumps a WAL, segment or manifest file — header,
//! parts (records, sections, metadata pages, collections) and whether each
//! checksum is ok or bad. Exits non-zero when anything is bad.

use std::path::PathBuf;

use vego::inspect::{inspect_file, Report};

use crate::{CliResult, Output};

#[derive(clap::Args)]
pub struct Args {
    /// A file of a Vego database: `wal/*.wal`, `segments/*.vseg` or `MANIFEST-*`.
    file: PathBuf,
    /// List every part (by default the first 40 are listed, plus every bad one).
    #[arg(long)]
    all: bool,
}

/// Parts listed without `--all`.
const PARTS_SHOWN: usize = 40;

pub fn run(args: &Args, out: Output) -> CliResult {
    let report = inspect_file(&args.file)?;
    if out.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_human(&report, args.all);
    }
    if report.ok {
        Ok(())
    } else {
        Err(format!("{}: damaged or not a Vego file (see the report)", args.file.display()).into())
    }
}

fn print_human(r: &Report, all: bool) {
    let kind = serde_json::to_value(r.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    println!("{}: {kind} file, {} bytes", r.path.display(), r.bytes);
    let width = r.header.iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in &r.header {
        println!("  {:<width$}  {}", f.name, f.value);
    }
    for p in &r.problems {
        println!("  BAD: {p}");
    }
    let mut hidden = 0;
    for (i, p) in r.parts.iter().enumerate() {
        if !all && i >= PARTS_SHOWN && p.ok {
            hidden += 1;
            continue;
        }
        let status = if p.ok { "ok " } else { "BAD" };
        let place = match (p.offset, p.len) {
            (Some(o), Some(l)) => format!("@{o} +{l}"),
            (Some(o), None) => format!("@{o}"),
            _ => String::new(),
        };
        println!("  {status} {:<10} {:<28} {:<20} {}", p.kind, p.name, place, p.detail);
    }
    if hidden > 0 {
        println!("  … {hidden} more ok part(s) (--all lists them)");
    }
    let bad = r.parts.iter().filter(|p| !p.ok).count() + r.problems.len();
    if r.ok {
        println!("result: ok ({} part(s) checked)", r.parts.len());
    } else {
        println!("result: BAD ({bad} problem(s))");
    }
}
