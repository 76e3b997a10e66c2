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
    let declared = s.payload_indexes.lock().get(&name).cloned().unwrap_or_default();
    let (stats, payload_schema) = blocking(move || {
        // Each declared field with the number of points that hold a value there.
        let mut schema = Map::new();
        for (field, decl) in declared {
            let points = match crate::server::filter::non_empty(&field) {
                Some(f) => coll.snapshot().count(Some(&f))?,
                None => 0,
            };
            let mut entry = decl;
            entry["points"] = json!(points);
            schema.insert(field, entry);
        }
        Ok((coll.stats(), Json::Object(schema)))
    })
    .await?;
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
        "payload_schema": payload_schema,
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
    let indexes = s.payload_indexes.clone();
    let existed = blocking(move || {
        let existed = s.db.drop_collection(&name)?;
        indexes.lock().remove(&name);
        Ok(existed)
    })
    .await?;
    Ok(ok(Json::Bool(existed), t))
}

/// `PUT /collections/{name}/index` (`{"field_name", "field_schema"}`):
/// records the declaration, which `payload_schema` then reports. Every
/// payload path is filterable already (stored as its own metadata field,
/// zone-mapped per segment page), so nothing else changes; declarations
/// live as long as the server process.
pub(crate) async fn create_payload_index(
    State(s): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let t = Instant::now();
    s.collection(&name)?;
    let body = parse_body(&body)?;
    let field = body
        .get("field_name")
        .and_then(Json::as_str)
        .ok_or_else(|| ApiError::bad_request("\"field_name\" must be a string"))?;
    crate::server::path::parse(field)?;
    let schema = match body.get("field_schema") {
        None | Some(Json::Null) => json!({ "data_type": "keyword" }),
        Some(Json::String(kind)) => json!({ "data_type": kind }),
        Some(Json::Object(p)) => match p.get("type").and_then(Json::as_str) {
            Some(kind) => json!({ "data_type": kind, "params": p }),
            None => return Err(ApiError::bad_request("field_schema needs a \"type\"")),
        },
        Some(other) => return Err(ApiError::bad_request(format!("field_schema: bad value {other}"))),
    };
    s.payload_indexes.lock().entry(name).or_default().insert(field.to_owned(), schema);
    Ok(ok(s.update_result(), t))
}

/// `DELETE /collections/{name}/index/{field}`: forgets the declaration.
pub(crate) async fn delete_payload_index(
    State(s): State<AppState>,
    Path((name, field)): Path<(String, String)>,
) -> ApiResult {
    let t = Instant::now();
    s.collection(&name)?;
    if let Some(fields) = s.payload_indexes.lock().get_mut(&name) {
        fields.remove(&field);
    }
    Ok(ok(s.update_result(), t))
}

/// Options that tune Qdrant's storage or optimizer and never change an
/// answer: accepted (when well-typed) and without effect here.
const TUNING_ONLY: [(&str, &[&str]); 3] = [
    (
        "optimizers_config",
        &[
            "deleted_threshold",
            "vacuum_min_vector_number",
            "default_segment_number",
            "max_segment_size",
            "memmap_threshold",
            "indexing_threshold",
            "flush_interval_sec",
            "max_optimization_threads",
        ],
    ),
    ("wal_config", &["wal_capacity_mb", "wal_segments_ahead", "wal_retain_closed"]),
    ("hnsw_config", &["m", "ef_construct", "full_scan_threshold", "max_indexing_threads", "on_disk", "payload_m"]),
];

/// Checks that `o` (the object at `what`) has only `allowed` keys, each a
/// number or boolean (or null).
fn only_keys(what: &str, o: &Json, allowed: &[&str]) -> Result<(), ApiError> {
    let Json::Object(o) = o else {
        return Err(ApiError::bad_request(format!("{what} must be an object, got {o}")));
    };
    for (k, v) in o {
        if !allowed.contains(&k.as_str()) {
            return Err(ApiError::unsupported(format!("{what}.{k}")));
        }
        if !(v.is_null() || v.is_number() || v.is_boolean()) {
            return Err(ApiError::bad_request(format!("{what}.{k}: bad value {v}")));
        }
    }
    Ok(())
}

/// A positive integer option, or absent.
fn positive(body: &Map<String, Json>, key: &str) -> Result<Option<u64>, ApiError> {
    match body.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => match v.as_u64().filter(|&n| n > 0) {
            Some(n) => Ok(Some(n)),
            None => Err(ApiError::bad_request(format!("{key} must be a positive integer, got {v}"))),
        },
    }
}

/// A collection's configuration from a create request. Refuses what Vego
/// does not do (named or sparse vectors, Manhattan distance, product or
/// binary quantization, strict mode, `init_from`, …) instead of ignoring it.
fn config(body: &Map<String, Json>) -> Result<CollectionConfig, ApiError> {
    const TOP: [&str; 14] = [
        "vectors",
        "shard_number",
        "replication_factor",
        "write_consistency_factor",
        "on_disk_payload",
        "hnsw_config",
        "wal_config",
        "optimizers_config",
        "quantization_config",
        "sparse_vectors",
        "strict_mode_config",
        "init_from",
        "sharding_method",
        "metadata",
    ];
    if let Some(k) = body.keys().find(|k| !TOP.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("create collection: unknown field {k:?}")));
    }
    let vectors = match body.get("vectors") {
        Some(Json::Object(v)) if v.contains_key("size") => v,
        // The unnamed vector spelled as a name (langchain-qdrant's `from_texts`).
        Some(Json::Object(v)) if v.len() == 1 && v.get("").is_some_and(|u| u.get("size").is_some()) => {
            v[""].as_object().expect("checked")
        }
        Some(Json::Object(_)) => {
            return Err(ApiError::unsupported("named vectors (use one unnamed vector: {\"size\", \"distance\"})"))
        }
        _ => return Err(ApiError::bad_request("create collection: \"vectors\": {\"size\", \"distance\"} is required")),
    };
    const VECTOR_KEYS: [&str; 7] =
        ["size", "distance", "hnsw_config", "quantization_config", "on_disk", "datatype", "multivector_config"];
    if let Some(k) = vectors.keys().find(|k| !VECTOR_KEYS.contains(&k.as_str())) {
        return Err(ApiError::unsupported(format!("vectors.{k}")));
    }
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
    if vectors.get("on_disk").is_some_and(|v| !v.is_null() && !v.is_boolean()) {
        return Err(ApiError::bad_request("vectors.on_disk must be a boolean"));
    }
    if vectors.get("multivector_config").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::unsupported("multivector_config"));
    }
    match body.get("sparse_vectors") {
        None | Some(Json::Null) => {}
        Some(Json::Object(o)) if o.is_empty() => {}
        Some(_) => return Err(ApiError::unsupported("sparse_vectors")),
    }
    match body.get("strict_mode_config") {
        None | Some(Json::Null) => {}
        Some(Json::Object(o)) if o.is_empty() || (o.len() == 1 && o.get("enabled") == Some(&Json::Bool(false))) => {}
        Some(_) => return Err(ApiError::unsupported("strict_mode_config")),
    }
    for refused in ["init_from", "metadata"] {
        if body.get(refused).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::unsupported(refused));
        }
    }
    match body.get("sharding_method") {
        None | Some(Json::Null) => {}
        Some(Json::String(m)) if m == "auto" => {}
        Some(_) => return Err(ApiError::unsupported("sharding_method")),
    }
    for key in ["shard_number", "replication_factor", "write_consistency_factor"] {
        positive(body, key)?;
    }
    if body.get("on_disk_payload").is_some_and(|v| !v.is_null() && !v.is_boolean()) {
        return Err(ApiError::bad_request("on_disk_payload must be a boolean"));
    }
    for (key, allowed) in TUNING_ONLY {
        for at in [body.get(key), vectors.get(key)].into_iter().flatten().filter(|v| !v.is_null()) {
            only_keys(key, at, allowed)?;
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
