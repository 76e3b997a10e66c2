//! Writers, readers holding snapshots, and a thread that flushes and
//! compacts, all at once: every snapshot's answers are checked afterwards
//! against the full history of acknowledged writes.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{vector, Rng};
use parking_lot::Mutex;
use vego::{CollectionConfig, Db, Document, Options, Value};

const IDS_PER_WRITER: u64 = 40;
const WRITERS: u64 = 2;

/// One acknowledged change of an id: visible from `seq` on (a delete's exact
/// seq is unknown: it lies in `(prev_seq, seq]`, which is `lower..=seq`).
#[derive(Clone, Copy, Debug)]
struct Change {
    lower: u64,
    seq: u64,
    key: Option<u64>,
}

#[test]
fn snapshots_see_exactly_their_prefix_through_flushes_and_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let c = db.create_collection("s", CollectionConfig::new(8)).unwrap();
    let history: Mutex<HashMap<String, Vec<Change>>> = Mutex::new(HashMap::new());
    let observed: Mutex<Vec<(u64, String, Option<u64>)>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let (c, history) = (c.clone(), &history);
            s.spawn(move || {
                let mut r = Rng::new(w);
                let mut last_seq: HashMap<String, u64> = HashMap::new();
                for step in 0..600u64 {
                    let id = format!("w{w}-{}", r.below(IDS_PER_WRITER));
                    let key = w * 1_000_000 + step;
                    let change = if r.below(4) == 0 {
                        if !c.delete(&id).unwrap() {
                            continue;
                        }
                        let seq = c.snapshot().seq();
                        Change { lower: last_seq.get(&id).map_or(0, |s| s + 1), seq, key: None }
                    } else {
                        c.upsert(Document::new(id.clone(), vector(key, 8)).with("key", key as i64)).unwrap();
                        let seq = c.get(&id).unwrap().unwrap().version;
                        Change { lower: seq, seq, key: Some(key) }
                    };
                    last_seq.insert(id.clone(), change.seq);
                    history.lock().entry(id).or_default().push(change);
                }
            });
        }
        for rd in 0..2u64 {
            let (c, observed, stop) = (c.clone(), &observed, &stop);
            s.spawn(move || {
                let mut r = Rng::new(100 + rd);
                while !stop.load(Ordering::Relaxed) {
                    let snap = c.snapshot();
                    std::thread::sleep(Duration::from_millis(r.below(20)));
                    for _ in 0..20 {
                        let id = format!("w{}-{}", r.below(WRITERS), r.below(IDS_PER_WRITER));
                        let got = snap.get(&id).unwrap().map(|d| match d.metadata["key"] {
                            Value::Int(k) => k as u64,
                            _ => panic!("bad key"),
                        });
                        observed.lock().push((snap.seq(), id, got));
                    }
                    for h in snap.search(&vector(r.below(1 << 30), 8), 10).unwrap() {
                        assert!(
                            h.document.unwrap().version <= snap.seq(),
                            "search returned a write after the snapshot"
                        );
                    }
                }
            });
        }
        let (c2, stop2) = (c.clone(), &stop);
        s.spawn(move || {
            for round in 0..12 {
                std::thread::sleep(Duration::from_millis(25));
                c2.flush().unwrap();
                if round % 3 == 2 {
                    c2.compact().unwrap();
                }
            }
            stop2.store(true, Ordering::Relaxed);
        });
    });
    let history = history.into_inner();
    let observed = observed.into_inner();
    assert!(observed.len() > 100, "readers observed too little: {}", observed.len());
    for (s, id, got) in &observed {
        let changes = history.get(id).map(Vec::as_slice).unwrap_or(&[]);
        // Candidates: the state after the last change surely at or before s,
        // and any change whose seq window contains s.
        let settled = changes.iter().rev().find(|ch| ch.seq <= *s).and_then(|ch| ch.key);
        let ambiguous: Vec<Option<u64>> =
            changes.iter().filter(|ch| ch.lower <= *s && *s < ch.seq).map(|ch| ch.key).collect();
        let before_ambiguous = changes
            .iter()
            .rev()
            .find(|ch| changes.iter().any(|a| a.lower <= *s && *s < a.seq && ch.seq < a.lower))
            .and_then(|ch| ch.key);
        assert!(
            *got == settled || ambiguous.contains(got) || (!ambiguous.is_empty() && *got == before_ambiguous),
            "snapshot {s} saw {got:?} for {id}; history {changes:?}"
        );
    }
    assert_eq!(c.stats().orphans, 0);
}
