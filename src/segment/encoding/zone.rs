//! Zone maps: per-page statistics for filter push-down.

use std::cmp::Ordering;

use super::reader::Reader;
use super::{tagged, ColumnKind, DecodeError, Value, ZONE_STR_BYTES_MAX};

/// Statistics of one page.
///
/// * `present`: rows holding a value other than `Null` (absent rows and
///   explicit `Null`s are not counted).
/// * `min` / `max`: bounds of the present values, set only for Bool, Int,
///   Float and Str pages whose values all have the page's kind (never for
///   Any or tagged-fallback pages, nor for Float pages holding a NaN); both
///   `None` when unknown or when no value is present. They are *bounds*: every
///   value v satisfies `min <= v <= max`, not necessarily with equality.
/// * Strings longer than [`ZONE_STR_BYTES_MAX`] bytes are cut: `min` to its
///   longest prefix of at most that many bytes on a char boundary (a prefix
///   sorts before the string), `max` to such a prefix whose last char is then
///   replaced by its successor code point (dropping trailing U+10FFFF chars),
///   which sorts after every string with that prefix. If no successor exists
///   both bounds are dropped (`None`, i.e. unknown).
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneMap {
    /// Rows in the page.
    pub rows: u32,
    /// Rows with a non-`Null` value.
    pub present: u32,
    /// Lower bound of the present values, if known.
    pub min: Option<Value>,
    /// Upper bound of the present values, if known.
    pub max: Option<Value>,
}

/// A comparison operator of a filter: the API's own operator type.
pub use crate::model::filter::Op as CmpOp;

/// Computes the zone map of a page of `kind` whose present values (all
/// fitting `kind`) are `present`.
pub(crate) fn compute(kind: ColumnKind, rows: usize, present: &[&Value]) -> ZoneMap {
    let non_null = present.iter().filter(|v| !matches!(v, Value::Null)).count();
    let mut z = ZoneMap { rows: rows as u32, present: non_null as u32, min: None, max: None };
    if present.is_empty() {
        return z;
    }
    match kind {
        ColumnKind::Any => {}
        ColumnKind::Float if present.iter().any(|v| matches!(v, Value::Float(f) if f.is_nan())) => {}
        ColumnKind::Str => {
            let strs = present.iter().filter_map(|v| if let Value::Str(s) = v { Some(s.as_str()) } else { None });
            let (lo, hi) = strs.fold((None::<&str>, None::<&str>), |(lo, hi), s| {
                (Some(lo.map_or(s, |l| l.min(s))), Some(hi.map_or(s, |h| h.max(s))))
            });
            if let (Some(lo), Some(hi)) = (lo, hi) {
                if let Some(hi) = str_upper_bound(hi) {
                    z.min = Some(Value::Str(str_prefix(lo).to_owned()));
                    z.max = Some(Value::Str(hi));
                }
            }
        }
        _ => {
            let mut lo = present[0];
            let mut hi = present[0];
            for v in &present[1..] {
                if compare(v, lo) == Some(Ordering::Less) {
                    lo = v;
                }
                if compare(v, hi) == Some(Ordering::Greater) {
                    hi = v;
                }
            }
            z.min = Some(lo.clone());
            z.max = Some(hi.clone());
        }
    }
    z
}

/// Longest prefix of `s` of at most ZONE_STR_BYTES_MAX bytes on a char boundary.
fn str_prefix(s: &str) -> &str {
    if s.len() <= ZONE_STR_BYTES_MAX {
        return s;
    }
    let mut end = ZONE_STR_BYTES_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A string of at most ZONE_STR_BYTES_MAX bytes sorting at or after `s`.
fn str_upper_bound(s: &str) -> Option<String> {
    if s.len() <= ZONE_STR_BYTES_MAX {
        return Some(s.to_owned());
    }
    let mut chars: Vec<char> = str_prefix(s).chars().collect();
    while let Some(c) = chars.pop() {
        let next = match c as u32 {
            0xD7FF => Some('\u{E000}'),
            n => char::from_u32(n + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Orders two scalars as the filter does; `None` if incomparable.
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    use Value::*;
    match (a, b) {
        (Null, Null) => Some(Ordering::Equal),
        (Bool(x), Bool(y)) => Some(x.cmp(y)),
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Float(x), Float(y)) => x.partial_cmp(y),
        (Int(x), Float(y)) => (*x as f64).partial_cmp(y),
        (Float(x), Int(y)) => x.partial_cmp(&(*y as f64)),
        (Str(x), Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

/// Serialises a zone map: rows u32, present u32, then min and max, each a
/// byte 0 (none) or 1 followed by a tagged value. No checksum: the
/// enclosing page index carries one.
pub fn encode_zone(z: &ZoneMap) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&z.rows.to_le_bytes());
    out.extend_from_slice(&z.present.to_le_bytes());
    for b in [&z.min, &z.max] {
        match b {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                tagged::encode(v, &mut out);
            }
        }
    }
    out
}

/// Reads a zone map from the start of `bytes`; returns it and the bytes used.
/// Refuses `present > rows`, bounds that are not scalars (Null, List, NaN),
/// one bound without the other, and bounds of different types.
pub fn decode_zone(bytes: &[u8]) -> Result<(ZoneMap, usize), DecodeError> {
    let mut r = Reader::new(bytes, 0, true);
    let rows = r.u32("zone rows")?;
    let present = r.u32("zone present")?;
    if present > rows {
        return Err(r.err_at(4, format!("zone has {present} present of {rows} rows")));
    }
    let bound = |r: &mut Reader<'_>| -> Result<Option<Value>, DecodeError> {
        let at = r.pos();
        match r.u8("zone bound marker")? {
            0 => Ok(None),
            1 => {
                let v = tagged::decode(r, 0)?;
                if matches!(v, Value::Null | Value::List(_)) || compare(&v, &v).is_none() {
                    return Err(r.err_at(at, "zone bound is not a comparable scalar"));
                }
                Ok(Some(v))
            }
            m => Err(r.err_at(at, format!("unknown zone bound marker {m}"))),
        }
    };
    let min = bound(&mut r)?;
    let max = bound(&mut r)?;
    match (&min, &max) {
        (None, None) => {}
        (Some(lo), Some(hi)) if std::mem::discriminant(lo) == std::mem::discriminant(hi) => {}
        _ => return Err(r.err_at(8, "zone bounds missing or of different types")),
    }
    Ok((ZoneMap { rows, present, min, max }, r.pos()))
}

/// Conservative: false only if no row of the page can satisfy
/// `field op operand` under the filter's semantics (numeric Int/Float
/// comparison, strings by bytes, other type pairs false; `Ne` true for absent
/// rows and values of another type).
pub fn zone_may_match(z: &ZoneMap, op: CmpOp, operand: &Value) -> bool {
    if z.rows == 0 {
        return false;
    }
    let bounds = match (&z.min, &z.max) {
        // Bounds that do not order with each other are unusable (hand-made zones).
        (Some(lo), Some(hi)) if compare(lo, hi).is_some() => Some((lo, hi)),
        _ => None,
    };
    if op == CmpOp::Ne {
        // False only if every row holds a value equal to the operand.
        if z.present != z.rows {
            return true;
        }
        return match bounds {
            Some((lo, hi)) => {
                !(compare(lo, hi) == Some(Ordering::Equal) && compare(lo, operand) == Some(Ordering::Equal))
            }
            None => true,
        };
    }
    if matches!(operand, Value::Null) {
        // `Null == Null` holds, and Null values are not counted in `present`.
        return true;
    }
    if z.present == 0 {
        return false;
    }
    let Some((lo, hi)) = bounds else { return true };
    // Values lie in [lo, hi]; a value incomparable with the operand never matches.
    let (Some(c_lo), Some(c_hi)) = (compare(lo, operand), compare(hi, operand)) else { return false };
    use Ordering::*;
    match op {
        CmpOp::Eq => c_lo != Greater && c_hi != Less,
        CmpOp::Gt => c_hi == Greater,
        CmpOp::Gte => c_hi != Less,
        CmpOp::Lt => c_lo == Less,
        CmpOp::Lte => c_lo != Greater,
        CmpOp::Ne => true,
    }
}

/// Conservative test of `field in operands` (any row equal to any operand).
pub fn zone_may_match_in(z: &ZoneMap, operands: &[Value]) -> bool {
    operands.iter().any(|o| zone_may_match(z, CmpOp::Eq, o))
}

/// Whether any row of the page may hold a value other than `Null` (`exists`).
pub fn zone_may_exist(z: &ZoneMap) -> bool {
    z.present > 0
}
