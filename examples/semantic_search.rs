//! Semantic search on real embeddings: documentation paragraphs embedded
//! with all-MiniLM-L6-v2 go into a cosine collection; questions embedded by
//! the same model (their vectors come from the dataset file — no model runs
//! here) are answered by nearest neighbours.
//!
//! Run: `cargo run --release --example semantic_search [-- --data DIR --limit N --query I]`
//! (data: the 200-document sample in `examples/data/minilm-sample`, or a
//! larger set in `target/datasets/minilm-dev` when present; `docs/DATASETS.md`).

pub mod common;

use std::time::Instant;

use common::{field, load, short, store, Args};

/// What was asked and found, for the caller (and the test) to check.
pub struct Answer {
    pub query: common::Item,
    pub hits: Vec<vego::Hit>,
}

/// Loads the corpus, stores it, answers the chosen questions.
pub fn run(args: &[String]) -> Result<Vec<Answer>, Box<dyn std::error::Error>> {
    let args = Args::parse(args, &[0, 1, 2])?;
    let t = Instant::now();
    let corpus = load(&args.data, args.limit)?;
    let dir = tempfile::tempdir()?;
    let (db, docs) = store(dir.path(), "docs", &corpus.docs)?;
    println!(
        "stored {} documentation paragraphs (all-MiniLM-L6-v2, {}-d, cosine) from {} in {:.2} s",
        docs.len(),
        docs.config().dimension,
        args.data.display(),
        t.elapsed().as_secs_f64()
    );
    let mut answers = Vec::new();
    for &q in &args.queries {
        let query =
            corpus.queries.get(q).ok_or_else(|| format!("--query {q}: only {} questions", corpus.queries.len()))?;
        let hits = docs.search(&query.vector, 5)?;
        println!("\nQ: {}", short(&query.text, 110));
        for (i, h) in hits.iter().enumerate() {
            println!("  {}. [{:.3}] {}", i + 1, h.distance, short(&field(h, "text"), 100));
            println!("     from {}", field(h, "source"));
        }
        answers.push(Answer { query: query.clone(), hits });
    }
    db.close()?;
    Ok(answers)
}

#[allow(dead_code)] // not called when a test includes this file
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("semantic_search: {e}");
        std::process::exit(1);
    }
}
