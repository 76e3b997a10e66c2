//! Nearest-neighbour endpoints: `points/query` (and its batch form) and the
//! older `points/search` (and its batch form).
//!
//! Scores follow Qdrant: cosine similarity for Cosine, the dot product for
//! Dot (larger is closer), the Euclidean distance for Euclid (smaller is
//! closer). `score_threshold` keeps scores at least as good as it.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{json, Map, Value as Json};

use super::error::{ok, ApiError, ApiResult};
use super::payload::{self, Selector};
use super::point_id::PointId;
use super::points::{vector_of, with_vector};
use super::{blocking, filter, parse_body, AppState};
use crate::limits::{EF_MAX, K_MAX};
use crate::{Collection, Distance, Hit, SearchOptions};

/// Most searches in one batch request.
pub(crate) const SEARCH_BATCH_MAX: usize = 1_000;

/// One parsed search.
struct Search {
    vector: Vec<f32>,
    opts: SearchOptions,
    offset: usize,
    limit: usize,
    threshold: Option<f32>,
    selector: Selector,
}

/// `POST /collections/{name}/points/query` → `{"points": [ScoredPoint]}`
pub(crate) async fn query(State(s): State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let t = Instant::now();
    let coll = s.collection(&name)?;
    let search = parse_query(&parse_body(&body)?)?;
    let points = blocking(move || run(&coll, &search)).await?;
    Ok(ok(json!({ "points": points }), t))
}

/// `POST /collections/{name}/points/query/batch` → `[{"points": …}]`
pub(crate) async fn query_batch(State(s): State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let t = Instant::now();
    let coll = s.collection(&name)?;
    let searches = batch(&parse_body(&body)?, parse_query)?;
    let results = blocking(move || searches.iter().map(|q| Ok(json!({ "points": run(&coll, q)? }))).collect()).await?;
    Ok(ok(Json::Array(results), t))
}

/// `POST /collections/{name}/points/search` → `[ScoredPoint]`
pub(crate) async fn search(State(s): State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let t = Instant::now();
    let coll = s.collection(&name)?;
    let search = parse_search(&parse_body(&body)?)?;
    let points = blocking(move || run(&coll, &search)).await?;
    Ok(ok(points, t))
}

/// `POST /collections/{name}/points/search/batch` → `[[ScoredPoint]]`
pub(crate) async fn search_batch(State(s): State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let t = Instant::now();
    let coll = s.collection(&name)?;
    let searches = batch(&parse_body(&body)?, parse_search)?;
    let results = blocking(move || searches.iter().map(|q| run(&coll, q)).collect()).await?;
    Ok(ok(Json::Array(results), t))
}

fn batch(
    body: &Map<String, Json>,
    parse: fn(&Map<String, Json>) -> Result<Search, ApiError>,
) -> Result<Vec<Search>, ApiError> {
    let list = body
        .get("searches")
        .and_then(Json::as_array)
        .ok_or_else(|| ApiError::bad_request("\"searches\" must be a list"))?;
    if list.len() > SEARCH_BATCH_MAX {
        return Err(ApiError::bad_request(format!("{} searches in one batch, limit {SEARCH_BATCH_MAX}", list.len())));
    }
    list.iter()
        .map(|q| q.as_object().ok_or_else(|| ApiError::bad_request("each search must be an object")).and_then(parse))
        .collect()
}

/// A `query` request: `query` is a vector or `{"nearest": vector}`.
fn parse_query(b: &Map<String, Json>) -> Result<Search, ApiError> {
    for unsupported in ["prefetch", "lookup_from", "shard_key"] {
        if b.get(unsupported).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::unsupported(format!("query {unsupported}")));
        }
    }
    check_using(b.get("using"))?;
    let vector = match b.get("query") {
        Some(Json::Object(o)) if o.contains_key("nearest") => vector_of(&o["nearest"])?,
        Some(v @ Json::Array(_)) => vector_of(v)?,
        Some(Json::Null) | None => return Err(ApiError::unsupported("query without a query vector")),
        Some(other) => {
            return Err(ApiError::unsupported(format!("query {other} (a vector or {{\"nearest\": vector}} only)")))
        }
    };
    common(b, vector)
}

/// A `search` request: `vector` is a list (or `{"name": "", "vector": …}`).
fn parse_search(b: &Map<String, Json>) -> Result<Search, ApiError> {
    let vector = match b.get("vector") {
        Some(Json::Object(o)) => {
            check_using(o.get("name"))?;
            vector_of(o.get("vector").ok_or_else(|| ApiError::bad_request("search vector is missing"))?)?
        }
        Some(v) => vector_of(v)?,
        None => return Err(ApiError::bad_request("search needs \"vector\"")),
    };
    common(b, vector)
}

fn check_using(v: Option<&Json>) -> Result<(), ApiError> {
    match v {
        None | Some(Json::Null) => Ok(()),
        Some(Json::String(s)) if s.is_empty() => Ok(()),
        Some(other) => {
            Err(ApiError::unsupported(format!("named vector {other} (collections have one unnamed vector)")))
        }
    }
}

fn common(b: &Map<String, Json>, vector: Vec<f32>) -> Result<Search, ApiError> {
    let limit = b.get("limit").and_then(Json::as_u64).unwrap_or(10) as usize;
    let offset = b.get("offset").and_then(Json::as_u64).unwrap_or(0) as usize;
    if limit == 0 || limit.saturating_add(offset) > K_MAX {
        return Err(ApiError::bad_request(format!("limit must be ≥ 1 and limit + offset ≤ {K_MAX}")));
    }
    let mut opts = SearchOptions::new(limit + offset);
    if let Some(f) = filter::parse(b.get("filter"))? {
        opts = opts.filter(f);
    }
    let params = b.get("params");
    if let Some(ef) = params.and_then(|p| p.get("hnsw_ef")).and_then(Json::as_u64) {
        opts = opts.ef((ef as usize).clamp(1, EF_MAX));
    }
    if params.and_then(|p| p.get("exact")).and_then(Json::as_bool) == Some(true) {
        opts = opts.ef(EF_MAX);
    }
    let selector = Selector::parse(b.get("with_payload"), false)?;
    let with_vector = with_vector(b.get("with_vector"))?;
    opts = opts.include_vector(with_vector);
    if !selector.wants_payload() {
        // Documents without metadata still carry the version ScoredPoint reports.
        opts = opts.fields(Vec::<String>::new());
    }
    let threshold = b.get("score_threshold").and_then(Json::as_f64).map(|x| x as f32);
    Ok(Search { vector, opts, offset, limit, threshold, selector })
}

/// Runs a search; returns Qdrant `ScoredPoint`s.
fn run(coll: &Collection, q: &Search) -> Result<Json, ApiError> {
    let distance = coll.config().distance;
    let hits = coll.search_with(&q.vector, &q.opts)?;
    let points: Vec<Json> = hits
        .into_iter()
        .skip(q.offset)
        .take(q.limit)
        .map(|h| (score(distance, h.distance), h))
        .filter(|(s, _)| q.threshold.is_none_or(|t| better_or_equal(distance, *s, t)))
        .map(|(s, h)| scored_point(h, s, &q.selector))
        .collect();
    Ok(Json::Array(points))
}

/// Qdrant's score of a Vego distance.
fn score(distance: Distance, d: f32) -> f32 {
    match distance {
        Distance::Cosine => 1.0 - d,
        Distance::InnerProduct => -d,
        Distance::L2 => d,
    }
}

fn better_or_equal(distance: Distance, score: f32, threshold: f32) -> bool {
    match distance {
        Distance::L2 => score <= threshold,
        _ => score >= threshold,
    }
}

fn scored_point(h: Hit, score: f32, sel: &Selector) -> Json {
    let id = PointId::from_doc_id(&h.id).to_json();
    let (version, payload, vector) = match h.document {
        Some(d) => {
            let vector = if d.vector.is_empty() { Json::Null } else { json!(d.vector) };
            (d.version, sel.apply(payload::from_metadata(&d.metadata)).unwrap_or(Json::Null), vector)
        }
        None => (0, Json::Null, Json::Null),
    };
    json!({ "id": id, "version": version, "score": score, "payload": payload, "vector": vector })
}
