//! `accept` filtering: rejected nodes are waypoints, never results.

use super::data::{build, clustered, ground_truth, params, recall, N, NOISE};
use crate::hnsw::Metric;

const K: usize = 10;

fn check(keep: fn(usize) -> bool, ef: usize, min_recall: f64, label: &str) {
    let (base, queries) = clustered(N, 100, 64, 100, NOISE, 21);
    let (index, rows) = build(&base, Metric::L2, params(), 2);
    // Filter on node id, as callers do; map ids to rows for the truth.
    let mut ids_of_row = vec![0u32; rows.len()];
    for (id, &row) in rows.iter().enumerate() {
        ids_of_row[row] = id as u32;
    }
    let accepted_rows = |row: usize| keep(ids_of_row[row] as usize);
    let truth = ground_truth(Metric::L2, &base, &queries, K, &accepted_rows);
    let results: Vec<_> =
        (0..queries.len()).map(|q| index.search(queries.row(q), K, ef, &|id| keep(id as usize))).collect();
    for res in &results {
        assert_eq!(res.len(), K, "{label}: enough accepted nodes exist");
        assert!(res.iter().all(|&(id, _)| keep(id as usize)), "{label}");
    }
    let r = recall(&results, &truth, &|id| rows[id as usize]);
    eprintln!("filter {label} ef={ef}: recall@10 {r:.4}");
    assert!(r >= min_recall, "{label}: recall {r}");
}

#[test]
fn filter_even_ids() {
    check(|id| id % 2 == 0, 64, 0.95, "even ids");
}

#[test]
fn filter_one_percent_of_ids() {
    // 1% selectivity: the beam must walk ~100 rejected nodes per accepted
    // one; a large ef keeps recall up at the cost of speed.
    check(|id| id % 100 == 0, 200, 0.9, "1% of ids");
}

#[test]
fn filter_rejecting_everything_returns_nothing() {
    let (base, queries) = clustered(500, 1, 16, 5, 0.5, 2);
    let (index, _) = build(&base, Metric::L2, params(), 1);
    assert!(index.search(queries.row(0), K, 32, &|_| false).is_empty());
}
