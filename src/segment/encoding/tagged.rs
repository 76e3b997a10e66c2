//! Self-describing ("tagged") encoding of one `Value`, used by Any columns,
//! by pages whose values do not fit their column's kind, and by zone maps.
//!
//! tag u8: 0 Null | 1 false | 2 true | 3 Int (i64) | 4 Float (f64 bits) |
//! 5 Str (u32 len + UTF-8 bytes) | 6 List (u32 count + count tagged values).

use super::reader::Reader;
use super::{DecodeError, Value, TAGGED_DEPTH_MAX};

const T_NULL: u8 = 0;
const T_FALSE: u8 = 1;
const T_TRUE: u8 = 2;
const T_INT: u8 = 3;
const T_FLOAT: u8 = 4;
const T_STR: u8 = 5;
const T_LIST: u8 = 6;

/// Appends the tagged encoding of `v`.
pub(crate) fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(T_NULL),
        Value::Bool(false) => out.push(T_FALSE),
        Value::Bool(true) => out.push(T_TRUE),
        Value::Int(i) => {
            out.push(T_INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(f) => {
            out.push(T_FLOAT);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Str(s) => {
            out.push(T_STR);
            out.extend_from_slice(&len_u32(s.len()).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::List(items) => {
            out.push(T_LIST);
            out.extend_from_slice(&len_u32(items.len()).to_le_bytes());
            for item in items {
                encode(item, out);
            }
        }
    }
}

/// Encoded size of `v`, saturating.
pub(crate) fn encoded_len(v: &Value) -> u64 {
    match v {
        Value::Null | Value::Bool(_) => 1,
        Value::Int(_) | Value::Float(_) => 9,
        Value::Str(s) => 5 + s.len() as u64,
        Value::List(items) => items.iter().fold(5u64, |acc, i| acc.saturating_add(encoded_len(i))),
    }
}

fn len_u32(n: usize) -> u32 {
    // Pages are capped at PAGE_BYTES_MAX (< 4 GiB) before anything is encoded.
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Decodes one tagged value.
pub(crate) fn decode(r: &mut Reader<'_>, depth: usize) -> Result<Value, DecodeError> {
    let at = r.pos();
    let tag = r.u8("value tag")?;
    Ok(match tag {
        T_NULL => Value::Null,
        T_FALSE => Value::Bool(false),
        T_TRUE => Value::Bool(true),
        T_INT => Value::Int(r.i64("int value")?),
        T_FLOAT => Value::Float(f64::from_bits(r.u64("float value")?)),
        T_STR => {
            let len = r.u32("string length")? as usize;
            let at = r.pos();
            let b = r.bytes(len, "string bytes")?;
            Value::Str(utf8(r, at, b)?)
        }
        T_LIST => {
            if depth >= TAGGED_DEPTH_MAX {
                return Err(r.err_at(at, format!("lists nested deeper than {TAGGED_DEPTH_MAX}")));
            }
            let count = r.u32("list length")? as usize;
            // Every item takes at least one byte: bounds the allocation.
            if count > r.remaining() {
                return Err(r.err(format!("list of {count} items in {} bytes", r.remaining())));
            }
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                items.push(decode(r, depth + 1)?);
            }
            Value::List(items)
        }
        t => return Err(r.err_at(at, format!("unknown value tag {t}"))),
    })
}

/// Validates UTF-8 read at position `at`.
pub(crate) fn utf8(r: &Reader<'_>, at: usize, b: &[u8]) -> Result<String, DecodeError> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok(s.to_owned()),
        Err(e) => Err(r.err_at(at + e.valid_up_to(), "string is not valid UTF-8")),
    }
}
