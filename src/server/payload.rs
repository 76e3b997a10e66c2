//! Qdrant payloads (any JSON object) stored as document metadata.
//!
//! The payload is kept verbatim in one reserved field, so it comes back
//! exactly as written (nesting, integer vs float). Its scalar leaves are also
//! stored as fields of their own, keyed by their path, so filters on payload
//! keys become metadata filters that segments push down to zone maps:
//! `{"city": {"name": "Oslo"}}` → `city.name = "Oslo"`; arrays of scalars
//! become lists (a condition matches if any element does); objects inside
//! arrays are keyed `key[].field`, as in Qdrant's path syntax. Empty arrays
//! store nothing, so `is_empty` holds for them as for missing keys.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::error::ApiError;
use crate::limits::NESTING_MAX;
use crate::Value;

/// The metadata field that holds the verbatim payload.
pub(crate) const RAW_FIELD: &str = "__payload__";

/// Metadata for a payload: the verbatim JSON plus one field per leaf path.
pub(crate) fn to_metadata(payload: Option<&Json>) -> Result<BTreeMap<String, Value>, ApiError> {
    let obj = match payload {
        None | Some(Json::Null) => return Ok(BTreeMap::new()),
        Some(Json::Object(o)) => o,
        Some(other) => return Err(ApiError::bad_request(format!("payload must be a JSON object, got {other}"))),
    };
    if obj.contains_key(RAW_FIELD) {
        return Err(ApiError::bad_request(format!("payload key {RAW_FIELD:?} is reserved")));
    }
    let mut leaves: BTreeMap<String, (bool, Vec<Value>)> = BTreeMap::new();
    for (k, v) in obj {
        flatten(k, v, false, 0, &mut leaves)?;
    }
    let mut meta: BTreeMap<String, Value> = leaves
        .into_iter()
        .filter(|(_, (multi, vals))| !(*multi && vals.is_empty()))
        .map(|(k, (multi, mut vals))| {
            let v = if multi || vals.len() != 1 { Value::List(vals) } else { vals.pop().expect("one value") };
            (k, v)
        })
        .collect();
    meta.insert(RAW_FIELD.to_owned(), Value::Str(Json::Object(obj.clone()).to_string()));
    Ok(meta)
}

/// Collects the scalar leaves under `path`; `multi` once inside an array.
fn flatten(
    path: &str,
    v: &Json,
    multi: bool,
    depth: usize,
    out: &mut BTreeMap<String, (bool, Vec<Value>)>,
) -> Result<(), ApiError> {
    if depth > NESTING_MAX {
        return Err(ApiError::bad_request(format!("payload nested deeper than {NESTING_MAX} at {path:?}")));
    }
    match v {
        Json::Object(m) => {
            for (k, x) in m {
                flatten(&format!("{path}.{k}"), x, multi, depth + 1, out)?;
            }
        }
        Json::Array(items) => {
            out.entry(path.to_owned()).or_default().0 = true;
            for x in items {
                match x {
                    Json::Object(_) => flatten(&format!("{path}[]"), x, true, depth + 1, out)?,
                    _ => flatten(path, x, true, depth + 1, out)?,
                }
            }
        }
        scalar => {
            let slot = out.entry(path.to_owned()).or_default();
            slot.0 |= multi;
            slot.1.push(scalar_value(scalar));
        }
    }
    Ok(())
}

/// A JSON scalar as a metadata value (integers beyond i64 become floats).
pub(crate) fn scalar_value(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n.as_i64().map_or_else(|| Value::Float(n.as_f64().unwrap_or(f64::NAN)), Value::Int),
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(_) | Json::Object(_) => unreachable!("scalar_value of a container"),
    }
}

/// The payload of a stored document: the verbatim JSON if the server wrote
/// it, else the metadata as JSON (documents written by the embedded API).
pub(crate) fn from_metadata(meta: &BTreeMap<String, Value>) -> Json {
    if let Some(Value::Str(raw)) = meta.get(RAW_FIELD) {
        if let Ok(v @ Json::Object(_)) = serde_json::from_str(raw) {
            return v;
        }
    }
    Json::Object(meta.iter().map(|(k, v)| (k.clone(), value_json(v))).collect::<Map<_, _>>())
}

fn value_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Str(s) => Json::String(s.clone()),
        Value::List(items) => Json::Array(items.iter().map(value_json).collect()),
    }
}

/// What `with_payload` selects: everything, nothing, or some top-level keys.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Selector {
    All,
    None,
    Include(Vec<String>),
    Exclude(Vec<String>),
}

impl Selector {
    /// Parses `with_payload` (`true`, `false`, `["a"]`, `{"include": …}`,
    /// `{"exclude": …}`); `default` when absent.
    pub fn parse(v: Option<&Json>, default: bool) -> Result<Selector, ApiError> {
        let keys = |v: &Json| -> Result<Vec<String>, ApiError> {
            let list = match v {
                Json::String(s) => return Ok(vec![s.clone()]),
                Json::Array(a) => a,
                other => return Err(ApiError::bad_request(format!("with_payload keys must be strings, got {other}"))),
            };
            list.iter()
                .map(|k| k.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ApiError::bad_request("with_payload keys must be strings"))
        };
        match v {
            None | Some(Json::Null) => Ok(if default { Selector::All } else { Selector::None }),
            Some(Json::Bool(true)) => Ok(Selector::All),
            Some(Json::Bool(false)) => Ok(Selector::None),
            Some(a @ Json::Array(_)) => Ok(Selector::Include(keys(a)?)),
            Some(Json::Object(o)) if o.len() == 1 && o.contains_key("include") => {
                Ok(Selector::Include(keys(&o["include"])?))
            }
            Some(Json::Object(o)) if o.len() == 1 && o.contains_key("exclude") => {
                Ok(Selector::Exclude(keys(&o["exclude"])?))
            }
            Some(other) => Err(ApiError::bad_request(format!("with_payload: unsupported value {other}"))),
        }
    }

    /// The selected part of a payload; `None` if none is wanted.
    pub fn apply(&self, payload: Json) -> Option<Json> {
        let Json::Object(mut obj) = payload else { return Some(payload) };
        match self {
            Selector::All => Some(Json::Object(obj)),
            Selector::None => None,
            Selector::Include(keys) => Some(Json::Object(obj.into_iter().filter(|(k, _)| keys.contains(k)).collect())),
            Selector::Exclude(keys) => {
                keys.iter().for_each(|k| drop(obj.remove(k)));
                Some(Json::Object(obj))
            }
        }
    }

    pub fn wants_payload(&self) -> bool {
        *self != Selector::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_round_trips_verbatim() {
        let p = json!({"a": 1, "b": 1.0, "c": {"d": [1, 2], "e": null}, "f": [{"g": "x"}, {"g": "y"}], "h": []});
        let meta = to_metadata(Some(&p)).unwrap();
        assert_eq!(from_metadata(&meta), p);
    }

    #[test]
    fn leaves_are_indexed_by_path() {
        let p = json!({"a": 1, "b": 2.5, "c": {"d": [1, 2], "e": null}, "f": [{"g": "x"}, {"g": "y"}], "h": [], "s": ["one"]});
        let meta = to_metadata(Some(&p)).unwrap();
        assert_eq!(meta["a"], Value::Int(1));
        assert_eq!(meta["b"], Value::Float(2.5));
        assert_eq!(meta["c.d"], Value::List(vec![Value::Int(1), Value::Int(2)]));
        assert_eq!(meta["c.e"], Value::Null);
        assert_eq!(meta["f[].g"], Value::List(vec!["x".into(), "y".into()]));
        assert_eq!(meta["s"], Value::List(vec!["one".into()]), "a one-element array stays a list");
        assert!(!meta.contains_key("h"), "empty arrays store nothing");
    }

    #[test]
    fn reserved_key_and_non_objects_are_refused() {
        assert!(to_metadata(Some(&json!({RAW_FIELD: 1}))).is_err());
        assert!(to_metadata(Some(&json!([1]))).is_err());
        assert!(to_metadata(None).unwrap().is_empty());
    }

    #[test]
    fn library_documents_get_their_metadata_as_payload() {
        let meta = BTreeMap::from([("year".to_string(), Value::Int(2024)), ("t".to_string(), Value::from("x"))]);
        assert_eq!(from_metadata(&meta), json!({"year": 2024, "t": "x"}));
    }

    #[test]
    fn selectors() {
        let p = json!({"a": 1, "b": 2});
        assert_eq!(Selector::parse(None, true).unwrap().apply(p.clone()), Some(p.clone()));
        assert_eq!(Selector::parse(None, false).unwrap().apply(p.clone()), None);
        assert_eq!(Selector::parse(Some(&json!(["a"])), false).unwrap().apply(p.clone()), Some(json!({"a": 1})));
        assert_eq!(
            Selector::parse(Some(&json!({"exclude": ["a"]})), false).unwrap().apply(p.clone()),
            Some(json!({"b": 2}))
        );
        assert!(Selector::parse(Some(&json!(3)), false).is_err());
    }
}
