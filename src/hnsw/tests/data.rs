//! Synthetic data sets, brute-force ground truth and recall for tests.

use crate::hnsw::{distance, normalize, Hnsw, HnswParams, Metric, NodeId};

/// Row-major vectors of one dimension.
pub(super) struct Vectors {
    pub(super) dim: usize,
    pub(super) flat: Vec<f32>,
}

impl Vectors {
    pub(super) fn len(&self) -> usize {
        self.flat.len() / self.dim
    }

    pub(super) fn row(&self, i: usize) -> &[f32] {
        &self.flat[i * self.dim..(i + 1) * self.dim]
    }

    pub(super) fn normalize_rows(&mut self) {
        self.flat.chunks_mut(self.dim).for_each(normalize);
    }
}

/// SplitMix64: tiny, deterministic, good enough for test data.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal via Box-Muller.
    pub(super) fn gaussian(&mut self) -> f32 {
        let (u, v) = (self.unit(), self.unit());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

/// Base points and queries drawn from the same mixture: `clusters` centres
/// with N(0, 1) coordinates, each point a centre plus N(0, `noise`^2) noise.
pub(super) fn clustered(
    n: usize,
    queries: usize,
    dim: usize,
    clusters: usize,
    noise: f32,
    seed: u64,
) -> (Vectors, Vectors) {
    let mut rng = Rng::new(seed);
    let centres: Vec<f32> = (0..clusters * dim).map(|_| rng.gaussian()).collect();
    let mut draw = |count: usize| {
        let mut flat = Vec::with_capacity(count * dim);
        for _ in 0..count {
            let c = (rng.next_u64() % clusters as u64) as usize;
            for j in 0..dim {
                flat.push(centres[c * dim + j] + noise * rng.gaussian());
            }
        }
        Vectors { dim, flat }
    };
    let base = draw(n);
    let queries = draw(queries);
    (base, queries)
}

/// Exact `k` nearest accepted rows of `base` for each query, computed on
/// all cores.
pub(super) fn ground_truth(
    metric: Metric,
    base: &Vectors,
    queries: &Vectors,
    k: usize,
    accept: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<Vec<usize>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = queries.len().div_ceil(threads).max(1);
    let qs: Vec<usize> = (0..queries.len()).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = qs
            .chunks(per)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|&q| {
                            let mut all: Vec<(f32, usize)> = (0..base.len())
                                .filter(|&i| accept(i))
                                .map(|i| (distance(metric, queries.row(q), base.row(i)), i))
                                .collect();
                            let k = k.min(all.len());
                            if k > 0 {
                                all.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
                            }
                            all.truncate(k);
                            all.sort_by(|a, b| a.0.total_cmp(&b.0));
                            all.into_iter().map(|(_, i)| i).collect::<Vec<_>>()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("ground truth thread")).collect()
    })
}

/// Mean fraction of each truth list found in the matching result list.
/// `row_of` maps a node id back to its row in the data set.
pub(super) fn recall(results: &[Vec<(NodeId, f32)>], truth: &[Vec<usize>], row_of: &dyn Fn(NodeId) -> usize) -> f64 {
    let mut hit = 0usize;
    let mut total = 0usize;
    for (res, tru) in results.iter().zip(truth) {
        total += tru.len();
        hit += tru.iter().filter(|t| res.iter().any(|&(id, _)| row_of(id) == **t)).count();
    }
    hit as f64 / total.max(1) as f64
}

/// Builds an index over `base` on `threads` threads; returns it with the row
/// each node id holds.
pub(super) fn build(base: &Vectors, metric: Metric, params: HnswParams, threads: usize) -> (Hnsw, Vec<usize>) {
    let index = Hnsw::new(base.dim, metric, params);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let row_of = parking_lot::Mutex::new(vec![usize::MAX; base.len()]);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let row = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if row >= base.len() {
                    break;
                }
                let id = index.insert(base.row(row));
                row_of.lock()[id as usize] = row;
            });
        }
    });
    (index, row_of.into_inner())
}

/// Runs every query with beam `ef`, accepting all nodes.
pub(super) fn search_all(index: &Hnsw, queries: &Vectors, k: usize, ef: usize) -> Vec<Vec<(NodeId, f32)>> {
    (0..queries.len()).map(|q| index.search(queries.row(q), k, ef, &|_| true)).collect()
}

/// Base size for recall tests: the full 20k in release builds, fewer in
/// unoptimised ones so `cargo test` stays quick.
pub(super) const N: usize = if cfg!(debug_assertions) { 5_000 } else { 20_000 };

/// The parameters the recall requirements are stated for.
pub(super) fn params() -> HnswParams {
    HnswParams { m: 16, ef_construction: 200, seed: 7, quantize: false }
}

/// Noise of the test mixtures, relative to the spread of the centres (1.0).
/// At 0.5 the clusters are so far apart that recall is trivially 1.0; at 1.5
/// they overlap enough that recall@10 sits a little below 1.0 and a
/// regression in graph quality shows up.
pub(super) const NOISE: f32 = 1.5;
