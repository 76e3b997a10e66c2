//! The HNSW search code alone (no database around it), on one fixed graph,
//! for A/B comparisons of search changes on a shared, noisy machine.
//!
//! `cargo bench --bench hnsw -- --data target/datasets/minilm-dev --metric cos [--ef 16,32,64]
//!  [--rounds 5] [--quant none|int8] [--views live,frozen] [--limit N]`
//!
//! The graph (M 16, ef_construction 200, 2 threads) is built once and cached
//! in `target/hnsw-bench-cache/` (keyed by data set, metric and size), so
//! every later run — and every build of the search code — walks exactly the
//! same graph. Each round answers every query once per view, one thread,
//! views interleaved; the line per (view, ef) reports recall@10 and the best
//! and median round (the best round is the one least disturbed by other
//! processes on the machine).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use vego::internals::{FrozenGraph, FrozenParts, Hnsw, HnswParams, Metric};

const K: usize = 10;

struct Args {
    data: PathBuf,
    metric: Metric,
    ef: Vec<usize>,
    rounds: usize,
    quant: bool,
    views: Vec<String>,
    limit: usize,
}

fn args() -> Args {
    let raw: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let flag = |name: &str| raw.iter().position(|a| a == name).and_then(|i| raw.get(i + 1)).cloned();
    let list = |s: String| s.split(',').map(|x| x.trim().to_string()).collect::<Vec<_>>();
    Args {
        data: PathBuf::from(flag("--data").unwrap_or_else(|| "target/datasets/minilm-dev".into())),
        metric: match flag("--metric").as_deref() {
            Some("cos") | None => Metric::Cosine,
            Some("l2") => Metric::L2,
            Some("ip") => Metric::InnerProduct,
            Some(m) => panic!("unknown metric {m}"),
        },
        ef: list(flag("--ef").unwrap_or_else(|| "16,32,64,128".into())).iter().map(|x| x.parse().unwrap()).collect(),
        rounds: flag("--rounds").map_or(5, |r| r.parse().unwrap()),
        quant: flag("--quant").is_some_and(|q| q == "int8"),
        views: list(flag("--views").unwrap_or_else(|| "live,frozen".into())),
        limit: flag("--limit").map_or(usize::MAX, |l| l.parse().unwrap()),
    }
}

fn flat(rows: &[Vec<f32>]) -> Vec<f32> {
    rows.iter().flatten().copied().collect()
}

/// The cached graph's arrays (everything but the vectors).
struct Cached {
    m: usize,
    m0: usize,
    levels: Vec<u8>,
    links0: Vec<u32>,
    upper_offsets: Vec<u32>,
    upper: Vec<u32>,
    entry: Option<u32>,
    max_level: u8,
}

fn words(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()
}

fn save(path: &Path, p: &FrozenParts<'_>) {
    let mut out = Vec::new();
    let n = p.levels.len() as u64;
    for x in [n, p.m as u64, p.m0 as u64, p.entry.map_or(u64::MAX, u64::from), u64::from(p.max_level)] {
        out.extend_from_slice(&x.to_le_bytes());
    }
    for a in [p.links0, p.upper_offsets, p.upper] {
        out.extend_from_slice(&(a.len() as u64).to_le_bytes());
        a.iter().for_each(|w| out.extend_from_slice(&w.to_le_bytes()));
    }
    out.extend_from_slice(p.levels);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, out).unwrap();
}

fn load(path: &Path) -> Option<Cached> {
    let b = std::fs::read(path).ok()?;
    let u = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let (n, m, m0, entry, max_level) = (u(0) as usize, u(8) as usize, u(16) as usize, u(24), u(32) as u8);
    let mut at = 40;
    let mut arrays = Vec::new();
    for _ in 0..3 {
        let len = u(at) as usize;
        arrays.push(words(&b[at + 8..at + 8 + 4 * len]));
        at += 8 + 4 * len;
    }
    let levels = b[at..at + n].to_vec();
    let upper = arrays.pop()?;
    let upper_offsets = arrays.pop()?;
    let links0 = arrays.pop()?;
    Some(Cached {
        m,
        m0,
        levels,
        links0,
        upper_offsets,
        upper,
        entry: (entry != u64::MAX).then_some(entry as u32),
        max_level,
    })
}

fn build(base: &[Vec<f32>], metric: Metric) -> Hnsw {
    let h = Hnsw::new(base[0].len(), metric, HnswParams::default());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= base.len() {
                    break;
                }
                h.insert_at(i as u32, &base[i]);
            });
        }
    });
    eprintln!("built {} nodes in {:.1} s (2 threads)", base.len(), t.elapsed().as_secs_f64());
    h
}

fn main() {
    let a = args();
    let cos = a.metric == Metric::Cosine;
    let read = |name: &str| common::read_vecs(&a.data.join(name), f32::from_le_bytes, usize::MAX).expect(name);
    let mut base = read("base.fvecs");
    let mut queries = read("query.fvecs");
    queries.truncate(a.limit);
    let gt_name = if cos { "gt_cos_top100.ivecs" } else { "gt_l2_top100.ivecs" };
    let gt = common::read_vecs(&a.data.join(gt_name), u32::from_le_bytes, usize::MAX).expect("ground truth");
    if cos {
        for v in base.iter_mut().chain(queries.iter_mut()) {
            let n = common::norm(v);
            v.iter_mut().for_each(|x| *x /= n);
        }
    }
    let dim = base[0].len();
    let vectors = flat(&base);
    let name = a.data.file_name().unwrap().to_string_lossy().to_string();
    let cache = PathBuf::from(format!("target/hnsw-bench-cache/{name}-{:?}-{}.graph", a.metric, base.len()));
    let cached = load(&cache).unwrap_or_else(|| {
        let h = build(&base, a.metric);
        let f = h.to_flat().expect("built");
        save(&cache, &f.view().parts());
        load(&cache).expect("just written")
    });
    let parts = FrozenParts {
        metric: a.metric,
        dim,
        m: cached.m,
        m0: cached.m0,
        vectors: &vectors,
        inv_norms: &[],
        levels: &cached.levels,
        links0: &cached.links0,
        upper_offsets: &cached.upper_offsets,
        upper: &cached.upper,
        records: &[],
        entry: cached.entry,
        max_level: cached.max_level,
    };
    let g = FrozenGraph::new(parts).expect("valid cached graph");
    let params = HnswParams { quantize: a.quant, ..HnswParams::default() };
    let live = Hnsw::from_frozen(&g, params).expect("M 16 geometry");
    let owned = live.to_flat().expect("complete");
    let frozen = owned.view();
    if let Ok(s) = std::fs::read_to_string("/proc/self/smaps_rollup") {
        s.lines().filter(|l| l.starts_with("Rss") || l.starts_with("AnonHuge")).for_each(|l| eprintln!("{l}"));
    }
    println!(
        "{name}: {} x {dim}, {} queries, {:?}, quant {}, {} rounds",
        base.len(),
        queries.len(),
        a.metric,
        a.quant,
        a.rounds
    );
    println!("{:8} {:>5} {:>8} {:>10} {:>10} {:>9}", "view", "ef", "recall", "best_qps", "median_qps", "best_us");
    for &ef in &a.ef {
        let mut times: Vec<Vec<f64>> = vec![Vec::new(); a.views.len()];
        let mut recalls = vec![0.0; a.views.len()];
        for _ in 0..a.rounds {
            for (vi, view) in a.views.iter().enumerate() {
                let search = |q: &[f32]| match view.as_str() {
                    "live" => live.search(q, K, ef, &|_| true),
                    "frozen" => frozen.search(q, K, ef, &|_| true),
                    v => panic!("unknown view {v}"),
                };
                for q in queries.iter().take(50) {
                    std::hint::black_box(search(q));
                }
                let t = Instant::now();
                let mut hits = 0usize;
                for (q, truth) in queries.iter().zip(&gt) {
                    let found = search(q);
                    hits += found.iter().filter(|(id, _)| truth[..K].contains(id)).count();
                }
                times[vi].push(t.elapsed().as_secs_f64());
                recalls[vi] = hits as f64 / (K * queries.len()) as f64;
            }
        }
        for (vi, view) in a.views.iter().enumerate() {
            let mut t = times[vi].clone();
            t.sort_by(f64::total_cmp);
            let nq = queries.len() as f64;
            println!(
                "{view:8} {ef:>5} {:>8.4} {:>10.0} {:>10.0} {:>9.1}",
                recalls[vi],
                nq / t[0],
                nq / t[t.len() / 2],
                t[0] / nq * 1e6
            );
        }
    }
}
