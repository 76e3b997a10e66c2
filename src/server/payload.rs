//! Qdrant payloads (any JSON object) stored as document metadata.
//!
//! The payload is kept verbatim in one reserved field, so it comes back
//! exactly as written (nesting, integer vs float, any key). What filters need
//! of it is also stored as fields of their own, so filters on payload paths
//! become metadata filters that segments push down to zone maps. For every
//! path made of keys and `[]` steps each followed by a key (`city.name`,
//! `shops[].id`; see `path.rs` for the spelling), with `S` = the JSON values
//! the path selects (Qdrant's `value_by_key(flat=False)`: a key step reads an
//! object's key, a `[]` step every element of an array) and `F` = `S` with
//! arrays flattened one level (what `match` and `range` test):
//!
//! * field `P`: the non-null scalars of `F` (a list when they come from
//!   arrays or several values), if there are any;
//! * field `\u{1}P`, only when non-zero, an integer of bits: [`OTHER`] (`F`
//!   holds an object or an array, which `except` counts as a value not
//!   listed), [`NULL`] (`S` holds null or an array with a null element:
//!   Qdrant's `is_null`), [`NONEMPTY`] (`S` holds something other than null
//!   and `[]`, and field `P` does not say so already: `is_empty` is false).
//!
//! Paths with an index (`a[0]`), a trailing `[]` or `[][]` are not indexed;
//! filters on them are refused (`filter.rs`).
//!
//! Limits, each refused with a clear error rather than answered wrongly:
//! a path is filterable if its canonical spelling is
//! 1..=`METADATA_KEY_BYTES_MAX - 1` bytes (longer paths are stored, not
//! indexed, and filters on them get 400); a point has at most
//! `METADATA_FIELDS_MAX - 1` indexed fields; strings longer than
//! `INDEXED_STRING_BYTES_MAX` are indexed by a longer prefix, so they never
//! equal a match operand (which may be at most that long) and still count as
//! present and as "not among" an `except` list.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::error::ApiError;
use super::path::{self, Step};
use crate::model::limits::{METADATA_FIELDS_MAX, METADATA_KEY_BYTES_MAX};
use crate::Value;

/// The metadata field that holds the verbatim payload.
pub(crate) const RAW_FIELD: &str = "__payload__";

/// Longest string a `match` operand may be, and the longest string indexed
/// whole, in bytes.
pub(crate) const INDEXED_STRING_BYTES_MAX: usize = 1024;

/// Flag bit: the flattened values hold an object or an array.
pub(crate) const OTHER: i64 = 1;
/// Flag bit: a selected value is null or an array with a null element.
pub(crate) const NULL: i64 = 2;
/// Flag bit: a selected value is not null and not `[]`, and there is no
/// scalar field to say so.
pub(crate) const NONEMPTY: i64 = 4;

/// Can filters name this canonical path? (Whether `to_metadata` indexes it.)
pub(crate) fn is_filterable_path(path: &str) -> bool {
    !path.is_empty() && path.len() < METADATA_KEY_BYTES_MAX && path != RAW_FIELD
}

/// The field holding the flag bits of a canonical path.
pub(crate) fn flags_field(path: &str) -> String {
    format!("\u{1}{path}")
}

/// Metadata for a payload: the verbatim JSON plus the indexed fields.
pub(crate) fn to_metadata(payload: Option<&Json>) -> Result<BTreeMap<String, Value>, ApiError> {
    let obj = match payload {
        None | Some(Json::Null) => return Ok(BTreeMap::new()),
        Some(Json::Object(o)) => o,
        Some(other) => return Err(ApiError::bad_request(format!("payload must be a JSON object, got {other}"))),
    };
    if obj.contains_key(RAW_FIELD) {
        return Err(ApiError::bad_request(format!("payload key {RAW_FIELD:?} is reserved")));
    }
    let mut selected: BTreeMap<String, Vec<&Json>> = BTreeMap::new();
    for (k, v) in obj {
        if let Some(p) = path::canonical(&[Step::Key(k.clone())]) {
            collect(p, v, &mut selected);
        }
    }
    let mut meta = BTreeMap::new();
    for (p, nodes) in selected.into_iter().filter(|(p, _)| is_filterable_path(p)) {
        let (value, flags) = index_values(&nodes);
        if let Some(v) = value {
            meta.insert(p.clone(), v);
        }
        if flags != 0 {
            meta.insert(flags_field(&p), Value::Int(flags));
        }
    }
    if meta.len() >= METADATA_FIELDS_MAX {
        return Err(ApiError::bad_request(format!(
            "payload has {} indexed fields (one per filterable path, one more for a path with null, \
             empty or nested values), limit {}",
            meta.len(),
            METADATA_FIELDS_MAX - 1
        )));
    }
    meta.insert(RAW_FIELD.to_owned(), Value::Str(Json::Object(obj.clone()).to_string()));
    crate::model::validate::metadata(&meta).map_err(|e| {
        let message = format!("payload too large: {e}");
        ApiError::from(e).with_message(message)
    })?;
    Ok(meta)
}

/// Records `node` as selected by the canonical path `p`, then what the
/// indexed paths below it select: an object's keys (`p.k`) and the keys of
/// an array's object elements (`p[].k`). (Depth is bounded by serde_json's
/// recursion limit on the parsed body.)
fn collect<'a>(p: String, node: &'a Json, out: &mut BTreeMap<String, Vec<&'a Json>>) {
    let child = |sep: &str, k: &str| path::canonical(&[Step::Key(k.to_owned())]).map(|k| format!("{p}{sep}{k}"));
    match node {
        Json::Object(m) => {
            for (k, v) in m {
                if let Some(c) = child(".", k) {
                    collect(c, v, out);
                }
            }
        }
        Json::Array(items) => {
            for m in items.iter().filter_map(Json::as_object) {
                for (k, v) in m {
                    if let Some(c) = child("[].", k) {
                        collect(c, v, out);
                    }
                }
            }
        }
        _ => {}
    }
    out.entry(p).or_default().push(node);
}

/// The scalar field and the flag bits of the values a path selects.
fn index_values(nodes: &[&Json]) -> (Option<Value>, i64) {
    let mut scalars = Vec::new();
    let mut flags = 0;
    let mut nonempty = false;
    let mut from_array = nodes.len() > 1;
    for node in nodes {
        match node {
            Json::Null => flags |= NULL,
            Json::Object(_) => {
                flags |= OTHER;
                nonempty = true;
            }
            Json::Array(items) => {
                from_array = true;
                nonempty |= !items.is_empty();
                for x in items.iter() {
                    match x {
                        Json::Null => flags |= NULL,
                        Json::Object(_) | Json::Array(_) => flags |= OTHER,
                        scalar => scalars.push(indexed(scalar)),
                    }
                }
            }
            scalar => {
                nonempty = true;
                scalars.push(indexed(scalar));
            }
        }
    }
    if nonempty && scalars.is_empty() {
        flags |= NONEMPTY;
    }
    let value = match scalars.len() {
        0 => None,
        1 if !from_array => scalars.pop(),
        _ => Some(Value::List(scalars)),
    };
    (value, flags)
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

/// What `with_payload` selects: everything, nothing, or the parts of the
/// payload under some paths (Qdrant's `PayloadSelectorInclude` / `Exclude`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Selector {
    All,
    None,
    Include(Tree),
    Exclude(Tree),
}

/// The paths of a selector merged into a prefix tree: `a.b`, `c[]`, `d[0]`
/// → `{a: {b: *}, c: {[]: *}, d: {[0]: *}}`, where `*` selects everything
/// below (as qdrant-client's local mode builds it).
#[derive(Clone, Debug, PartialEq, Default)]
pub(crate) struct Tree(BTreeMap<TreeKey, Node>);

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TreeKey {
    Key(String),
    Index(u64),
    All,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Everything,
    Below(Tree),
}

impl Tree {
    fn build(paths: &[String]) -> Result<Tree, ApiError> {
        let mut tree = Tree::default();
        for p in paths {
            let steps = path::parse(p)?;
            let keys: Vec<TreeKey> = steps
                .into_iter()
                .map(|s| match s {
                    Step::Key(k) => TreeKey::Key(k),
                    Step::Index(n) => TreeKey::Index(n),
                    Step::All => TreeKey::All,
                })
                .collect();
            tree.insert(&keys);
        }
        Ok(tree)
    }

    /// Adds one path (a shorter path already selecting everything wins).
    fn insert(&mut self, keys: &[TreeKey]) {
        let Some((first, rest)) = keys.split_first() else { return };
        if rest.is_empty() {
            self.0.insert(first.clone(), Node::Everything);
            return;
        }
        if let Node::Below(t) = self.0.entry(first.clone()).or_insert_with(|| Node::Below(Tree::default())) {
            t.insert(rest);
        }
    }

    fn get_key(&self, k: &str) -> Option<&Node> {
        self.0.get(&TreeKey::Key(k.to_owned()))
    }

    fn include(&self, v: Json) -> Json {
        match v {
            Json::Object(m) => Json::Object(
                m.into_iter()
                    .filter_map(|(k, x)| match self.get_key(&k)? {
                        Node::Everything => Some((k, x)),
                        Node::Below(t) => Some((k, t.include(x))),
                    })
                    .collect(),
            ),
            // Only `[]` applies to elements (`a[0]` selects nothing, as in Qdrant).
            Json::Array(items) => match self.0.get(&TreeKey::All) {
                None => Json::Array(Vec::new()),
                Some(Node::Everything) => Json::Array(items),
                Some(Node::Below(t)) => Json::Array(items.into_iter().map(|x| t.include(x)).collect()),
            },
            scalar => scalar,
        }
    }

    fn exclude(&self, v: Json) -> Json {
        match v {
            Json::Object(m) => Json::Object(
                m.into_iter()
                    .filter_map(|(k, x)| match self.get_key(&k) {
                        None => Some((k, x)),
                        Some(Node::Everything) => None,
                        Some(Node::Below(t)) => Some((k, t.exclude(x))),
                    })
                    .collect(),
            ),
            Json::Array(items) => match self.0.get(&TreeKey::All) {
                None => Json::Array(items),
                Some(Node::Everything) => Json::Array(Vec::new()),
                Some(Node::Below(t)) => Json::Array(items.into_iter().map(|x| t.exclude(x)).collect()),
            },
            scalar => scalar,
        }
    }
}

impl Selector {
    /// Parses `with_payload` (`true`, `false`, `["a.b"]`, `{"include": …}`,
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
            Some(a @ Json::Array(_)) => Ok(Selector::Include(Tree::build(&keys(a)?)?)),
            Some(Json::Object(o)) if o.len() == 1 && o.contains_key("include") => {
                Ok(Selector::Include(Tree::build(&keys(&o["include"])?)?))
            }
            Some(Json::Object(o)) if o.len() == 1 && o.contains_key("exclude") => {
                Ok(Selector::Exclude(Tree::build(&keys(&o["exclude"])?)?))
            }
            Some(other) => Err(ApiError::bad_request(format!("with_payload: unsupported value {other}"))),
        }
    }

    /// The selected part of a payload; `None` if none is wanted.
    pub fn apply(&self, payload: Json) -> Option<Json> {
        match self {
            Selector::All => Some(payload),
            Selector::None => None,
            Selector::Include(t) => Some(t.include(payload)),
            Selector::Exclude(t) => Some(t.exclude(payload)),
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
        assert!(!meta.contains_key("c.e"), "null is no value");
        assert_eq!(meta[&flags_field("c.e")], Value::Int(NULL));
        assert_eq!(meta[&flags_field("c")], Value::Int(OTHER | NONEMPTY), "an object is a value for except");
        assert_eq!(meta["f[].g"], Value::List(vec!["x".into(), "y".into()]));
        assert_eq!(meta["s"], Value::List(vec!["one".into()]), "a one-element array stays a list");
        assert!(!meta.contains_key("h") && !meta.contains_key(&flags_field("h")), "empty arrays store nothing");
    }

    #[test]
    fn odd_keys_and_long_strings_are_kept_verbatim_and_indexed_safely() {
        let long = "é".repeat(3000);
        let p = json!({"": 1, "k".repeat(300): 2, "a": {"": 3}, "t": long});
        let meta = to_metadata(Some(&p)).unwrap();
        assert_eq!(from_metadata(&meta), p, "every key comes back");
        assert!(!meta.keys().any(|k| k.len() > 256), "unfilterable paths are not indexed");
        assert_eq!(meta["\"\""], Value::Int(1), "the empty key, quoted");
        assert_eq!(meta["a.\"\""], Value::Int(3));
        let Value::Str(t) = &meta["t"] else { panic!("t is a string") };
        assert!(t.len() > INDEXED_STRING_BYTES_MAX && long.starts_with(t.as_str()), "a prefix longer than any operand");
    }

    #[test]
    fn too_many_paths_or_bytes_are_refused() {
        let many: Map<String, Json> = (0..METADATA_FIELDS_MAX).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(to_metadata(Some(&Json::Object(many))).is_err());
        let huge = json!({"t": "x".repeat(crate::model::limits::METADATA_BYTES_MAX)});
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
        assert!(Selector::parse(Some(&json!(["a..b"])), false).is_err());
    }

    /// Issue 13: `{"include": ["country.name"]}` returned `{}` and a nested
    /// `exclude` was ignored.
    #[test]
    fn with_payload_include_and_exclude_follow_nested_paths() {
        let p = json!({"country": {"name": "NO", "code": 47}, "shops": [{"id": 1, "x": 2}, {"id": 3}], "n": [1, 2]});
        let sel = |v: Json| Selector::parse(Some(&v), false).unwrap().apply(p.clone()).unwrap();
        assert_eq!(sel(json!({"include": ["country.name"]})), json!({"country": {"name": "NO"}}));
        assert_eq!(sel(json!({"include": ["shops[].id", "n"]})), json!({"shops": [{"id": 1}, {"id": 3}], "n": [1, 2]}));
        assert_eq!(sel(json!({"include": ["shops[0]"]})), json!({"shops": []}), "an index selects nothing");
        assert_eq!(
            sel(json!({"include": ["country", "country.name"]})),
            json!({"country": {"name": "NO", "code": 47}})
        );
        assert_eq!(
            sel(json!({"exclude": ["country.code", "shops[].x"]})),
            json!({"country": {"name": "NO"}, "shops": [{"id": 1}, {"id": 3}], "n": [1, 2]})
        );
        assert_eq!(
            sel(json!({"exclude": ["n[]"]})),
            json!({"country": {"name": "NO", "code": 47}, "shops": [{"id": 1, "x": 2}, {"id": 3}], "n": []})
        );
    }
}
