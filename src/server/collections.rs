//! Collection endpoints: list, create, get (info), exists, delete.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{json, Map, Value as Json};

use super::error::{ok, ApiError, ApiResult};
use super::{blocking, parse_body, AppState};
use crate::{CollectionConfig, Distance, Durability, Quantization};

/// `GET /collections`
pub(crate) async fn list(State(s): State<AppState>) -> ApiResult {
    let t = Instant::now();
    let names: Vec<Json> = s.db.collections().into_iter().map(|n| json!({ "name": n })).collect();
    Ok(ok(json!({ "collections": names }), t))
}

/// `PUT /collections/{name}`
pub(crate) async fn create(State(s): State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let t = Instant::now();
    let cfg = config(&parse_body(&body)?)?;
    blocking(move || {
        s.db.create_collection(&name, cfg).map_err(|e| match e {
            crate::Error::AlreadyExists(_) => {
                ApiError::from(e).with_message(format!("Wrong input: Collection `{name}` already exists!"))
            }
            e => e.into(),
        })
    })
    .await?;
    Ok(ok(Json::Bool(true), t))
}

/// `GET /collections/{name}`
pub(crate) async fn info(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let t = Instant::now();
    let coll = s.collection(&name)?;
    let stats = blocking(move || Ok(coll.stats())).await?;
    let quantization = match stats.quantization {
        Quantization::Int8 => json!({ "scalar": { "type": "int8", "always_ram": true } }),
        _ => Json::Null,
    };
    let info = json!({
        "status": "green",
        "optimizer_status": "ok",
        "indexed_vectors_count": stats.documents,
        "points_count": stats.documents,
        // The active memtable counts as one, as Qdrant's appendable segment does.
        "segments_count": stats.segments + 1,
        "config": {
            "params": {
                "vectors": { "size": stats.dimension, "distance": distance_name(stats.distance) },
                "shard_number": 1,
                "replication_factor": 1,
                "write_consistency_factor": 1,
                "on_disk_payload": true,
            },
            "hnsw_config": {
                "m": stats.m,
                "ef_construct": stats.ef_construction,
                "full_scan_threshold": 10_000,
                "max_indexing_threads": 0,
                "on_disk": false,
            },
            "optimizer_config": {
                "deleted_threshold": 0.2,
                "vacuum_min_vector_number": 1000,
                "default_segment_number": 0,
                "flush_interval_sec": 5,
            },
            "quantization_config": quantization,
        },
        "payload_schema": {},
    });
    Ok(ok(info, t))
}

/// `GET /collections/{name}/exists`
pub(crate) async fn exists(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let t = Instant::now();
    let exists = s.db.get_collection(&name)?.is_some();
    Ok(ok(json!({ "exists": exists }), t))
}

/// `DELETE /collections/{name}`
pub(crate) async fn delete(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let t = Instant::now();
    let existed = blocking(move || Ok(s.db.drop_collection(&name)?)).await?;
    Ok(ok(Json::Bool(existed), t))
}

/// `PUT /collections/{name}/index` and `DELETE …/index/{field}`: accepted
/// and nothing to do. Every payload path is already filterable (stored as
/// its own metadata field, zone-mapped per segment page), so clients that
/// declare payload indexes before filtering work unchanged.
pub(crate) async fn payload_index(State(s): State<AppState>, Path(params): Path<Vec<(String, String)>>) -> ApiResult {
    let t = Instant::now();
    let name = params.iter().find(|(k, _)| k == "name").map(|(_, v)| v.as_str()).unwrap_or_default();
    s.collection(name)?;
    Ok(ok(s.update_result(), t))
}

/// A collection's configuration from a create request. Refuses what Vego
/// does not do (named or sparse vectors, Manhattan distance, product or
/// binary quantization) instead of ignoring it.
fn config(body: &Map<String, Json>) -> Result<CollectionConfig, ApiError> {
    let vectors = match body.get("vectors") {
        Some(Json::Object(v)) if v.contains_key("size") => v,
        Some(Json::Object(_)) => {
            return Err(ApiError::unsupported("named vectors (use one unnamed vector: {\"size\", \"distance\"})"))
        }
        _ => return Err(ApiError::bad_request("create collection: \"vectors\": {\"size\", \"distance\"} is required")),
    };
    let size = vectors.get("size").and_then(Json::as_u64).filter(|&n| n > 0);
    let size = size.ok_or_else(|| ApiError::bad_request("vectors.size must be a positive integer"))?;
    let distance = match vectors.get("distance").and_then(Json::as_str) {
        Some("Cosine") => Distance::Cosine,
        Some("Euclid") => Distance::L2,
        Some("Dot") => Distance::InnerProduct,
        Some("Manhattan") => return Err(ApiError::unsupported("Manhattan distance (use Cosine, Euclid or Dot)")),
        other => return Err(ApiError::bad_request(format!("vectors.distance: unknown distance {other:?}"))),
    };
    if let Some(dt) = vectors.get("datatype").and_then(Json::as_str).filter(|d| *d != "float32") {
        return Err(ApiError::unsupported(format!("vector datatype {dt:?} (float32 only)")));
    }
    for unsupported in ["multivector_config", "sparse_vectors", "sharding_method"] {
        let field = vectors.get(unsupported).or_else(|| body.get(unsupported));
        if field.is_some_and(|v| !v.is_null()) {
            return Err(ApiError::unsupported(unsupported));
        }
    }
    let dimension = usize::try_from(size).map_err(|_| ApiError::bad_request("vectors.size is too large"))?;
    let mut cfg = CollectionConfig::new(dimension).distance(distance).durability(Durability::Sync);
    let hnsw = vectors.get("hnsw_config").or_else(|| body.get("hnsw_config"));
    if let Some(m) = hnsw.and_then(|h| h.get("m")).and_then(Json::as_u64) {
        cfg = cfg.m(m as usize);
    }
    if let Some(ef) = hnsw.and_then(|h| h.get("ef_construct")).and_then(Json::as_u64) {
        cfg = cfg.ef_construction(ef as usize);
    }
    let quantization = vectors.get("quantization_config").or_else(|| body.get("quantization_config"));
    match quantization {
        None | Some(Json::Null) => {}
        Some(q) if q.get("scalar").and_then(|s| s.get("type")).and_then(Json::as_str) == Some("int8") => {
            cfg = cfg.quantization(Quantization::Int8);
        }
        Some(q) => return Err(ApiError::unsupported(format!("quantization {q} (scalar int8 only)"))),
    }
    Ok(cfg)
}

/// Qdrant's name of a distance.
fn distance_name(d: Distance) -> &'static str {
    match d {
        Distance::Cosine => "Cosine",
        Distance::L2 => "Euclid",
        Distance::InnerProduct => "Dot",
    }
}
