//! Optimistic concurrency: `update_if` / `delete_if` compare the stored
//! version atomically with the write.

use vego::{Db, Document, Error, Options, Value};

fn counter(c: &vego::Collection) -> i64 {
    match c.get("n").unwrap().unwrap().metadata["count"] {
        Value::Int(v) => v,
        ref other => panic!("count is {other:?}"),
    }
}

#[test]
fn concurrent_read_modify_write_with_update_if_loses_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().dimension(2)).unwrap();
    let c = db.collection("c").unwrap();
    c.insert(Document::new("n", vec![0.0, 1.0]).with("count", 0)).unwrap();
    let (threads, per_thread) = (4, 50);
    let conflicts = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (c, conflicts) = (c.clone(), &conflicts);
            s.spawn(move || {
                for i in 0..per_thread {
                    if t == 0 && i == 25 {
                        c.flush().unwrap(); // versions survive a move to a segment
                    }
                    loop {
                        let doc = c.get("n").unwrap().unwrap();
                        let Value::Int(n) = doc.metadata["count"] else { unreachable!() };
                        match c.update_if(Document::new("n", vec![0.0, 1.0]).with("count", n + 1), doc.version) {
                            Ok(()) => break,
                            Err(Error::Conflict { .. }) => {
                                conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    assert_eq!(counter(&c), threads * per_thread);
    eprintln!("{} conflicts retried", conflicts.into_inner());
}

#[test]
fn stale_versions_conflict_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().dimension(1)).unwrap();
    let c = db.collection("c").unwrap();
    c.insert(Document::new("a", vec![1.0]).with("count", 1)).unwrap();
    let v1 = c.get("a").unwrap().unwrap().version;
    c.update_if(Document::new("a", vec![2.0]).with("count", 2), v1).unwrap();
    let v2 = c.get("a").unwrap().unwrap().version;
    assert!(v2 > v1);
    match c.update_if(Document::new("a", vec![3.0]), v1) {
        Err(Error::Conflict { id, expected, found }) => assert_eq!((id.as_str(), expected, found), ("a", v1, v2)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(c.delete_if("a", v1), Err(Error::Conflict { .. })));
    assert_eq!(c.get("a").unwrap().unwrap().vector, vec![2.0], "refused writes changed nothing");
    // 0 means "must not exist": create-if-absent.
    assert!(matches!(c.update_if(Document::new("a", vec![9.0]), 0), Err(Error::Conflict { found, .. }) if found == v2));
    c.update_if(Document::new("b", vec![5.0]), 0).unwrap();
    assert!(matches!(c.update_if(Document::new("c", vec![5.0]), 7), Err(Error::Conflict { found: 0, .. })));
    assert!(c.delete_if("a", v2).unwrap());
    assert!(c.get("a").unwrap().is_none());
    assert!(!c.delete_if("a", 0).unwrap(), "absent and expected absent: nothing to delete");
}
