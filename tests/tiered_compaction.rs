//! Issue 15: background compaction merged every segment into one once a
//! seventh appeared, rewriting the whole collection each time. The policy
//! is size-tiered now: a run of adjacent segments of similar size merges,
//! larger segments stay. A run that leaves an older segment out must keep
//! the tombstones of ids that segment still holds, or deleted documents
//! come back — checked here against a model, before and after a reopen.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vego::{CollectionConfig, Db, Document, Options};

const DIM: usize = 16;

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    // Generous: this waits for background work, it does not time it.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "background merge never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_merge_of_small_segments_leaves_the_large_one_and_keeps_its_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let mut model: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.create_collection("c", CollectionConfig::new(DIM).memtable_bytes(1 << 30)).unwrap();
    // One large, old segment.
    let docs: Vec<Document> = (0..8_000).map(|i| Document::new(format!("old{i}"), common::vector(i, DIM))).collect();
    docs.iter().for_each(|d| drop(model.insert(d.id.clone(), d.vector.clone())));
    c.insert_batch(docs).unwrap();
    c.flush().unwrap();
    let large = c.stats().disk_bytes;
    // Four small ones, each deleting some old documents (tombstones for ids
    // that only the large segment holds) and replacing others.
    for s in 0..4u64 {
        let docs: Vec<Document> = (0..1_000)
            .map(|i| Document::new(format!("new{s}-{i}"), common::vector(10_000 + s * 1000 + i, DIM)))
            .collect();
        docs.iter().for_each(|d| drop(model.insert(d.id.clone(), d.vector.clone())));
        c.insert_batch(docs).unwrap();
        let gone: Vec<String> = (0..100).map(|i| format!("old{}", s * 1000 + i)).collect();
        assert_eq!(c.delete_batch(&gone.iter().map(String::as_str).collect::<Vec<_>>()).unwrap(), 100);
        gone.iter().for_each(|id| drop(model.remove(id)));
        for i in 0..50 {
            let id = format!("old{}", 5_000 + s * 100 + i);
            let v = common::vector(50_000 + s * 100 + i, DIM);
            c.upsert(Document::new(id.clone(), v.clone())).unwrap();
            model.insert(id, v);
        }
        c.flush().unwrap();
    }
    // The four small segments merge into one; the large one stays as it was.
    wait_for("four similar segments merged", || c.stats().segments == 2);
    assert!(c.stats().disk_bytes > large, "the large segment is still there");

    let check = |c: &vego::Collection, when: &str| {
        assert_eq!(c.len(), model.len(), "{when}: live count");
        for i in 0..8_000u64 {
            let id = format!("old{i}");
            let got = c.get(&id).unwrap().map(|d| d.vector);
            assert_eq!(got.as_ref(), model.get(&id), "{when}: {id}");
        }
        for (id, v) in model.iter().filter(|(id, _)| id.starts_with("new")).step_by(37) {
            assert_eq!(c.get(id).unwrap().map(|d| d.vector).as_ref(), Some(v), "{when}: {id}");
        }
        // Deleted documents are not found by search either.
        let q = common::vector(0, DIM); // old0's own vector: old0 is deleted
        let hits = c.search(&q, 10).unwrap();
        assert!(hits.iter().all(|h| model.contains_key(&h.id)), "{when}: a deleted document came back in search");
    };
    check(&c, "after the merge");
    drop(c);
    db.close().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.collection("c").unwrap();
    assert_eq!(c.stats().segments, 2);
    check(&c, "after a reopen");
    // An explicit compact() merges everything and may drop the tombstones.
    assert_eq!(c.compact().unwrap().segments_out, 1);
    check(&c, "after compact()");
    db.close().unwrap();
}

/// Chooses a fixed run once there are three segments; counts its calls then.
#[derive(Debug, Default)]
struct AtThree(usize, usize, AtomicUsize);

impl vego::CompactionPolicy for AtThree {
    fn choose(&self, segments: &[vego::SegmentInfo]) -> Option<vego::Merge> {
        if segments.len() != 3 {
            return None;
        }
        self.2.fetch_add(1, Ordering::Relaxed);
        Some(vego::Merge::new(self.0, self.1, vego::MergeReason::Custom))
    }
}

/// A plugged-in policy decides the background merges: the two newest of
/// three segments merge into one and the oldest stays; a policy that names
/// segments that do not exist (`count` 0, or past the end) merges nothing
/// and loses nothing.
#[test]
fn a_custom_policy_chooses_the_merges_and_an_impossible_choice_merges_nothing() {
    for (first, count, segments_after) in [(0, 2, 2), (2, 5, 3), (0, 0, 3)] {
        let dir = tempfile::tempdir().unwrap();
        let policy = Arc::new(AtThree(first, count, AtomicUsize::new(0)));
        let options = Options { compaction_policy: policy.clone(), ..Options::default() };
        let db = Db::open(dir.path(), options).unwrap();
        let c = db.create_collection("c", CollectionConfig::new(DIM)).unwrap();
        for s in 0..3u64 {
            let docs = (0..200).map(|i| Document::new(format!("s{s}-{i}"), common::vector(s * 1000 + i, DIM)));
            c.insert_batch(docs.collect()).unwrap();
            c.flush().unwrap();
        }
        wait_for("the policy was asked", || policy.2.load(Ordering::Relaxed) > 0);
        let possible = segments_after < 3;
        if possible {
            wait_for("the policy's choice", || c.stats().segments == segments_after);
        } else {
            // The refusal is reported, not silent.
            wait_for("the refusal", || c.stats().merge_failures > 0);
            let error = c.stats().last_merge_error.unwrap_or_default();
            assert!(error.contains("compaction policy chose"), "{error}");
        }
        assert_eq!(c.stats().segments, segments_after, "run {first}+{count}");
        assert_eq!(c.stats().merge_failures > 0, !possible, "run {first}+{count}");
        assert_eq!(c.len(), 600, "run {first}+{count}");
        drop(c);
        db.close().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        assert_eq!(db.collection("c").unwrap().len(), 600, "run {first}+{count} after reopen");
    }
}
