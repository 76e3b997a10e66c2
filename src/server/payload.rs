//! Qdrant payloads (any JSON object) stored as document metadata.
//!
//! The payload is kept verbatim in one reserved field, so it comes back
//! exactly as written (nesting, integer vs float, any key). Its scalar leaves
//! are also stored as fields of their own, keyed by their path, so filters on
//! payload keys become metadata filters that segments push down to zone
//! maps: `{"city": {"name": "Oslo"}}` → `city.name = "Oslo"`; arrays of
//! scalars become lists (a condition matches if any element does); objects
//! inside arrays are keyed `key[].field`, as in Qdrant's path syntax. Empty
//! arrays store nothing, so `is_empty` holds for them as for missing keys.
//!
//! Limits, each refused with a clear error rather than answered wrongly:
//! a path is filterable if it is 1..=`METADATA_KEY_BYTES_MAX` bytes (longer
//! or empty paths are stored, not indexed, and filters on them get 400); a
//! point has at most `METADATA_FIELDS_MAX - 1` filterable paths; strings
//! longer than `INDEXED_STRING_BYTES_MAX` are indexed by a longer prefix, so
//! they never equal a match operand (which may be at most that long) and
//! still count as present and as "not among" an `except` list.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::error::ApiError;
use crate::limits::{METADATA_FIELDS_MAX, METADATA_KEY_BYTES_MAX};
use crate::Value;

/// The metadata field that holds the verbatim payload.
pub(crate) const RAW_FIELD: &str = "__payload__";

/// Longest string a `match` operand may be, and the longest string indexed
/// whole, in bytes.
pub(crate) const INDEXED_STRING_BYTES_MAX: usize = 1024;

/// Can filters name this path? (Whether `to_metadata` indexes it.)
pub(crate) fn is_filterable_path(path: &str) -> bool {
    !path.is_empty() && path.len() <= METADATA_KEY_BYTES_MAX && path != RAW_FIELD
}

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
        flatten(k, v, false, &mut leaves);
    }
    let mut meta: BTreeMap<String, Value> = leaves
        .into_iter()
        .filter(|(path, (multi, vals))| is_filterable_path(path) && !(*multi && vals.is_empty()))
        .map(|(k, (multi, mut vals))| {
            let v = if multi || vals.len() != 1 { Value::List(vals) } else { vals.pop().expect("one value") };
            (k, v)
        })
        .collect();
    if meta.len() >= METADATA_FIELDS_MAX {
        return Err(ApiError::bad_request(format!(
            "payload has {} filterable paths, limit {}",
            meta.len(),
            METADATA_FIELDS_MAX - 1
        )));
    }
    meta.insert(RAW_FIELD.to_owned(), Value::Str(Json::Object(obj.clone()).to_string()));
    crate::validate::metadata(&meta).map_err(|e| {
        let message = format!("payload too large: {e}");
        ApiError::from(e).with_message(message)
    })?;
    Ok(meta)
}

/// Collects the scalar leaves under `path`; `multi` once inside an array.
/// (Depth is bounded by serde_json's recursion limit on the parsed body.)
fn flatten(path: &str, v: &Json, multi: bool, out: &mut BTreeMap<String, (bool, Vec<Value>)>) {
    match v {
        Json::Object(m) => {
            for (k, x) in m {
                flatten(&format!("{path}.{k}"), x, multi, out);
            }
        }
        Json::Array(items) => {
            out.entry(path.to_owned()).or_default().0 = true;
            for x in items {
                match x {
                    Json::Object(_) => flatten(&format!("{path}[]"), x, true, out),
                    _ => flatten(path, x, true, out),
                }
            }
        }
        scalar => {
            let slot = out.entry(path.to_owned()).or_default();
            slot.0 |= multi;
            slot.1.push(indexed(scalar));
        }
    }
}

/// A scalar leaf as indexed: long strings by a prefix longer than any
/// match operand.
fn indexed(v: &Json) -> Value {
    match v {
        Json::String(s) if s.len() > INDEXED_STRING_BYTES_MAX => {
            let cut = (INDEXED_STRING_BYTES_MAX + 1..=s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(s.len());
            Value::Str(s[..cut].to_owned())
        }
        other => scalar_value(other),
    }
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
    // `Value` serializes untagged: exactly the JSON scalar or array.
    Json::Object(
        meta.iter().map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Json::Null))).collect::<Map<_, _>>(),
    )
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
    fn odd_keys_and_long_strings_are_kept_verbatim_and_indexed_safely() {
        let long = "é".repeat(3000);
        let p = json!({"": 1, "k".repeat(300): 2, "a": {"": 3}, "t": long});
        let meta = to_metadata(Some(&p)).unwrap();
        assert_eq!(from_metadata(&meta), p, "every key comes back");
        assert!(!meta.contains_key("") && !meta.keys().any(|k| k.len() > 256), "unfilterable paths are not indexed");
        assert_eq!(meta["a."], Value::Int(3));
        let Value::Str(t) = &meta["t"] else { panic!("t is a string") };
        assert!(t.len() > INDEXED_STRING_BYTES_MAX && long.starts_with(t.as_str()), "a prefix longer than any operand");
    }

    #[test]
    fn too_many_paths_or_bytes_are_refused() {
        let many: Map<String, Json> = (0..METADATA_FIELDS_MAX).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(to_metadata(Some(&Json::Object(many))).is_err());
        let huge = json!({"t": "x".repeat(crate::limits::METADATA_BYTES_MAX)});
        assert!(to_metadata(Some(&huge)).unwrap_err().message.contains("payload too large"));
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
