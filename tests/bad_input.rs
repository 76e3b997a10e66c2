//! Every kind of bad input gets its typed error at the API boundary and
//! changes nothing (checked by comparing the visible state before and after).

mod common;

use vego::{CollectionConfig, Db, Distance, Document, Error, Filter, Options, SearchOptions};

struct Fixture {
    _dir: tempfile::TempDir,
    db: Db,
    c: vego::Collection,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().dimension(3)).unwrap();
    let c = db.collection("c").unwrap();
    c.insert(Document::new("present", vec![1.0, 2.0, 3.0]).with("k", 1)).unwrap();
    Fixture { _dir: dir, db, c }
}

/// The whole visible state: every document and the sequence number.
fn state(f: &Fixture) -> (usize, Option<Document>, u64, Vec<String>) {
    (f.c.len(), f.c.get("present").unwrap(), f.c.snapshot().seq(), f.db.collections())
}

fn assert_unchanged(f: &Fixture, before: &(usize, Option<Document>, u64, Vec<String>)) {
    assert_eq!(&state(f), before, "a refused call changed the database");
}

#[test]
fn wrong_dimension_is_dimension_mismatch() {
    let f = fixture();
    let before = state(&f);
    let e = f.c.insert(Document::new("x", vec![1.0, 2.0])).unwrap_err();
    assert!(matches!(e, Error::DimensionMismatch { expected: 3, got: 2 }), "{e:?}");
    assert!(matches!(f.c.upsert(Document::new("present", vec![1.0; 4])), Err(Error::DimensionMismatch { .. })));
    assert!(matches!(f.c.search(&[1.0], 1), Err(Error::DimensionMismatch { expected: 3, got: 1 })));
    assert_unchanged(&f, &before);
}

#[test]
fn nan_and_infinite_components_are_invalid() {
    let f = fixture();
    let before = state(&f);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        assert!(matches!(f.c.insert(Document::new("x", vec![1.0, bad, 0.0])), Err(Error::InvalidArgument(_))));
        assert!(matches!(f.c.update(Document::new("present", vec![bad, 0.0, 0.0])), Err(Error::InvalidArgument(_))));
        assert!(matches!(f.c.search(&[bad, 0.0, 0.0], 1), Err(Error::InvalidArgument(_))));
    }
    assert!(matches!(f.c.insert(Document::new("x", vec![1.0; 3]).with("f", f64::NAN)), Err(Error::InvalidArgument(_))));
    assert_unchanged(&f, &before);
}

#[test]
fn empty_and_overlong_ids_are_invalid() {
    let f = fixture();
    let before = state(&f);
    assert!(matches!(f.c.insert(Document::new("", vec![1.0; 3])), Err(Error::InvalidArgument(_))));
    let long = "x".repeat(vego::limits::ID_BYTES_MAX + 1);
    assert!(matches!(f.c.insert(Document::new(long.clone(), vec![1.0; 3])), Err(Error::InvalidArgument(_))));
    assert!(matches!(f.c.get(""), Err(Error::InvalidArgument(_))));
    assert!(matches!(f.c.delete(&long), Err(Error::InvalidArgument(_))));
    assert_unchanged(&f, &before);
}

#[test]
fn k_zero_and_bad_ef_are_invalid() {
    let f = fixture();
    let before = state(&f);
    assert!(matches!(f.c.search(&[1.0; 3], 0), Err(Error::InvalidArgument(_))));
    assert!(matches!(f.c.search_with(&[1.0; 3], &SearchOptions::new(1).ef(0)), Err(Error::InvalidArgument(_))));
    assert!(matches!(f.c.search_batch(&[vec![1.0; 3]], 0), Err(Error::InvalidArgument(_))));
    let bad_filter = SearchOptions::new(1).filter(Filter::eq("k", f64::NAN));
    assert!(matches!(f.c.search_with(&[1.0; 3], &bad_filter), Err(Error::InvalidArgument(_))));
    assert_unchanged(&f, &before);
}

#[test]
fn duplicate_insert_is_already_exists() {
    let f = fixture();
    let before = state(&f);
    let e = f.c.insert(Document::new("present", vec![9.0; 3])).unwrap_err();
    assert!(matches!(&e, Error::AlreadyExists(id) if id == "present"), "{e:?}");
    let dup_in_batch = vec![Document::new("n", vec![1.0; 3]), Document::new("n", vec![2.0; 3])];
    assert!(matches!(f.c.insert_batch(dup_in_batch), Err(Error::InvalidArgument(_))));
    assert!(matches!(f.c.insert_batch(vec![]), Err(Error::InvalidArgument(_))));
    assert_unchanged(&f, &before);
}

#[test]
fn update_of_missing_id_is_not_found() {
    let f = fixture();
    let before = state(&f);
    let e = f.c.update(Document::new("absent", vec![1.0; 3])).unwrap_err();
    assert!(matches!(&e, Error::NotFound(id) if id == "absent"), "{e:?}");
    assert_unchanged(&f, &before);
}

#[test]
fn invalid_collection_names_and_configs_are_refused() {
    let f = fixture();
    let before = state(&f);
    for name in ["", "has space", "../escape", "-dash", "é", &"n".repeat(65)] {
        assert!(matches!(f.db.collection(name), Err(Error::InvalidArgument(_))), "{name:?}");
        assert!(matches!(f.db.create_collection(name, CollectionConfig::new(3)), Err(Error::InvalidArgument(_))));
        assert!(matches!(f.db.drop_collection(name), Err(Error::InvalidArgument(_))));
    }
    assert!(matches!(f.db.create_collection("z", CollectionConfig::new(0)), Err(Error::InvalidArgument(_))));
    assert!(matches!(f.db.create_collection("z", CollectionConfig::new(3).m(1)), Err(Error::InvalidArgument(_))));
    let cos = f.db.create_collection("cos", CollectionConfig::new(2).distance(Distance::Cosine)).unwrap();
    assert!(matches!(cos.insert(Document::new("zero", vec![0.0, 0.0])), Err(Error::InvalidArgument(_))));
    assert!(f.db.drop_collection("cos").unwrap());
    assert_unchanged(&f, &before);
}

#[test]
fn collection_without_default_dimension_needs_create_collection() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert!(matches!(db.collection("x"), Err(Error::InvalidArgument(_))));
    assert!(db.collections().is_empty());
}

#[test]
fn directory_that_is_not_a_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
    let e = Db::open(dir.path(), Options::default()).unwrap_err();
    assert!(matches!(e, Error::NotADatabase { .. }), "{e:?}");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec!["notes.txt"], "nothing was created in a foreign directory");
    let file = dir.path().join("notes.txt");
    assert!(matches!(Db::open(&file, Options::default()), Err(Error::NotADatabase { .. })));
    let missing = dir.path().join("missing");
    assert!(matches!(Db::open(&missing, Options::default().create_if_missing(false)), Err(Error::NotADatabase { .. })));
    assert!(!missing.exists());
}

/// Held by tests that spawn a process and by tests that expect a released
/// lock: a child holds copies of the parent's descriptors, the database lock
/// among them, from fork until exec, so a spawn racing a close keeps the
/// lock a moment longer (seen on a loaded CI machine as a spurious Locked).
static SPAWN_OR_RELOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn second_open_of_the_same_database_is_locked() {
    let _serial = SPAWN_OR_RELOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().dimension(2)).unwrap();
    db.collection("c").unwrap().insert(Document::new("a", vec![1.0, 1.0])).unwrap();
    let e = Db::open(dir.path(), Options::default()).unwrap_err();
    assert!(matches!(e, Error::Locked { .. }), "{e:?}");
    assert_eq!(db.collection("c").unwrap().len(), 1, "the first handle is unaffected");
    drop(db);
    if let Err(e) = Db::open(dir.path(), Options::default()) {
        panic!("lock released when the last handle drops: {e:?}");
    }
}

#[test]
fn second_process_is_refused_by_the_lock() {
    if let Ok(path) = std::env::var("VEGO_TEST_LOCK_CHILD") {
        // Child: try to open the database the parent holds.
        match Db::open(&path, Options::default()) {
            Err(Error::Locked { .. }) => std::process::exit(42),
            other => panic!("child expected Locked, got {other:?}"),
        }
    }
    let _serial = SPAWN_OR_RELOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let _db = Db::open(dir.path(), Options::default()).unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "second_process_is_refused_by_the_lock", "--nocapture", "--test-threads=1"])
        .env("VEGO_TEST_LOCK_CHILD", dir.path())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(42), "child process must see Error::Locked");
}
