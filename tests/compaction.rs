//! Compaction merges segments without changing what any snapshot sees,
//! drops dead versions and tombstones, and shrinks the files.

mod common;

use common::vector;
use vego::{CollectionConfig, Db, Document, Filter, Options, SearchOptions, Value};

fn doc(i: u64, key: u64) -> Document {
    Document::new(format!("d{i}"), vector(key, 16)).with("key", key as i64).with("odd", i % 2 == 1)
}

#[test]
fn compaction_keeps_every_live_document_and_snapshots_keep_their_view() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.create_collection("c", CollectionConfig::new(16)).unwrap();
    let mut model = std::collections::BTreeMap::new();
    // Three segments: fewer than a background merge takes (four similar
    // ones), so the explicit compaction below is the one that merges them.
    for round in 0..3u64 {
        c.upsert_batch((round * 300..round * 300 + 300).map(|i| doc(i, i)).collect()).unwrap();
        model.extend((round * 300..round * 300 + 300).map(|i| (i, i)));
        for i in (0..round * 300).step_by(5) {
            c.upsert(doc(i, i + 7_000 * (round + 1))).unwrap();
            model.insert(i, i + 7_000 * (round + 1));
        }
        for i in (1..round * 300).step_by(9) {
            if model.remove(&i).is_some() {
                c.delete(&format!("d{i}")).unwrap();
            }
        }
        c.flush().unwrap();
    }
    c.upsert(doc(3, 99)).unwrap(); // a memtable write superseding a segment row
    model.insert(3, 99);
    let before = c.snapshot();
    let stats_before = c.stats();
    let cs = c.compact().unwrap();
    assert_eq!((cs.segments_in, cs.segments_out), (3, 1));
    assert!(cs.versions_dropped > 0 && cs.bytes_out < cs.bytes_in, "{cs:?}");
    assert_eq!(c.stats().segments, 1);
    assert!(c.stats().dead < stats_before.dead);
    c.delete("d0").unwrap();
    model.remove(&0);
    for snap in [&before, &c.snapshot()] {
        let expect_d0 = std::ptr::eq(snap, &before);
        assert_eq!(snap.get("d0").unwrap().is_some(), expect_d0);
    }
    let check = |c: &vego::Collection| {
        assert_eq!(c.len(), model.len());
        assert_eq!(c.snapshot().len(), model.len());
        for i in 0..1_200u64 {
            let got = c.get(&format!("d{i}")).unwrap();
            match model.get(&i) {
                Some(&k) => assert_eq!(got.unwrap().metadata["key"], Value::Int(k as i64), "d{i}"),
                None => assert!(got.is_none(), "d{i} deleted"),
            }
        }
        for (&i, &k) in model.iter().step_by(37) {
            assert_eq!(c.search(&vector(k, 16), 1).unwrap()[0].id, format!("d{i}"));
        }
        let odd = c.search_with(&vector(5, 16), &SearchOptions::new(20).filter(Filter::eq("odd", true))).unwrap();
        assert_eq!(odd.len(), 20);
        assert!(odd.iter().all(|h| h.document.as_ref().unwrap().metadata["odd"] == Value::Bool(true)));
    };
    check(&c);
    drop((c, before));
    db.close().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.collection("c").unwrap();
    check(&c);
    let files = std::fs::read_dir(dir.path().join("segments")).unwrap().count();
    assert_eq!(files, c.stats().segments as usize, "no file left behind");
}

#[test]
fn deleting_half_and_compacting_reclaims_disk_and_keeps_recall() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.create_collection("half", CollectionConfig::new(16)).unwrap();
    let n = 4_000u64;
    c.insert_batch((0..n).map(|i| doc(i, i)).collect()).unwrap();
    c.flush().unwrap();
    let full = c.stats().disk_bytes;
    for i in (0..n).step_by(2) {
        c.delete(&format!("d{i}")).unwrap();
    }
    c.flush().unwrap();
    c.compact().unwrap();
    let after = c.stats().disk_bytes;
    assert!(after * 100 <= full * 60, "50% deleted: disk {full} -> {after} must shrink by >= 40%");
    let data: Vec<Vec<f32>> = (1..n).step_by(2).map(|i| vector(i, 16)).collect();
    let mut found = 0;
    for q in 0..50u64 {
        let query = vector(100_000 + q, 16);
        let truth: Vec<String> = common::brute_force(&data, &query, 10, vego::Distance::L2)
            .into_iter()
            .map(|j| format!("d{}", 2 * j + 1))
            .collect();
        found += c.search(&query, 10).unwrap().iter().filter(|h| truth.contains(&h.id)).count();
    }
    assert!(found as f64 / 500.0 >= 0.95, "recall after compaction {}", found as f64 / 500.0);
}

#[test]
fn files_of_a_live_snapshot_stay_until_it_drops() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.create_collection("c", CollectionConfig::new(16)).unwrap();
    for round in 0..3u64 {
        c.insert_batch((round * 100..round * 100 + 100).map(|i| doc(i, i)).collect()).unwrap();
        c.flush().unwrap();
    }
    let files = || std::fs::read_dir(dir.path().join("segments")).unwrap().count();
    assert_eq!(files(), 3);
    let snap = c.snapshot();
    c.delete("d5").unwrap();
    c.compact().unwrap();
    assert_eq!(files(), 4, "the snapshot still uses the three merged files");
    assert!(snap.get("d5").unwrap().is_some());
    assert_eq!(snap.search(&vector(5, 16), 1).unwrap()[0].id, "d5");
    drop(snap);
    assert_eq!(files(), 1, "the last reader gone, the merged files go");
    assert!(db.drop_collection("c").unwrap());
    drop(c);
    assert_eq!(files(), 0, "a dropped collection's files go with its last handle");
}
