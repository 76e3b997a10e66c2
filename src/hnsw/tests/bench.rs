//! Benchmarks, ignored by default. Run with
//! `cargo test --release -- --ignored --nocapture bench_`.

use super::data::{build, clustered, ground_truth, recall, search_all, Vectors, NOISE};
use crate::hnsw::{HnswParams, Metric};
use std::time::Instant;

const K: usize = 10;

fn run(label: &str, metric: Metric, base: &Vectors, queries: &Vectors) {
    let params = HnswParams { m: 16, ef_construction: 200, seed: 1, quantize: false };
    let t = Instant::now();
    let (index, rows) = build(base, metric, params, 1);
    let build1 = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (index2, rows2) = build(base, metric, params, 2);
    let build2 = t.elapsed().as_secs_f64();

    let truth = ground_truth(metric, base, queries, K, &|_| true);
    println!("\n{label}: n={} dim={} queries={} M=16 efC=200", base.len(), base.dim, queries.len());
    println!(
        "build: 1 thread {build1:.2} s ({:.0} inserts/s), 2 threads {build2:.2} s ({:.0} inserts/s)",
        base.len() as f64 / build1,
        base.len() as f64 / build2
    );
    println!(
        "memory: {:.1} MiB (raw vectors {:.1} MiB)",
        index.memory_bytes() as f64 / (1 << 20) as f64,
        (base.flat.len() * 4) as f64 / (1 << 20) as f64
    );
    println!("   ef  recall@10        QPS  recall@10(2-thread build)");
    for ef in [16, 32, 64, 128, 256] {
        // Warm-up pass, then the timed pass.
        let _ = search_all(&index, queries, K, ef);
        let t = Instant::now();
        let res = search_all(&index, queries, K, ef);
        let secs = t.elapsed().as_secs_f64();
        let r = recall(&res, &truth, &|id| rows[id as usize]);
        let res2 = search_all(&index2, queries, K, ef);
        let r2 = recall(&res2, &truth, &|id| rows2[id as usize]);
        println!("{ef:>5}  {r:>9.4}  {:>9.0}  {r2:>9.4}", queries.len() as f64 / secs);
    }
}

#[test]
#[ignore = "benchmark; run with --release --ignored --nocapture"]
fn bench_l2_50k_d128() {
    let (base, queries) = clustered(50_000, 1_000, 128, 100, NOISE, 101);
    run("L2 clustered", Metric::L2, &base, &queries);
}

#[test]
#[ignore = "benchmark; run with --release --ignored --nocapture"]
fn bench_cosine_20k_d384() {
    let (mut base, mut queries) = clustered(20_000, 1_000, 384, 100, NOISE, 202);
    base.normalize_rows();
    queries.normalize_rows();
    run("Cosine clustered", Metric::Cosine, &base, &queries);
}
