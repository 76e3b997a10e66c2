//! Recommendations: a reader has already read a few paragraphs; recommend
//! the most similar ones they have not seen. The reader's taste is the
//! normalised mean of what they read; already-seen items are excluded by a
//! metadata filter inside the search, so k fresh items always come back.
//!
//! Run: `cargo run --release --example recommendations [-- --data DIR --limit N --query I]`
//! (`--query I` picks the question whose nearest paragraphs the reader has
//! read; data as for the other examples: `docs/DATASETS.md`).

mod common;

use common::{field, load, short, Args};
use vego::{CollectionConfig, Db, Distance, Document, Filter, Options, SearchOptions};

/// Items recommended.
const K: usize = 5;
/// Items the reader has seen.
const SEEN: usize = 3;

/// What the reader saw and what was recommended.
pub struct Recommendation {
    pub seen: Vec<String>,
    pub recommended: Vec<vego::Hit>,
}

/// Stores the items, simulates a reader, recommends unseen similar items.
pub fn run(args: &[String]) -> Result<Vec<Recommendation>, Box<dyn std::error::Error>> {
    let args = Args::parse(args, &[5])?;
    let corpus = load(&args.data, args.limit)?;
    let dir = tempfile::tempdir()?;
    let db = Db::open(dir.path(), Options::default())?;
    let dim = corpus.docs.first().map_or(384, |d| d.vector.len());
    let items = db.create_collection("items", CollectionConfig::new(dim).distance(Distance::Cosine))?;
    for chunk in corpus.docs.chunks(2_000) {
        let docs = chunk
            .iter()
            .map(|d| {
                // The id is also stored as a field so filters can exclude items.
                Document::new(d.id.clone(), d.vector.clone())
                    .with("item", d.id.as_str())
                    .with("text", d.text.as_str())
                    .with("source", d.source.as_str())
            })
            .collect();
        items.insert_batch(docs)?;
    }
    println!("stored {} items from {}", items.len(), args.data.display());
    let mut out = Vec::new();
    for &q in &args.queries {
        let topic =
            corpus.queries.get(q).ok_or_else(|| format!("--query {q}: only {} questions", corpus.queries.len()))?;
        // The reader's history: the items nearest to one topic.
        let history = items.search_with(&topic.vector, &SearchOptions::new(SEEN).include_vector(true))?;
        let seen: Vec<String> = history.iter().map(|h| h.id.clone()).collect();
        println!("\nthe reader has read:");
        for h in &history {
            println!("  - {} ({})", short(&field(h, "text"), 90), field(h, "source"));
        }
        let vectors: Vec<&[f32]> =
            history.iter().filter_map(|h| h.document.as_ref()).map(|d| d.vector.as_slice()).collect();
        let taste = mean_direction(&vectors, dim);
        let opts =
            SearchOptions::new(K).filter(Filter::not_in("item", seen.iter().map(String::as_str))).include_vector(false);
        let recommended = items.search_with(&taste, &opts)?;
        println!("recommended next:");
        for (i, h) in recommended.iter().enumerate() {
            println!("  {}. [{:.3}] {} ({})", i + 1, h.distance, short(&field(h, "text"), 90), field(h, "source"));
        }
        out.push(Recommendation { seen, recommended });
    }
    db.close()?;
    Ok(out)
}

/// The normalised mean of unit vectors (their common direction).
fn mean_direction(vectors: &[&[f32]], dim: usize) -> Vec<f32> {
    let mut m = vec![0f32; dim];
    for v in vectors {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
        m.iter_mut().zip(v.iter()).for_each(|(a, x)| *a += x / norm);
    }
    let norm = m.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        m.iter_mut().for_each(|x| *x /= norm);
    } else {
        m[0] = 1.0; // no history: any direction
    }
    m
}

#[allow(dead_code)] // not called when a test includes this file
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("recommendations: {e}");
        std::process::exit(1);
    }
}
