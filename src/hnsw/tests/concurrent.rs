//! Inserts from four threads while two threads search.

use super::data::{clustered, ground_truth, params, recall, N, NOISE};
use crate::hnsw::{distance, Hnsw, Metric};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[test]
fn concurrent_inserts_and_searches() {
    let (base, queries) = clustered(N, 200, 64, 100, NOISE, 33);
    let index = Hnsw::new(base.dim, Metric::L2, params());
    let next = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let searches = AtomicUsize::new(0);
    let row_of = parking_lot::Mutex::new(vec![usize::MAX; N]);

    std::thread::scope(|s| {
        let inserters: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| loop {
                    let row = next.fetch_add(1, Ordering::Relaxed);
                    if row >= N {
                        break;
                    }
                    let id = index.insert(base.row(row));
                    row_of.lock()[id as usize] = row;
                })
            })
            .collect();
        for t in 0..2 {
            let (index, queries, done, searches) = (&index, &queries, &done, &searches);
            s.spawn(move || {
                let mut q = t;
                while !done.load(Ordering::Acquire) {
                    let query = queries.row(q % queries.len());
                    let res = index.search(query, 10, 32, &|_| true);
                    // Results are sorted, distinct, completed, and carry
                    // the true distance of the stored vector.
                    for w in res.windows(2) {
                        assert!(w[0].1 <= w[1].1);
                    }
                    let mut ids: Vec<_> = res.iter().map(|r| r.0).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    assert_eq!(ids.len(), res.len());
                    for &(id, d) in &res {
                        let v = index.vector(id);
                        assert_eq!(d, distance(Metric::L2, query, &v));
                    }
                    q += 2;
                    searches.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for h in inserters {
            h.join().expect("insert thread");
        }
        done.store(true, Ordering::Release);
    });

    assert_eq!(index.len(), N);
    let rows = row_of.into_inner();
    let mut seen = rows.clone();
    seen.sort_unstable();
    assert!(seen.iter().copied().eq(0..N), "ids are exactly 0..N");

    let truth = ground_truth(Metric::L2, &base, &queries, 10, &|_| true);
    let results: Vec<_> = (0..queries.len()).map(|q| index.search(queries.row(q), 10, 128, &|_| true)).collect();
    let r = recall(&results, &truth, &|id| rows[id as usize]);

    // Every node must be reachable: its own vector finds it at distance 0.
    let found = (0..N as u32)
        .filter(|&id| {
            let v = index.vector(id);
            index.search(&v, 10, 64, &|_| true).iter().any(|&(got, d)| got == id && d <= 1e-6)
        })
        .count();
    let self_hit = found as f64 / N as f64;
    eprintln!(
        "concurrent: {} searches during build, recall@10 ef128 {r:.4}, self-hit {self_hit:.4}",
        searches.load(Ordering::Relaxed)
    );
    assert!(r >= 0.95, "recall {r}");
    assert!(self_hit >= 0.99, "self-hit {self_hit}");
}
