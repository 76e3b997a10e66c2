//! Recall@10 against brute force for each metric (M=16, ef_construction=200).

use super::data::{build, clustered, ground_truth, params, recall, search_all, N, NOISE};
use crate::hnsw::Metric;

const K: usize = 10;

/// Builds on one thread, then checks recall@10 at ef 64 and 128.
fn check(metric: Metric, normalise: bool, dim: usize, min_recall_64: f64) {
    let (mut base, mut queries) = clustered(N, 200, dim, 100, NOISE, 11);
    if normalise {
        base.normalize_rows();
        queries.normalize_rows();
    }
    let (index, rows) = build(&base, metric, params(), 1);
    assert_eq!(index.len(), N);
    let truth = ground_truth(metric, &base, &queries, K, &|_| true);
    let row_of = |id: u32| rows[id as usize];
    let r64 = recall(&search_all(&index, &queries, K, 64), &truth, &row_of);
    let r128 = recall(&search_all(&index, &queries, K, 128), &truth, &row_of);
    eprintln!("{metric:?} n={N} dim={dim}: recall@10 ef64={r64:.4} ef128={r128:.4}");
    assert!(r64 >= min_recall_64, "{metric:?} recall@10 at ef=64: {r64}");
    assert!(r128 >= 0.95, "{metric:?} recall@10 at ef=128: {r128}");
}

#[test]
fn recall_l2() {
    check(Metric::L2, false, 128, 0.95);
}

#[test]
fn recall_inner_product_on_raw_vectors() {
    // Unnormalised data ranked by exact inner product: the graph is built
    // with a non-metric "distance", which HNSW handles less well, so only
    // ef=128 is held to 0.95.
    check(Metric::InnerProduct, false, 128, 0.90);
}

#[test]
fn recall_cosine() {
    check(Metric::Cosine, true, 128, 0.95);
}

/// A quantized index: recall@10 ≥ 0.95 at ef 128 for every metric, every
/// returned distance is the exact one, and the frozen copy (records
/// included) answers exactly like the live graph.
#[test]
fn quantized_search_keeps_recall_and_returns_exact_distances() {
    for (metric, normalise) in [(Metric::L2, false), (Metric::Cosine, true), (Metric::InnerProduct, false)] {
        let (mut base, mut queries) = clustered(N, 200, 128, 100, NOISE, 11);
        if normalise {
            base.normalize_rows();
            queries.normalize_rows();
        }
        let (index, rows) = build(&base, metric, crate::hnsw::HnswParams { quantize: true, ..params() }, 2);
        let truth = ground_truth(metric, &base, &queries, K, &|_| true);
        let row_of = |id: u32| rows[id as usize];
        let results = search_all(&index, &queries, K, 128);
        let r128 = recall(&results, &truth, &row_of);
        eprintln!("{metric:?} quantized: recall@10 ef128={r128:.4}");
        let floor = if metric == Metric::InnerProduct { 0.90 } else { 0.95 };
        assert!(r128 >= floor, "{metric:?} quantized recall@10 at ef=128: {r128}");
        for (q, hits) in results.iter().enumerate() {
            for &(id, d) in hits {
                let exact = crate::hnsw::distance(metric, queries.row(q), base.row(row_of(id)));
                assert!((d - exact).abs() <= 1e-5 * exact.abs().max(1.0), "re-scored distance {d} vs exact {exact}");
            }
            assert!(hits.windows(2).all(|w| w[0].1 <= w[1].1), "nearest first");
        }
        let flat = index.to_flat().unwrap();
        let frozen = flat.view();
        assert!(!frozen.parts().records.is_empty(), "records are copied");
        for q in 0..50 {
            assert_eq!(frozen.search(queries.row(q), K, 64, &|_| true), index.search(queries.row(q), K, 64, &|_| true));
        }
    }
}

/// The bounded re-scoring of a quantized search returns what re-scoring
/// every node the walk found would (the bound is statistical: nearly
/// always), while reading far fewer full vectors.
#[test]
fn bounded_rescoring_equals_rescoring_every_candidate() {
    use crate::hnsw::quant::QuantQuery;
    use crate::hnsw::search::{rescore, walk, Scratch};
    use crate::hnsw::view::GraphView;
    for (metric, normalise) in [(Metric::L2, false), (Metric::Cosine, true), (Metric::InnerProduct, false)] {
        let (mut base, mut queries) = clustered(N, 200, 128, 100, NOISE, 13);
        if normalise {
            base.normalize_rows();
            queries.normalize_rows();
        }
        let (index, _) = build(&base, metric, crate::hnsw::HnswParams { quantize: true, ..params() }, 2);
        let view = index.view();
        let mut scratch = Scratch::default();
        let mut quant = QuantQuery::default();
        let (mut same, mut rescored, mut found) = (0, 0, 0);
        for qi in 0..queries.len() {
            let q = queries.row(qi);
            quant.prepare(q, metric);
            walk(&view, &quant, &mut scratch, K, 64, &|_| true);
            let mut all: Vec<(u32, f32)> =
                scratch.found.iter().map(|c| (c.id, (index.dist)(q, view.vector(c.id).unwrap()))).collect();
            all.sort_unstable_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            all.truncate(K);
            found += scratch.found.len();
            let got =
                rescore(&view, &quant, &crate::hnsw::search::Exact { dist: index.dist, query: q }, &mut scratch, K);
            rescored += scratch.rescored;
            same += usize::from(got == all);
        }
        eprintln!("{metric:?}: {same} of {} answers equal; {rescored} of {found} candidates re-scored", queries.len());
        assert!(same * 100 >= queries.len() * 99, "{metric:?}: only {same} of {} answers equal", queries.len());
        assert!(rescored * 2 < found, "{metric:?}: re-scored {rescored} of {found} candidates");
    }
}
