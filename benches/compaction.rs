//! Compaction figures (issue "MVCC"): disk and memory before and after
//! deleting half the documents and compacting, recall before and after,
//! compaction throughput, and reader QPS on 2 threads with and without a
//! concurrent writer.
//!
//! `cargo bench --bench compaction -- [--data DIR] [--metric l2|cos] [--n N]`
//!
//! DIR holds `base.fvecs` and `query.fvecs` (`../shared/datasets/make.py`);
//! by default `target/datasets/clustered-768` (100k × 768, L2), else real
//! MiniLM embeddings, else synthetic data. Memory is the resident set of a
//! fresh process that opens the database and runs one search pass, so the
//! figure holds the database alone (not this process's copies of the data,
//! nor freed heap the allocator keeps).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vego::{CollectionConfig, Db, Distance, Document, SearchOptions};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

/// Child mode: open the database, search every query once, print the RSS.
fn measure_child(dir: &str, queries: usize) {
    let db = Db::open(dir, vego::Options::default()).unwrap();
    let c = db.collection("c").unwrap();
    let dim = c.stats().dimension;
    for q in 0..queries as u64 {
        let v: Vec<f32> = (0..dim).map(|j| ((q * 31 + j as u64) % 97) as f32 / 97.0 - 0.5).collect();
        c.search(&v, 10).unwrap();
    }
    println!("{}", rss_bytes());
}

/// Resident bytes of a fresh process holding only the database.
fn database_rss(dir: &Path) -> u64 {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--measure-rss", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn recall(
    c: &vego::Collection,
    metric: Distance,
    data: &[Vec<f32>],
    live: &dyn Fn(usize) -> bool,
    queries: &[Vec<f32>],
) -> f64 {
    let ids: Vec<usize> = (0..data.len()).filter(|&i| live(i)).collect();
    let subset: Vec<Vec<f32>> = ids.iter().map(|&i| data[i].clone()).collect();
    let mut found = 0;
    for q in queries {
        let truth: Vec<String> =
            common::brute_force(&subset, q, 10, metric).into_iter().map(|j| ids[j].to_string()).collect();
        let hits = c.search_with(q, &SearchOptions::new(10).ef(64).include_document(false)).unwrap();
        found += hits.iter().filter(|h| truth.contains(&h.id)).count();
    }
    found as f64 / (10 * queries.len()) as f64
}

fn reader_qps(c: &vego::Collection, queries: &[Vec<f32>], writer: bool) -> f64 {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let secs = 3.0;
    std::thread::scope(|s| {
        for t in 0..2 {
            let (c, stop, done) = (c.clone(), &stop, &done);
            s.spawn(move || {
                let mut i = t;
                while !stop.load(Ordering::Relaxed) {
                    c.search_with(&queries[i % queries.len()], &SearchOptions::new(10).ef(64).include_document(false))
                        .unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 2;
                }
            });
        }
        if writer {
            let (c, stop) = (c.clone(), &stop);
            s.spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let v = &queries[(i as usize) % queries.len()];
                    c.upsert(Document::new(format!("w{}", i % 5_000), v.clone())).unwrap();
                    i += 1;
                }
            });
        }
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
    });
    done.load(Ordering::Relaxed) as f64 / secs
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    if let Some(dir) = flag("--measure-rss") {
        return measure_child(&dir, 200);
    }
    let n: usize = flag("--n").map_or(100_000, |v| v.parse().unwrap());
    let data_dir = flag("--data").unwrap_or_else(|| "target/datasets/clustered-768".into());
    let cos = flag("--metric").map(|m| m == "cos");
    let fvecs = common::read_vecs(&Path::new(&data_dir).join("base.fvecs"), f32::from_le_bytes, n)
        .zip(common::read_vecs(&Path::new(&data_dir).join("query.fvecs"), f32::from_le_bytes, 200));
    let (data, queries, metric) = match fvecs {
        Some((d, q)) => (d, q, if cos.unwrap_or(false) { Distance::Cosine } else { Distance::L2 }),
        None => {
            let (d, q) = common::minilm(n, 200)
                .unwrap_or_else(|| (common::clustered(n, 384, 200, 1), common::clustered(200, 384, 200, 2)));
            (d, q, Distance::Cosine)
        }
    };
    let n = data.len();
    println!("{n} documents x {} dims ({metric:?}) from {data_dir}", data[0].len());
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), vego::Options::default()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(data[0].len()).distance(metric).m(16).ef_construction(200))
        .unwrap();
    for (b, chunk) in data.chunks(10_000).enumerate() {
        c.insert_batch(
            chunk.iter().enumerate().map(|(j, v)| Document::new((b * 10_000 + j).to_string(), v.clone())).collect(),
        )
        .unwrap();
    }
    c.flush().unwrap();
    let disk0 = c.stats().disk_bytes;
    let r0 = recall(&c, metric, &data, &|_| true, &queries);
    println!("reader QPS, 2 threads, no writer: {:.0}", reader_qps(&c, &queries, false));
    println!("reader QPS, 2 threads, 1 writer upserting: {:.0}", reader_qps(&c, &queries, true));
    drop(c);
    db.close().unwrap();
    let rss0 = database_rss(dir.path());
    println!("before: disk {disk0} B, database RSS {rss0} B, recall@10 (ef 64) {r0:.4}");
    let db = Db::open(dir.path(), vego::Options::default()).unwrap();
    let c = db.collection("c").unwrap();
    for i in (0..n).step_by(2) {
        c.delete(&i.to_string()).unwrap();
    }
    for i in 0..5_000 {
        c.delete(&format!("w{i}")).unwrap();
    }
    c.flush().unwrap();
    let t = Instant::now();
    let cs = c.compact().unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "compaction: {} segments -> {}, {} versions dropped, {} -> {} B in {secs:.2} s ({:.0} kept rows/s)",
        cs.segments_in,
        cs.segments_out,
        cs.versions_dropped,
        cs.bytes_in,
        cs.bytes_out,
        (n / 2) as f64 / secs
    );
    let disk1 = c.stats().disk_bytes;
    let r1 = recall(&c, metric, &data, &|i| i % 2 == 1, &queries);
    drop(c);
    db.close().unwrap();
    let rss1 = database_rss(dir.path());
    println!(
        "after deleting 50% and compacting: disk {disk1} B ({:.0}% less), database RSS {rss1} B ({:.0}% less), \
         recall@10 (ef 64) {r1:.4}",
        100.0 * (1.0 - disk1 as f64 / disk0 as f64),
        100.0 * (1.0 - rss1 as f64 / rss0 as f64)
    );
    let t = Instant::now();
    let db = Db::open(dir.path(), vego::Options::default()).unwrap();
    let c = db.collection("c").unwrap();
    println!("reopen after compaction: {:.3} s ({} documents)", t.elapsed().as_secs_f64(), c.len());
}
