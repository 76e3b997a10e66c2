//! Writes that read before they write: delete by filter, set / overwrite /
//! delete / clear payload, upsert with `update_filter` or `update_mode`, and
//! `/points/batch` (update operations applied in order).
//!
//! Each request is planned against one snapshot plus the effect of its own
//! earlier operations, then committed as one batch (one WAL record, one
//! sequence number): all of it or none. While it plans and commits it holds
//! the server's write gate exclusively, so no other request of this server
//! changes a point between the read and the write (plain upserts and deletes
//! by id share the gate among themselves). A request whose net effect both
//! deletes and writes points cannot be one engine batch and is refused
//! (400), as is one that names a point that does not exist (404), in both
//! cases before anything is written.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::{Map, Value as Json};

use super::error::{ok, ApiError, ApiResult};
use super::path::{self, Step};
use super::payload;
use super::point_id::PointId;
use super::points::{documents, point_ids};
use super::{blocking, filter, parse_body, AppState};
use crate::{Collection, Document, Filter, Snapshot};

/// Most operations in one `/points/batch` request.
pub(crate) const BATCH_OPERATIONS_MAX: usize = 1_000;

/// Which points an operation applies to.
pub(crate) enum Selector {
    Ids(Vec<String>),
    Filter(Option<Filter>),
}

/// An upsert's `update_mode`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Upsert,
    InsertOnly,
    UpdateOnly,
}

/// One parsed update operation.
pub(crate) enum Op {
    Upsert { docs: Vec<Document>, update_filter: Option<Filter>, mode: Mode },
    Delete(Selector),
    SetPayload { payload: Map<String, Json>, selector: Selector },
    OverwritePayload { payload: Map<String, Json>, selector: Selector },
    DeletePayload { keys: Vec<Vec<Step>>, selector: Selector },
    ClearPayload(Selector),
}

/// The state of the points a request touched, over its snapshot.
struct Plan {
    snap: Snapshot,
    /// Point id → its state after the operations so far (`None`: absent).
    touched: HashMap<String, Option<Document>>,
}

impl Plan {
    fn new(coll: &Collection) -> Plan {
        Plan { snap: coll.snapshot(), touched: HashMap::new() }
    }

    fn current(&self, id: &str) -> Result<Option<Document>, ApiError> {
        match self.touched.get(id) {
            Some(state) => Ok(state.clone()),
            None => Ok(self.snap.get(id)?),
        }
    }

    /// The ids an operation applies to: the given ones (missing ones too),
    /// or those of the points that match the filter now.
    fn select(&self, sel: &Selector) -> Result<Vec<String>, ApiError> {
        match sel {
            Selector::Ids(ids) => Ok(ids.clone()),
            Selector::Filter(f) => {
                let mut ids: Vec<String> =
                    self.snap.ids(f.as_ref())?.into_iter().filter(|id| !self.touched.contains_key(id)).collect();
                for (id, state) in &self.touched {
                    if let Some(d) = state {
                        if f.as_ref().is_none_or(|f| f.matches_document(id, &d.metadata)) {
                            ids.push(id.clone());
                        }
                    }
                }
                ids.sort();
                Ok(ids)
            }
        }
    }

    /// The existing points of a payload operation, or 404 for the first
    /// missing one (nothing is written then).
    fn existing(&self, sel: &Selector) -> Result<Vec<Document>, ApiError> {
        let mut out = Vec::new();
        for id in self.select(sel)? {
            match self.current(&id)? {
                Some(d) => out.push(d),
                None => {
                    let shown = PointId::from_doc_id(&id).to_json();
                    return Err(ApiError::not_found(format!("Not found: No point with id {shown} found")));
                }
            }
        }
        Ok(out)
    }

    fn set(&mut self, doc: Document) {
        self.touched.insert(doc.id.clone(), Some(doc));
    }

    /// Replaces the payload of `doc` with `f(payload)`.
    fn rewrite_payload(&mut self, mut doc: Document, f: impl FnOnce(&mut Map<String, Json>)) -> Result<(), ApiError> {
        let mut p = match payload::from_metadata(&doc.metadata) {
            Json::Object(m) => m,
            _ => Map::new(),
        };
        f(&mut p);
        doc.metadata = payload::to_metadata(Some(&Json::Object(p)))?;
        self.set(doc);
        Ok(())
    }

    fn apply(&mut self, op: Op) -> Result<(), ApiError> {
        match op {
            Op::Upsert { docs, update_filter, mode } => {
                for doc in docs {
                    let old = self.current(&doc.id)?;
                    let write = match (&old, mode) {
                        (None, Mode::UpdateOnly) | (Some(_), Mode::InsertOnly) => false,
                        (Some(old), _) => {
                            update_filter.as_ref().is_none_or(|f| f.matches_document(&old.id, &old.metadata))
                        }
                        (None, _) => true,
                    };
                    if write {
                        self.set(doc);
                    }
                }
            }
            Op::Delete(sel) => {
                for id in self.select(&sel)? {
                    self.touched.insert(id, None);
                }
            }
            Op::SetPayload { payload, selector } => {
                for doc in self.existing(&selector)? {
                    // Qdrant's merge: top-level keys replaced, a null removes the key.
                    self.rewrite_payload(doc, |p| {
                        for (k, v) in &payload {
                            match v {
                                Json::Null => drop(p.remove(k)),
                                v => drop(p.insert(k.clone(), v.clone())),
                            }
                        }
                    })?;
                }
            }
            Op::OverwritePayload { payload, selector } => {
                for doc in self.existing(&selector)? {
                    self.rewrite_payload(doc, |p| *p = payload.clone())?;
                }
            }
            Op::DeletePayload { keys, selector } => {
                for doc in self.existing(&selector)? {
                    self.rewrite_payload(doc, |p| {
                        let mut whole = Json::Object(std::mem::take(p));
                        keys.iter().for_each(|k| delete_path(&mut whole, k));
                        if let Json::Object(m) = whole {
                            *p = m;
                        }
                    })?;
                }
            }
            Op::ClearPayload(selector) => {
                for doc in self.existing(&selector)? {
                    self.rewrite_payload(doc, Map::clear)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the net effect as one batch.
    fn commit(self, coll: &Collection) -> Result<(), ApiError> {
        let mut puts = Vec::new();
        let mut deletes = Vec::new();
        for (id, state) in self.touched {
            match state {
                Some(doc) => puts.push(doc),
                None if self.snap.get(&id)?.is_some() => deletes.push(id),
                None => {}
            }
        }
        match (puts.is_empty(), deletes.is_empty()) {
            (true, true) => Ok(()),
            (false, true) => Ok(coll.upsert_batch(puts)?),
            (true, false) => Ok(super::points::delete_ids(coll, &deletes)?),
            (false, false) => Err(ApiError::unsupported(
                "a request that both deletes points and writes others (it cannot be one atomic batch); \
                 send the deletes and the writes as separate requests",
            )),
        }
    }
}

/// Qdrant's payload delete of one path: a key removed from its object,
/// `[]` at the end clears an array, a trailing index does nothing.
fn delete_path(v: &mut Json, steps: &[Step]) {
    let Some((first, rest)) = steps.split_first() else { return };
    if rest.is_empty() {
        match (first, v) {
            (Step::Key(k), Json::Object(m)) => drop(m.remove(k)),
            (Step::All, Json::Array(a)) => a.clear(),
            _ => {}
        }
        return;
    }
    match (first, v) {
        (Step::Key(k), Json::Object(m)) => {
            if let Some(x) = m.get_mut(k) {
                delete_path(x, rest);
            }
        }
        (Step::Index(i), Json::Array(a)) => {
            if let Some(x) = usize::try_from(*i).ok().and_then(|i| a.get_mut(i)) {
                delete_path(x, rest);
            }
        }
        (Step::All, Json::Array(a)) => a.iter_mut().for_each(|x| delete_path(x, rest)),
        _ => {}
    }
}

// --------------------------------------------------------------------------
// Parsing

/// `{"points": [ids]}` (wins, and must not be empty) or `{"filter": …}`.
fn selector(o: &Map<String, Json>) -> Result<Selector, ApiError> {
    if let Some(points) = o.get("points").filter(|p| !p.is_null()) {
        let ids = point_ids(Some(points))?;
        if ids.is_empty() {
            return Err(ApiError::bad_request("Bad Request: empty list of point ids"));
        }
        return Ok(Selector::Ids(ids.iter().map(PointId::doc_id).collect()));
    }
    match o.get("filter") {
        Some(f) if !f.is_null() => Ok(Selector::Filter(filter::parse(Some(f))?)),
        _ => Err(ApiError::bad_request("Bad Request: either \"points\" or \"filter\" is required")),
    }
}

fn refuse_shard_key(o: &Map<String, Json>) -> Result<(), ApiError> {
    match o.get("shard_key") {
        Some(v) if !v.is_null() => Err(ApiError::unsupported("shard keys")),
        _ => Ok(()),
    }
}

fn payload_object(o: &Map<String, Json>) -> Result<Map<String, Json>, ApiError> {
    match o.get("payload") {
        Some(Json::Object(p)) => Ok(p.clone()),
        other => {
            Err(ApiError::bad_request(format!("\"payload\" must be an object, got {}", other.unwrap_or(&Json::Null))))
        }
    }
}

fn set_payload_op(o: &Map<String, Json>) -> Result<Op, ApiError> {
    refuse_shard_key(o)?;
    if o.get("key").is_some_and(|k| !k.is_null()) {
        return Err(ApiError::unsupported("set_payload with \"key\" (set the whole top-level key instead)"));
    }
    Ok(Op::SetPayload { payload: payload_object(o)?, selector: selector(o)? })
}

fn overwrite_payload_op(o: &Map<String, Json>) -> Result<Op, ApiError> {
    refuse_shard_key(o)?;
    if o.get("key").is_some_and(|k| !k.is_null()) {
        return Err(ApiError::unsupported("overwrite_payload with \"key\""));
    }
    Ok(Op::OverwritePayload { payload: payload_object(o)?, selector: selector(o)? })
}

fn delete_payload_op(o: &Map<String, Json>) -> Result<Op, ApiError> {
    refuse_shard_key(o)?;
    let keys = o
        .get("keys")
        .and_then(Json::as_array)
        .ok_or_else(|| ApiError::bad_request("delete_payload needs \"keys\": a list of payload paths"))?;
    let keys = keys
        .iter()
        .map(|k| k.as_str().ok_or_else(|| ApiError::bad_request("payload keys must be strings")).and_then(path::parse))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Op::DeletePayload { keys, selector: selector(o)? })
}

fn selector_op(o: &Map<String, Json>) -> Result<Selector, ApiError> {
    refuse_shard_key(o)?;
    selector(o)
}

/// An upsert: the points, `update_filter` and `update_mode`.
pub(crate) fn upsert_op(o: &Map<String, Json>, distance: crate::Distance) -> Result<Op, ApiError> {
    refuse_shard_key(o)?;
    let docs = documents(o, distance)?;
    let update_filter = filter::parse(o.get("update_filter"))?;
    let mode = match o.get("update_mode") {
        None | Some(Json::Null) => Mode::Upsert,
        Some(Json::String(m)) if m == "upsert" => Mode::Upsert,
        Some(Json::String(m)) if m == "insert_only" => Mode::InsertOnly,
        Some(Json::String(m)) if m == "update_only" => Mode::UpdateOnly,
        Some(other) => return Err(ApiError::bad_request(format!("unknown update_mode {other}"))),
    };
    Ok(Op::Upsert { docs, update_filter, mode })
}

/// Whether an upsert body needs the read-before-write path.
pub(crate) fn is_conditional(o: &Map<String, Json>) -> bool {
    o.get("update_filter").is_some_and(|v| !v.is_null())
        || o.get("update_mode").is_some_and(|v| !v.is_null() && v.as_str() != Some("upsert"))
}

fn batch_op(v: &Json, distance: crate::Distance) -> Result<Op, ApiError> {
    let Some(o) = v.as_object().filter(|o| o.len() == 1) else {
        return Err(ApiError::bad_request(format!("an update operation is an object with one key, got {v}")));
    };
    let (kind, body) = o.iter().next().expect("one key");
    let body = body.as_object().ok_or_else(|| ApiError::bad_request(format!("{kind} must be an object")))?;
    match kind.as_str() {
        "upsert" => upsert_op(body, distance),
        "delete" => Ok(Op::Delete(selector_op(body)?)),
        "set_payload" => set_payload_op(body),
        "overwrite_payload" => overwrite_payload_op(body),
        "delete_payload" => delete_payload_op(body),
        "clear_payload" => Ok(Op::ClearPayload(selector_op(body)?)),
        "update_vectors" | "delete_vectors" => {
            Err(ApiError::unsupported(format!("{kind} (upsert the whole point instead)")))
        }
        other => Err(ApiError::bad_request(format!("unknown update operation {other:?}"))),
    }
}

// --------------------------------------------------------------------------
// Endpoints

/// Plans and commits `ops` under the exclusive write gate.
pub(crate) async fn run(s: &AppState, coll: Collection, ops: Vec<Op>) -> Result<(), ApiError> {
    let gate = s.write_gate.clone();
    blocking(move || {
        let _exclusive = gate.write();
        let mut plan = Plan::new(&coll);
        for op in ops {
            plan.apply(op)?;
        }
        plan.commit(&coll)
    })
    .await
}

async fn one(
    s: State<AppState>,
    name: String,
    body: Bytes,
    parse: fn(&Map<String, Json>) -> Result<Op, ApiError>,
) -> ApiResult {
    let t = Instant::now();
    let coll = s.collection(&name)?;
    let op = parse(&parse_body(&body)?)?;
    run(&s, coll, vec![op]).await?;
    Ok(ok(s.update_result(), t))
}

/// `POST /collections/{name}/points/payload`: merge into the payload.
pub(crate) async fn set_payload(s: State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    one(s, name, body, set_payload_op).await
}

/// `PUT /collections/{name}/points/payload`: replace the payload.
pub(crate) async fn overwrite_payload(s: State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    one(s, name, body, overwrite_payload_op).await
}

/// `POST /collections/{name}/points/payload/delete`: remove payload paths.
pub(crate) async fn delete_payload(s: State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    one(s, name, body, delete_payload_op).await
}

/// `POST /collections/{name}/points/payload/clear`: empty the payload.
pub(crate) async fn clear_payload(s: State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    one(s, name, body, |o| Ok(Op::ClearPayload(selector_op(o)?))).await
}

/// `POST /collections/{name}/points/batch`: `{"operations": [...]}`, in
/// order, as one atomic write; answers one result per operation.
pub(crate) async fn batch(State(s): State<AppState>, Path(name): Path<String>, body: Bytes) -> ApiResult {
    let t = Instant::now();
    let coll = s.collection(&name)?;
    let body = parse_body(&body)?;
    let list = body
        .get("operations")
        .and_then(Json::as_array)
        .ok_or_else(|| ApiError::bad_request("\"operations\" must be a list"))?;
    if list.len() > BATCH_OPERATIONS_MAX {
        return Err(ApiError::bad_request(format!(
            "{} operations in one batch, limit {BATCH_OPERATIONS_MAX}",
            list.len()
        )));
    }
    let distance = coll.config().distance;
    let ops = list.iter().map(|op| batch_op(op, distance)).collect::<Result<Vec<_>, _>>()?;
    let n = ops.len();
    run(&s, coll, ops).await?;
    let results: Vec<Json> = (0..n).map(|_| s.update_result()).collect();
    Ok(ok(Json::Array(results), t))
}

/// Deletes the points matching a filter (read before write: planned under
/// the exclusive gate like the rest).
pub(crate) async fn delete_by_filter(s: &AppState, coll: Collection, f: Option<Filter>) -> Result<(), ApiError> {
    run(s, coll, vec![Op::Delete(Selector::Filter(f))]).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn delete_path_follows_qdrant() {
        let del = |v: Json, p: &str| {
            let mut v = v;
            delete_path(&mut v, &path::parse(p).unwrap());
            v
        };
        assert_eq!(del(json!({"a": {"b": 1, "c": 2}}), "a.b"), json!({"a": {"c": 2}}));
        assert_eq!(del(json!({"a": [{"b": 1}, {"b": 2, "c": 3}]}), "a[].b"), json!({"a": [{}, {"c": 3}]}));
        assert_eq!(del(json!({"a": [1, 2]}), "a[]"), json!({"a": []}));
        assert_eq!(del(json!({"a": [1, 2]}), "a[0]"), json!({"a": [1, 2]}), "a trailing index does nothing");
        assert_eq!(del(json!({"a": [{"b": 1}]}), "a[0].b"), json!({"a": [{}]}));
        assert_eq!(del(json!({"a": 1}), "x.y"), json!({"a": 1}));
    }
}
