//! Qdrant filters translated to Vego filters.
//!
//! `must` → and, `should` → or, `must_not` → not(or); conditions: `match`
//! (`value`, `any`, `except`), `range` (`gt`, `gte`, `lt`, `lte`),
//! `is_null`, `is_empty`, and nested filters. Keys are payload paths as
//! `payload.rs` stores them. Anything else is refused with a clear error
//! rather than ignored: a silently dropped condition returns wrong rows.

use serde_json::{Map, Value as Json};

use super::error::ApiError;
use super::payload::{is_filterable_path, scalar_value, INDEXED_STRING_BYTES_MAX};
use crate::limits::NESTING_MAX;
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

fn condition(c: &Json, depth: usize) -> Result<Filter, ApiError> {
    let Json::Object(o) = c else {
        return Err(ApiError::bad_request(format!("filter condition must be an object, got {c}")));
    };
    let is_filter = ["must", "should", "must_not", "min_should"].iter().any(|k| o.contains_key(*k));
    if is_filter {
        // An empty nested filter matches everything.
        return Ok(filter(o, depth + 1)?.unwrap_or_else(|| Filter::Or(Vec::new()).not()));
    }
    if let Some(Json::Object(inner)) = o.get("filter") {
        return Ok(filter(inner, depth + 1)?.unwrap_or_else(|| Filter::Or(Vec::new()).not()));
    }
    if let Some(key) = o.get("is_empty").and_then(|f| f.get("key")).and_then(Json::as_str) {
        return Ok(Filter::exists(filterable(key)?).not());
    }
    if let Some(key) = o.get("is_null").and_then(|f| f.get("key")).and_then(Json::as_str) {
        return Ok(Filter::eq(filterable(key)?, Value::Null));
    }
    match o.get("key").and_then(Json::as_str) {
        Some(key) => field_condition(filterable(key)?, o),
        None => {
            let what = o.keys().next().map_or("an empty object", String::as_str);
            Err(ApiError::unsupported(format!("filter condition {what:?}")))
        }
    }
}

/// A key filters can use (see `payload.rs`), else a 400 saying why.
fn filterable(key: &str) -> Result<&str, ApiError> {
    if is_filterable_path(key) {
        return Ok(key);
    }
    Err(ApiError::bad_request(format!(
        "payload key {:?} cannot be filtered on: keys are 1..={} bytes",
        key.chars().take(40).collect::<String>(),
        crate::limits::METADATA_KEY_BYTES_MAX
    )))
}

fn field_condition(key: &str, o: &Map<String, Json>) -> Result<Filter, ApiError> {
    let mut parts = Vec::new();
    for (k, v) in o {
        match (k.as_str(), v) {
            ("key", _) | (_, Json::Null) => {}
            ("match", Json::Object(m)) => parts.push(match_condition(key, m)?),
            ("range", Json::Object(r)) => parts.push(range_condition(key, r)?),
            ("is_empty", Json::Bool(b)) => parts.push(if *b { Filter::exists(key).not() } else { Filter::exists(key) }),
            ("is_null", Json::Bool(b)) => {
                let null = Filter::eq(key, Value::Null);
                parts.push(if *b { null } else { null.not() });
            }
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
        return Ok(Filter::match_except(key, operands(key, vs)?));
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

fn range_condition(key: &str, r: &Map<String, Json>) -> Result<Filter, ApiError> {
    let mut parts = Vec::new();
    for (op, v) in r {
        if v.is_null() {
            continue;
        }
        let Some(x) = v.as_f64().filter(|x| x.is_finite()) else {
            return Err(ApiError::unsupported(format!("range bound {op}={v} on {key:?} (numbers only)")));
        };
        parts.push(match op.as_str() {
            "gt" => Filter::gt(key, x),
            "gte" => Filter::gte(key, x),
            "lt" => Filter::lt(key, x),
            "lte" => Filter::lte(key, x),
            other => return Err(ApiError::bad_request(format!("unknown range bound {other:?} on {key:?}"))),
        });
    }
    Ok(match parts.len() {
        // A range without bounds holds for any number.
        0 => Filter::gte(key, f64::MIN),
        1 => parts.pop().expect("one part"),
        _ => Filter::And(parts),
    })
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

    /// Qdrant's meaning of a condition, evaluated on the JSON payload itself
    /// (the reference the translation is checked against).
    fn reference(c: &Json, p: &Json) -> bool {
        let o = c.as_object().unwrap();
        if o.contains_key("must") || o.contains_key("should") || o.contains_key("must_not") {
            let list = |k: &str| o.get(k).and_then(Json::as_array).cloned().unwrap_or_default();
            let should = list("should");
            return list("must").iter().all(|x| reference(x, p))
                && (should.is_empty() || should.iter().any(|x| reference(x, p)))
                && !list("must_not").iter().any(|x| reference(x, p));
        }
        if let Some(k) = o.get("is_empty").map(|f| f["key"].as_str().unwrap()) {
            return values(p, k).is_empty();
        }
        if let Some(k) = o.get("is_null").map(|f| f["key"].as_str().unwrap()) {
            return path(p, k).is_some_and(Json::is_null);
        }
        let key = o["key"].as_str().unwrap();
        let vals = values(p, key);
        if let Some(m) = o.get("match") {
            if let Some(v) = m.get("value") {
                return vals.contains(v);
            }
            if let Some(Json::Array(any)) = m.get("any") {
                return vals.iter().any(|v| any.contains(v));
            }
            let except = m["except"].as_array().unwrap();
            return vals.iter().any(|v| !except.contains(v));
        }
        let r = &o["range"];
        let bound = |k: &str, f: fn(f64, f64) -> bool, x: f64| r.get(k).and_then(Json::as_f64).is_none_or(|b| f(x, b));
        vals.iter().filter_map(Json::as_f64).any(|x| {
            bound("gt", |x, b| x > b, x)
                && bound("gte", |x, b| x >= b, x)
                && bound("lt", |x, b| x < b, x)
                && bound("lte", |x, b| x <= b, x)
        })
    }

    /// The JSON at a dotted path.
    fn path<'a>(p: &'a Json, key: &str) -> Option<&'a Json> {
        key.split('.').try_fold(p, |v, k| v.get(k))
    }

    /// The non-null scalar values at a path (array elements flattened).
    fn values(p: &Json, key: &str) -> Vec<Json> {
        match path(p, key) {
            Some(Json::Array(a)) => a.iter().filter(|v| !v.is_null()).cloned().collect(),
            Some(Json::Null) | None => Vec::new(),
            Some(v) => vec![v.clone()],
        }
    }

    fn arb_payload() -> impl proptest::strategy::Strategy<Value = Json> {
        use proptest::prelude::*;
        let n = prop_oneof![Just(Json::Null), (0i64..5).prop_map(Json::from)];
        let tags = proptest::collection::vec(prop_oneof![Just("x"), Just("y"), Just("z")], 0..3);
        (proptest::option::of(n), proptest::option::of(tags), proptest::option::of(0i64..5), any::<bool>()).prop_map(
            |(n, tags, d, flag)| {
                let mut p = json!({ "flag": flag });
                if let Some(n) = n {
                    p["n"] = n;
                }
                if let Some(t) = tags {
                    p["tags"] = json!(t);
                }
                if let Some(d) = d {
                    p["c"] = json!({ "d": d });
                }
                p
            },
        )
    }

    fn arb_condition() -> impl proptest::strategy::Strategy<Value = Json> {
        use proptest::prelude::*;
        let key = prop_oneof![Just("n"), Just("tags"), Just("c.d"), Just("flag")];
        let scalar = prop_oneof![
            (0i64..5).prop_map(Json::from),
            prop_oneof![Just("x"), Just("y")].prop_map(Json::from),
            any::<bool>().prop_map(Json::from)
        ];
        let leaf = prop_oneof![
            (key.clone(), scalar.clone()).prop_map(|(k, v)| json!({"key": k, "match": {"value": v}})),
            (key.clone(), proptest::collection::vec(scalar.clone(), 0..3))
                .prop_map(|(k, v)| json!({"key": k, "match": {"any": v}})),
            (key.clone(), proptest::collection::vec(scalar, 1..3))
                .prop_map(|(k, v)| json!({"key": k, "match": {"except": v}})),
            (key.clone(), proptest::option::of(0i64..5), proptest::option::of(0i64..5))
                .prop_map(|(k, lo, hi)| json!({"key": k, "range": {"gte": lo, "lt": hi}})),
            key.clone().prop_map(|k| json!({"is_empty": {"key": k}})),
            key.prop_map(|k| json!({"is_null": {"key": k}})),
        ];
        leaf.prop_recursive(3, 16, 3, |inner| {
            let list = proptest::collection::vec(inner, 0..3);
            (list.clone(), list.clone(), list)
                .prop_map(|(must, should, must_not)| json!({"must": must, "should": should, "must_not": must_not}))
        })
    }

    proptest::proptest! {
        #[test]
        fn translated_filters_mean_what_qdrant_filters_mean(c in arb_condition(), p in arb_payload()) {
            let filter = json!({"must": [c.clone()]});
            let meta: BTreeMap<String, Value> = to_metadata(Some(&p)).unwrap();
            let got = parse(Some(&filter)).unwrap().is_none_or(|f| f.matches(&meta));
            proptest::prop_assert_eq!(got, reference(&c, &p), "filter {} payload {}", c, p);
        }
    }

    #[test]
    fn unsupported_conditions_are_refused_not_ignored() {
        for f in [
            json!({"must": [{"has_id": [1]}]}),
            json!({"must": [{"key": "t", "match": {"text": "hello"}}]}),
            json!({"must": [{"key": "g", "geo_radius": {"center": {"lon": 0, "lat": 0}, "radius": 1}}]}),
            json!({"must": [{"key": "n", "range": {"gt": "2024-01-01T00:00:00Z"}}]}),
            json!({"min_should": {"conditions": [], "min_count": 1}}),
            json!({"nested": {}}),
        ] {
            assert!(parse(Some(&f)).is_err(), "{f}");
        }
    }
}
