//! `vego import`: loads JSON lines or `.fvecs` into a collection, creating
//! it with the file's dimension if it does not exist.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value as Json;
use vego::limits::{BATCH_BYTES_MAX, BATCH_DOCS_MAX};
use vego::{Collection, CollectionConfig, Db, Distance, Document, Options};

use crate::json::to_value;
use crate::{distance_name, fail, parse_metric, CliResult, Output};

#[derive(clap::Args)]
pub struct Args {
    /// Database directory (created if missing).
    #[arg(long)]
    db: PathBuf,
    /// Collection to load into (created with the file's dimension if missing).
    #[arg(long)]
    collection: String,
    /// Input: JSON lines (`{"id": …, "vector": […], "metadata": {…}}` per line;
    /// other top-level fields are stored as metadata too; `.zst` is decompressed)
    /// or `.fvecs` (row i gets the id PREFIX + i).
    file: PathBuf,
    /// Metric of a new collection: cos (cosine), l2 or ip (inner product).
    #[arg(long, default_value = "cos", value_parser = parse_metric)]
    metric: Distance,
    /// Documents per atomic batch (existing ids are replaced).
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Id prefix for `.fvecs` rows.
    #[arg(long, default_value = "")]
    id_prefix: String,
}

/// One parsed input line.
struct Parsed {
    line: usize,
    doc: Document,
}

pub fn run(args: &Args, out: Output) -> CliResult {
    if args.batch == 0 {
        return fail("--batch must be at least 1");
    }
    let is_fvecs = args.file.extension().is_some_and(|e| e == "fvecs");
    let bytes = std::fs::metadata(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?.len();
    let t = Instant::now();
    let bar = progress(out, bytes);
    let db = Db::open(&args.db, Options::default())?;
    let mut target = Target { db: &db, args, coll: None, created: false, imported: 0 };
    let batch = args.batch.min(BATCH_DOCS_MAX);
    if is_fvecs {
        let m = crate::fvecs::read_fvecs(&args.file, None)?;
        let per_doc = 4 * m.dim + 64 + args.id_prefix.len();
        let batch = batch.min((BATCH_BYTES_MAX / 2 / per_doc).max(1));
        for start in (0..m.rows()).step_by(batch) {
            let end = (start + batch).min(m.rows());
            let docs = (start..end)
                .map(|i| Parsed {
                    line: i + 1,
                    doc: Document::new(format!("{}{i}", args.id_prefix), m.row(i).to_vec()),
                })
                .collect();
            target.write(docs)?;
            bar.set_position((bytes as usize * end / m.rows().max(1)) as u64);
        }
    } else {
        let file = File::open(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
        let counted = bar.wrap_read(file);
        let reader: Box<dyn Read> = if args.file.extension().is_some_and(|e| e == "zst") {
            Box::new(zstd::Decoder::new(counted).map_err(|e| format!("{}: {e}", args.file.display()))?)
        } else {
            Box::new(counted)
        };
        let mut pending = Vec::new();
        let mut pending_bytes = 0;
        for (i, line) in BufReader::new(reader).lines().enumerate() {
            let line = line.map_err(|e| format!("{}: line {}: {e}", args.file.display(), i + 1))?;
            if line.trim().is_empty() {
                continue;
            }
            let doc = parse_line(&line).map_err(|e| format!("{}: line {}: {e}", args.file.display(), i + 1))?;
            pending_bytes += line.len();
            pending.push(Parsed { line: i + 1, doc });
            if pending.len() >= batch || pending_bytes >= BATCH_BYTES_MAX / 4 {
                target.write(std::mem::take(&mut pending))?;
                pending_bytes = 0;
            }
        }
        if !pending.is_empty() {
            target.write(pending)?;
        }
    }
    bar.finish_and_clear();
    let Some(coll) = target.coll.clone() else {
        return fail(format!("{}: no documents in the file", args.file.display()));
    };
    let seconds = t.elapsed().as_secs_f64();
    let (imported, created, total) = (target.imported, target.created, coll.len());
    let cfg = coll.config().clone();
    db.close()?;
    if out.json {
        let summary = serde_json::json!({
            "collection": args.collection, "file": args.file, "imported": imported, "created": created,
            "dimension": cfg.dimension, "metric": distance_name(cfg.distance), "documents": total, "seconds": seconds,
        });
        println!("{summary}");
    } else {
        let verb = if created { "created" } else { "existing" };
        println!(
            "imported {imported} documents from {} into {verb} collection '{}' (dimension {}, {}) in {seconds:.2} s ({:.0} docs/s)",
            args.file.display(),
            args.collection,
            cfg.dimension,
            distance_name(cfg.distance),
            imported as f64 / seconds.max(1e-9)
        );
        println!("'{}' now holds {total} documents", args.collection);
    }
    Ok(())
}

fn progress(out: Output, bytes: u64) -> ProgressBar {
    if out.json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(bytes);
    let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta})")
        .expect("valid template");
    bar.set_style(style);
    bar
}

/// Where documents go; the collection is made on the first batch.
struct Target<'a> {
    db: &'a Db,
    args: &'a Args,
    coll: Option<Collection>,
    created: bool,
    imported: u64,
}

impl Target<'_> {
    fn write(&mut self, docs: Vec<Parsed>) -> CliResult {
        let Some(first) = docs.first() else { return Ok(()) };
        let coll = match &self.coll {
            Some(c) => c.clone(),
            None => {
                let dim = first.doc.vector.len();
                let c = match self.db.get_collection(&self.args.collection)? {
                    Some(c) => c,
                    None => {
                        self.created = true;
                        let cfg = CollectionConfig::new(dim).distance(self.args.metric);
                        self.db.create_collection(&self.args.collection, cfg)?
                    }
                };
                self.coll = Some(c.clone());
                c
            }
        };
        let dim = coll.config().dimension;
        if let Some(bad) = docs.iter().find(|p| p.doc.vector.len() != dim) {
            return fail(format!(
                "{}: line {}: vector has {} components, collection '{}' has dimension {dim}",
                self.args.file.display(),
                bad.line,
                bad.doc.vector.len(),
                self.args.collection
            ));
        }
        let (first, last) = (first.line, docs.last().map_or(0, |p| p.line));
        let n = docs.len() as u64;
        coll.upsert_batch(docs.into_iter().map(|p| p.doc).collect())
            .map_err(|e| format!("{}: lines {first}..={last}: {e}", self.args.file.display()))?;
        self.imported += n;
        Ok(())
    }
}

/// One JSON line as a document.
fn parse_line(line: &str) -> Result<Document, String> {
    let j: Json = serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))?;
    let Json::Object(map) = j else { return Err("expected a JSON object".into()) };
    let id = match map.get("id") {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
        Some(other) => return Err(format!("\"id\" must be a string or an integer, got {other}")),
        None => return Err("missing \"id\"".into()),
    };
    let vector = match map.get("vector") {
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, x)| match x.as_f64() {
                Some(f) if (f as f32).is_finite() => Ok(f as f32),
                _ => Err(format!("vector component {i} ({x}) is not a finite number")),
            })
            .collect::<Result<Vec<f32>, String>>()?,
        Some(_) => return Err("\"vector\" must be an array of numbers".into()),
        None => return Err("missing \"vector\"".into()),
    };
    if vector.is_empty() {
        return Err("\"vector\" is empty".into());
    }
    let mut metadata = BTreeMap::new();
    for (k, v) in &map {
        match k.as_str() {
            "id" | "vector" => {}
            "metadata" => {
                let Json::Object(fields) = v else { return Err("\"metadata\" must be an object".into()) };
                for (fk, fv) in fields {
                    metadata.insert(fk.clone(), to_value(fv).map_err(|e| format!("metadata field {fk:?}: {e}"))?);
                }
            }
            other => {
                metadata.insert(other.to_owned(), to_value(v).map_err(|e| format!("field {other:?}: {e}"))?);
            }
        }
    }
    let mut doc = Document::new(id, vector);
    doc.metadata = metadata;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_with_metadata_and_extra_fields() {
        let d = parse_line(r#"{"id": 7, "vector": [1, 2.5], "metadata": {"lang": "en"}, "text": "hi"}"#).unwrap();
        assert_eq!(d.id, "7");
        assert_eq!(d.vector, vec![1.0, 2.5]);
        assert_eq!(d.metadata["lang"], vego::Value::Str("en".into()));
        assert_eq!(d.metadata["text"], vego::Value::Str("hi".into()));
        for bad in [
            "[]",
            "{}",
            r#"{"id": "a"}"#,
            r#"{"id": "a", "vector": []}"#,
            r#"{"id": 1.5, "vector": [1]}"#,
            r#"{"id": "a", "vector": ["x"]}"#,
            r#"{"id": "a", "vector": [1], "metadata": {"n": {"x": 1}}}"#,
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
    }
}
