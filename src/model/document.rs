//! Documents and metadata values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A metadata value.
///
/// Serialised untagged, so metadata reads naturally as JSON:
/// `{"title": "Hello", "year": 2024, "tags": ["a", "b"]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// Absent / null.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A float (must be finite when stored).
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// A list of values; filters match if any element matches.
    List(Vec<Value>),
}

macro_rules! value_from {
    ($($t:ty => $variant:ident as $conv:ty),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::$variant(<$conv>::from(v)) }
        })*
    };
}
value_from!(bool => Bool as bool, i32 => Int as i64, i64 => Int as i64, u32 => Int as i64,
            f32 => Float as f64, f64 => Float as f64, String => Str as String);

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Str(v.clone())
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A document: an id, an embedding vector and metadata.
///
/// ```
/// use vego::{Document, Value};
/// let doc = Document::new("doc-1", vec![0.1, 0.2, 0.3])
///     .with("title", "Hello")
///     .with("year", 2024);
/// assert_eq!(doc.metadata["year"], Value::Int(2024));
/// assert_eq!(doc.version, 0);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Unique id within its collection.
    pub id: String,
    /// The embedding.
    pub vector: Vec<f32>,
    /// Metadata fields.
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
    /// 0 on a document the caller builds; on a document the store returns, the
    /// sequence number of the write that produced it (the token for
    /// `update_if` / `delete_if`).
    #[serde(default)]
    pub version: u64,
}

impl Document {
    /// A document with no metadata.
    pub fn new(id: impl Into<String>, vector: Vec<f32>) -> Document {
        Document { id: id.into(), vector, metadata: BTreeMap::new(), version: 0 }
    }

    /// Adds (or replaces) one metadata field.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Document {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Bytes of the id, the vector (4 per component) and the metadata
    /// ([`metadata_bytes`]): what memtable accounting counts.
    pub(crate) fn payload_bytes(&self) -> usize {
        self.id.len() + 4 * self.vector.len() + metadata_bytes(&self.metadata)
    }
}

/// The size of `m` as the metadata limit (`METADATA_BYTES_MAX`) counts it: a
/// u32 field count, then per field a u16 key length, the key and the value
/// (a tag byte; 8 bytes of a number; a u32 length and the bytes of a string;
/// a u32 count and the items of a list). The WAL payload lays metadata out
/// exactly so (its round-trip test checks the encoded length against this).
pub(crate) fn metadata_bytes(m: &BTreeMap<String, Value>) -> usize {
    4 + m.iter().map(|(k, v)| 2 + k.len() + value_bytes(v)).sum::<usize>()
}

fn value_bytes(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) => 1,
        Value::Int(_) | Value::Float(_) => 9,
        Value::Str(s) => 5 + s.len(),
        Value::List(items) => 5 + items.iter().map(value_bytes).sum::<usize>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_from_plain_types() {
        assert_eq!(Value::from(3i32), Value::Int(3));
        assert_eq!(Value::from(3u32), Value::Int(3));
        assert_eq!(Value::from(1.5f32), Value::Float(1.5));
        assert_eq!(Value::from("x"), Value::Str("x".into()));
        assert_eq!(Value::from(vec![1, 2]), Value::List(vec![Value::Int(1), Value::Int(2)]));
        assert_eq!(Value::from(None::<i64>), Value::Null);
    }

    #[test]
    fn document_json_is_natural() {
        let d = Document::new("a", vec![1.0]).with("n", 2).with("s", "t").with("f", 0.5);
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains(r#""metadata":{"f":0.5,"n":2,"s":"t"}"#), "{json}");
        let back: Document = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
    }
}
