//! Qdrant filters translated to Vego filters.
//!
//! `must` → and, `should` → or, `must_not` → not(or); conditions: `match`
//! (`value`, `any`, `except`), `range` (`gt`, `gte`, `lt`, `lte`),
//! `is_null`, `is_empty`, `has_id`, and nested filters. Keys are payload
//! paths, parsed as Qdrant parses them (`path.rs`) and read from the fields
//! `payload.rs` indexes, with Qdrant's meaning (qdrant-client's local mode,
//! `payload_filters.py`): `match` and `range` test the values the path
//! selects with arrays flattened one level; `is_empty` holds when every
//! selected value is null or `[]`; `is_null` when one is null or an array
//! with a null element. Paths with an index (`a[0]`), a trailing `[]` or
//! `[][]` are refused, as is anything else unsupported: a silently dropped
//! condition returns wrong rows, and a wrong filter deletes the wrong points.

use std::ops::Bound;

use serde_json::{Map, Value as Json};

use super::error::ApiError;
use super::path::{self, Step};
use super::payload::{flags_field, is_filterable_path, scalar_value, INDEXED_STRING_BYTES_MAX, NONEMPTY, NULL, OTHER};
use super::point_id::PointId;
use crate::model::limits::NESTING_MAX;
use crate::{Filter, Value};

/// The filter of a request (`None` when absent or empty: everything matches).
pub(crate) fn parse(v: Option<&Json>) -> Result<Option<Filter>, ApiError> {
    match v {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Object(o)) => filter(o, 0),
        Some(other) => Err(ApiError::bad_request(format!("filter must be an object, got {other}"))),
    }
}

fn filter(o: &Map<String, Json>, depth: usize) -> Result<Option<Filter>, ApiError> {
    if depth > NESTING_MAX {
        return Err(ApiError::bad_request(format!("filter nested deeper than {NESTING_MAX}")));
    }
    let mut parts = Vec::new();
    for (k, v) in o {
        match k.as_str() {
            "must" => parts.extend(conditions(v, depth)?),
            "should" => {
                let any = conditions(v, depth)?;
                if !any.is_empty() {
                    parts.push(Filter::Or(any));
                }
            }
            "must_not" => {
                let none = conditions(v, depth)?;
                if !none.is_empty() {
                    parts.push(Filter::Or(none).not());
                }
            }
            "min_should" if v.is_null() => {}
            other => return Err(ApiError::unsupported(format!("filter clause {other:?}"))),
        }
    }
    Ok(match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Filter::And(parts)),
    })
}

/// A clause's conditions: one condition or a list of them.
fn conditions(v: &Json, depth: usize) -> Result<Vec<Filter>, ApiError> {
    match v {
        Json::Null => Ok(Vec::new()),
        Json::Array(items) => items.iter().map(|c| condition(c, depth)).collect(),
        single => Ok(vec![condition(single, depth)?]),
    }
}

/// Matches every document.
fn everything() -> Filter {
    Filter::Or(Vec::new()).not()
}

fn condition(c: &Json, depth: usize) -> Result<Filter, ApiError> {
    let Json::Object(o) = c else {
        return Err(ApiError::bad_request(format!("filter condition must be an object, got {c}")));
    };
    // `{}` is an empty filter (every field of Qdrant's `Filter` is optional).
    let is_filter = o.is_empty() || ["must", "should", "must_not", "min_should"].iter().any(|k| o.contains_key(*k));
    if is_filter {
        // An empty nested filter matches everything.
        return Ok(filter(o, depth + 1)?.unwrap_or_else(everything));
    }
    if let Some(Json::Object(inner)) = o.get("filter") {
        return Ok(filter(inner, depth + 1)?.unwrap_or_else(everything));
    }
    if let Some(ids) = o.get("has_id") {
        let Json::Array(ids) = ids else {
            return Err(ApiError::bad_request("has_id must be a list of point ids"));
        };
        let ids = ids.iter().map(|id| PointId::from_json(id).map(|id| id.doc_id())).collect::<Result<Vec<_>, _>>()?;
        return Ok(Filter::ids(ids));
    }
    if let Some(f @ Json::Object(_)) = o.get("is_empty") {
        return Ok(is_empty(&field_key(f.get("key"))?));
    }
    if let Some(f @ Json::Object(_)) = o.get("is_null") {
        return Ok(is_null(&field_key(f.get("key"))?));
    }
    match o.get("key") {
        Some(key) => field_condition(&field_key(Some(key))?, o),
        None => {
            let what = o.keys().next().map_or("an empty object", String::as_str);
            Err(ApiError::unsupported(format!("filter condition {what:?}")))
        }
    }
}

/// The indexed field of a condition's key, else a 400 saying why.
fn field_key(key: Option<&Json>) -> Result<String, ApiError> {
    let Some(key) = key.and_then(Json::as_str) else {
        return Err(ApiError::bad_request("filter condition without a string \"key\""));
    };
    let steps = path::parse(key)?;
    let shown = path::truncated(key);
    for (i, s) in steps.iter().enumerate() {
        match s {
            Step::Key(_) => {}
            Step::Index(_) => {
                return Err(ApiError::unsupported(format!(
                    "the array index in payload path {shown:?} (filter on `key[]` or the whole array)"
                )))
            }
            Step::All if matches!(steps.get(i + 1), Some(Step::Key(_))) => {}
            Step::All => {
                return Err(ApiError::unsupported(format!(
                    "a trailing or repeated [] in payload path {shown:?} (filter on the array itself: \
                     a condition on it tests each element)"
                )))
            }
        }
    }
    match path::canonical(&steps) {
        Some(p) if is_filterable_path(&p) => Ok(p),
        _ => Err(ApiError::bad_request(format!(
            "payload key {shown:?} cannot be filtered on: keys are 1..={} bytes without double quotes",
            crate::model::limits::METADATA_KEY_BYTES_MAX - 1
        ))),
    }
}

/// Points whose value at the payload path `key` is not empty (`None` if
/// the path cannot be filtered on).
pub(crate) fn non_empty(key: &str) -> Option<Filter> {
    field_key(Some(&Json::String(key.to_owned()))).ok().map(|k| is_empty(&k).not())
}

/// The flag field of `key` has one of `bits` set.
fn flagged(key: &str, bits: i64) -> Filter {
    Filter::match_any(&flags_field(key), (1..8).filter(|f| f & bits != 0).map(Value::Int))
}

/// Qdrant's `is_empty`: no selected value other than null and `[]`.
fn is_empty(key: &str) -> Filter {
    Filter::Or(vec![Filter::exists(key), flagged(key, OTHER | NONEMPTY)]).not()
}

/// Qdrant's `is_null`: a selected value is null or holds a null element.
fn is_null(key: &str) -> Filter {
    flagged(key, NULL)
}

fn field_condition(key: &str, o: &Map<String, Json>) -> Result<Filter, ApiError> {
    let mut parts = Vec::new();
    for (k, v) in o {
        match (k.as_str(), v) {
            ("key", _) | (_, Json::Null) => {}
            ("match", Json::Object(m)) => parts.push(match_condition(key, m)?),
            ("range", Json::Object(r)) => parts.push(range_condition(key, r)?),
            ("is_empty", Json::Bool(b)) => parts.push(if *b { is_empty(key) } else { is_empty(key).not() }),
            ("is_null", Json::Bool(b)) => parts.push(if *b { is_null(key) } else { is_null(key).not() }),
            (other, _) => return Err(ApiError::unsupported(format!("field condition {other:?} on {key:?}"))),
        }
    }
    match parts.len() {
        0 => Err(ApiError::bad_request(format!("field condition on {key:?} has no match or range"))),
        1 => Ok(parts.pop().expect("one part")),
        _ => Ok(Filter::And(parts)),
    }
}

fn match_condition(key: &str, m: &Map<String, Json>) -> Result<Filter, ApiError> {
    if let Some(v) = m.get("value") {
        return Ok(Filter::match_any(key, [operand(key, v)?]));
    }
    if let Some(Json::Array(vs)) = m.get("any") {
        return Ok(Filter::match_any(key, operands(key, vs)?));
    }
    if let Some(Json::Array(vs)) = m.get("except") {
        // An object or array among the values is a value not listed.
        return Ok(Filter::Or(vec![Filter::match_except(key, operands(key, vs)?), flagged(key, OTHER)]));
    }
    let what = m.keys().next().map_or("an empty match", String::as_str);
    Err(ApiError::unsupported(format!("match {what:?} on {key:?} (supported: value, any, except)")))
}

fn operands(key: &str, vs: &[Json]) -> Result<Vec<Value>, ApiError> {
    vs.iter().map(|v| operand(key, v)).collect()
}

/// A match operand: a string (at most `INDEXED_STRING_BYTES_MAX` bytes),
/// integer or boolean (as in Qdrant).
fn operand(key: &str, v: &Json) -> Result<Value, ApiError> {
    match v {
        Json::String(s) if s.len() > INDEXED_STRING_BYTES_MAX => Err(ApiError::bad_request(format!(
            "match on {key:?}: strings longer than {INDEXED_STRING_BYTES_MAX} bytes cannot be matched"
        ))),
        Json::String(_) | Json::Bool(_) => Ok(scalar_value(v)),
        Json::Number(n) if n.is_i64() => Ok(scalar_value(v)),
        other => Err(ApiError::bad_request(format!("match on {key:?}: {other} is not a string, integer or boolean"))),
    }
}

/// Qdrant's `range`: one numeric value at the path satisfies every bound.
fn range_condition(key: &str, r: &Map<String, Json>) -> Result<Filter, ApiError> {
    let (mut lower, mut upper) = (Bound::Unbounded, Bound::Unbounded);
    for (op, v) in r {
        if v.is_null() {
            continue;
        }
        let Some(x) = v.as_f64().filter(|x| x.is_finite()) else {
            return Err(ApiError::unsupported(format!("range bound {op}={v} on {key:?} (numbers only)")));
        };
        // Two bounds on one side: both hold, so the tighter one.
        let tighter_lower = |b: Bound<f64>, cur: Bound<f64>| match (b, cur) {
            (b, Bound::Unbounded) => b,
            (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) if x != y => {
                if x > y {
                    b
                } else {
                    cur
                }
            }
            (Bound::Excluded(x), _) => Bound::Excluded(x),
            (_, cur) => cur,
        };
        let tighter_upper = |b: Bound<f64>, cur: Bound<f64>| match (b, cur) {
            (b, Bound::Unbounded) => b,
            (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) if x != y => {
                if x < y {
                    b
                } else {
                    cur
                }
            }
            (Bound::Excluded(x), _) => Bound::Excluded(x),
            (_, cur) => cur,
        };
        match op.as_str() {
            "gt" => lower = tighter_lower(Bound::Excluded(x), lower),
            "gte" => lower = tighter_lower(Bound::Included(x), lower),
            "lt" => upper = tighter_upper(Bound::Excluded(x), upper),
            "lte" => upper = tighter_upper(Bound::Included(x), upper),
            other => return Err(ApiError::bad_request(format!("unknown range bound {other:?} on {key:?}"))),
        }
    }
    // A range without bounds holds for any number.
    Ok(Filter::range(key, lower, upper))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::server::payload::to_metadata;
    use serde_json::json;

    fn matches(f: Json, payload: Json) -> bool {
        let meta: BTreeMap<String, Value> = to_metadata(Some(&payload)).unwrap();
        parse(Some(&f)).unwrap().is_none_or(|f| f.matches(&meta))
    }

    #[test]
    fn must_should_must_not() {
        let p = json!({"color": "red", "n": 5, "tags": ["a", "b"], "city": {"name": "Oslo"}});
        assert!(matches(json!({"must": [{"key": "color", "match": {"value": "red"}}]}), p.clone()));
        assert!(!matches(json!({"must": [{"key": "color", "match": {"value": "blue"}}]}), p.clone()));
        assert!(matches(
            json!({"should": [{"key": "n", "match": {"value": 1}}, {"key": "n", "match": {"value": 5}}]}),
            p.clone()
        ));
        assert!(!matches(json!({"must_not": [{"key": "tags", "match": {"value": "b"}}]}), p.clone()));
        assert!(matches(json!({"must": {"key": "city.name", "match": {"any": ["Oslo", "Rome"]}}}), p.clone()));
        assert!(matches(json!({"must": [{"key": "n", "range": {"gte": 5, "lt": 6}}]}), p.clone()));
        assert!(!matches(json!({"must": [{"key": "n", "range": {"gt": 5}}]}), p.clone()));
        assert!(matches(json!({"must": [{"key": "color", "match": {"except": ["blue"]}}]}), p.clone()));
        assert!(!matches(json!({"must": [{"key": "color", "match": {"except": ["red"]}}]}), p.clone()));
        assert!(matches(json!({"must": [{"is_empty": {"key": "missing"}}]}), p.clone()));
        assert!(!matches(json!({"must": [{"is_empty": {"key": "color"}}]}), p.clone()));
        assert!(matches(json!({}), p.clone()), "an empty filter matches everything");
        assert!(matches(json!({"must": [{"must_not": [{"key": "n", "match": {"value": 6}}]}]}), p));
    }

    #[test]
    fn null_and_empty() {
        assert!(matches(json!({"must": [{"is_null": {"key": "x"}}]}), json!({"x": null})));
        assert!(!matches(json!({"must": [{"is_null": {"key": "x"}}]}), json!({"x": 1})));
        assert!(!matches(json!({"must": [{"is_null": {"key": "x"}}]}), json!({})));
        assert!(matches(json!({"must": [{"is_empty": {"key": "x"}}]}), json!({"x": []})));
        assert!(matches(json!({"must": [{"is_empty": {"key": "x"}}]}), json!({"x": null})));
    }

    /// Issue 13, item 2: paths with array indexes answered 200 and never
    /// matched, so a delete by such a filter deleted the wrong points. Now
    /// they are refused; `[]` followed by a key works as in Qdrant.
    #[test]
    fn array_index_paths_are_refused_and_wildcards_follow_qdrant() {
        for key in ["a[0][1]", "a[][]", "a[1][]", "a[][0]", "a[]", "a[0].b"] {
            let f = json!({"must": [{"key": key, "range": {"lt": 10}}]});
            let e = parse(Some(&f)).unwrap_err();
            assert!(e.message.contains("Unsupported by vego"), "{key}: {}", e.message);
        }
        // Nested arrays: `a` selects the inner arrays, which no number matches.
        let p = json!({"a": [[1, 8], [-5, 9, 3]]});
        assert!(!matches(json!({"must": [{"key": "a", "range": {"lt": 10}}]}), p.clone()));
        assert!(
            matches(json!({"must": [{"key": "a", "match": {"except": [1]}}]}), p.clone()),
            "an array is not listed"
        );
        let p = json!({"a": [{"b": 1}, [{"b": 2}], {"c": {"b": 3}}]});
        let count = |key: &str| {
            [1, 2, 3]
                .iter()
                .filter(|v| matches(json!({"must": [{"key": key, "match": {"value": v}}]}), p.clone()))
                .count()
        };
        assert_eq!(count("a[].b"), 1, "only object elements of the array");
        assert_eq!(count("a.b"), 0, "a key step does not read through an array");
        assert_eq!(count("a[].c.b"), 1);
    }

    /// Issue 13, item 3: arrays of objects whose values are all null or `[]`
    /// are empty.
    #[test]
    fn is_empty_through_arrays_of_objects_with_null_values() {
        let empty = |p: Json| matches(json!({"must": [{"is_empty": {"key": "nested[].empty"}}]}), p);
        assert!(empty(json!({"nested": [{"empty": null}, {"empty": null}]})));
        assert!(empty(json!({"nested": [{"empty": []}, {"empty": null}]})));
        assert!(empty(json!({"nested": []})));
        assert!(!empty(json!({"nested": [{"empty": null}, {"empty": [null]}]})));
        assert!(!empty(json!({"nested": [{"empty": {}}]})));
        assert!(!empty(json!({"nested": [{"empty": 0}]})));
    }

    /// Issue 13, item 4: `is_null` holds for null and for an array holding
    /// null (one level), as in Qdrant's local mode (qdrant#10101).
    #[test]
    fn is_null_on_arrays_containing_null() {
        let null = |p: Json| matches(json!({"must": [{"is_null": {"key": "nones"}}]}), p);
        assert!(null(json!({"nones": null})));
        assert!(null(json!({"nones": [null, null]})));
        assert!(null(json!({"nones": [null, 1]})));
        assert!(!null(json!({"nones": [[null]]})));
        assert!(!null(json!({"nones": []})));
        assert!(!null(json!({})));
        assert!(!null(json!({"nones": 0})));
    }

    #[test]
    fn has_id_selects_points_by_id() {
        let f =
            parse(Some(&json!({"must": [{"has_id": [1, "5C56C793-69F3-4FBF-87E6-C4BF54C28C26"]}]}))).unwrap().unwrap();
        let meta = BTreeMap::new();
        assert!(f.matches_document("1", &meta));
        assert!(f.matches_document("5c56c793-69f3-4fbf-87e6-c4bf54c28c26", &meta));
        assert!(!f.matches_document("2", &meta));
        assert!(parse(Some(&json!({"must": [{"has_id": [-1]}]}))).is_err());
    }

    // ----------------------------------------------------------------------
    // The reference: qdrant-client's local mode (`payload_filters.py`,
    // `payload_value_extractor.py`), ported to JSON.

    /// `value_by_key`: the values a path selects (`flat`: arrays at the end
    /// of the path unwrapped one level).
    fn value_by_key(p: &Json, key: &str, flat: bool) -> Vec<Json> {
        fn walk(data: &Json, steps: &[Step], flat: bool, out: &mut Vec<Json>) {
            let Some((first, rest)) = steps.split_first() else {
                match data {
                    Json::Array(a) if flat => out.extend(a.iter().cloned()),
                    other => out.push(other.clone()),
                }
                return;
            };
            match (first, data) {
                (Step::Key(k), Json::Object(m)) => {
                    if let Some(v) = m.get(k) {
                        walk(v, rest, flat, out)
                    }
                }
                (Step::Index(i), Json::Array(a)) => {
                    if let Some(v) = a.get(*i as usize) {
                        walk(v, rest, flat, out)
                    }
                }
                (Step::All, Json::Array(a)) => a.iter().for_each(|v| walk(v, rest, flat, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(p, &path::parse(key).unwrap(), flat, &mut out);
        out
    }

    fn values_match(v: &Json, c: &Json) -> bool {
        match (v, c) {
            (Json::Number(a), Json::Number(b)) => a.is_f64() == b.is_f64() && a.as_f64() == b.as_f64(),
            _ => v == c,
        }
    }

    fn reference(c: &Json, p: &Json, id: &str) -> bool {
        let o = c.as_object().unwrap();
        if o.contains_key("must") || o.contains_key("should") || o.contains_key("must_not") {
            let list = |k: &str| o.get(k).and_then(Json::as_array).cloned().unwrap_or_default();
            let should = list("should");
            return list("must").iter().all(|x| reference(x, p, id))
                && (should.is_empty() || should.iter().any(|x| reference(x, p, id)))
                && !list("must_not").iter().any(|x| reference(x, p, id));
        }
        if let Some(ids) = o.get("has_id") {
            return ids.as_array().unwrap().iter().any(|i| PointId::from_json(i).unwrap().doc_id() == id);
        }
        if let Some(k) = o.get("is_empty").map(|f| f["key"].as_str().unwrap()) {
            return value_by_key(p, k, false).iter().all(|v| v.is_null() || v.as_array().is_some_and(Vec::is_empty));
        }
        if let Some(k) = o.get("is_null").map(|f| f["key"].as_str().unwrap()) {
            return value_by_key(p, k, false)
                .iter()
                .any(|v| v.is_null() || v.as_array().is_some_and(|a| a.iter().any(Json::is_null)));
        }
        let vals = value_by_key(p, o["key"].as_str().unwrap(), true);
        if let Some(m) = o.get("match") {
            if let Some(v) = m.get("value") {
                return vals.iter().any(|x| values_match(x, v));
            }
            if let Some(Json::Array(any)) = m.get("any") {
                return vals.iter().any(|x| any.iter().any(|c| values_match(x, c)));
            }
            let except = m["except"].as_array().unwrap();
            return vals.iter().any(|x| !x.is_null() && !except.iter().any(|c| values_match(x, c)));
        }
        let r = &o["range"];
        let bound = |k: &str, f: fn(f64, f64) -> bool, x: f64| r.get(k).and_then(Json::as_f64).is_none_or(|b| f(x, b));
        vals.iter().filter(|v| v.is_number()).filter_map(Json::as_f64).any(|x| {
            bound("gt", |x, b| x > b, x)
                && bound("gte", |x, b| x >= b, x)
                && bound("lt", |x, b| x < b, x)
                && bound("lte", |x, b| x <= b, x)
        })
    }

    fn arb_value() -> impl proptest::strategy::Strategy<Value = Json> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            2 => Just(Json::Null),
            3 => (0i64..4).prop_map(Json::from),
            1 => Just(json!(1.0)),
            2 => prop_oneof![Just("x"), Just("y")].prop_map(Json::from),
            1 => any::<bool>().prop_map(Json::from),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Json::Array),
                proptest::collection::vec((prop_oneof![Just("b"), Just("c")], inner), 0..3)
                    .prop_map(|kv| Json::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            ]
        })
    }

    fn arb_payload() -> impl proptest::strategy::Strategy<Value = Json> {
        use proptest::prelude::*;
        proptest::collection::vec((prop_oneof![Just("a"), Just("n"), Just("b")], arb_value()), 0..4)
            .prop_map(|kv| Json::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
    }

    fn arb_condition() -> impl proptest::strategy::Strategy<Value = Json> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("a"),
            Just("n"),
            Just("a.b"),
            Just("a[].b"),
            Just("a[].c"),
            Just("a.b.c"),
            Just("a[].b[].c"),
            Just("a.c[].b"),
            Just("missing")
        ];
        let scalar = prop_oneof![
            (0i64..4).prop_map(Json::from),
            prop_oneof![Just("x"), Just("y")].prop_map(Json::from),
            any::<bool>().prop_map(Json::from)
        ];
        let leaf = prop_oneof![
            (key.clone(), scalar.clone()).prop_map(|(k, v)| json!({"key": k, "match": {"value": v}})),
            (key.clone(), proptest::collection::vec(scalar.clone(), 0..3))
                .prop_map(|(k, v)| json!({"key": k, "match": {"any": v}})),
            (key.clone(), proptest::collection::vec(scalar, 0..3))
                .prop_map(|(k, v)| json!({"key": k, "match": {"except": v}})),
            (key.clone(), proptest::option::of(0i64..4), proptest::option::of(0i64..4))
                .prop_map(|(k, lo, hi)| json!({"key": k, "range": {"gte": lo, "lt": hi}})),
            (key.clone(), proptest::option::of(0i64..4)).prop_map(|(k, lo)| json!({"key": k, "range": {"gt": lo}})),
            (key.clone(), 0i64..4, 0i64..4)
                .prop_map(|(k, lo, hi)| json!({"key": k, "range": {"gt": lo, "lte": hi, "gte": hi - 2}})),
            key.clone().prop_map(|k| json!({"is_empty": {"key": k}})),
            key.clone().prop_map(|k| json!({"is_null": {"key": k}})),
            (key.clone(), any::<bool>()).prop_map(|(k, b)| json!({"key": k, "is_empty": b})),
            (key, any::<bool>()).prop_map(|(k, b)| json!({"key": k, "is_null": b})),
            proptest::collection::vec(0u64..4, 0..3).prop_map(|ids| json!({"has_id": ids})),
        ];
        leaf.prop_recursive(3, 16, 3, |inner| {
            let list = proptest::collection::vec(inner, 0..3);
            (list.clone(), list.clone(), list)
                .prop_map(|(must, should, must_not)| json!({"must": must, "should": should, "must_not": must_not}))
        })
    }

    /// The reference's reading of a field condition written with a flag.
    fn normalise(c: &Json) -> Json {
        match c {
            Json::Object(o) if o.contains_key("key") && (o.contains_key("is_empty") || o.contains_key("is_null")) => {
                let (what, b) =
                    if let Some(b) = o.get("is_empty") { ("is_empty", b) } else { ("is_null", &o["is_null"]) };
                let cond = json!({what: {"key": o["key"]}});
                if b == &json!(true) {
                    cond
                } else {
                    json!({"must_not": [cond]})
                }
            }
            Json::Object(o) => Json::Object(o.iter().map(|(k, v)| (k.clone(), normalise(v))).collect()),
            Json::Array(a) => Json::Array(a.iter().map(normalise).collect()),
            other => other.clone(),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, ..Default::default() })]
        #[test]
        fn translated_filters_mean_what_qdrant_local_mode_means(c in arb_condition(), p in arb_payload(), id in 0u64..4) {
            let filter = json!({"must": [c.clone()]});
            let meta: BTreeMap<String, Value> = to_metadata(Some(&p)).unwrap();
            let doc_id = id.to_string();
            let got = parse(Some(&filter)).unwrap().is_none_or(|f| f.matches_document(&doc_id, &meta));
            proptest::prop_assert_eq!(got, reference(&normalise(&c), &p, &doc_id), "filter {} payload {}", c, p);
        }
    }

    #[test]
    fn unsupported_conditions_are_refused_not_ignored() {
        for f in [
            json!({"must": [{"key": "t", "match": {"text": "hello"}}]}),
            json!({"must": [{"key": "g", "geo_radius": {"center": {"lon": 0, "lat": 0}, "radius": 1}}]}),
            json!({"must": [{"key": "n", "range": {"gt": "2024-01-01T00:00:00Z"}}]}),
            json!({"min_should": {"conditions": [], "min_count": 1}}),
            json!({"nested": {}}),
            json!({"must": [{"key": "a", "values_count": {"gt": 1}}]}),
            json!({"must": [{"has_vector": ""}]}),
        ] {
            assert!(parse(Some(&f)).is_err(), "{f}");
        }
    }
}
