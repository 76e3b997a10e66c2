//! Retrieval for RAG (retrieval-augmented generation): documentation chunks
//! are stored with their source as metadata; for a question, the top-k
//! chunks *from one project's documentation* (a metadata filter) become the
//! context of a prompt, each cited by its source. The prompt is printed —
//! sending it to a language model is up to you.
//!
//! Run: `cargo run --release --example rag [-- --data DIR --limit N --query I]`
//! (data: the 200-document sample in `examples/data/minilm-sample`, or a
//! larger set in `target/datasets/minilm-dev` when present; `docs/DATASETS.md`).

mod common;

use common::{field, load, short, store, Args};
use vego::{Filter, SearchOptions};

/// Chunks retrieved as context.
const K: usize = 4;

/// One retrieval: the question, the project searched, the chunks used.
pub struct Retrieval {
    pub question: String,
    pub project: String,
    pub context: Vec<vego::Hit>,
}

/// Stores the chunks, then builds a prompt per question from the top-k
/// chunks of the question's own project.
pub fn run(args: &[String]) -> Result<Vec<Retrieval>, Box<dyn std::error::Error>> {
    let args = Args::parse(args, &[3, 4])?;
    let corpus = load(&args.data, args.limit)?;
    let dir = tempfile::tempdir()?;
    let (db, chunks) = store(dir.path(), "chunks", &corpus.docs)?;
    println!("stored {} chunks with their sources from {}", chunks.len(), args.data.display());
    let mut out = Vec::new();
    for &q in &args.queries {
        let query =
            corpus.queries.get(q).ok_or_else(|| format!("--query {q}: only {} questions", corpus.queries.len()))?;
        // Answer only from the documentation the question is about.
        let project = query.project.clone();
        let opts = SearchOptions::new(K).filter(Filter::eq("project", project.as_str())).include_vector(false);
        let context = chunks.search_with(&query.vector, &opts)?;
        println!("\n--- prompt (context: top {K} chunks from the {project} docs) ---");
        println!("Answer the question using only the context below; cite sources as [n].\n");
        for (i, h) in context.iter().enumerate() {
            println!("[{}] ({}) {}", i + 1, field(h, "source"), short(&field(h, "text"), 160));
        }
        println!("\nQuestion: {}", query.text);
        out.push(Retrieval { question: query.text.clone(), project, context });
    }
    db.close()?;
    Ok(out)
}

#[allow(dead_code)] // not called when a test includes this file
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("rag: {e}");
        std::process::exit(1);
    }
}
