//! `vego search | get | delete | stats | compact | backup | restore`.

use std::path::PathBuf;

use serde_json::{json, Value as Json};
use vego::{Collection, Db, Document, Hit, Options, SearchOptions};

use crate::json::{from_value, parse_filter, parse_vector};
use crate::{distance_name, fail, CliResult, Output};

/// The database and collection a command works on.
#[derive(clap::Args)]
pub struct Target {
    /// Database directory (must exist).
    #[arg(long)]
    db: PathBuf,
    /// Collection name.
    #[arg(long)]
    collection: String,
}

/// Opens an existing database.
pub fn open_db(dir: &std::path::Path) -> Result<Db, Box<dyn std::error::Error>> {
    Ok(Db::open(dir, Options::default().create_if_missing(false))?)
}

impl Target {
    fn open(&self) -> Result<(Db, Collection), Box<dyn std::error::Error>> {
        let db = open_db(&self.db)?;
        match db.get_collection(&self.collection)? {
            Some(c) => Ok((db, c)),
            None => {
                let names = db.collections();
                let have = if names.is_empty() { "none".to_string() } else { names.join(", ") };
                Err(format!("no collection '{}' in {} (collections: {have})", self.collection, self.db.display())
                    .into())
            }
        }
    }
}

#[derive(clap::Args)]
pub struct SearchArgs {
    #[command(flatten)]
    target: Target,
    /// Query vector as a JSON array, e.g. '[0.1, 0.2, …]'.
    #[arg(long, conflicts_with = "like", required_unless_present = "like")]
    vector: Option<String>,
    /// Use the vector of the stored document with this id as the query.
    #[arg(long)]
    like: Option<String>,
    /// Number of neighbours.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Metadata filter as JSON: '{"field": {"eq": value}}' (ops eq ne gt gte
    /// lt lte in not_in exists; '$and' / '$or' / '$not' combine).
    #[arg(long)]
    filter: Option<String>,
    /// HNSW beam width (default: the collection's ef_search).
    #[arg(long)]
    ef: Option<usize>,
}

pub fn search(args: &SearchArgs, out: Output) -> CliResult {
    let filter = args.filter.as_deref().map(parse_filter).transpose()?;
    let query = args.vector.as_deref().map(parse_vector).transpose()?;
    let (db, coll) = args.target.open()?;
    let query = match (query, &args.like) {
        (Some(q), _) => q,
        (None, Some(id)) => match coll.get(id)? {
            Some(d) => d.vector,
            None => return fail(format!("--like: no document '{id}' in '{}'", coll.name())),
        },
        (None, None) => return fail("give --vector or --like"),
    };
    let mut opts = SearchOptions::new(args.k).include_vector(false);
    if let Some(f) = filter {
        opts = opts.filter(f);
    }
    if let Some(ef) = args.ef {
        opts = opts.ef(ef);
    }
    let hits = coll.search_with(&query, &opts)?;
    db.close()?;
    if out.json {
        println!("{}", Json::Array(hits.iter().map(hit_json).collect()));
        return Ok(());
    }
    if hits.is_empty() {
        println!("no matches");
        return Ok(());
    }
    let width = hits.iter().map(|h| h.id.len()).max().unwrap_or(2).clamp(2, 40);
    println!("{:>3}  {:<width$}  {:>9}  metadata", "#", "id", "distance");
    for (i, h) in hits.iter().enumerate() {
        let meta = h.document.as_ref().map(|d| metadata_line(d, 100)).unwrap_or_default();
        println!("{:>3}  {:<width$}  {:>9.4}  {meta}", i + 1, h.id, h.distance);
    }
    Ok(())
}

fn hit_json(h: &Hit) -> Json {
    let meta = h.document.as_ref().map(metadata_json).unwrap_or(Json::Null);
    json!({"id": h.id, "distance": h.distance, "metadata": meta})
}

fn metadata_json(d: &Document) -> Json {
    Json::Object(d.metadata.iter().map(|(k, v)| (k.clone(), from_value(v))).collect())
}

/// Metadata as one line of JSON, each string value cut to `max` characters.
fn metadata_line(d: &Document, max: usize) -> String {
    let cut = d
        .metadata
        .iter()
        .map(|(k, v)| {
            let v = match from_value(v) {
                Json::String(s) if s.chars().count() > max => {
                    Json::String(s.chars().take(max).collect::<String>() + "…")
                }
                other => other,
            };
            (k.clone(), v)
        })
        .collect();
    Json::Object(cut).to_string()
}

#[derive(clap::Args)]
pub struct GetArgs {
    #[command(flatten)]
    target: Target,
    /// Document ids.
    #[arg(required = true)]
    ids: Vec<String>,
}

pub fn get(args: &GetArgs, out: Output) -> CliResult {
    let (db, coll) = args.target.open()?;
    let ids: Vec<&str> = args.ids.iter().map(String::as_str).collect();
    let docs = coll.get_batch(&ids)?;
    db.close()?;
    let missing: Vec<&str> = ids.iter().zip(&docs).filter(|(_, d)| d.is_none()).map(|(id, _)| *id).collect();
    for d in docs.iter().flatten() {
        if out.json {
            let j = json!({"id": d.id, "version": d.version, "vector": d.vector, "metadata": metadata_json(d)});
            println!("{j}");
        } else {
            let head: Vec<String> = d.vector.iter().take(6).map(|x| format!("{x:.4}")).collect();
            let more = if d.vector.len() > 6 { format!(", … ({} dims)", d.vector.len()) } else { String::new() };
            println!("id:       {}", d.id);
            println!("version:  {}", d.version);
            println!("vector:   [{}{more}]", head.join(", "));
            println!("metadata: {}", metadata_line(d, 200));
        }
    }
    if !missing.is_empty() {
        return fail(format!("not found in '{}': {}", coll.name(), missing.join(", ")));
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    target: Target,
    /// Document ids.
    #[arg(required = true)]
    ids: Vec<String>,
}

pub fn delete(args: &DeleteArgs, out: Output) -> CliResult {
    let (db, coll) = args.target.open()?;
    let (mut deleted, mut missing) = (Vec::new(), Vec::new());
    for id in &args.ids {
        if coll.delete(id)? {
            deleted.push(id.clone());
        } else {
            missing.push(id.clone());
        }
    }
    db.close()?;
    if out.json {
        println!("{}", json!({"deleted": deleted, "missing": missing}));
    } else {
        println!("deleted {} of {} ids from '{}'", deleted.len(), args.ids.len(), coll.name());
        if !missing.is_empty() {
            println!("not found: {}", missing.join(", "));
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct StatsArgs {
    /// Database directory.
    #[arg(long)]
    db: PathBuf,
}

pub fn stats(args: &StatsArgs, out: Output) -> CliResult {
    let db = open_db(&args.db)?;
    let s = db.stats();
    db.close()?;
    if out.json {
        println!("{}", serde_json::to_string(&s)?);
        return Ok(());
    }
    println!("database {}", s.path.display());
    println!("manifest version {}, visible seq {}, WAL {}", s.manifest_version, s.visible_seq, bytes(s.wal_bytes));
    if s.collections.is_empty() {
        println!("no collections");
        return Ok(());
    }
    println!(
        "{:<20} {:>10} {:>5} {:<13} {:>8} {:>10} {:>10} {:>6}",
        "collection", "documents", "dim", "distance", "segments", "disk", "memtable", "dead"
    );
    for c in &s.collections {
        println!(
            "{:<20} {:>10} {:>5} {:<13} {:>8} {:>10} {:>10} {:>6}",
            c.name,
            c.documents,
            c.dimension,
            distance_name(c.distance),
            c.segments,
            bytes(c.disk_bytes),
            bytes(c.memtable_bytes),
            c.dead
        );
    }
    Ok(())
}

/// Human-readable byte count.
fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

#[derive(clap::Args)]
pub struct CompactArgs {
    /// Database directory.
    #[arg(long)]
    db: PathBuf,
    /// Only this collection (default: all).
    #[arg(long)]
    collection: Option<String>,
}

pub fn compact(args: &CompactArgs, out: Output) -> CliResult {
    let db = open_db(&args.db)?;
    let names = match &args.collection {
        Some(n) if db.get_collection(n)?.is_none() => {
            return fail(format!("no collection '{n}' in {}", args.db.display()));
        }
        Some(n) => vec![n.clone()],
        None => db.collections(),
    };
    let mut results = Vec::new();
    for name in &names {
        let coll = db.collection(name)?;
        coll.flush()?;
        results.push((name.clone(), coll.compact()?));
    }
    db.close()?;
    if out.json {
        let j: serde_json::Map<String, Json> =
            results.iter().map(|(n, s)| (n.clone(), serde_json::to_value(s).unwrap_or(Json::Null))).collect();
        println!("{}", Json::Object(j));
        return Ok(());
    }
    for (name, s) in &results {
        println!(
            "{name}: {} segment(s) -> {}, {} dead version(s) dropped, {} -> {}",
            s.segments_in,
            s.segments_out,
            s.versions_dropped,
            bytes(s.bytes_in),
            bytes(s.bytes_out)
        );
    }
    if results.is_empty() {
        println!("no collections");
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct BackupArgs {
    /// Database directory.
    #[arg(long)]
    db: PathBuf,
    /// Destination directory (must be missing or empty).
    dest: PathBuf,
}

pub fn backup(args: &BackupArgs, out: Output) -> CliResult {
    let db = open_db(&args.db)?;
    let s = db.backup(&args.dest)?;
    db.close()?;
    if out.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "backed up {} collection(s) at seq {} to {}: {} segment(s) linked, {} copied, {} WAL file(s) ({} records), {}",
            s.collections,
            s.seq,
            args.dest.display(),
            s.segments_linked,
            s.segments_copied,
            s.wal_files,
            s.wal_records,
            bytes(s.bytes)
        );
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// A backup (or a closed database) directory.
    src: PathBuf,
    /// Where to restore it (must be missing or empty).
    dest: PathBuf,
}

pub fn restore(args: &RestoreArgs, out: Output) -> CliResult {
    Db::restore(&args.src, &args.dest)?;
    let db = open_db(&args.dest)?;
    let s = db.stats();
    db.close()?;
    if out.json {
        println!(
            "{}",
            json!({"restored": args.dest, "visible_seq": s.visible_seq, "collections": s.collections.iter().map(|c| json!({"name": c.name, "documents": c.documents})).collect::<Vec<_>>()})
        );
    } else {
        let summary: Vec<String> =
            s.collections.iter().map(|c| format!("'{}' ({} documents)", c.name, c.documents)).collect();
        println!("restored {} to {}: {}", args.src.display(), args.dest.display(), summary.join(", "));
    }
    Ok(())
}
