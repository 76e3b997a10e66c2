//! Column encoding for immutable segment files.
//!
//! A segment stores, per metadata field, one column of `rows` values; each row
//! is absent or present. Columns are cut into pages of at most
//! [`PAGE_ROWS_MAX`] rows and at most [`PAGE_BYTES_MAX`] raw payload bytes.
//! [`encode_page`] picks the smallest encoding for the data, [`decode_page`] /
//! [`decode_row`] read it back validating everything (checksum first), and
//! [`ZoneMap`] carries per-page statistics for filter push-down.
//!
//! The byte layout is documented in `docs/FORMAT.md` (sections "Column page
//! encoding" to "Push-down rules").

// The one place that names the crate's `Value`; everything else uses `super::Value`.
pub(crate) use crate::Value;

mod bits;
mod page;
mod payload;
mod reader;
mod tagged;
mod zone;

#[cfg(test)]
mod tests;

#[allow(unused_imports)] // the full page API, for inspection tools and tests
pub use page::{
    decode_page, decode_row, encode_page, page_info, page_rows_fitting, try_encode_page, EncodedPage, PageInfo,
    CRC_LEN, HEADER_LEN,
};
pub use zone::{decode_zone, encode_zone, zone_may_exist, zone_may_match, zone_may_match_in, ZoneMap};

use std::fmt;

/// Most rows in one page.
pub const PAGE_ROWS_MAX: usize = 4096;
/// Largest raw (decompressed) payload of one page, in bytes. Decoding never
/// allocates more than this for a page's payload.
pub const PAGE_BYTES_MAX: usize = 64 << 20;
/// Raw payloads larger than this are tried with zstd; smaller ones with snappy.
pub const ZSTD_MIN_RAW_BYTES: usize = 64 << 10;
/// zstd compression level.
pub const ZSTD_LEVEL: i32 = 3;
/// Longest string kept in a zone map's min / max, in bytes (longer ones are
/// truncated safely, see [`ZoneMap`]).
pub const ZONE_STR_BYTES_MAX: usize = 64;
/// Deepest list nesting the tagged (Any) decoder accepts; deeper pages are
/// refused as corrupt. Must be at least the crate's `NESTING_MAX` (32).
pub const TAGGED_DEPTH_MAX: usize = 64;

/// The logical type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ColumnKind {
    /// Every present value is a `Bool`.
    Bool = 1,
    /// Every present value is an `Int`.
    Int = 2,
    /// Every present value is a `Float`.
    Float = 3,
    /// Every present value is a `Str`.
    Str = 4,
    /// Mixed types, lists or explicit `Null`s: each value is stored as tagged bytes.
    Any = 5,
}

impl ColumnKind {
    /// The kind with this on-disk id, if any.
    pub fn from_u8(b: u8) -> Option<ColumnKind> {
        Some(match b {
            1 => ColumnKind::Bool,
            2 => ColumnKind::Int,
            3 => ColumnKind::Float,
            4 => ColumnKind::Str,
            5 => ColumnKind::Any,
            _ => return None,
        })
    }

    /// Whether `v` is stored natively by a column of this kind.
    pub fn holds(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (ColumnKind::Bool, Value::Bool(_))
                | (ColumnKind::Int, Value::Int(_))
                | (ColumnKind::Float, Value::Float(_))
                | (ColumnKind::Str, Value::Str(_))
                | (ColumnKind::Any, _)
        )
    }
}

/// The physical encoding of a page (the first header byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Encoding {
    /// Bool: one bit per present value.
    BoolBitmap = 1,
    /// Int: `i64` little-endian per present value.
    IntPlain = 2,
    /// Int: frame of reference — minimum, then `value - min` bit-packed.
    IntFor = 3,
    /// Int: first value, then deltas minus their minimum, bit-packed.
    IntDelta = 4,
    /// Float: `f64` bits little-endian per present value.
    FloatPlain = 5,
    /// Str: u32 lengths then UTF-8 bytes, uncompressed.
    StrPlain = 6,
    /// Str: as `StrPlain`, snappy-compressed.
    StrSnappy = 7,
    /// Str: as `StrPlain`, zstd-compressed.
    StrZstd = 8,
    /// Any kind: u32 lengths then tagged values, uncompressed.
    TaggedPlain = 9,
    /// Any kind: as `TaggedPlain`, snappy-compressed.
    TaggedSnappy = 10,
    /// Any kind: as `TaggedPlain`, zstd-compressed.
    TaggedZstd = 11,
    /// Str: sorted dictionary of the distinct strings, then bit-packed indices.
    StrDict = 12,
}

impl Encoding {
    /// The encoding with this on-disk id, if any.
    pub fn from_u8(b: u8) -> Option<Encoding> {
        use Encoding::*;
        Some(match b {
            1 => BoolBitmap,
            2 => IntPlain,
            3 => IntFor,
            4 => IntDelta,
            5 => FloatPlain,
            6 => StrPlain,
            7 => StrSnappy,
            8 => StrZstd,
            9 => TaggedPlain,
            10 => TaggedSnappy,
            11 => TaggedZstd,
            12 => StrDict,
            _ => return None,
        })
    }

    /// Whether a page of this encoding may appear in a column of `kind`.
    /// Tagged encodings are accepted for every kind (the encoder falls back to
    /// them when a value does not fit the column's kind).
    pub fn fits(self, kind: ColumnKind) -> bool {
        use Encoding::*;
        match self {
            BoolBitmap => kind == ColumnKind::Bool,
            IntPlain | IntFor | IntDelta => kind == ColumnKind::Int,
            FloatPlain => kind == ColumnKind::Float,
            StrPlain | StrSnappy | StrZstd | StrDict => kind == ColumnKind::Str,
            TaggedPlain | TaggedSnappy | TaggedZstd => true,
        }
    }

    pub(crate) fn compression(self) -> Compression {
        use Encoding::*;
        match self {
            StrSnappy | TaggedSnappy => Compression::Snappy,
            StrZstd | TaggedZstd => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Snappy,
    Zstd,
}

/// Chooses the kind of a column: the single scalar type shared by every
/// present value, else [`ColumnKind::Any`] (mixed types — Int and Float mixed
/// included, so values round-trip exactly —, lists, explicit `Null`s). A
/// column with no present value is `Any`.
pub fn column_kind(values: &[Option<&Value>]) -> ColumnKind {
    let mut kind: Option<ColumnKind> = None;
    for v in values.iter().flatten() {
        let k = match v {
            Value::Bool(_) => ColumnKind::Bool,
            Value::Int(_) => ColumnKind::Int,
            Value::Float(_) => ColumnKind::Float,
            Value::Str(_) => ColumnKind::Str,
            Value::Null | Value::List(_) => return ColumnKind::Any,
        };
        match kind {
            None => kind = Some(k),
            Some(prev) if prev != k => return ColumnKind::Any,
            Some(_) => {}
        }
    }
    kind.unwrap_or(ColumnKind::Any)
}

/// A page (or zone map) that failed validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Offset within the decoded `bytes` where the problem was found. For a
    /// problem inside a compressed payload it is the payload's start (the
    /// detail then names the offset within the decompressed bytes).
    pub offset: usize,
    /// What was wrong.
    pub detail: String,
}

impl DecodeError {
    pub(crate) fn new(offset: usize, detail: impl Into<String>) -> DecodeError {
        DecodeError { offset, detail: detail.into() }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "corrupt column page at byte {}: {}", self.offset, self.detail)
    }
}

impl std::error::Error for DecodeError {}

/// A page that cannot be encoded: too many rows or too many bytes. Use
/// [`page_rows_fitting`] to cut pages that always encode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError {
    /// What was too large.
    pub detail: String,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot encode column page: {}", self.detail)
    }
}

impl std::error::Error for EncodeError {}
