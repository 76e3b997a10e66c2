//! Point endpoints: upsert, retrieve, delete (by ids or filter), count, scroll.

use std::collections::BinaryHeap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{json, Map, Value as Json};

use super::error::{ok, ApiError, ApiResult};
use super::payload::{self, Selector};
use super::point_id::PointId;
use super::{blocking, filter, parse_body, updates, AppState};
use crate::hnsw::normalize;
use crate::{Collection, Distance, Document, Snapshot};

/// Most points a scroll page may hold.
pub(crate) const SCROLL_LIMIT_MAX: usize = 10_000;

/// `PUT /collections/{name}/points`: all points or none (one WAL record),
/// answered once durable.
pub(crate) async fn upsert(State(s): State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let t = Instant::now();
    let coll = s.collection(&name)?;
    let body = parse_body(&body)?;
    if updates::is_conditional(&body) {
        // `update_filter` / `update_mode` read before they write.
        let op = updates::upsert_op(&body, coll.config().distance)?;
        updates::run(&s, coll, vec![op]).await?;
        return Ok(ok(s.update_result(), t));
    }
    if body.get("shard_key").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::unsupported("shard keys"));
    }
    let docs = documents(&body, coll.config().distance)?;
    let gate = s.write_gate.clone();
    blocking(move || {
        let _shared = gate.read();
        Ok(coll.upsert_batch(docs)?)
    })
    .await?;
    Ok(ok(s.update_result(), t))
}

/// The documents of an upsert, in either of Qdrant's forms: `{"points":
/// [{id, vector, payload}]}` or `{"batch": {ids, vectors, payloads}}`. A
/// repeated id keeps its last occurrence, as Qdrant applies them in order.
pub(crate) fn documents(body: &Map<String, Json>, distance: Distance) -> Result<Vec<Document>, ApiError> {
    let mut docs = Vec::new();
    if let Some(points) = body.get("points") {
        let points = points.as_array().ok_or_else(|| ApiError::bad_request("points must be a list"))?;
        for p in points {
            docs.push(document(p.get("id"), p.get("vector"), p.get("payload"), distance)?);
        }
    } else if let Some(batch) = body.get("batch") {
        let ids = batch
            .get("ids")
            .and_then(Json::as_array)
            .ok_or_else(|| ApiError::bad_request("batch.ids must be a list"))?;
        let vectors = match batch.get("vectors") {
            Some(Json::Array(v)) => v,
            Some(Json::Object(_)) => return Err(ApiError::unsupported("named vectors")),
            _ => return Err(ApiError::bad_request("batch.vectors must be a list")),
        };
        let payloads = batch.get("payloads").and_then(Json::as_array);
        if vectors.len() != ids.len() || payloads.is_some_and(|p| p.len() != ids.len()) {
            return Err(ApiError::bad_request("batch: ids, vectors and payloads differ in length"));
        }
        for (i, id) in ids.iter().enumerate() {
            docs.push(document(Some(id), Some(&vectors[i]), payloads.map(|p| &p[i]), distance)?);
        }
    } else {
        return Err(ApiError::bad_request("upsert needs \"points\" or \"batch\""));
    }
    if docs.is_empty() {
        return Err(ApiError::bad_request("upsert of no points"));
    }
    let mut seen = std::collections::HashSet::new();
    let mut last_first: Vec<Document> = docs.into_iter().rev().filter(|d| seen.insert(d.id.clone())).collect();
    last_first.reverse();
    Ok(last_first)
}

fn document(
    id: Option<&Json>,
    vector: Option<&Json>,
    payload: Option<&Json>,
    distance: Distance,
) -> Result<Document, ApiError> {
    let id = PointId::from_json(id.ok_or_else(|| ApiError::bad_request("point without id"))?)?;
    let mut vector = vector_of(vector.ok_or_else(|| ApiError::bad_request("point without vector"))?)?;
    // Like Qdrant: cosine collections store unit vectors, so retrieve
    // returns what the scores were computed from.
    if distance == Distance::Cosine && vector.iter().any(|x| *x != 0.0) {
        normalize(&mut vector);
    }
    let mut doc = Document::new(id.doc_id(), vector);
    doc.metadata = payload::to_metadata(payload)?;
    Ok(doc)
}

/// A vector: a list of numbers, or `{"": [...]}` (the unnamed vector by name).
pub(crate) fn vector_of(v: &Json) -> Result<Vec<f32>, ApiError> {
    let list = match v {
        Json::Array(a) => a,
        Json::Object(o) if o.len() == 1 && o.get("").is_some_and(Json::is_array) => o[""].as_array().expect("checked"),
        Json::Object(_) => return Err(ApiError::unsupported("named or sparse vectors")),
        other => return Err(ApiError::bad_request(format!("vector must be a list of numbers, got {other}"))),
    };
    list.iter()
        .map(|x| x.as_f64().map(|f| f as f32))
        .collect::<Option<Vec<f32>>>()
        .ok_or_else(|| ApiError::bad_request("vector must be a list of numbers"))
}

/// `POST /collections/{name}/points`: points by id (missing ids are skipped).
pub(crate) async fn retrieve(State(s): State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let t = Instant::now();
    let coll = s.collection(&name)?;
    let body = parse_body(&body)?;
    let ids = point_ids(body.get("ids"))?;
    let sel = Selector::parse(body.get("with_payload"), true)?;
    let with_vector = with_vector(body.get("with_vector"))?;
    let records = blocking(move || {
        let names: Vec<String> = ids.iter().map(PointId::doc_id).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let docs = coll.get_batch(&refs)?;
        Ok(docs.into_iter().flatten().map(|d| record(d, &sel, with_vector)).collect::<Vec<Json>>())
    })
    .await?;
    Ok(ok(Json::Array(records), t))
}

/// `GET /collections/{name}/points/{id}`
pub(crate) async fn get_one(State(s): State<AppState>, Path((name, id)): Path<(String, String)>) -> ApiResult {
    let t = Instant::now();
    let coll = s.collection(&name)?;
    let id = match id.parse::<u64>() {
        Ok(n) => PointId::Num(n),
        Err(_) => PointId::from_json(&Json::String(id))?,
    };
    let doc = blocking(move || Ok(coll.get(&id.doc_id())?)).await?;
    let doc = doc.ok_or_else(|| ApiError::not_found("Not found: point does not exist"))?;
    Ok(ok(record(doc, &Selector::All, true), t))
}

/// `POST /collections/{name}/points/delete`: by `{"points": [ids]}` or by
/// `{"filter": …}`, atomically.
pub(crate) async fn delete(State(s): State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let t = Instant::now();
    let coll = s.collection(&name)?;
    let body = parse_body(&body)?;
    if body.get("shard_key").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::unsupported("shard keys"));
    }
    if let Some(points) = body.get("points") {
        let ids = point_ids(Some(points))?;
        let gate = s.write_gate.clone();
        blocking(move || {
            let _shared = gate.read();
            let names: Vec<String> = ids.iter().map(PointId::doc_id).collect();
            Ok(delete_ids(&coll, &names)?)
        })
        .await?;
    } else if let Some(f) = body.get("filter") {
        let f = filter::parse(Some(f))?;
        updates::delete_by_filter(&s, coll, f).await?;
    } else {
        return Err(ApiError::bad_request("delete needs \"points\" or \"filter\""));
    }
    Ok(ok(s.update_result(), t))
}

/// Deletes in batches the write path takes (all at once when they fit).
pub(crate) fn delete_ids(coll: &Collection, ids: &[String]) -> crate::Result<()> {
    for chunk in ids.chunks(crate::model::limits::BATCH_DOCS_MAX) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        coll.delete_batch(&refs)?;
    }
    Ok(())
}

/// `POST /collections/{name}/points/count`
pub(crate) async fn count(State(s): State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let t = Instant::now();
    let coll = s.collection(&name)?;
    let body = parse_body(&body)?;
    let f = filter::parse(body.get("filter"))?;
    let n = blocking(move || Ok(coll.snapshot().count(f.as_ref())?)).await?;
    Ok(ok(json!({ "count": n }), t))
}

/// `POST /collections/{name}/points/scroll`: pages in point id order; a
/// page and the position of the next one come from one snapshot.
pub(crate) async fn scroll(State(s): State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let t = Instant::now();
    let coll = s.collection(&name)?;
    let body = parse_body(&body)?;
    if body.get("order_by").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::unsupported("scroll order_by (pages are in point id order)"));
    }
    let f = filter::parse(body.get("filter"))?;
    let limit = super::query::uint(&body, "limit", "scroll limit")?.unwrap_or(10);
    if limit == 0 || limit > SCROLL_LIMIT_MAX {
        return Err(ApiError::bad_request(format!("scroll limit must be 1..={SCROLL_LIMIT_MAX}")));
    }
    let offset = body.get("offset").filter(|v| !v.is_null()).map(PointId::from_json).transpose()?;
    let sel = Selector::parse(body.get("with_payload"), true)?;
    let with_vector = with_vector(body.get("with_vector"))?;
    let page = blocking(move || {
        let snap = coll.snapshot();
        let (ids, next) = scroll_page(&snap, f.as_ref(), offset.as_ref(), limit)?;
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let docs = snap.get_batch(&refs)?;
        let points: Vec<Json> = docs.into_iter().flatten().map(|d| record(d, &sel, with_vector)).collect();
        Ok(json!({ "points": points, "next_page_offset": next.map(|n| n.to_json()) }))
    })
    .await?;
    Ok(ok(page, t))
}

/// The ids of one page (from `offset` on, in point id order) and the first
/// id of the next page: one pass over the snapshot's ids keeping the
/// `limit + 1` smallest at or after `offset` (O(n log limit), no sort of n).
fn scroll_page(
    snap: &Snapshot,
    f: Option<&crate::Filter>,
    offset: Option<&PointId>,
    limit: usize,
) -> crate::Result<(Vec<String>, Option<PointId>)> {
    let mut smallest: BinaryHeap<PointId> = BinaryHeap::with_capacity(limit + 2);
    snap.visit_ids(f, |id| {
        let id = PointId::from_doc_id(id);
        if offset.is_some_and(|o| id < *o) {
            return;
        }
        if smallest.len() <= limit {
            smallest.push(id);
        } else if smallest.peek().is_some_and(|largest| id < *largest) {
            smallest.pop();
            smallest.push(id);
        }
    })?;
    let mut page = smallest.into_sorted_vec();
    let next = (page.len() > limit).then(|| page.pop()).flatten();
    Ok((page.iter().map(PointId::doc_id).collect(), next))
}

/// A list of point ids.
pub(crate) fn point_ids(v: Option<&Json>) -> Result<Vec<PointId>, ApiError> {
    let list = v.and_then(Json::as_array).ok_or_else(|| ApiError::bad_request("ids must be a list of point ids"))?;
    list.iter().map(PointId::from_json).collect()
}

/// `with_vector`: a boolean (or the unnamed vector's name in a list).
pub(crate) fn with_vector(v: Option<&Json>) -> Result<bool, ApiError> {
    match v {
        None | Some(Json::Null) => Ok(false),
        Some(Json::Bool(b)) => Ok(*b),
        Some(Json::Array(names)) => Ok(names.iter().any(|n| n.as_str() == Some(""))),
        Some(other) => Err(ApiError::bad_request(format!("with_vector: unsupported value {other}"))),
    }
}

/// A point as Qdrant's `Record`.
pub(crate) fn record(doc: Document, sel: &Selector, with_vector: bool) -> Json {
    let mut r = Map::new();
    r.insert("id".into(), PointId::from_doc_id(&doc.id).to_json());
    r.insert("payload".into(), sel.apply(payload::from_metadata(&doc.metadata)).unwrap_or(Json::Null));
    r.insert("vector".into(), if with_vector { f32s_json(&doc.vector) } else { Json::Null });
    Json::Object(r)
}

/// An `f32` as the shortest decimal that reads back as the same `f32`
/// (`0.15`, not the `f64` expansion `0.15000000596046448`); non-finite
/// values (which the API never stores) as null.
pub(crate) fn f32_json(x: f32) -> Json {
    // `Display` of f32 is the shortest round-tripping decimal; read as f64
    // it prints the same digits.
    x.to_string().parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Json::Null, Json::Number)
}

/// A vector of `f32`s, each as [`f32_json`] writes it.
pub(crate) fn f32s_json(v: &[f32]) -> Json {
    Json::Array(v.iter().map(|x| f32_json(*x)).collect())
}
