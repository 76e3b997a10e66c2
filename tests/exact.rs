//! Regression tests of issue 13's engine items: `SearchOptions::exact` is a
//! brute-force scan of every layer (visibility and filter applied), and
//! `Filter::ids` selects documents by id in every layer.

mod common;

use common::{brute_force, exact_distance};
use vego::{CollectionConfig, Db, Distance, Document, Filter, Options, SearchOptions};

/// Issue 13's inner-product repro, in spirit: 300 points uniform in
/// [0, 1)^50, rounded to 3 decimals.
fn cube(n: usize) -> Vec<Vec<f32>> {
    let mut r = common::Rng::new(1);
    (0..n).map(|_| (0..50).map(|_| ((r.unit() + 1.0) * 500.0).round() / 1000.0).collect()).collect()
}

/// `exact=true` used to raise ef only, so points the inner-product graph
/// could not reach were never returned. Now every answer equals brute force
/// over the live documents, whatever layer they are in.
#[test]
fn exact_search_with_inner_product_returns_what_brute_force_returns_in_every_layer() {
    let data = cube(300);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.create_collection("ip", CollectionConfig::new(50).distance(Distance::InnerProduct)).unwrap();
    let doc = |i: usize| Document::new(i.to_string(), data[i].clone()).with("odd", (i % 2) as i64);
    // Two segments and the active memtable, with deletes in each.
    c.insert_batch((0..100).map(doc).collect()).unwrap();
    c.flush().unwrap();
    c.insert_batch((100..200).map(doc).collect()).unwrap();
    c.flush().unwrap();
    c.insert_batch((200..300).map(doc).collect()).unwrap();
    let deleted = |i: usize| i % 7 == 3;
    let gone: Vec<String> = (0..300).filter(|&i| deleted(i)).map(|i| i.to_string()).collect();
    c.delete_batch(&gone.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    let live: Vec<usize> = (0..300).filter(|&i| !deleted(i)).collect();

    let check = |c: &vego::Collection, when: &str| {
        for filtered in [false, true] {
            let rows: Vec<usize> = live.iter().copied().filter(|i| !filtered || i % 2 == 1).collect();
            let subset: Vec<Vec<f32>> = rows.iter().map(|&i| data[i].clone()).collect();
            for &q in &live {
                let want: Vec<String> = brute_force(&subset, &data[q], 10, Distance::InnerProduct)
                    .into_iter()
                    .map(|j| rows[j].to_string())
                    .collect();
                let mut opts = SearchOptions::new(10).exact(true);
                if filtered {
                    opts = opts.filter(Filter::eq("odd", 1));
                }
                let hits = c.search_with(&data[q], &opts).unwrap();
                let got: Vec<String> = hits.iter().map(|h| h.id.clone()).collect();
                assert_eq!(got, want, "{when}, filtered {filtered}, query {q}");
                for h in &hits {
                    let d = exact_distance(Distance::InnerProduct, &data[q], &data[h.id.parse::<usize>().unwrap()]);
                    assert!((h.distance - d).abs() < 1e-3, "{when}: distance {} vs {d}", h.distance);
                }
            }
        }
    };
    check(&c, "memtable and segments");
    db.close().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.collection("ip").unwrap();
    check(&c, "after reopen (segments only)");
    c.compact().unwrap();
    check(&c, "after compaction");
}

#[test]
fn filter_ids_selects_documents_by_id_in_memtable_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.create_collection("ids", CollectionConfig::new(4)).unwrap();
    let doc = |i: u64| Document::new(format!("d{i}"), common::vector(i, 4)).with("i", i as i64);
    c.insert_batch((0..50).map(doc).collect()).unwrap();
    c.flush().unwrap();
    c.insert_batch((50..100).map(doc).collect()).unwrap();
    c.delete("d7").unwrap();
    c.upsert(doc(60).with("updated", true)).unwrap();
    let f = Filter::ids(["d3", "d7", "d60", "d99", "nope"]);
    let snap = c.snapshot();
    assert_eq!(snap.ids(Some(&f)).unwrap(), ["d3", "d60", "d99"]);
    assert_eq!(snap.count(Some(&f)).unwrap(), 3);
    let not = f.clone().not();
    assert_eq!(snap.count(Some(&not)).unwrap(), 96);
    let both = Filter::ids(["d3", "d60"]).and(Filter::gte("i", 10));
    assert_eq!(snap.ids(Some(&both)).unwrap(), ["d60"]);
    for exact in [false, true] {
        let hits =
            c.search_with(&common::vector(3, 4), &SearchOptions::new(10).filter(f.clone()).exact(exact)).unwrap();
        let mut ids: Vec<String> = hits.into_iter().map(|h| h.id).collect();
        ids.sort();
        assert_eq!(ids, ["d3", "d60", "d99"], "exact {exact}");
    }
    // The metadata-only evaluation cannot see ids.
    assert!(!f.matches(&Default::default()));
}
