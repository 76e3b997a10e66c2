//! `vego bench-ann`: builds a real collection from an `.fvecs` file in a
//! temporary directory (through `insert_batch`, as an embedded user would),
//! then answers the queries one at a time through the public `search_with`
//! for each `ef`, printing one JSON object per line:
//!
//! `{"ef":…, "recall":…, "qps":…, "p50_us":…, "p99_us":…, "build_s":…, "mem_bytes":…,
//!   "index_bytes_per_vector":…}`
//!
//! `recall` is recall@k against the first k ids of the ground truth;
//! `mem_bytes` is the collection's memtable documents plus its HNSW index;
//! `index_bytes_per_vector` is the index alone (graph vectors, lists and,
//! when quantized, records) per base vector.

use std::path::PathBuf;
use std::time::Instant;

use vego::limits::{BATCH_BYTES_MAX, BATCH_DOCS_MAX};
use vego::{CollectionConfig, Db, Distance, Document, Durability, Options, Quantization, SearchOptions};

use crate::fvecs::{read_fvecs, read_ivecs, Matrix};
use crate::parse_metric;

#[derive(clap::Args)]
pub struct Args {
    /// Base vectors (.fvecs); row i gets the document id "i".
    #[arg(long)]
    base: PathBuf,
    /// Query vectors (.fvecs).
    #[arg(long)]
    queries: PathBuf,
    /// Ground truth (.ivecs): row i lists the ids nearest to query i, nearest first.
    #[arg(long)]
    gt: PathBuf,
    /// Metric: l2, cos (cosine) or ip (inner product).
    #[arg(long, default_value = "l2", value_parser = parse_metric)]
    metric: Distance,
    /// HNSW M.
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// HNSW ef at build time.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// Comma-separated ef values to sweep.
    #[arg(long, default_value = "10,20,40,80,160,320", value_delimiter = ',')]
    ef: Vec<usize>,
    /// Neighbours per query.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Query threads (each query is still one `search_with` call).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Use only the first N queries.
    #[arg(long)]
    limit: Option<usize>,
    /// Use only the first N base vectors (recall then needs matching ground truth).
    #[arg(long)]
    base_limit: Option<usize>,
    /// Documents per insert_batch call (capped by the batch limits).
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Durability of the collection while building: sync, none.
    #[arg(long, default_value = "sync", value_parser = parse_durability)]
    durability: Durability,
    /// Graph search precision: none (f32) or int8 (quantized walk, f32 re-scoring).
    #[arg(long, default_value = "none", value_parser = parse_quantization)]
    quantization: Quantization,
    /// Warm-up queries before each timed sweep.
    #[arg(long, default_value_t = 50)]
    warmup: usize,
    /// Flush and compact into one segment before the queries, so they
    /// search the segment file (as after a restart) instead of the memtable.
    #[arg(long)]
    compact: bool,
}

fn parse_quantization(s: &str) -> Result<Quantization, String> {
    match s {
        "none" | "f32" => Ok(Quantization::None),
        "int8" | "sq8" => Ok(Quantization::Int8),
        _ => Err(format!("unknown quantization {s:?}; use none or int8")),
    }
}

fn parse_durability(s: &str) -> Result<Durability, String> {
    match s {
        "sync" => Ok(Durability::Sync),
        "none" => Ok(Durability::None),
        _ => Err(format!("unknown durability {s:?}; use sync or none")),
    }
}

pub fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let base = read_fvecs(&args.base, args.base_limit)?;
    let queries = read_fvecs(&args.queries, args.limit)?;
    let gt = read_ivecs(&args.gt, args.limit)?;
    if base.dim != queries.dim {
        return Err(format!("base has dimension {} but queries {}", base.dim, queries.dim).into());
    }
    if gt.rows() < queries.rows() || gt.dim < args.k {
        return Err(format!(
            "ground truth has {} rows of {} ids; need {} rows of at least k = {}",
            gt.rows(),
            gt.dim,
            queries.rows(),
            args.k
        )
        .into());
    }
    if args.threads == 0 || args.k == 0 || args.ef.is_empty() {
        return Err("--threads, --k and --ef must be positive".into());
    }

    let dir = tempfile::tempdir()?;
    let db = Db::open(dir.path(), Options::default())?;
    let cfg = CollectionConfig::new(base.dim)
        .distance(args.metric)
        .m(args.m)
        .ef_construction(args.ef_construction)
        .durability(args.durability)
        .quantization(args.quantization)
        .expected_size(base.rows() as u64);
    let coll = db.create_collection("bench", cfg)?;

    // Stay well under both batch limits (documents and encoded bytes).
    let per_doc = 4 * base.dim + 64;
    let batch = args.batch.clamp(1, BATCH_DOCS_MAX).min((BATCH_BYTES_MAX / 2 / per_doc).max(1));
    let t = Instant::now();
    for start in (0..base.rows()).step_by(batch) {
        let end = (start + batch).min(base.rows());
        let docs = (start..end).map(|i| Document::new(i.to_string(), base.row(i).to_vec())).collect();
        coll.insert_batch(docs)?;
    }
    if args.compact {
        coll.compact()?;
    }
    let build_s = t.elapsed().as_secs_f64();
    let stats = coll.stats();
    let mem_bytes = stats.memtable_bytes + stats.index_bytes;
    let index_bytes_per_vector = stats.index_bytes as f64 / base.rows().max(1) as f64;

    for &ef in &args.ef {
        let opts = SearchOptions::new(args.k).ef(ef.max(args.k)).include_document(false);
        for i in 0..args.warmup.min(queries.rows()) {
            coll.search_with(queries.row(i), &opts)?;
        }
        let (found, mut lat_us, total_s) = run_queries(&coll, &queries, &opts, args.threads)?;
        lat_us.sort_by(f64::total_cmp);
        let line = serde_json::json!({
            "ef": ef,
            "recall": recall(&found, &gt, args.k),
            "qps": queries.rows() as f64 / total_s,
            "p50_us": percentile(&lat_us, 0.50),
            "p99_us": percentile(&lat_us, 0.99),
            "build_s": build_s,
            "mem_bytes": mem_bytes,
            "index_bytes_per_vector": index_bytes_per_vector.round(),
        });
        println!("{line}");
    }
    drop(coll);
    db.close()?;
    Ok(())
}

/// Ids found per query, per-query latencies (µs) and the wall time of all.
type Sweep = (Vec<Vec<i64>>, Vec<f64>, f64);

fn run_queries(
    coll: &vego::Collection,
    queries: &Matrix<f32>,
    opts: &SearchOptions,
    threads: usize,
) -> vego::Result<Sweep> {
    let n = queries.rows();
    let one = |i: usize| -> vego::Result<(Vec<i64>, f64)> {
        let t = Instant::now();
        let hits = coll.search_with(queries.row(i), opts)?;
        let us = t.elapsed().as_secs_f64() * 1e6;
        Ok((hits.iter().map(|h| h.id.parse::<i64>().unwrap_or(-1)).collect(), us))
    };
    let t = Instant::now();
    let per_query: Vec<(Vec<i64>, f64)> = if threads <= 1 {
        (0..n).map(one).collect::<vego::Result<_>>()?
    } else {
        let chunk = n.div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .step_by(chunk)
                .map(|start| {
                    s.spawn(move || (start..(start + chunk).min(n)).map(one).collect::<vego::Result<Vec<_>>>())
                })
                .collect();
            let mut all = Vec::with_capacity(n);
            for h in handles {
                all.extend(h.join().expect("query thread panicked")?);
            }
            Ok::<_, vego::Error>(all)
        })?
    };
    let total_s = t.elapsed().as_secs_f64();
    let (found, lat) = per_query.into_iter().unzip();
    Ok((found, lat, total_s))
}

fn recall(found: &[Vec<i64>], gt: &Matrix<i32>, k: usize) -> f64 {
    let hits: usize = found
        .iter()
        .enumerate()
        .map(|(q, ids)| {
            let truth = &gt.row(q)[..k];
            ids.iter().take(k).filter(|&&id| truth.iter().any(|&t| i64::from(t) == id)).count()
        })
        .sum();
    hits as f64 / (k * found.len()).max(1) as f64
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}
