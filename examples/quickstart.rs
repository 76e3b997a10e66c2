//! Quickstart: create a database, insert 10,000 documents with metadata,
//! search with and without a filter, reopen, search again.
//!
//! Run: `cargo run --release --example quickstart`

use std::time::Instant;

use vego::{CollectionConfig, Db, Distance, Document, Filter, Options, SearchOptions};

const DIM: usize = 128;
const DOCS: usize = 10_000;
const BATCH: usize = 1_000;

/// Deterministic pseudo-random vectors clustered around 20 topics.
fn vector(i: usize) -> Vec<f32> {
    let mut state = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let topic = i % 20;
    (0..DIM).map(|d| if d % 20 == topic { 2.0 } else { 0.0 } + next()).collect()
}

fn main() -> vego::Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    println!("Vego quickstart in {}", dir.path().display());

    let t = Instant::now();
    let db = Db::open(dir.path(), Options::default())?;
    let coll = db.create_collection("articles", CollectionConfig::new(DIM).distance(Distance::Cosine))?;
    println!("opened database and created collection 'articles' (dim {DIM}, cosine) in {:?}", t.elapsed());

    let t = Instant::now();
    for start in (0..DOCS).step_by(BATCH) {
        let docs = (start..start + BATCH)
            .map(|i| {
                Document::new(format!("doc-{i:05}"), vector(i))
                    .with("topic", (i % 20) as i64)
                    .with("year", 2000 + (i % 25) as i64)
                    .with("title", format!("Article number {i}"))
            })
            .collect();
        coll.insert_batch(docs)?;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "inserted {DOCS} documents in batches of {BATCH} (fsync per batch) in {secs:.2} s ({:.0} docs/s)",
        DOCS as f64 / secs
    );

    let query = vector(4_242);
    let t = Instant::now();
    let hits = coll.search(&query, 5)?;
    println!("\nsearch k=5 took {:?}:", t.elapsed());
    for h in &hits {
        println!("  {}  distance {:.4}", h.id, h.distance);
    }

    let filter = Filter::eq("topic", 2).and(Filter::gte("year", 2020));
    let t = Instant::now();
    let hits = coll.search_with(&query, &SearchOptions::new(5).filter(filter.clone()))?;
    println!("\nsearch k=5 where topic == 2 and year >= 2020 took {:?}:", t.elapsed());
    for h in &hits {
        let meta = &h.document.as_ref().expect("documents included").metadata;
        println!("  {}  distance {:.4}  topic {:?} year {:?}", h.id, h.distance, meta["topic"], meta["year"]);
    }

    let t = Instant::now();
    db.close()?;
    println!("\nclosed in {:?}", t.elapsed());

    let t = Instant::now();
    let db = Db::open(dir.path(), Options::default())?;
    let coll = db.collection("articles")?;
    println!("reopened in {:?}: {} documents recovered", t.elapsed(), coll.len());
    let again = coll.search_with(&query, &SearchOptions::new(5).filter(filter))?;
    let same = again.iter().zip(&hits).all(|(a, b)| a.id == b.id);
    println!("filtered search after reopen returns {} hits, same as before: {same}", again.len());
    let doc = coll.get("doc-04242")?.expect("document survives reopen");
    println!("get(\"doc-04242\") -> title {:?}, version {}", doc.metadata["title"], doc.version);
    db.close()?;
    Ok(())
}
