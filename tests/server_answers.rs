//! Regression tests of issue 13's server items: each was a 200 with the
//! wrong answer (or an option accepted and ignored). Named after the bug.
#![cfg(feature = "server")]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::{json, Value as Json};
use vego::server::{Server, ServerOptions};
use vego::{Db, Options};

/// One HTTP/1.1 request; returns the status and the body as text.
fn call_raw(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status: u16 = raw[9..12].parse().unwrap();
    let (_, body) = raw.split_once("\r\n\r\n").unwrap();
    (status, body.to_owned())
}

struct Fixture {
    server: Server,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Options::default()).unwrap();
        let server = Server::start(db, ServerOptions::new("127.0.0.1:0".parse().unwrap())).unwrap();
        Fixture { server, _dir: dir }
    }

    fn expect(&self, want: u16, method: &str, path: &str, body: Json) -> Json {
        let (status, text) = call_raw(self.server.addr(), method, path, &body.to_string());
        assert_eq!(status, want, "{method} {path} {body} → {text}");
        serde_json::from_str(&text).unwrap()
    }

    fn ok(&self, method: &str, path: &str, body: Json) -> Json {
        self.expect(200, method, path, body)["result"].clone()
    }

    fn create(&self, name: &str, dim: usize, distance: &str) {
        self.ok("PUT", &format!("/collections/{name}"), json!({"vectors": {"size": dim, "distance": distance}}));
    }

    fn upsert(&self, name: &str, points: Vec<Json>) {
        self.ok("PUT", &format!("/collections/{name}/points?wait=true"), json!({ "points": points }));
    }

    fn count(&self, name: &str, filter: Json) -> u64 {
        self.ok("POST", &format!("/collections/{name}/points/count"), json!({"filter": filter, "exact": true}))["count"]
            .as_u64()
            .unwrap()
    }
}

fn ids(points: &Json) -> Vec<u64> {
    points.as_array().unwrap().iter().map(|p| p["id"].as_u64().unwrap()).collect()
}

/// Issue 13, item 1: in a Dot collection some points could never be
/// returned, even with `exact=true` (which only raised ef).
#[test]
fn exact_true_returns_inner_product_points_the_graph_could_not_reach() {
    let f = Fixture::new();
    f.create("ip", 50, "Dot");
    let mut r = common::Rng::new(1);
    let data: Vec<Vec<f32>> =
        (0..300).map(|_| (0..50).map(|_| ((r.unit() + 1.0) * 500.0).round() / 1000.0).collect()).collect();
    f.upsert("ip", data.iter().enumerate().map(|(i, v)| json!({"id": i, "vector": v})).collect());
    for (q, v) in data.iter().enumerate() {
        let body = json!({"query": v, "limit": 10, "params": {"exact": true}});
        let got = ids(&f.ok("POST", "/collections/ip/points/query", body)["points"]);
        let want: Vec<u64> =
            common::brute_force(&data, v, 10, vego::Distance::InnerProduct).into_iter().map(|i| i as u64).collect();
        assert_eq!(got, want, "query {q}");
    }
}

/// Issue 13, item 2: array-index paths answered 200 and never matched, so
/// a delete by such a filter deleted the wrong points (it emptied a
/// collection where Qdrant kept most of it). Now a 400 that changes nothing.
#[test]
fn delete_by_array_index_filter_is_refused_and_deletes_nothing() {
    let f = Fixture::new();
    f.create("a", 2, "Euclid");
    f.upsert(
        "a",
        vec![
            json!({"id": 1, "vector": [0.0, 1.0], "payload": {"a": [[1, 8], [-5, 9, 3]]}}),
            json!({"id": 2, "vector": [1.0, 0.0], "payload": {"a": [[20], [30]]}}),
        ],
    );
    for key in ["a[0][1]", "a[][]", "a[1][]", "a[][0]"] {
        let filter = json!({"must_not": [{"key": key, "range": {"lt": 0}}]});
        let e = f.expect(400, "POST", "/collections/a/points/delete?wait=true", json!({ "filter": filter }));
        assert!(e["status"]["error"].as_str().unwrap().contains("Unsupported by vego"), "{e}");
        f.expect(400, "POST", "/collections/a/points/count", json!({ "filter": filter }));
        assert_eq!(f.count("a", Json::Null), 2, "nothing deleted by {key}");
    }
    // Qdrant's meaning of the plain key: `a` selects the inner arrays, which
    // no range matches, so `must_not` keeps both.
    assert_eq!(f.count("a", json!({"must": [{"key": "a", "range": {"lt": 10}}]})), 0);
    f.ok(
        "POST",
        "/collections/a/points/delete?wait=true",
        json!({"filter": {"must": [{"key": "a", "range": {"lt": 10}}]}}),
    );
    assert_eq!(f.count("a", Json::Null), 2);
}

/// Issue 13, item 3.
#[test]
fn is_empty_through_arrays_of_objects_with_null_values() {
    let f = Fixture::new();
    f.create("e", 2, "Cosine");
    f.upsert(
        "e",
        vec![
            json!({"id": 1, "vector": [0.0, 1.0], "payload": {"nested": [{"empty": null}, {"empty": null}]}}),
            json!({"id": 2, "vector": [1.0, 0.0], "payload": {"nested": [{"empty": []}, {"empty": null}]}}),
            json!({"id": 3, "vector": [1.0, 1.0], "payload": {"nested": [{"empty": [1]}, {"empty": null}]}}),
        ],
    );
    let filter = json!({"must": [{"is_empty": {"key": "nested[].empty"}}]});
    let got = f.ok("POST", "/collections/e/points/scroll", json!({ "filter": filter }));
    assert_eq!(ids(&got["points"]), [1, 2]);
}

/// Issue 13, item 4. The issue says Qdrant finds `[null, null]`, `[null]`
/// and `[null, 1]` not null; qdrant-client 1.20's local mode, the oracle
/// the differential test holds the server to, finds them null (an array
/// holding null one level down, qdrant#10101), and `[[null]]` not null:
/// Vego said null for that one (it flattened nested arrays).
#[test]
fn is_null_on_an_array_that_contains_null() {
    let f = Fixture::new();
    f.create("n", 2, "Cosine");
    let payloads = [
        json!({"nones": [null, null]}),
        json!({"nones": [null]}),
        json!({"nones": [null, 1]}),
        json!({"nones": null}),
        json!({"nones": [1]}),
        json!({"nones": [[null]]}),
        json!({"nones": {"a": null}}),
    ];
    f.upsert(
        "n",
        payloads.iter().enumerate().map(|(i, p)| json!({"id": i, "vector": [1.0, i as f32], "payload": p})).collect(),
    );
    // As qdrant-client 1.20's local mode (qdrant#10101): null, or an array
    // holding null one level down.
    let filter = json!({"must": [{"is_null": {"key": "nones"}}]});
    let got = f.ok("POST", "/collections/n/points/scroll", json!({ "filter": filter }));
    assert_eq!(ids(&got["points"]), [0, 1, 2, 3]);
    let filter = json!({"must": [{"key": "nones", "is_null": false}]});
    assert_eq!(ids(&f.ok("POST", "/collections/n/points/scroll", json!({ "filter": filter }))["points"]), [4, 5, 6]);
}

/// Issue 13, item 5: `mmr` answered 200 with plain nearest neighbours.
#[test]
fn mmr_reranks_for_diversity() {
    let f = Fixture::new();
    f.create("m", 2, "Euclid");
    // Three near-duplicates close to the query, and one point a bit farther
    // in another direction.
    let pts = [[1.0, 0.0], [1.01, 0.0], [1.02, 0.0], [0.0, 1.2]];
    f.upsert("m", pts.iter().enumerate().map(|(i, v)| json!({"id": i, "vector": v})).collect());
    let q = |mmr: Json| {
        let body = json!({"query": {"nearest": [1.0, 0.1], "mmr": mmr}, "limit": 2, "params": {"exact": true}});
        ids(&f.ok("POST", "/collections/m/points/query", body)["points"])
    };
    assert_eq!(q(json!({"diversity": 0.0, "candidates_limit": 4})), [0, 1], "no diversity: nearest first");
    assert_eq!(q(json!({"diversity": 1.0, "candidates_limit": 4})), [0, 3], "full diversity: the far point second");
    assert_eq!(q(json!({"diversity": 1.0})), [0, 1], "candidates default to limit");
    f.expect(
        400,
        "POST",
        "/collections/m/points/query",
        json!({"query": {"nearest": [1.0, 0.1], "mmr": {"diversity": 2}}}),
    );
    // The scores are the plain similarity scores of the chosen points.
    let body = json!({"query": {"nearest": [1.0, 0.0], "mmr": {"diversity": 1.0, "candidates_limit": 4}}, "limit": 2});
    let got = f.ok("POST", "/collections/m/points/query", body);
    assert_eq!(got["points"][0]["score"].as_f64(), Some(0.0));
}

#[test]
fn with_payload_include_and_exclude_take_nested_paths() {
    let f = Fixture::new();
    f.create("p", 2, "Cosine");
    let payload = json!({"country": {"name": "Norway", "code": 47}, "city": "Oslo"});
    f.upsert("p", vec![json!({"id": 1, "vector": [1.0, 0.0], "payload": payload})]);
    let get = |sel: Json| {
        f.ok("POST", "/collections/p/points", json!({"ids": [1], "with_payload": sel}))[0]["payload"].clone()
    };
    assert_eq!(get(json!({"include": ["country.name"]})), json!({"country": {"name": "Norway"}}));
    assert_eq!(get(json!({"exclude": ["country.code"]})), json!({"country": {"name": "Norway"}, "city": "Oslo"}));
}

/// Vectors and scores were printed as the f64 expansion of the stored f32.
#[test]
fn vectors_and_scores_print_the_shortest_decimal_of_the_f32() {
    let f = Fixture::new();
    f.create("v", 2, "Dot");
    f.upsert("v", vec![json!({"id": 1, "vector": [0.15, 0.3]})]);
    let (_, text) = call_raw(f.server.addr(), "POST", "/collections/v/points", r#"{"ids": [1], "with_vector": true}"#);
    assert!(text.contains("[0.15,0.3]"), "{text}");
    let (_, text) = call_raw(f.server.addr(), "POST", "/collections/v/points/query", r#"{"query": [1.0, 0.0]}"#);
    assert!(text.contains("\"score\":0.15"), "{text}");
}

/// `top` (Qdrant's alias of `limit` in `points/search`) was ignored; bad
/// `limit` / `offset` values fell back to the defaults.
#[test]
fn search_top_is_limit_and_bad_limits_are_refused() {
    let f = Fixture::new();
    f.create("t", 2, "Euclid");
    f.upsert("t", (0..8).map(|i| json!({"id": i, "vector": [i as f32, 0.0]})).collect());
    let got = f.ok("POST", "/collections/t/points/search", json!({"vector": [0.0, 0.0], "top": 3}));
    assert_eq!(ids(&got), [0, 1, 2]);
    for bad in [json!(3.0), json!(-1), json!("3"), json!(1e12)] {
        f.expect(400, "POST", "/collections/t/points/search", json!({"vector": [0.0, 0.0], "limit": bad}));
        f.expect(400, "POST", "/collections/t/points/query", json!({"query": [0.0, 0.0], "offset": bad}));
        f.expect(400, "POST", "/collections/t/points/scroll", json!({"limit": bad}));
    }
    f.expect(400, "POST", "/collections/t/points/query", json!({"query": [0.0, 0.0], "params": {"hnsw_ef": 0}}));
}

fn payloads(f: &Fixture, name: &str) -> Vec<(u64, Json)> {
    let page = f.ok("POST", &format!("/collections/{name}/points/scroll"), json!({"limit": 100}));
    page["points"].as_array().unwrap().iter().map(|p| (p["id"].as_u64().unwrap(), p["payload"].clone())).collect()
}

/// Set / overwrite / delete / clear payload were 404s; now they follow
/// Qdrant, by ids or filter, and a missing id changes nothing.
#[test]
fn payload_updates_by_ids_and_filter() {
    let f = Fixture::new();
    f.create("u", 2, "Cosine");
    f.upsert(
        "u",
        (1..=3)
            .map(|i| json!({"id": i, "vector": [1.0, i as f32], "payload": {"n": i, "o": {"a": 1, "b": 2}}}))
            .collect(),
    );
    f.ok("POST", "/collections/u/points/payload", json!({"payload": {"x": "new", "n": null}, "points": [1]}));
    f.ok(
        "POST",
        "/collections/u/points/payload/delete",
        json!({"keys": ["o.a"], "filter": {"must": [{"key": "n", "match": {"value": 2}}]}}),
    );
    f.ok("PUT", "/collections/u/points/payload", json!({"payload": {"only": true}, "points": [3]}));
    assert_eq!(
        payloads(&f, "u"),
        [
            (1, json!({"o": {"a": 1, "b": 2}, "x": "new"})),
            (2, json!({"n": 2, "o": {"b": 2}})),
            (3, json!({"only": true}))
        ]
    );
    // Filters see the new payloads.
    assert_eq!(f.count("u", json!({"must": [{"key": "x", "match": {"value": "new"}}]})), 1);
    assert_eq!(f.count("u", json!({"must": [{"key": "n", "match": {"value": 1}}]})), 0);
    // A missing id: 404, and nothing written (the request is atomic).
    f.expect(404, "POST", "/collections/u/points/payload", json!({"payload": {"y": 1}, "points": [2, 99]}));
    assert_eq!(f.count("u", json!({"must": [{"key": "y", "match": {"value": 1}}]})), 0);
    f.ok("POST", "/collections/u/points/payload/clear", json!({"points": [1, 2]}));
    assert_eq!(payloads(&f, "u")[..2], [(1, json!({})), (2, json!({}))]);
    f.expect(400, "POST", "/collections/u/points/payload", json!({"payload": {"y": 1}, "points": [3], "key": "o"}));
}

/// `/points/batch` applies operations in order as one write; `upsert`
/// honours `update_filter` and `update_mode`.
#[test]
fn points_batch_and_conditional_upserts() {
    let f = Fixture::new();
    f.create("b", 2, "Euclid");
    f.upsert("b", (1..=3).map(|i| json!({"id": i, "vector": [i as f32, 0.0], "payload": {"v": 1}})).collect());
    let ops = json!({"operations": [
        {"upsert": {"points": [{"id": 4, "vector": [4.0, 0.0], "payload": {"v": 1}}]}},
        {"set_payload": {"payload": {"v": 2}, "filter": {"must": [{"key": "v", "match": {"value": 1}}]}}},
        {"overwrite_payload": {"payload": {"v": 3}, "points": [1]}},
    ]});
    let res = f.ok("POST", "/collections/b/points/batch", ops);
    assert_eq!(res.as_array().unwrap().len(), 3);
    assert_eq!(
        payloads(&f, "b"),
        [(1, json!({"v": 3})), (2, json!({"v": 2})), (3, json!({"v": 2})), (4, json!({"v": 2}))]
    );
    // Deletes and writes in one batch cannot be one atomic engine write: 400, nothing changes.
    let mixed =
        json!({"operations": [{"delete": {"points": [1]}}, {"set_payload": {"payload": {"v": 9}, "points": [2]}}]});
    f.expect(400, "POST", "/collections/b/points/batch", mixed);
    assert_eq!(f.count("b", Json::Null), 4);
    // A delete then an upsert of the same id is a write.
    let again =
        json!({"operations": [{"delete": {"points": [1]}}, {"upsert": {"points": [{"id": 1, "vector": [1.0, 0.0]}]}}]});
    f.ok("POST", "/collections/b/points/batch", again);
    assert_eq!(payloads(&f, "b")[0], (1, json!({})));
    // update_mode and update_filter.
    let up = |body: Json| f.ok("PUT", "/collections/b/points", body);
    up(
        json!({"points": [{"id": 2, "vector": [0.0, 0.0], "payload": {"v": 7}}, {"id": 9, "vector": [9.0, 0.0]}], "update_mode": "insert_only"}),
    );
    assert_eq!(payloads(&f, "b")[1], (2, json!({"v": 2})), "insert_only leaves existing points");
    assert_eq!(f.count("b", Json::Null), 5);
    up(
        json!({"points": [{"id": 3, "vector": [3.0, 0.0], "payload": {"v": 8}}, {"id": 10, "vector": [1.0, 0.0]}], "update_mode": "update_only"}),
    );
    assert_eq!(payloads(&f, "b")[2], (3, json!({"v": 8})));
    assert_eq!(f.count("b", Json::Null), 5, "update_only inserts nothing");
    let filt = json!({"must": [{"key": "v", "match": {"value": 8}}]});
    up(
        json!({"points": [{"id": 3, "vector": [3.0, 0.0], "payload": {"v": 5}}, {"id": 4, "vector": [4.0, 0.0], "payload": {"v": 5}}], "update_filter": filt}),
    );
    assert_eq!(
        payloads(&f, "b")[2..4],
        [(3, json!({"v": 5})), (4, json!({"v": 2}))],
        "only matching points are updated"
    );
}

/// Found by the differential test: a range with two bounds matched an array
/// whose elements each satisfied one bound (`[1, 4]` in `(1, 2)`).
#[test]
fn range_bounds_hold_for_one_element_of_an_array() {
    let f = Fixture::new();
    f.create("r", 2, "Cosine");
    f.upsert(
        "r",
        vec![
            json!({"id": 1, "vector": [1.0, 0.0], "payload": {"c": ["y", 1, 4]}}),
            json!({"id": 2, "vector": [0.0, 1.0], "payload": {"c": [0, 1.5]}}),
        ],
    );
    let filter = json!({"must": [{"key": "c", "range": {"gt": 1.0, "lt": 2.0}}]});
    assert_eq!(ids(&f.ok("POST", "/collections/r/points/scroll", json!({ "filter": filter }))["points"]), [2]);
}

/// langchain-qdrant sends `vectors: {"": {...}}`; hybrid clients send
/// `sparse_vectors`; options Vego cannot honour were accepted and ignored.
#[test]
fn collection_options_are_applied_or_refused() {
    let f = Fixture::new();
    f.ok("PUT", "/collections/lc", json!({"vectors": {"": {"size": 3, "distance": "Cosine"}}, "sparse_vectors": {}}));
    let info = f.ok("GET", "/collections/lc", Json::Null);
    assert_eq!(info["config"]["params"]["vectors"]["size"], 3);
    let e = f.expect(
        400,
        "PUT",
        "/collections/sp",
        json!({"vectors": {"size": 3, "distance": "Dot"}, "sparse_vectors": {"sparse-text": {}}}),
    );
    assert_eq!(e["status"]["error"], "Unsupported by vego: sparse_vectors");
    let plain = || json!({"vectors": {"size": 3, "distance": "Dot"}});
    for (key, value) in [
        ("strict_mode_config", json!({"enabled": true, "max_query_limit": 1})),
        ("init_from", json!({"collection": "missing"})),
        ("shard_number", json!(0)),
        ("replication_factor", json!(-1)),
        ("optimizers_config", json!({"prevent_unoptimized": true})),
        ("no_such_option", json!(1)),
    ] {
        let mut body = plain();
        body[key] = value;
        f.expect(400, "PUT", "/collections/x", body.clone());
        f.expect(404, "GET", "/collections/x", Json::Null);
    }
    let mut body = plain();
    body["vectors"]["memory"] = json!("ram");
    f.expect(400, "PUT", "/collections/x", body);
    let mut body = plain();
    body["optimizers_config"] = json!({"indexing_threshold": 0});
    body["shard_number"] = json!(1);
    f.ok("PUT", "/collections/x", body);
}

/// `PUT …/index` answered 200 but the index never appeared in `payload_schema`.
#[test]
fn declared_payload_indexes_appear_in_payload_schema() {
    let f = Fixture::new();
    f.create("ix", 2, "Cosine");
    f.upsert(
        "ix",
        vec![
            json!({"id": 1, "vector": [1.0, 0.0], "payload": {"city": {"name": "Oslo"}}}),
            json!({"id": 2, "vector": [0.0, 1.0]}),
        ],
    );
    f.ok("PUT", "/collections/ix/index", json!({"field_name": "city.name", "field_schema": "keyword"}));
    let schema = f.ok("GET", "/collections/ix", Json::Null)["payload_schema"].clone();
    assert_eq!(schema, json!({"city.name": {"data_type": "keyword", "points": 1}}));
    f.ok("DELETE", "/collections/ix/index/city.name", Json::Null);
    assert_eq!(f.ok("GET", "/collections/ix", Json::Null)["payload_schema"], json!({}));
}

/// Slow clients held resources forever: a request announcing a 10^12-byte
/// body and sending nothing was held over 90 s; half-open connections
/// stayed open.
#[test]
fn slow_clients_are_cut_off() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let opts = ServerOptions::new("127.0.0.1:0".parse().unwrap())
        .header_read_timeout(Duration::from_millis(500))
        .body_read_timeout(Duration::from_millis(500));
    let server = Server::start(db, opts).unwrap();
    let addr = server.addr();
    let read_all = |s: &mut TcpStream| {
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    // A body too large to hold: refused before any of it is read.
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "PUT /collections/x/points HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n").unwrap();
    let out = read_all(&mut s);
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    // A body that never comes: 408.
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "PUT /collections/x/points HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{").unwrap();
    let out = read_all(&mut s);
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    // Headers that never end, and a connection that sends nothing: closed.
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let _ = read_all(&mut s);
    let mut s = TcpStream::connect(addr).unwrap();
    assert_eq!(read_all(&mut s), "", "an idle connection is closed without an answer");
    // The server still answers.
    assert_eq!(call_raw(addr, "GET", "/collections", "").0, 200);
    server.shutdown().unwrap();
}
