//! Checks at the API boundary. Everything here runs before any state changes,
//! so bad input never leaves a trace.

use std::collections::BTreeMap;

use crate::model::document::metadata_bytes;
use crate::model::error::invalid;
use crate::model::limits::*;
use crate::{Distance, Error, Result, Value};

/// Collection names: 1–64 bytes of `[A-Za-z0-9_-]`, not starting with `-`.
pub(crate) fn collection_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= COLLECTION_NAME_BYTES_MAX
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "collection name {name:?} must be 1..={COLLECTION_NAME_BYTES_MAX} characters of A-Z a-z 0-9 _ - (not starting with -)"
        )))
    }
}

/// Document ids: non-empty, at most `ID_BYTES_MAX` bytes, no NUL.
pub(crate) fn doc_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(invalid("document id is empty"));
    }
    if id.len() > ID_BYTES_MAX {
        return Err(invalid(format!("document id is {} bytes, limit {ID_BYTES_MAX}", id.len())));
    }
    if id.contains('\0') {
        return Err(invalid("document id contains NUL"));
    }
    Ok(())
}

/// Vectors: the collection's dimension, finite components, non-zero for cosine.
pub(crate) fn vector(v: &[f32], dimension: usize, distance: Distance) -> Result<()> {
    if v.len() != dimension {
        return Err(Error::DimensionMismatch { expected: dimension, got: v.len() });
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(invalid(format!("vector component {i} is {} (must be finite)", v[i])));
    }
    if distance == Distance::Cosine && v.iter().all(|x| *x == 0.0) {
        return Err(invalid("zero vector has no direction (cosine distance)"));
    }
    Ok(())
}

/// Metadata: bounded keys, fields, size and nesting; finite floats.
pub(crate) fn metadata(m: &BTreeMap<String, Value>) -> Result<()> {
    if m.len() > METADATA_FIELDS_MAX {
        return Err(invalid(format!("{} metadata fields, limit {METADATA_FIELDS_MAX}", m.len())));
    }
    for (k, v) in m {
        if k.is_empty() || k.len() > METADATA_KEY_BYTES_MAX {
            return Err(invalid(format!("metadata key {k:?} must be 1..={METADATA_KEY_BYTES_MAX} bytes")));
        }
        value(k, v, 0)?;
    }
    let bytes = metadata_bytes(m);
    if bytes > METADATA_BYTES_MAX {
        return Err(invalid(format!("metadata is {bytes} bytes, limit {METADATA_BYTES_MAX}")));
    }
    Ok(())
}

fn value(key: &str, v: &Value, depth: usize) -> Result<()> {
    match v {
        Value::Float(f) if !f.is_finite() => Err(invalid(format!("metadata {key:?} is {f} (must be finite)"))),
        Value::List(_) if depth >= NESTING_MAX => Err(invalid(format!("metadata {key:?} nested too deeply"))),
        Value::List(items) => items.iter().try_for_each(|i| value(key, i, depth + 1)),
        _ => Ok(()),
    }
}

/// k: 1..=K_MAX.
pub(crate) fn k(k: usize) -> Result<()> {
    if k == 0 || k > K_MAX {
        return Err(invalid(format!("k must be 1..={K_MAX}, got {k}")));
    }
    Ok(())
}

/// ef: 1..=EF_MAX.
pub(crate) fn ef(ef: usize) -> Result<()> {
    if ef == 0 || ef > EF_MAX {
        return Err(invalid(format!("ef must be 1..={EF_MAX}, got {ef}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names() {
        for good in ["a", "docs_2024", "A-b"] {
            assert!(collection_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "a b", "a/b", "..", "é", &"x".repeat(65)] {
            assert!(collection_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn vectors() {
        assert!(matches!(vector(&[1.0], 2, Distance::L2), Err(Error::DimensionMismatch { expected: 2, got: 1 })));
        assert!(vector(&[1.0, f32::NAN], 2, Distance::L2).is_err());
        assert!(vector(&[1.0, f32::INFINITY], 2, Distance::L2).is_err());
        assert!(vector(&[0.0, 0.0], 2, Distance::Cosine).is_err());
        assert!(vector(&[0.0, 0.0], 2, Distance::L2).is_ok());
    }

    #[test]
    fn metadata_limits() {
        let mut m = BTreeMap::new();
        m.insert("f".to_string(), Value::Float(f64::NAN));
        assert!(metadata(&m).is_err());
        let mut m = BTreeMap::new();
        m.insert(String::new(), Value::Int(1));
        assert!(metadata(&m).is_err());
        let mut m = BTreeMap::new();
        m.insert("big".to_string(), Value::Str("x".repeat(METADATA_BYTES_MAX)));
        assert!(metadata(&m).is_err());
    }
}
