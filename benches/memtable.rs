//! Memtable figures: insert throughput under `Durability::Sync` (single
//! inserts, 4 concurrent writers, batches of 1,000) and recall@10 / QPS of the
//! memtable HNSW through the public `search_with`.
//!
//! `cargo bench --bench memtable -- [DATASET_DIR] [--metric l2|cos] [--n N]`
//!
//! DATASET_DIR holds `base.fvecs`, `query.fvecs` and `gt_{l2,cos}_top100.ivecs`
//! as written by `../shared/datasets/make.py`; without it a synthetic
//! clustered set (20k × 128) is used with brute-force ground truth.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::Instant;

use vego::{CollectionConfig, Db, Distance, Document, Durability, Options, SearchOptions};

fn read_vecs<T>(path: &Path, conv: fn([u8; 4]) -> T) -> Vec<Vec<T>> {
    common::read_vecs(path, conv, usize::MAX).unwrap_or_else(|| panic!("{}: unreadable", path.display()))
}

fn synthetic(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let centres: Vec<Vec<f32>> = (0..200).map(|_| (0..dim).map(|_| next() * 4.0).collect()).collect();
    (0..n)
        .map(|i| {
            let c = &centres[(i * 7919) % centres.len()];
            c.iter().map(|x| x + next()).collect()
        })
        .collect()
}

fn brute_force(base: &[Vec<f32>], q: &[f32], k: usize) -> Vec<u32> {
    let mut d: Vec<(f32, u32)> = base
        .iter()
        .enumerate()
        .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum(), i as u32))
        .collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0));
    d.into_iter().take(k).map(|x| x.1).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let dir = args.iter().find(|a| !a.starts_with("--") && Path::new(a).is_dir()).cloned();
    let limit: usize = flag("--n").map_or(usize::MAX, |n| n.parse().unwrap());
    let cosine = flag("--metric").is_some_and(|m| m == "cos");
    let (base, queries, gt, name) = match &dir {
        Some(d) => {
            let d = Path::new(d);
            let mut base = read_vecs(&d.join("base.fvecs"), f32::from_le_bytes);
            let queries = read_vecs(&d.join("query.fvecs"), f32::from_le_bytes);
            let gt_file = if cosine { "gt_cos_top100.ivecs" } else { "gt_l2_top100.ivecs" };
            let gt: Vec<Vec<u32>> = if base.len() <= limit {
                read_vecs(&d.join(gt_file), u32::from_le_bytes)
            } else {
                base.truncate(limit);
                queries.iter().map(|q| brute_force(&base, q, 10)).collect()
            };
            (base, queries, gt, d.display().to_string())
        }
        None => {
            let base = synthetic(20_000.min(limit), 128, 7);
            let queries = synthetic(500, 128, 99);
            let gt = queries.iter().map(|q| brute_force(&base, q, 10)).collect();
            (base, queries, gt, "synthetic clustered 20k x 128".to_string())
        }
    };
    let dim = base[0].len();
    let metric = if cosine { Distance::Cosine } else { Distance::L2 };
    println!("dataset: {name}: {} base, {} queries, dim {dim}, {metric:?}", base.len(), queries.len());

    let tmp = tempfile::tempdir().unwrap();
    let db = Db::open(tmp.path(), Options::default().durability(Durability::Sync)).unwrap();
    let cfg = CollectionConfig::new(dim).distance(metric).m(16).ef_construction(200);

    // Single inserts, one thread: one fsync each.
    let single = db.create_collection("single", cfg.clone()).unwrap();
    let n_single = 1_000.min(base.len());
    let t = Instant::now();
    for (i, v) in base.iter().take(n_single).enumerate() {
        single.insert(Document::new(i.to_string(), v.clone())).unwrap();
    }
    let s = t.elapsed().as_secs_f64();
    println!("single inserts, 1 thread, Sync: {n_single} in {s:.2} s = {:.0} inserts/s", n_single as f64 / s);

    // Single inserts, 4 threads: group commit shares fsyncs.
    let conc = db.create_collection("concurrent", cfg.clone()).unwrap();
    let n_conc = 4_000.min(base.len());
    let t = Instant::now();
    std::thread::scope(|sc| {
        for th in 0..4 {
            let conc = conc.clone();
            let base = &base;
            sc.spawn(move || {
                for i in (th..n_conc).step_by(4) {
                    conc.insert(Document::new(i.to_string(), base[i].clone())).unwrap();
                }
            });
        }
    });
    let s = t.elapsed().as_secs_f64();
    println!("single inserts, 4 threads, Sync: {n_conc} in {s:.2} s = {:.0} inserts/s", n_conc as f64 / s);
    drop((single, conc));

    // Batches of 1,000: the ANN build.
    let coll = db.create_collection("ann", cfg).unwrap();
    let t = Instant::now();
    for (b, chunk) in base.chunks(1_000).enumerate() {
        let docs =
            chunk.iter().enumerate().map(|(j, v)| Document::new((b * 1_000 + j).to_string(), v.clone())).collect();
        coll.insert_batch(docs).unwrap();
    }
    let build = t.elapsed().as_secs_f64();
    println!("batches of 1000, Sync: {} in {build:.2} s = {:.0} docs/s", base.len(), base.len() as f64 / build);
    println!("index bytes: {}", coll.stats().index_bytes);

    for ef in [10, 20, 40, 80, 160, 320] {
        let opts = SearchOptions::new(10).ef(ef).include_document(false);
        let mut hits_total = 0usize;
        let mut lat = Vec::with_capacity(queries.len());
        let t = Instant::now();
        for (q, truth) in queries.iter().zip(&gt) {
            let t1 = Instant::now();
            let hits = coll.search_with(q, &opts).unwrap();
            lat.push(t1.elapsed().as_micros() as u64);
            let truth: Vec<String> = truth.iter().take(10).map(|i| i.to_string()).collect();
            hits_total += hits.iter().filter(|h| truth.contains(&h.id)).count();
        }
        let s = t.elapsed().as_secs_f64();
        lat.sort();
        println!(
            "{{\"ef\": {ef}, \"recall\": {:.4}, \"qps\": {:.0}, \"p50_us\": {}, \"p99_us\": {}, \"build_s\": {build:.2}}}",
            hits_total as f64 / (10 * queries.len()) as f64,
            queries.len() as f64 / s,
            lat[lat.len() / 2],
            lat[lat.len() * 99 / 100]
        );
    }
    db.close().unwrap();
}
