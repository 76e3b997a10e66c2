//! The HTTP server (Qdrant API subset) against the engine: filters agree
//! with brute force across memtable and segments, scroll pages cover every
//! point once, writes are atomic and durable, the key is required, and
//! requests outside the subset get clear errors. (The Python qdrant-client
//! workflow is tests/qdrant_client.rs.)
#![cfg(feature = "server")]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::{json, Value as Json};
use vego::server::{Server, ServerOptions};
use vego::{Db, Options};

const KEY: &str = "test-key";
const DIM: usize = 8;

/// One HTTP/1.1 request; returns the status and the JSON body.
fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Json>, key: Option<&str>) -> (u16, Json) {
    let body = body.map(Json::to_string).unwrap_or_default();
    let mut s = TcpStream::connect(addr).unwrap();
    let key = key.map(|k| format!("api-key: {k}\r\n")).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n{key}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status: u16 = raw[9..12].parse().unwrap();
    let (_, body) = raw.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(body).unwrap_or(Json::String(body.to_owned())))
}

struct Fixture {
    server: Option<Server>,
    db: Db,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let opts = ServerOptions::new("127.0.0.1:0".parse().unwrap()).api_key(KEY);
        let server = Server::start(db.clone(), opts).unwrap();
        Fixture { server: Some(server), db, _dir: dir }
    }

    fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().addr()
    }

    /// A request with the key; panics unless it answers `want`.
    fn ok(&self, method: &str, path: &str, body: Json) -> Json {
        self.expect(200, method, path, body)["result"].clone()
    }

    fn expect(&self, want: u16, method: &str, path: &str, body: Json) -> Json {
        let (status, got) = call(self.addr(), method, path, Some(&body), Some(KEY));
        assert_eq!(status, want, "{method} {path} {body} → {got}");
        got
    }
}

fn payload(i: u64) -> Json {
    let colors = ["red", "green", "blue"];
    let mut p = json!({
        "n": i,
        "color": colors[(i % 3) as usize],
        "score": (i % 10) as f64 / 10.0,
        "tags": (0..i % 4).map(|t| format!("t{t}")).collect::<Vec<_>>(),
        "meta": { "even": i.is_multiple_of(2) },
    });
    if i.is_multiple_of(5) {
        p["maybe"] = Json::Null;
    }
    p
}

fn id(i: u64) -> Json {
    // Every third point has a UUID id.
    if i.is_multiple_of(3) {
        json!(format!("00000000-0000-4000-8000-{i:012x}"))
    } else {
        json!(i)
    }
}

/// Creates collection `t` and upserts points `range` in one request.
fn load(f: &Fixture, range: std::ops::Range<u64>) {
    let points: Vec<Json> =
        range.map(|i| json!({ "id": id(i), "vector": common::vector(i, DIM), "payload": payload(i) })).collect();
    f.ok("PUT", "/collections/t/points?wait=true", json!({ "points": points }));
}

/// The filters the tests check, each with the predicate it means.
/// A filter with the predicate on payloads it means.
type Case = (Json, fn(&Json) -> bool);

fn filters() -> Vec<Case> {
    vec![
        (json!({"must": [{"key": "color", "match": {"value": "red"}}]}), |p| p["color"] == "red"),
        (
            json!({"must": [{"key": "n", "range": {"gte": 20, "lt": 140}}], "must_not": [{"key": "meta.even", "match": {"value": true}}]}),
            |p| (20..140).contains(&p["n"].as_u64().unwrap()) && p["meta"]["even"] != true,
        ),
        (
            json!({"should": [{"key": "tags", "match": {"value": "t2"}}, {"key": "score", "range": {"lte": 0.1}}]}),
            |p| p["tags"].as_array().unwrap().contains(&json!("t2")) || p["score"].as_f64().unwrap() <= 0.1,
        ),
        (
            json!({"must": [{"key": "color", "match": {"any": ["green", "blue"]}}, {"is_null": {"key": "maybe"}}]}),
            |p| p["color"] != "red" && p.get("maybe").is_some_and(Json::is_null),
        ),
        (json!({"must": [{"is_empty": {"key": "tags"}}]}), |p| p["tags"].as_array().unwrap().is_empty()),
        (json!({"must": [{"key": "color", "match": {"except": ["red", "green"]}}]}), |p| p["color"] == "blue"),
    ]
}

fn ids_of(points: &Json) -> Vec<Json> {
    points.as_array().unwrap().iter().map(|p| p["id"].clone()).collect()
}

#[test]
fn filtered_search_count_and_delete_agree_with_brute_force_across_layers() {
    let f = Fixture::new();
    f.ok("PUT", "/collections/t", json!({"vectors": {"size": DIM, "distance": "Euclid"}}));
    load(&f, 0..150);
    // Half the points in a segment, half in the memtable; some superseded.
    f.db.collection("t").unwrap().flush().unwrap();
    load(&f, 100..200);
    let q = common::vector(7_777, DIM);
    for (filter, pred) in filters() {
        let matching: Vec<u64> = (0..200).filter(|&i| pred(&payload(i))).collect();
        let count = f.ok("POST", "/collections/t/points/count", json!({"filter": filter, "exact": true}));
        assert_eq!(count["count"], matching.len() as u64, "count {filter}");
        let mut want: Vec<(f32, u64)> =
            matching.iter().map(|&i| (common::l2(&q, &common::vector(i, DIM)).sqrt(), i)).collect();
        want.sort_by(|a, b| a.0.total_cmp(&b.0));
        want.truncate(5);
        let body = json!({"query": q, "limit": 5, "filter": filter, "with_payload": true, "params": {"exact": true}});
        let got = f.ok("POST", "/collections/t/points/query", body)["points"].clone();
        let want_ids: Vec<Json> = want.iter().map(|&(_, i)| id(i)).collect();
        assert_eq!(ids_of(&got), want_ids, "query {filter}");
        let bare = json!({"query": q, "limit": 5, "filter": filter, "params": {"exact": true}});
        for p in f.ok("POST", "/collections/t/points/query", bare)["points"].as_array().unwrap() {
            assert!(
                p["payload"].is_null() && p["version"].as_u64().unwrap() > 0,
                "no payload unless asked; a version always"
            );
        }
        for (p, (d, i)) in got.as_array().unwrap().iter().zip(&want) {
            assert!((p["score"].as_f64().unwrap() - *d as f64).abs() < 1e-4, "Euclid score is the distance");
            assert_eq!(p["payload"], payload(*i), "payload comes back verbatim");
        }
    }
    // Delete by filter, then the filter matches nothing and the rest stays.
    let red = json!({"must": [{"key": "color", "match": {"value": "red"}}]});
    f.ok("POST", "/collections/t/points/delete?wait=true", json!({"filter": red}));
    assert_eq!(f.ok("POST", "/collections/t/points/count", json!({"filter": red}))["count"], 0);
    let reds = (0..200u64).filter(|i| i.is_multiple_of(3)).count() as u64;
    assert_eq!(f.ok("POST", "/collections/t/points/count", json!({}))["count"], 200 - reds);
}

#[test]
fn scroll_pages_cover_every_point_once_in_id_order() {
    let f = Fixture::new();
    f.ok("PUT", "/collections/t", json!({"vectors": {"size": DIM, "distance": "Dot"}}));
    load(&f, 0..90);
    f.db.collection("t").unwrap().flush().unwrap();
    load(&f, 90..130);
    f.ok("POST", "/collections/t/points/delete", json!({"points": [id(1), id(3), id(99)]}));
    for filter in [Json::Null, json!({"must": [{"key": "color", "match": {"value": "green"}}]})] {
        let (mut seen, mut offset) = (Vec::new(), Json::Null);
        loop {
            let body = json!({"limit": 7, "offset": offset, "filter": filter, "with_vector": true});
            let page = f.ok("POST", "/collections/t/points/scroll", body);
            for p in page["points"].as_array().unwrap() {
                let i = p["payload"]["n"].as_u64().unwrap();
                let v: Vec<f32> = p["vector"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
                assert_eq!(v, common::vector(i, DIM), "Dot vectors are stored as given");
                seen.push(p["id"].clone());
            }
            offset = page["next_page_offset"].clone();
            if offset.is_null() {
                break;
            }
        }
        let mut nums: Vec<u64> = (0..130).filter(|i| ![1, 3, 99].contains(i)).filter(|i| i % 3 != 0).collect();
        let mut uuids: Vec<u64> =
            (0..130u64).filter(|i| ![1, 3, 99].contains(i)).filter(|i| i.is_multiple_of(3)).collect();
        if !filter.is_null() {
            nums.retain(|i| i % 3 == 1);
            uuids.retain(|i| i % 3 == 1);
        }
        nums.sort();
        uuids.sort();
        let want: Vec<Json> = nums.into_iter().chain(uuids).map(id).collect();
        assert_eq!(seen, want, "integers first, then UUIDs, each once ({filter})");
    }
}

#[test]
fn an_upsert_with_one_bad_point_changes_nothing() {
    let f = Fixture::new();
    f.ok("PUT", "/collections/t", json!({"vectors": {"size": DIM, "distance": "Cosine"}}));
    let good = json!({"id": 1, "vector": common::vector(1, DIM)});
    for bad in [
        json!({"id": 2, "vector": [1.0, 2.0]}),
        json!({"id": -2, "vector": common::vector(2, DIM)}),
        json!({"id": "not-a-uuid", "vector": common::vector(2, DIM)}),
        json!({"id": 2, "vector": common::vector(2, DIM), "payload": [1]}),
        json!({"id": 2, "vector": {"named": common::vector(2, DIM)}}),
    ] {
        let err = f.expect(400, "PUT", "/collections/t/points?wait=true", json!({"points": [good, bad]}));
        assert!(err["status"]["error"].as_str().is_some_and(|e| !e.is_empty()), "{err}");
    }
    assert_eq!(f.ok("POST", "/collections/t/points/count", json!({}))["count"], 0);
    // A repeated id keeps its last occurrence, as Qdrant applies points in order.
    let twice = json!({"points": [{"id": 5, "vector": common::vector(1, DIM), "payload": {"v": 1}},
                                  {"id": 5, "vector": common::vector(2, DIM), "payload": {"v": 2}}]});
    f.ok("PUT", "/collections/t/points", twice);
    let got = f.ok("POST", "/collections/t/points", json!({"ids": [5], "with_vector": true}));
    assert_eq!(got[0]["payload"], json!({"v": 2}));
    let v: Vec<f32> = serde_json::from_value(got[0]["vector"].clone()).unwrap();
    assert!((common::norm(&v) - 1.0).abs() < 1e-5, "cosine vectors are stored normalized");
}

#[test]
fn requests_without_the_key_get_401_and_change_nothing() {
    let f = Fixture::new();
    let create = json!({"vectors": {"size": DIM, "distance": "Cosine"}});
    assert_eq!(call(f.addr(), "PUT", "/collections/t", Some(&create), None).0, 401);
    assert_eq!(call(f.addr(), "PUT", "/collections/t", Some(&create), Some("wrong")).0, 401);
    assert_eq!(call(f.addr(), "GET", "/collections", None, None).0, 401);
    assert!(f.db.collections().is_empty());
    f.ok("PUT", "/collections/t", create);
    assert_eq!(f.db.collections(), ["t"]);
}

#[test]
fn requests_outside_the_subset_get_clear_errors() {
    let f = Fixture::new();
    f.ok("PUT", "/collections/t", json!({"vectors": {"size": DIM, "distance": "Cosine"}}));
    let q = common::vector(1, DIM);
    let cases = [
        (400, "PUT", "/collections/m", json!({"vectors": {"size": DIM, "distance": "Manhattan"}})),
        (400, "PUT", "/collections/n", json!({"vectors": {"a": {"size": DIM, "distance": "Cosine"}}})),
        (409, "PUT", "/collections/t", json!({"vectors": {"size": DIM, "distance": "Cosine"}})),
        (404, "POST", "/collections/missing/points/count", json!({})),
        (400, "POST", "/collections/t/points/query", json!({"query": q, "filter": {"must": [{"has_vector": ""}]}})),
        (
            400,
            "POST",
            "/collections/t/points/query",
            json!({"query": q, "filter": {"must": [{"key": "t", "match": {"text": "x"}}]}}),
        ),
        (400, "POST", "/collections/t/points/query", json!({"query": q, "prefetch": {"query": q}})),
        (400, "POST", "/collections/t/points/query", json!({"query": [1.0]})),
        (400, "POST", "/collections/t/points/scroll", json!({"order_by": "n"})),
        (405, "POST", "/collections/t/points/recommend", json!({})),
        (404, "POST", "/collections/t/points/discover/batch", json!({})),
        (405, "PATCH", "/collections/t", json!({})),
    ];
    for (want, method, path, body) in cases {
        let got = f.expect(want, method, path, body);
        let msg = got["status"]["error"].as_str().unwrap_or_default();
        assert!(!msg.is_empty(), "{method} {path}: error body names the problem: {got}");
    }
    // Declaring a payload index is accepted: every payload path is filterable already.
    let index = json!({"field_name": "color", "field_schema": "keyword"});
    assert_eq!(f.ok("PUT", "/collections/t/index?wait=true", index)["status"], "completed");
    f.expect(404, "PUT", "/collections/missing/index", json!({"field_name": "color"}));
    let (status, body) = call(f.addr(), "POST", "/collections/t/points/count", None, Some(KEY));
    assert_eq!((status, body["result"]["count"].clone()), (200, json!(0)), "an empty body is an empty request");
    let mut s = TcpStream::connect(f.addr()).unwrap();
    let junk = "{not json";
    write!(s, "POST /collections/t/points/count HTTP/1.1\r\nHost: x\r\nConnection: close\r\napi-key: {KEY}\r\nContent-Length: {}\r\n\r\n{junk}", junk.len()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 400") && raw.contains("Format error in JSON body"), "{raw}");
}

#[test]
fn concurrent_acknowledged_upserts_survive_shutdown_and_reopen() {
    let mut f = Fixture::new();
    f.ok("PUT", "/collections/t", json!({"vectors": {"size": DIM, "distance": "Euclid"}}));
    let addr = f.addr();
    std::thread::scope(|s| {
        for w in 0..4u64 {
            s.spawn(move || {
                for i in 0..50u64 {
                    let n = w * 1000 + i;
                    let p = json!({"points": [{"id": n, "vector": common::vector(n, DIM), "payload": {"w": w}}]});
                    let (status, body) = call(addr, "PUT", "/collections/t/points?wait=true", Some(&p), Some(KEY));
                    assert_eq!(status, 200, "{body}");
                }
            });
        }
    });
    let dir = f._dir.path().to_path_buf();
    f.server.take().unwrap().shutdown().unwrap();
    assert!(matches!(f.db.get_collection("t"), Err(vego::Error::Closed)), "shutdown closes the database");
    let db = Db::open(&dir, Options::default()).unwrap();
    let c = db.collection("t").unwrap();
    assert_eq!(c.len(), 200);
    let doc = c.get("3002").unwrap().unwrap();
    assert_eq!(doc.vector, common::vector(3002, DIM));
}
