//! Small-scale behaviour: edge cases, exactness on tiny sets, determinism.

use super::data::{build, clustered, Rng};
use crate::hnsw::{distance, Hnsw, HnswParams, Metric};

fn small_params() -> HnswParams {
    HnswParams { m: 4, ef_construction: 32, seed: 3, quantize: false }
}

#[test]
fn hnsw_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Hnsw>();
}

#[test]
fn empty_index_and_zero_k_return_nothing() {
    let index = Hnsw::new(3, Metric::L2, HnswParams::default());
    assert!(index.is_empty());
    assert!(index.search(&[0.0; 3], 5, 10, &|_| true).is_empty());
    index.insert(&[1.0, 2.0, 3.0]);
    assert!(index.search(&[0.0; 3], 0, 10, &|_| true).is_empty());
    assert_eq!(index.len(), 1);
    assert_eq!(index.dim(), 3);
    assert_eq!(index.metric(), Metric::L2);
}

#[test]
fn ids_are_dense_and_vectors_round_trip() {
    let index = Hnsw::new(2, Metric::L2, small_params());
    for i in 0..3000u32 {
        assert_eq!(index.insert(&[i as f32, -(i as f32)]), i);
    }
    assert_eq!(index.len(), 3000);
    assert_eq!(index.vector(2047), vec![2047.0, -2047.0]);
    assert_eq!(index.with_vector(5, |v| v[0]), Some(5.0));
    assert_eq!(index.with_vector(3000, |v| v[0]), None);
    assert!(index.memory_bytes() > 3000 * 2 * 4);
}

#[test]
#[should_panic(expected = "does not exist")]
fn vector_of_unknown_node_panics() {
    Hnsw::new(2, Metric::L2, small_params()).vector(0);
}

#[test]
#[should_panic(expected = "dimension")]
fn wrong_dimension_insert_panics() {
    Hnsw::new(2, Metric::L2, small_params()).insert(&[1.0]);
}

#[test]
fn small_index_search_is_exact_and_sorted() {
    // With ef >= n the beam covers the whole (connected) graph.
    let mut rng = Rng::new(9);
    let index = Hnsw::new(8, Metric::L2, small_params());
    let data: Vec<Vec<f32>> = (0..200).map(|_| (0..8).map(|_| rng.gaussian()).collect()).collect();
    for v in &data {
        index.insert(v);
    }
    let q: Vec<f32> = (0..8).map(|_| rng.gaussian()).collect();
    let got = index.search(&q, 250, 250, &|_| true);
    assert_eq!(got.len(), 200, "k larger than n returns every node");
    let mut want: Vec<(u32, f32)> =
        data.iter().enumerate().map(|(i, v)| (i as u32, distance(Metric::L2, &q, v))).collect();
    want.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(got, want);
}

#[test]
fn single_threaded_builds_are_deterministic() {
    let (base, queries) = clustered(2000, 20, 16, 10, 0.5, 5);
    let (a, _) = build(&base, Metric::L2, small_params(), 1);
    let (b, _) = build(&base, Metric::L2, small_params(), 1);
    for q in 0..queries.len() {
        assert_eq!(a.search(queries.row(q), 10, 20, &|_| true), b.search(queries.row(q), 10, 20, &|_| true));
    }
}
