//! Loading the real-embedding corpus the examples share: paragraphs of the
//! Linux kernel, Python and Perl documentation with their all-MiniLM-L6-v2
//! embeddings (384-d), plus questions embedded by the same model. No model
//! runs here: every vector comes from the files.
//!
//! Two layouts are accepted (`--data DIR`; `docs/DATASETS.md` describes
//! both and how to make one):
//!
//! * the 200-document sample checked in under `examples/data/minilm-sample`
//!   (`docs.jsonl.zst`, `queries.jsonl.zst`, in the `vego import` format):
//!   what the examples use unless a larger set is there;
//! * a larger set in `target/datasets/minilm-dev` (`base.fvecs`,
//!   `texts.jsonl.zst`, `query.fvecs`, `query_texts.jsonl.zst`): used by
//!   default when present.

#![allow(dead_code)] // each example uses a part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use vego::{CollectionConfig, Db, Distance, Document};

/// Where the examples look for the optional larger set.
pub const DEFAULT_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/datasets/minilm-dev");
/// The sample that ships with the repository.
pub const SAMPLE_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/minilm-sample");

/// One text with its embedding.
#[derive(Clone, Debug)]
pub struct Item {
    pub id: String,
    pub vector: Vec<f32>,
    pub text: String,
    /// E.g. `linux:admin-guide/mm/pagemap.rst.gz`.
    pub source: String,
    /// `linux`, `python` or `perl`.
    pub project: String,
}

/// Documents and questions.
pub struct Corpus {
    pub docs: Vec<Item>,
    pub queries: Vec<Item>,
}

/// Command-line options shared by the examples.
pub struct Args {
    pub data: PathBuf,
    /// Load at most this many documents (0 = all).
    pub limit: usize,
    /// Which questions to ask (indices into the query file).
    pub queries: Vec<usize>,
}

impl Args {
    /// Parses `--data DIR`, `--limit N`, `--query I` (repeatable).
    pub fn parse(args: &[String], default_queries: &[usize]) -> Result<Args, String> {
        let mut out = Args { data: PathBuf::new(), limit: 20_000, queries: Vec::new() };
        let mut data = None;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
            match a.as_str() {
                "--data" => data = Some(PathBuf::from(value("--data")?)),
                "--limit" => out.limit = value("--limit")?.parse().map_err(|e| format!("--limit: {e}"))?,
                "--query" => out.queries.push(value("--query")?.parse().map_err(|e| format!("--query: {e}"))?),
                "-h" | "--help" => {
                    return Err(format!(
                        "options: --data DIR (default: {DEFAULT_DATA} if present, else the sample in \
                         {SAMPLE_DATA}; see docs/DATASETS.md), --limit N (documents, 0 = all; default 20000), \
                         --query I (repeatable: which questions)"
                    ))
                }
                other => return Err(format!("unknown argument {other:?} (try --help)")),
            }
        }
        if out.queries.is_empty() {
            out.queries = default_queries.to_vec();
        }
        let (dir, note) = choose_data(data, Path::new(DEFAULT_DATA), Path::new(SAMPLE_DATA));
        if let Some(note) = note {
            println!("{note}");
        }
        out.data = dir;
        Ok(out)
    }
}

/// The data folder to use: the one asked for, else the larger set if it is
/// there, else the sample — with a line saying so in that last case.
pub fn choose_data(asked: Option<PathBuf>, larger: &Path, sample: &Path) -> (PathBuf, Option<String>) {
    if let Some(dir) = asked {
        return (dir, None);
    }
    if larger.join("base.fvecs").exists() {
        return (larger.to_path_buf(), None);
    }
    let note = format!(
        "using the 200-document sample in examples/data/minilm-sample (no larger set in {}; it is optional, \
         see docs/DATASETS.md)",
        larger.display()
    );
    (sample.to_path_buf(), Some(note))
}

/// Loads the corpus in `dir` (either layout), at most `limit` documents.
pub fn load(dir: &Path, limit: usize) -> Result<Corpus, String> {
    let limit = if limit == 0 { usize::MAX } else { limit };
    if dir.join("docs.jsonl.zst").exists() {
        let mut docs = read_jsonl(&dir.join("docs.jsonl.zst"))?;
        docs.truncate(limit);
        return Ok(Corpus { docs, queries: read_jsonl(&dir.join("queries.jsonl.zst"))? });
    }
    if dir.join("base.fvecs").exists() {
        let docs = read_fvecs_texts(&dir.join("base.fvecs"), &dir.join("texts.jsonl.zst"), "doc-", limit)?;
        let queries =
            read_fvecs_texts(&dir.join("query.fvecs"), &dir.join("query_texts.jsonl.zst"), "query-", usize::MAX)?;
        return Ok(Corpus { docs, queries });
    }
    Err(format!(
        "no dataset in {}: expected docs.jsonl.zst + queries.jsonl.zst, or base.fvecs + texts.jsonl.zst + \
         query.fvecs + query_texts.jsonl.zst (docs/DATASETS.md); without --data the examples use the sample in \
         {SAMPLE_DATA}",
        dir.display()
    ))
}

fn zstd_lines(path: &Path) -> Result<impl Iterator<Item = std::io::Result<String>>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dec = zstd::Decoder::new(file).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(BufReader::new(dec).lines())
}

fn project_of(source: &str) -> String {
    source.split(':').next().unwrap_or_default().to_owned()
}

/// The sample layout: `{"id", "vector", "metadata": {"text", "source", "project"}}` per line.
fn read_jsonl(path: &Path) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    for (i, line) in zstd_lines(path)?.enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        let bad = |what: &str| format!("{}: line {}: {what}", path.display(), i + 1);
        let j: serde_json::Value = serde_json::from_str(&line).map_err(|e| bad(&e.to_string()))?;
        let text = |k: &str| j["metadata"][k].as_str().unwrap_or_default().to_owned();
        let vector = j["vector"]
            .as_array()
            .ok_or_else(|| bad("no vector"))?
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32).ok_or_else(|| bad("vector component is not a number")))
            .collect::<Result<Vec<f32>, String>>()?;
        out.push(Item {
            id: j["id"].as_str().ok_or_else(|| bad("no id"))?.to_owned(),
            vector,
            text: text("text"),
            source: text("source"),
            project: project_of(&text("source")),
        });
    }
    Ok(out)
}

/// The full layout: row i of the `.fvecs` file is line i of the texts.
fn read_fvecs_texts(vectors: &Path, texts: &Path, prefix: &str, limit: usize) -> Result<Vec<Item>, String> {
    let bytes = std::fs::read(vectors).map_err(|e| format!("{}: {e}", vectors.display()))?;
    let mut out = Vec::new();
    let mut at = 0;
    for line in zstd_lines(texts)? {
        if out.len() >= limit || at + 4 > bytes.len() {
            break;
        }
        let line = line.map_err(|e| format!("{}: {e}", texts.display()))?;
        let j: serde_json::Value = serde_json::from_str(&line).map_err(|e| format!("{}: {e}", texts.display()))?;
        let dim = i32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let end = at + 4 + 4 * dim;
        if dim == 0 || end > bytes.len() {
            return Err(format!("{}: bad row at byte {at}", vectors.display()));
        }
        let vector = bytes[at + 4..end].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4"))).collect();
        at = end;
        let source = j["source"].as_str().unwrap_or_default().to_owned();
        out.push(Item {
            id: format!("{prefix}{}", out.len()),
            vector,
            text: j["text"].as_str().unwrap_or_default().to_owned(),
            project: project_of(&source),
            source,
        });
    }
    Ok(out)
}

/// Opens a fresh database in `dir` and stores the documents (id, vector,
/// text, source, project) in a cosine collection named `name`.
pub fn store(dir: &Path, name: &str, docs: &[Item]) -> vego::Result<(Db, vego::Collection)> {
    let db = Db::open(dir, vego::Options::default())?;
    let dim = docs.first().map_or(384, |d| d.vector.len());
    let cfg = CollectionConfig::new(dim).distance(Distance::Cosine).expected_size(docs.len() as u64);
    let coll = db.create_collection(name, cfg)?;
    for chunk in docs.chunks(2_000) {
        coll.insert_batch(
            chunk
                .iter()
                .map(|d| {
                    Document::new(d.id.clone(), d.vector.clone())
                        .with("text", d.text.as_str())
                        .with("source", d.source.as_str())
                        .with("project", d.project.as_str())
                })
                .collect(),
        )?;
    }
    Ok((db, coll))
}

/// `text` cut to `max` characters on one line.
pub fn short(text: &str, max: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        one_line.chars().take(max).collect::<String>() + "…"
    }
}

/// A metadata string field of a hit's document.
pub fn field(hit: &vego::Hit, name: &str) -> String {
    match hit.document.as_ref().and_then(|d| d.metadata.get(name)) {
        Some(vego::Value::Str(s)) => s.clone(),
        _ => String::new(),
    }
}
