//! Nearest-neighbour endpoints: `points/query` (and its batch form) and the
//! older `points/search` (and its batch form).
//!
//! Scores follow Qdrant: cosine similarity for Cosine, the dot product for
//! Dot (larger is closer), the Euclidean distance for Euclid (smaller is
//! closer). `score_threshold` keeps scores strictly better than it.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{json, Map, Value as Json};

use super::error::{ok, ApiError, ApiResult};
use super::payload::{self, Selector};
use super::point_id::PointId;
use super::points::{f32_json, f32s_json, vector_of, with_vector};
use super::{blocking, filter, parse_body, AppState};
use crate::model::limits::{EF_MAX, K_MAX};
use crate::{Collection, Distance, Hit, SearchOptions};

/// Most searches in one batch request.
pub(crate) const SEARCH_BATCH_MAX: usize = 1_000;

/// One parsed search.
struct Search {
    vector: Vec<f32>,
    opts: SearchOptions,
    offset: usize,
    limit: usize,
    threshold: Option<f64>,
    selector: Selector,
    with_vector: bool,
    mmr: Option<Mmr>,
}

/// Maximal marginal relevance re-ranking (Qdrant's `mmr`): from the
/// `candidates` nearest points, pick greedily the one maximising
/// `(1 − diversity) · sim(query, p) − diversity · max sim(p, picked)`.
#[derive(Clone, Copy, Debug)]
struct Mmr {
    diversity: f32,
    candidates: usize,
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
    let (vector, mmr) = match b.get("query") {
        Some(Json::Object(o)) if o.contains_key("nearest") => {
            if let Some(k) = o.keys().find(|k| *k != "nearest" && *k != "mmr") {
                return Err(ApiError::bad_request(format!("query: unknown field {k:?} beside \"nearest\"")));
            }
            (vector_of(&o["nearest"])?, o.get("mmr").filter(|m| !m.is_null()))
        }
        Some(v @ Json::Array(_)) => (vector_of(v)?, None),
        Some(Json::Null) | None => return Err(ApiError::unsupported("query without a query vector")),
        Some(other) => {
            return Err(ApiError::unsupported(format!("query {other} (a vector or {{\"nearest\": vector}} only)")))
        }
    };
    let mut search = common(b, vector, "limit")?;
    if let Some(m) = mmr {
        search.mmr = Some(parse_mmr(m, search.limit)?);
        // The re-ranking needs the candidates' vectors.
        search.opts = search.opts.include_vector(true);
        search.opts.k = search.mmr.expect("just set").candidates;
    }
    Ok(search)
}

/// Most candidates an MMR re-ranking may consider (it compares every pair).
pub(crate) const MMR_CANDIDATES_MAX: usize = 16_384;

fn parse_mmr(m: &Json, limit: usize) -> Result<Mmr, ApiError> {
    let Json::Object(o) = m else {
        return Err(ApiError::bad_request(format!("mmr must be an object, got {m}")));
    };
    if let Some(k) = o.keys().find(|k| *k != "diversity" && *k != "candidates_limit") {
        return Err(ApiError::bad_request(format!("mmr: unknown field {k:?}")));
    }
    let diversity = match o.get("diversity") {
        None | Some(Json::Null) => 0.5,
        Some(v) => v
            .as_f64()
            .filter(|d| (0.0..=1.0).contains(d))
            .ok_or_else(|| ApiError::bad_request(format!("mmr.diversity must be a number in [0, 1], got {v}")))?,
    };
    let candidates = match uint(o, "candidates_limit", "mmr.candidates_limit")? {
        None => limit,
        Some(0) => return Err(ApiError::bad_request("mmr.candidates_limit must be at least 1")),
        Some(n) if n <= MMR_CANDIDATES_MAX => n,
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "mmr.candidates_limit {n} is above the limit of {MMR_CANDIDATES_MAX}"
            )))
        }
    };
    Ok(Mmr { diversity: diversity as f32, candidates })
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
    if b.contains_key("top") && b.contains_key("limit") {
        return Err(ApiError::bad_request("search: \"top\" is another name of \"limit\"; give one of them"));
    }
    common(b, vector, if b.contains_key("top") { "top" } else { "limit" })
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

/// An optional non-negative integer field (absent or null: `None`); anything
/// else (`3.0`, `-1`, `"3"`, `1e12`) is a 400, as Qdrant's parser answers.
pub(crate) fn uint(b: &Map<String, Json>, key: &str, what: &str) -> Result<Option<usize>, ApiError> {
    match b.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) if n.is_u64() => usize::try_from(n.as_u64().expect("checked"))
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("{what}: {n} is too large"))),
        Some(other) => Err(ApiError::bad_request(format!("{what} must be a non-negative integer, got {other}"))),
    }
}

fn common(b: &Map<String, Json>, vector: Vec<f32>, limit_key: &str) -> Result<Search, ApiError> {
    let limit = uint(b, limit_key, limit_key)?.unwrap_or(10);
    let offset = uint(b, "offset", "offset")?.unwrap_or(0);
    if limit == 0 || limit.saturating_add(offset) > K_MAX {
        return Err(ApiError::bad_request(format!("{limit_key} must be ≥ 1 and {limit_key} + offset ≤ {K_MAX}")));
    }
    let mut opts = SearchOptions::new(limit + offset);
    if let Some(f) = filter::parse(b.get("filter"))? {
        opts = opts.filter(f);
    }
    match b.get("params") {
        None | Some(Json::Null) => {}
        Some(Json::Object(p)) => opts = search_params(p, opts)?,
        Some(other) => return Err(ApiError::bad_request(format!("params must be an object, got {other}"))),
    }
    let selector = Selector::parse(b.get("with_payload"), false)?;
    let with_vector = with_vector(b.get("with_vector"))?;
    opts = opts.include_vector(with_vector);
    if !selector.wants_payload() {
        // Documents without metadata still carry the version ScoredPoint reports.
        opts = opts.fields(Vec::<String>::new());
    }
    let threshold = match b.get("score_threshold") {
        None | Some(Json::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| ApiError::bad_request(format!("score_threshold must be a number, got {v}")))?,
        ),
    };
    Ok(Search { vector, opts, offset, limit, threshold, selector, with_vector, mmr: None })
}

/// `params`: `hnsw_ef` (1..; above `EF_MAX` it is `EF_MAX`), `exact` (a
/// brute-force scan), `quantization` (int8 searches always re-score with
/// the full vectors), `indexed_only` (every point is indexed). Anything else
/// is refused.
fn search_params(p: &Map<String, Json>, mut opts: SearchOptions) -> Result<SearchOptions, ApiError> {
    for (k, v) in p {
        match (k.as_str(), v) {
            (_, Json::Null) => {}
            ("hnsw_ef", _) => match uint(p, "hnsw_ef", "params.hnsw_ef")? {
                Some(0) | None => return Err(ApiError::bad_request("params.hnsw_ef must be at least 1")),
                Some(ef) => opts = opts.ef(ef.min(EF_MAX)),
            },
            ("exact", Json::Bool(b)) => opts = opts.exact(*b),
            ("indexed_only", Json::Bool(_)) => {}
            ("quantization", Json::Object(q)) => {
                for (qk, qv) in q {
                    match (qk.as_str(), qv) {
                        (_, Json::Null) | ("ignore" | "rescore", Json::Bool(_)) => {}
                        ("oversampling", Json::Number(n)) if n.as_f64().is_some_and(|x| x >= 1.0) => {}
                        _ => return Err(ApiError::bad_request(format!("params.quantization.{qk}: bad value {qv}"))),
                    }
                }
            }
            (other, v) => return Err(ApiError::unsupported(format!("search params {other}={v}"))),
        }
    }
    Ok(opts)
}

/// Runs a search; returns Qdrant `ScoredPoint`s.
fn run(coll: &Collection, q: &Search) -> Result<Json, ApiError> {
    let distance = coll.config().distance;
    let hits = coll.search_with(&q.vector, &q.opts)?;
    let scored = hits
        .into_iter()
        .map(|h| (score(distance, h.distance), h))
        .filter(|(s, _)| q.threshold.is_none_or(|t| better(distance, *s, t)));
    let chosen: Vec<(f32, Hit)> = match q.mmr {
        None => scored.skip(q.offset).take(q.limit).collect(),
        Some(m) => mmr(distance, &q.vector, scored.collect(), m.diversity, q.limit + q.offset)
            .into_iter()
            .skip(q.offset)
            .collect(),
    };
    let points = chosen.into_iter().map(|(s, h)| scored_point(h, s, &q.selector, q.with_vector)).collect();
    Ok(Json::Array(points))
}

/// Qdrant's similarity between two vectors for MMR (larger is more
/// similar): cosine (vectors are stored unit length), dot product, or the
/// negated squared Euclidean distance.
fn similarity(distance: Distance, a: &[f32], b: &[f32]) -> f32 {
    match distance {
        Distance::Cosine | Distance::InnerProduct => a.iter().zip(b).map(|(x, y)| x * y).sum(),
        Distance::L2 => -a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>(),
    }
}

/// Maximal marginal relevance over `candidates` (nearest first), as Qdrant
/// computes it: the most relevant first, then repeatedly the candidate with
/// the best `λ · relevance − (1 − λ) · max similarity to those picked`,
/// `λ = 1 − diversity`; ties go to the candidate visited last, visiting in
/// the order a swap-remove of the picked one leaves (Qdrant's `IndexSet`).
fn mmr(
    distance: Distance,
    query: &[f32],
    candidates: Vec<(f32, Hit)>,
    diversity: f32,
    limit: usize,
) -> Vec<(f32, Hit)> {
    if candidates.is_empty() {
        return Vec::new();
    }
    let mut query = query.to_vec();
    if distance == Distance::Cosine {
        crate::hnsw::normalize(&mut query);
    }
    let vectors: Vec<&[f32]> =
        candidates.iter().map(|(_, h)| h.document.as_ref().map_or(&[][..], |d| &d.vector[..])).collect();
    let relevance: Vec<f32> = vectors.iter().map(|v| similarity(distance, &query, v)).collect();
    let lambda = 1.0 - diversity;
    let last_argmax = |xs: &[f32]| (0..xs.len()).fold(0, |best, i| if xs[i] >= xs[best] { i } else { best });
    let mut pending: Vec<usize> = (0..candidates.len()).collect();
    let first = last_argmax(&pending.iter().map(|&i| relevance[i]).collect::<Vec<_>>());
    let mut picked = vec![pending.swap_remove(first)];
    // Per pending candidate: its largest similarity to a picked one so far.
    let mut closest: Vec<f32> = vec![f32::NEG_INFINITY; candidates.len()];
    while picked.len() < limit && !pending.is_empty() {
        let last = *picked.last().expect("one picked");
        let scores: Vec<f32> = pending
            .iter()
            .map(|&i| {
                closest[i] = closest[i].max(similarity(distance, vectors[i], vectors[last]));
                lambda * relevance[i] - (1.0 - lambda) * closest[i]
            })
            .collect();
        picked.push(pending.swap_remove(last_argmax(&scores)));
    }
    let mut slots: Vec<Option<(f32, Hit)>> = candidates.into_iter().map(Some).collect();
    picked.into_iter().map(|i| slots[i].take().expect("picked once")).collect()
}

/// Qdrant's score of a Vego distance.
fn score(distance: Distance, d: f32) -> f32 {
    match distance {
        Distance::Cosine => 1.0 - d,
        Distance::InnerProduct => -d,
        Distance::L2 => d,
    }
}

/// Is `score` strictly better than `threshold` (as Qdrant keeps them)?
fn better(distance: Distance, score: f32, threshold: f64) -> bool {
    match distance {
        Distance::L2 => f64::from(score) < threshold,
        _ => f64::from(score) > threshold,
    }
}

fn scored_point(h: Hit, score: f32, sel: &Selector, with_vector: bool) -> Json {
    let id = PointId::from_doc_id(&h.id).to_json();
    let (version, payload, vector) = match h.document {
        Some(d) => {
            let vector = if with_vector && !d.vector.is_empty() { f32s_json(&d.vector) } else { Json::Null };
            (d.version, sel.apply(payload::from_metadata(&d.metadata)).unwrap_or(Json::Null), vector)
        }
        None => (0, Json::Null, Json::Null),
    };
    json!({ "id": id, "version": version, "score": f32_json(score), "payload": payload, "vector": vector })
}
