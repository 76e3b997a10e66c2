//! Compaction figures (issue "MVCC"): disk and memory before and after
//! deleting half the documents and compacting, recall before and after,
//! compaction throughput, and reader QPS on 2 threads with and without a
//! concurrent writer.
//!
//! `cargo bench --bench compaction` (real MiniLM embeddings from
//! `../shared/datasets/minilm-dev` when present, else synthetic data).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vego::{CollectionConfig, Db, Distance, Document, SearchOptions};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

fn recall(c: &vego::Collection, data: &[Vec<f32>], live: &dyn Fn(usize) -> bool, queries: &[Vec<f32>]) -> f64 {
    let ids: Vec<usize> = (0..data.len()).filter(|&i| live(i)).collect();
    let subset: Vec<Vec<f32>> = ids.iter().map(|&i| data[i].clone()).collect();
    let mut found = 0;
    for q in queries {
        let truth: Vec<String> =
            common::brute_force(&subset, q, 10, Distance::Cosine).into_iter().map(|j| ids[j].to_string()).collect();
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
    let (data, queries) = common::minilm(50_000, 200)
        .unwrap_or_else(|| (common::clustered(50_000, 384, 200, 1), common::clustered(200, 384, 200, 2)));
    let n = data.len();
    println!("{n} documents x {} dims (cosine)", data[0].len());
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), vego::Options::default()).unwrap();
    let c = db
        .create_collection(
            "c",
            CollectionConfig::new(data[0].len()).distance(Distance::Cosine).m(16).ef_construction(200),
        )
        .unwrap();
    for (b, chunk) in data.chunks(10_000).enumerate() {
        c.insert_batch(
            chunk.iter().enumerate().map(|(j, v)| Document::new((b * 10_000 + j).to_string(), v.clone())).collect(),
        )
        .unwrap();
    }
    c.flush().unwrap();
    let (disk0, rss0) = (c.stats().disk_bytes, rss_bytes());
    let r0 = recall(&c, &data, &|_| true, &queries);
    println!("before: disk {disk0} B, RSS {rss0} B, recall@10 (ef 64) {r0:.4}");
    println!("reader QPS, 2 threads, no writer: {:.0}", reader_qps(&c, &queries, false));
    println!("reader QPS, 2 threads, 1 writer upserting: {:.0}", reader_qps(&c, &queries, true));
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
    let (disk1, rss1) = (c.stats().disk_bytes, rss_bytes());
    let r1 = recall(&c, &data, &|i| i % 2 == 1, &queries);
    println!(
        "after deleting 50% and compacting: disk {disk1} B ({:.0}% less), RSS {rss1} B, recall@10 (ef 64) {r1:.4}",
        100.0 * (1.0 - disk1 as f64 / disk0 as f64)
    );
    drop(c);
    db.close().unwrap();
    let t = Instant::now();
    let db = Db::open(dir.path(), vego::Options::default()).unwrap();
    let c = db.collection("c").unwrap();
    println!("reopen: {:.3} s, RSS after reopen + one search pass: {} B", t.elapsed().as_secs_f64(), {
        for q in &queries {
            c.search(q, 10).unwrap();
        }
        rss_bytes()
    });
}
