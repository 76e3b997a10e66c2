//! The `vego` command line, run as a user would: every command on a real
//! sample (200 all-MiniLM-L6-v2 embeddings with their texts), JSON output
//! checked field by field, and bad input refused with a message and a
//! non-zero exit status.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/minilm-sample/docs.jsonl.zst");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Json {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

fn vego<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_vego")).args(args).output().expect("run vego");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs and expects success.
fn ok<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Run {
    let r = vego(args);
    assert_eq!(
        r.code,
        0,
        "vego {:?} failed: {}{}",
        args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
        r.stdout,
        r.stderr
    );
    r
}

/// Runs and expects failure with a message on stderr.
fn fails<S: AsRef<std::ffi::OsStr>>(args: &[S], needle: &str) -> Run {
    let r = vego(args);
    assert_ne!(r.code, 0, "expected failure: {}", r.stdout);
    assert!(r.stderr.contains(needle), "stderr {:?} lacks {needle:?}", r.stderr);
    r
}

fn p(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn file_in(dir: &Path, pred: impl Fn(&str) -> bool) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .find(|e| pred(&e.file_name().to_string_lossy()))
        .unwrap_or_else(|| panic!("no such file in {}", dir.display()))
        .path()
}

#[test]
fn jsonl_session_import_search_get_delete_stats_compact_backup_restore() {
    let tmp = tempfile::tempdir().unwrap();
    let db = p(&tmp.path().join("db"));
    let base = ["--db", db.as_str(), "--collection", "docs"];

    let r = ok(&[&["import"][..], &base, &[SAMPLE]].concat());
    assert!(r.stdout.contains("imported 200 documents"), "{}", r.stdout);
    assert!(r.stdout.contains("dimension 384, cosine"), "{}", r.stdout);
    // Importing again replaces (upserts) the same ids.
    let again = ok(&[&["import", "--json"][..], &base, &[SAMPLE]].concat()).json();
    assert_eq!((again["imported"].as_u64(), again["documents"].as_u64()), (Some(200), Some(200)));
    assert_eq!(again["created"], Json::Bool(false));

    // A document's own vector finds it first; the filter is honoured.
    let doc = ok(&[&["get", "--json"][..], &base, &["doc-217"]].concat()).json();
    assert_eq!(doc["metadata"]["project"], "perl");
    let vector = doc["vector"].to_string();
    let hits = ok(&[&["search", "--json", "-k", "5", "--vector", vector.as_str()][..], &base].concat()).json();
    assert_eq!(hits[0]["id"], "doc-217");
    assert!(hits[0]["distance"].as_f64().unwrap().abs() < 1e-3);
    let filtered = ok(&[
        &["search", "--json", "-k", "7", "--like", "doc-217", "--filter", r#"{"project": {"eq": "linux"}}"#][..],
        &base,
    ]
    .concat())
    .json();
    let filtered = filtered.as_array().unwrap().clone();
    let kept = filtered[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(filtered.len(), 7);
    assert!(filtered.iter().all(|h| h["metadata"]["project"] == "linux"), "{filtered:?}");
    let human = ok(&[&["search", "--like", "doc-217", "-k", "3"][..], &base].concat());
    assert!(human.stdout.contains("doc-217") && human.stdout.contains("distance"), "{}", human.stdout);

    // Delete, then get reports the id missing with a non-zero exit.
    let del = ok(&[&["delete", "--json"][..], &base, &["doc-217", "no-such-id"]].concat()).json();
    assert_eq!(del, serde_json::json!({"deleted": ["doc-217"], "missing": ["no-such-id"]}));
    fails(&[&["get"][..], &base, &["doc-217"]].concat(), "not found");

    let stats = ok(&["stats", "--json", "--db", db.as_str()]).json();
    assert_eq!(stats["collections"][0]["name"], "docs");
    assert_eq!(stats["collections"][0]["documents"], 199);
    let compact = ok(&["compact", "--json", "--db", db.as_str()]).json();
    assert_eq!(compact["docs"]["segments_out"], 1);
    assert!(ok(&["stats", "--db", db.as_str()]).stdout.contains("docs"));

    let backup = p(&tmp.path().join("backup"));
    let b = ok(&["backup", "--json", "--db", db.as_str(), backup.as_str()]).json();
    assert_eq!(b["collections"], 1);
    fails(&["backup", "--db", db.as_str(), backup.as_str()], "not empty");
    let restored = p(&tmp.path().join("restored"));
    let r = ok(&["restore", backup.as_str(), restored.as_str()]);
    assert!(r.stdout.contains("199 documents"), "{}", r.stdout);
    let stats = ok(&["stats", "--json", "--db", restored.as_str()]).json();
    assert_eq!(stats["collections"][0]["documents"], 199);
    let back = ok(&["get", "--json", "--db", restored.as_str(), "--collection", "docs", &kept]);
    assert!(back.json()["metadata"]["text"].is_string());

    // inspect: every kind of file in the database is ok…
    let dbp = tmp.path().join("db");
    for file in [
        file_in(&dbp, |n| n.starts_with("MANIFEST-")),
        file_in(&dbp.join("wal"), |n| n.ends_with(".wal")),
        file_in(&dbp.join("segments"), |n| n.ends_with(".vseg")),
    ] {
        let r = ok(&["inspect", "--json", p(&file).as_str()]).json();
        assert_eq!(r["ok"], true, "{r}");
        let human = ok(&["inspect", p(&file).as_str()]);
        assert!(human.stdout.contains("result: ok"), "{}", human.stdout);
    }
    let seg = file_in(&dbp.join("segments"), |n| n.ends_with(".vseg"));
    let report = ok(&["inspect", "--json", p(&seg).as_str()]).json();
    assert_eq!(report["kind"], "segment");
    let parts = report["parts"].as_array().unwrap();
    assert!(parts.iter().any(|x| x["kind"] == "page"), "metadata pages are checked");

    // …and a flipped byte inside the vectors is reported bad, with exit 1.
    let vectors = parts.iter().find(|x| x["name"] == "vectors").unwrap();
    let at = vectors["offset"].as_u64().unwrap() as usize + 100;
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[at] ^= 0x40;
    let bad = tmp.path().join("bad.vseg");
    std::fs::write(&bad, bytes).unwrap();
    let r = fails(&["inspect", "--json", p(&bad).as_str()], "damaged");
    let report = r.json();
    assert_eq!(report["ok"], false);
    let bad_parts: Vec<&Json> = report["parts"].as_array().unwrap().iter().filter(|x| x["ok"] == false).collect();
    assert!(bad_parts.iter().any(|x| x["name"] == "vectors"), "{bad_parts:?}");

    // A truncated WAL and garbage are reported, never a crash.
    // (After the clean close the log holds only its header: append one
    // record by hand, framed as FORMAT.md says, to have something to tear.)
    let wal = file_in(&dbp.join("wal"), |n| n.ends_with(".wal"));
    let mut bytes = std::fs::read(&wal).unwrap()[..32].to_vec();
    let mut record = vec![0u8; 32];
    let payload = b"a payload of some forty bytes, for tests";
    record[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    record[8] = 1;
    record[16..24].copy_from_slice(&1u64.to_le_bytes());
    record[24..32].copy_from_slice(&32u64.to_le_bytes());
    record.extend_from_slice(payload);
    let crc = crc32c::crc32c(&record[4..]);
    record[..4].copy_from_slice(&crc.to_le_bytes());
    bytes.extend_from_slice(&record);
    let torn = tmp.path().join(wal.file_name().unwrap());
    std::fs::write(&torn, &bytes[..bytes.len() - 10]).unwrap();
    let r = fails(&["inspect", p(&torn).as_str()], "damaged");
    assert!(r.stdout.contains("torn tail"), "{}", r.stdout);
    let garbage = tmp.path().join("garbage");
    std::fs::write(&garbage, b"definitely not a database file").unwrap();
    let r = fails(&["inspect", p(&garbage).as_str()], "damaged");
    assert!(r.stdout.contains("unknown magic"), "{}", r.stdout);
}

#[test]
fn fvecs_import_creates_the_collection_with_the_file_dimension() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("v.fvecs");
    let mut bytes = Vec::new();
    for i in 0..50u32 {
        bytes.extend_from_slice(&4i32.to_le_bytes());
        for d in 0..4u32 {
            bytes.extend_from_slice(&(((i * 7 + d * 3) % 11) as f32 + i as f32).to_le_bytes());
        }
    }
    std::fs::write(&file, bytes).unwrap();
    let db = p(&tmp.path().join("db"));
    let r =
        ok(&["import", "--json", "--metric", "l2", "--id-prefix", "v", "--db", &db, "--collection", "vecs", &p(&file)])
            .json();
    assert_eq!((r["imported"].as_u64(), r["dimension"].as_u64()), (Some(50), Some(4)));
    assert_eq!(r["metric"], "l2");
    let got = ok(&["get", "--json", "--db", &db, "--collection", "vecs", "v7"]).json();
    let hits = ok(&[
        "search",
        "--json",
        "-k",
        "1",
        "--db",
        &db,
        "--collection",
        "vecs",
        "--vector",
        &got["vector"].to_string(),
    ])
    .json();
    assert_eq!(hits[0]["id"], "v7");
    // A file of another dimension does not go into this collection.
    let other = tmp.path().join("w.fvecs");
    std::fs::write(&other, [&3i32.to_le_bytes()[..], &[0u8; 12]].concat()).unwrap();
    fails(&["import", "--db", &db, "--collection", "vecs", &p(&other)], "dimension 4");
}

#[test]
fn bad_input_gets_a_message_and_a_non_zero_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let db = p(&tmp.path().join("db"));
    let jsonl = tmp.path().join("docs.jsonl");
    std::fs::write(&jsonl, "{\"id\": \"a\", \"vector\": [1, 0]}\n{\"id\": \"b\", \"vector\": [1, \"x\"]}\n").unwrap();
    fails(&["import", "--db", &db, "--collection", "c", &p(&jsonl)], "line 2");
    std::fs::write(&jsonl, "{\"id\": \"a\", \"vector\": [1, 0]}\n{\"id\": \"b\", \"vector\": [1, 0, 0]}\n").unwrap();
    fails(&["import", "--db", &db, "--collection", "c", &p(&jsonl)], "line 2");
    std::fs::write(&jsonl, "not json\n").unwrap();
    fails(&["import", "--db", &db, "--collection", "c", &p(&jsonl)], "line 1: not valid JSON");
    fails(&["import", "--db", &db, "--collection", "c", &p(&tmp.path().join("missing.jsonl"))], "missing.jsonl");

    std::fs::write(&jsonl, "{\"id\": \"a\", \"vector\": [1, 0], \"metadata\": {\"n\": 1}}\n").unwrap();
    ok(&["import", "--db", &db, "--collection", "c", &p(&jsonl)]);
    let base = ["--db", db.as_str(), "--collection", "c"];
    fails(&[&["search", "--vector", "[1, 0, 0]"][..], &base].concat(), "dimension");
    fails(&[&["search", "--vector", "[1, \"x\"]"][..], &base].concat(), "not a finite number");
    fails(
        &[&["search", "--vector", "[1, 0]", "--filter", "{\"n\": {\"like\": 1}}"][..], &base].concat(),
        "unknown operator",
    );
    fails(&[&["search", "--vector", "[1, 0]", "--filter", "{oops"][..], &base].concat(), "not valid JSON");
    fails(&[&["search", "--vector", "[1, 0]", "-k", "0"][..], &base].concat(), "k");
    fails(&["search", "--db", &db, "--collection", "nope", "--vector", "[1, 0]"], "no collection 'nope'");
    fails(&["stats", "--db", &p(&tmp.path().join("nothing-here"))], "not a Vego database");
    fails(&["restore", &p(&tmp.path().join("nothing-here")), &p(&tmp.path().join("r"))], "not a Vego database");
    fails(&["inspect", &p(&tmp.path().join("nothing-here"))], "nothing-here");
    // Usage errors (clap) exit with 2.
    assert_eq!(vego(&["search", "--db", &db]).code, 2);
    assert_eq!(vego(&["frobnicate"]).code, 2);
}
