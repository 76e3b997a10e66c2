//! Segment figures (issue "segments"): write and read throughput of ~100 MB
//! of vectors, reopen time, get latency, disk bytes per vector, and recall /
//! QPS before and after the memtable is flushed to a segment.
//!
//! `cargo bench --bench segments -- [--n 200000] [--dim 128]`

use std::time::Instant;

use vego::{CollectionConfig, Db, Document, Durability, Filter, Options, SearchOptions, SegmentIo};

fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    // Embedding-like: 1,000 clusters whose spread lives in a 16-dimensional
    // subspace (real embeddings have low intrinsic dimension), plus faint noise.
    let centres: Vec<Vec<f32>> = (0..1000).map(|_| (0..dim).map(|_| next() * 4.0).collect()).collect();
    let basis: Vec<Vec<f32>> = (0..16).map(|_| (0..dim).map(|_| next()).collect()).collect();
    (0..n)
        .map(|i| {
            let z: Vec<f32> = (0..16).map(|_| next() * 2.0).collect();
            let c = &centres[(i * 7919) % 1000];
            (0..dim).map(|d| c[d] + z.iter().zip(&basis).map(|(a, b)| a * b[d]).sum::<f32>() + next() * 0.05).collect()
        })
        .collect()
}

fn brute(base: &[Vec<f32>], q: &[f32]) -> Vec<usize> {
    let mut d: Vec<(f32, usize)> =
        base.iter().enumerate().map(|(i, v)| (v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum(), i)).collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0));
    d.into_iter().take(10).map(|x| x.1).collect()
}

fn recall_qps(c: &vego::Collection, queries: &[Vec<f32>], gt: &[Vec<usize>], ef: usize) -> (f64, f64) {
    let opts = SearchOptions::new(10).ef(ef).include_document(false);
    let t = Instant::now();
    let mut hit = 0;
    for (q, truth) in queries.iter().zip(gt) {
        let hits = c.search_with(q, &opts).unwrap();
        hit += hits.iter().filter(|h| truth.contains(&h.id.parse().unwrap())).count();
    }
    (hit as f64 / (10 * queries.len()) as f64, queries.len() as f64 / t.elapsed().as_secs_f64())
}

fn percentile(v: &mut [u64], p: usize) -> u64 {
    v.sort_unstable();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, d: usize| args.iter().position(|a| a == name).map_or(d, |i| args[i + 1].parse().unwrap());
    let n = flag("--n", 200_000);
    let dim = flag("--dim", 128);
    let base = vectors(n, dim, 42);
    let queries = vectors(200, dim, 4242);
    let gt: Vec<Vec<usize>> = queries.iter().map(|q| brute(&base, q)).collect();
    let mb = (n * dim * 4) as f64 / 1e6;
    println!("{n} vectors x {dim} dims = {mb:.0} MB of f32");

    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().durability(Durability::Sync)).unwrap();
    let cfg = CollectionConfig::new(dim).m(16).ef_construction(200).memtable_bytes(u64::MAX / 2);
    let c = db.create_collection("bench", cfg).unwrap();
    let t = Instant::now();
    for (b, chunk) in base.chunks(10_000).enumerate() {
        let docs = chunk
            .iter()
            .enumerate()
            .map(|(j, v)| {
                let i = b * 10_000 + j;
                Document::new(i.to_string(), v.clone())
                    .with("bucket", (i % 100) as i64)
                    .with("title", format!("document number {i} about topic {}", i % 37))
            })
            .collect();
        c.insert_batch(docs).unwrap();
    }
    let ingest = t.elapsed().as_secs_f64();
    println!("ingest (WAL fsync + HNSW build): {ingest:.2} s = {:.1} MB/s", mb / ingest);
    for ef in [32, 64, 128] {
        let (r, q) = recall_qps(&c, &queries, &gt, ef);
        println!("memtable    ef {ef:3}: recall@10 {r:.4}, {q:.0} QPS");
    }
    let t = Instant::now();
    c.flush().unwrap();
    let flush = t.elapsed().as_secs_f64();
    println!("flush to segment (graph reused, file written + fsynced): {flush:.2} s = {:.0} MB/s", mb / flush);
    for ef in [32, 64, 128] {
        let (r, q) = recall_qps(&c, &queries, &gt, ef);
        println!("segment     ef {ef:3}: recall@10 {r:.4}, {q:.0} QPS");
    }
    let disk = c.stats().disk_bytes;
    println!(
        "disk: {disk} bytes = {:.1} bytes/vector ({:.2}x raw f32)",
        disk as f64 / n as f64,
        disk as f64 / (mb * 1e6)
    );
    drop(c);
    let t = Instant::now();
    db.close().unwrap();
    println!("close: {:.3} s", t.elapsed().as_secs_f64());

    for (name, io) in [
        ("mmap", SegmentIo::Mmap),
        ("pread", SegmentIo::Pread { cache_bytes: 256 << 20 }),
        ("io_uring", SegmentIo::Uring { cache_bytes: 256 << 20 }),
    ] {
        let t = Instant::now();
        let db = Db::open(dir.path(), Options::default().segment_io(io)).unwrap();
        let c = db.collection("bench").unwrap();
        println!("[{name}] reopen: {:.3} s ({} documents)", t.elapsed().as_secs_f64(), c.len());
        let (r, q) = recall_qps(&c, &queries, &gt, 64);
        println!("[{name}] search ef 64, no documents: recall@10 {r:.4}, {q:.0} QPS");
        for (label, opts) in [
            ("with documents", SearchOptions::new(10).ef(64)),
            ("filter bucket < 10", SearchOptions::new(10).ef(64).filter(Filter::lt("bucket", 10))),
            ("filter bucket == 7", SearchOptions::new(10).ef(64).filter(Filter::eq("bucket", 7))),
        ] {
            let t = Instant::now();
            for q in &queries {
                assert_eq!(c.search_with(q, &opts).unwrap().len(), 10);
            }
            println!("[{name}] search {label}: {:.0} QPS", queries.len() as f64 / t.elapsed().as_secs_f64());
        }
        let mut lat = Vec::with_capacity(10_000);
        let mut s = 99u64;
        for _ in 0..10_000 {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            let id = ((s >> 33) as usize % n).to_string();
            let t = Instant::now();
            let d = c.get(&id).unwrap();
            lat.push(t.elapsed().as_nanos() as u64);
            assert_eq!(d.unwrap().metadata.len(), 2);
        }
        println!(
            "[{name}] get (vector + 2 metadata fields): p50 {:.1} us, p99 {:.1} us",
            percentile(&mut lat, 50) as f64 / 1e3,
            percentile(&mut lat, 99) as f64 / 1e3
        );
        drop(c);
        db.close().unwrap();
    }
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.collection("bench").unwrap();
    let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let t = Instant::now();
    let mut floats = 0usize;
    for chunk in ids.chunks(10_000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        floats += c.get_batch(&refs).unwrap().iter().map(|d| d.as_ref().unwrap().vector.len()).sum::<usize>();
    }
    let read = t.elapsed().as_secs_f64();
    assert_eq!(floats, n * dim);
    println!("read all vectors back with get_batch: {read:.2} s = {:.0} MB/s", mb / read);
    db.close().unwrap();
}
