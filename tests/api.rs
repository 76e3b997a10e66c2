//! The public API end to end, through `vego::*` only.

mod common;

use common::{vector, Rng};
use vego::{CollectionConfig, Db, Distance, Document, Error, Filter, Options, SearchOptions, Value};

fn db_with(dim: usize) -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().dimension(dim)).unwrap();
    (dir, db)
}

#[test]
fn crud_round_trip_returns_what_was_stored() {
    let (_d, db) = db_with(4);
    let c = db.collection("docs").unwrap();
    let doc = Document::new("a", vec![1.0, 2.0, 3.0, 4.0])
        .with("title", "Hello")
        .with("year", 2024)
        .with("tags", vec!["x", "y"]);
    c.insert(doc.clone()).unwrap();
    let got = c.get("a").unwrap().unwrap();
    assert_eq!((got.id.as_str(), &got.vector, &got.metadata), ("a", &doc.vector, &doc.metadata));
    assert!(got.version > 0, "stored documents carry their version");

    c.update(Document::new("a", vec![4.0, 3.0, 2.0, 1.0]).with("title", "Bye")).unwrap();
    let got2 = c.get("a").unwrap().unwrap();
    assert_eq!(got2.vector, vec![4.0, 3.0, 2.0, 1.0]);
    assert_eq!(got2.metadata.get("year"), None, "update replaces the whole document");
    assert!(got2.version > got.version);

    c.upsert(Document::new("b", vec![0.0; 4])).unwrap();
    assert_eq!(c.len(), 2);
    assert!(c.delete("a").unwrap());
    assert!(!c.delete("a").unwrap(), "second delete reports absence");
    assert_eq!(c.get("a").unwrap(), None);
    assert_eq!(c.len(), 1);
    c.insert(Document::new("a", vec![1.0; 4])).unwrap();
    assert_eq!(
        c.get_batch(&["a", "zz", "b"]).unwrap().iter().map(Option::is_some).collect::<Vec<_>>(),
        [true, false, true]
    );
}

#[test]
fn insert_batch_is_all_or_nothing() {
    let (_d, db) = db_with(2);
    let c = db.collection("c").unwrap();
    c.insert(Document::new("taken", vec![0.0, 0.0])).unwrap();
    let batch = vec![
        Document::new("n1", vec![1.0, 0.0]),
        Document::new("taken", vec![2.0, 0.0]),
        Document::new("n2", vec![3.0, 0.0]),
    ];
    assert!(matches!(c.insert_batch(batch), Err(Error::AlreadyExists(id)) if id == "taken"));
    assert_eq!(c.get("n1").unwrap(), None);
    assert_eq!(c.len(), 1);
    let bad = vec![Document::new("n1", vec![1.0, 0.0]), Document::new("n2", vec![1.0])];
    assert!(matches!(c.insert_batch(bad), Err(Error::DimensionMismatch { .. })));
    assert_eq!(c.len(), 1);
    let good: Vec<_> = (0..500).map(|i| Document::new(format!("g{i}"), vec![i as f32, 1.0])).collect();
    c.insert_batch(good).unwrap();
    assert_eq!(c.len(), 501);
    let v1 = c.get("g0").unwrap().unwrap().version;
    let v2 = c.get("g499").unwrap().unwrap().version;
    assert_eq!(v1, v2, "a batch is one write");
}

#[test]
fn search_returns_nearest_first_with_documents_for_every_metric() {
    for metric in [Distance::L2, Distance::Cosine, Distance::InnerProduct] {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let c = db.create_collection("m", CollectionConfig::new(8).distance(metric)).unwrap();
        let data: Vec<Vec<f32>> = (0..300).map(|i| vector(i, 8)).collect();
        c.insert_batch(
            data.iter()
                .enumerate()
                .map(|(i, v)| Document::new(format!("{i}"), v.clone()).with("i", i as i64))
                .collect(),
        )
        .unwrap();
        let q = vector(10_000, 8);
        let hits = c.search(&q, 10).unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance), "{metric:?} sorted");
        let truth = common::brute_force(&data, &q, 10, metric);
        let first: usize = hits[0].id.parse().unwrap();
        assert_eq!(first, truth[0], "{metric:?}: nearest is exact on a small set");
        let expect = common::exact_distance(metric, &q, &data[first]);
        assert!((hits[0].distance - expect).abs() < 1e-4, "{metric:?}: {} vs {expect}", hits[0].distance);
        let doc = hits[0].document.as_ref().unwrap();
        assert_eq!(doc.vector, data[first], "original vector returned, even for cosine");
        assert_eq!(doc.metadata["i"], Value::Int(first as i64));
    }
}

#[test]
fn filtered_search_returns_k_matches_even_when_selective() {
    let (_d, db) = db_with(16);
    let c = db.collection("f").unwrap();
    let docs: Vec<_> = (0..2_000u64)
        .map(|i| Document::new(format!("{i}"), vector(i, 16)).with("bucket", (i % 100) as i64).with("even", i % 2 == 0))
        .collect();
    c.insert_batch(docs).unwrap();
    let q = vector(99_999, 16);
    let hits = c.search_with(&q, &SearchOptions::new(10).filter(Filter::eq("bucket", 7))).unwrap();
    assert_eq!(hits.len(), 10, "20 documents match; k = 10 must come back");
    assert!(hits.iter().all(|h| h.document.as_ref().unwrap().metadata["bucket"] == Value::Int(7)));
    let all7: Vec<Vec<f32>> = (0..2_000u64).filter(|i| i % 100 == 7).map(|i| vector(i, 16)).collect();
    let truth = common::brute_force(&all7, &q, 10, Distance::L2);
    let truth_ids: Vec<u64> = truth.iter().map(|&j| (0..2_000u64).filter(|i| i % 100 == 7).nth(j).unwrap()).collect();
    let got: Vec<u64> = hits.iter().map(|h| h.id.parse().unwrap()).collect();
    assert_eq!(got, truth_ids, "selective filter answers exactly");
    let few = c.search_with(&q, &SearchOptions::new(50).filter(Filter::eq("bucket", 7))).unwrap();
    assert_eq!(few.len(), 20, "fewer matches than k: all of them");
    let half = c.search_with(&q, &SearchOptions::new(10).filter(Filter::eq("even", true)).ef(64)).unwrap();
    assert_eq!(half.len(), 10);
    assert!(half.iter().all(|h| h.id.parse::<u64>().unwrap() % 2 == 0));
}

#[test]
fn deleted_and_superseded_versions_never_come_back_from_search() {
    let (_d, db) = db_with(8);
    let c = db.collection("d").unwrap();
    c.insert_batch((0..400u64).map(|i| Document::new(format!("{i}"), vector(i, 8))).collect()).unwrap();
    for i in 0..200u64 {
        if i % 2 == 0 {
            c.delete(&format!("{i}")).unwrap();
        } else {
            c.update(Document::new(format!("{i}"), vector(i + 1_000_000, 8))).unwrap();
        }
    }
    for i in 0..200u64 {
        let hits = c.search(&vector(i, 8), 10).unwrap();
        let mut ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
        assert!(!ids.contains(&format!("{i}").as_str()) || i % 2 == 1);
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "one id, one hit");
        for h in &hits {
            let id: u64 = h.id.parse().unwrap();
            assert!(id >= 200 || id % 2 == 1, "deleted id {id} returned");
            let doc = h.document.as_ref().unwrap();
            if id < 200 {
                assert_eq!(doc.vector, vector(id + 1_000_000, 8), "only the newest version");
            }
        }
    }
    assert_eq!(c.len(), 300);
    assert_eq!(c.stats().dead, 200);
}

#[test]
fn snapshot_keeps_its_view_while_writes_continue() {
    let (_d, db) = db_with(2);
    let c = db.collection("s").unwrap();
    c.insert(Document::new("a", vec![1.0, 0.0])).unwrap();
    let snap = c.snapshot();
    c.update(Document::new("a", vec![0.0, 1.0])).unwrap();
    c.insert(Document::new("b", vec![1.0, 1.0])).unwrap();
    assert_eq!(snap.get("a").unwrap().unwrap().vector, vec![1.0, 0.0]);
    assert_eq!(snap.get("b").unwrap(), None);
    assert_eq!(snap.len(), 1);
    let hits = snap.search(&[0.0, 1.0], 5).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].document.as_ref().unwrap().vector, vec![1.0, 0.0]);
    assert_eq!(c.snapshot().len(), 2);
}

#[test]
fn projection_can_drop_documents_vectors_and_fields_in_memtables_and_segments() {
    let (_d, db) = db_with(2);
    let c = db.collection("p").unwrap();
    c.insert(Document::new("a", vec![1.0, 0.0]).with("k", 1).with("title", "x").with("body", "long")).unwrap();
    for flushed in [false, true] {
        if flushed {
            c.flush().unwrap();
            assert_eq!(c.stats().segments, 1);
        }
        let no_doc = c.search_with(&[1.0, 0.0], &SearchOptions::new(1).include_document(false)).unwrap();
        assert!(no_doc[0].document.is_none());
        let no_vec = c.search_with(&[1.0, 0.0], &SearchOptions::new(1).include_vector(false)).unwrap();
        let d = no_vec[0].document.as_ref().unwrap();
        assert!(d.vector.is_empty() && d.metadata["k"] == Value::Int(1) && d.metadata.len() == 3);
        let some = c.search_with(&[1.0, 0.0], &SearchOptions::new(1).fields(["title", "nope"])).unwrap();
        let d = some[0].document.as_ref().unwrap();
        assert_eq!(d.metadata.keys().collect::<Vec<_>>(), vec!["title"], "flushed: {flushed}");
        assert_eq!(d.vector, vec![1.0, 0.0]);
    }
}

#[test]
fn search_batch_matches_single_searches() {
    let (_d, db) = db_with(8);
    let c = db.collection("b").unwrap();
    c.insert_batch((0..500u64).map(|i| Document::new(format!("{i}"), vector(i, 8))).collect()).unwrap();
    let queries: Vec<Vec<f32>> = (0..16u64).map(|i| vector(i + 7_777, 8)).collect();
    let batch = c.search_batch(&queries, 5).unwrap();
    for (q, hits) in queries.iter().zip(&batch) {
        let single = c.search(q, 5).unwrap();
        assert_eq!(hits.iter().map(|h| &h.id).collect::<Vec<_>>(), single.iter().map(|h| &h.id).collect::<Vec<_>>());
    }
}

#[test]
fn collections_are_created_listed_and_dropped() {
    let (_d, db) = db_with(3);
    let a = db.collection("alpha").unwrap();
    db.create_collection("beta", CollectionConfig::new(5).distance(Distance::InnerProduct)).unwrap();
    assert!(matches!(db.create_collection("beta", CollectionConfig::new(5)), Err(Error::AlreadyExists(_))));
    assert_eq!(db.collections(), vec!["alpha", "beta"]);
    assert_eq!(db.collection("beta").unwrap().config().dimension, 5);
    a.insert(Document::new("x", vec![1.0; 3])).unwrap();
    assert!(db.drop_collection("alpha").unwrap());
    assert!(!db.drop_collection("alpha").unwrap());
    assert!(matches!(a.get("x"), Err(Error::CollectionNotFound(_))));
    assert!(matches!(a.insert(Document::new("y", vec![1.0; 3])), Err(Error::CollectionNotFound(_))));
    let again = db.collection("alpha").unwrap();
    assert_eq!(again.len(), 0, "a new collection of the same name starts empty");
    assert_eq!(db.collections(), vec!["alpha", "beta"]);
}

#[test]
fn concurrent_writers_and_readers_lose_nothing() {
    let (_d, db) = db_with(8);
    let c = db.collection("conc").unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let c = c.clone();
            s.spawn(move || {
                for i in 0..150u64 {
                    let key = t * 1_000 + i;
                    c.insert(Document::new(format!("{key}"), vector(key, 8)).with("t", t as i64)).unwrap();
                    assert!(c.get(&format!("{key}")).unwrap().is_some(), "read your own write");
                }
            });
        }
        for _ in 0..2 {
            let c = c.clone();
            s.spawn(move || {
                let mut r = Rng::new(5);
                for _ in 0..200 {
                    let hits = c.search(&vector(r.below(1_000_000), 8), 5).unwrap();
                    assert!(hits.len() <= 5);
                }
            });
        }
    });
    assert_eq!(c.len(), 600);
    for t in 0..4u64 {
        for i in 0..150u64 {
            assert!(c.get(&format!("{}", t * 1_000 + i)).unwrap().is_some());
        }
    }
}

#[test]
fn closed_database_refuses_calls_and_releases_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().dimension(2)).unwrap();
    let c = db.collection("c").unwrap();
    c.insert(Document::new("a", vec![1.0, 2.0])).unwrap();
    db.close().unwrap();
    assert!(matches!(c.insert(Document::new("b", vec![1.0, 2.0])), Err(Error::Closed)));
    assert!(matches!(c.get("a"), Err(Error::Closed)));
    let db2 = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db2.collection("c").unwrap().get("a").unwrap().unwrap().vector, vec![1.0, 2.0]);
}

#[test]
fn stats_report_counts_and_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.create_collection("s", CollectionConfig::new(4).m(8).ef_construction(50).ef_search(20)).unwrap();
    c.insert_batch((0..10u64).map(|i| Document::new(format!("{i}"), vector(i, 4))).collect()).unwrap();
    c.delete("3").unwrap();
    let s = c.stats();
    assert_eq!((s.documents, s.versions, s.dead, s.orphans), (9, 10, 1, 0));
    assert_eq!((s.m, s.ef_construction, s.ef_search), (8, 50, 20));
    assert!(s.index_bytes > 0 && s.memtable_bytes > 0);
    let dbs = db.stats();
    assert_eq!(dbs.collections.len(), 1);
    assert!(dbs.wal_bytes > 0);
}
