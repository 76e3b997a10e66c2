//! Page framing: header, presence bitmap, payload, crc32c.
//!
//! ```text
//! 0   u8   encoding id (see `Encoding`)
//! 1   u8   flags: bit 0 = presence bitmap follows the header; other bits 0
//! 2   u32  rows
//! 6   u32  raw_len: payload bytes after decompression
//! 10  u32  stored_len: payload bytes as stored
//! 14  [ceil(rows/8)] presence bitmap (only with flag bit 0; bit i = row i present)
//! ..  [stored_len] payload
//! ..  u32  crc32c of every byte before it
//! ```

use std::borrow::Cow;

use super::bits;
use super::payload::{self, Ctx};
use super::reader::Reader;
use super::zone::{self, ZoneMap};
use super::{
    tagged, ColumnKind, Compression, DecodeError, EncodeError, Encoding, Value, PAGE_BYTES_MAX, PAGE_ROWS_MAX,
};

/// Bytes of the page header.
pub const HEADER_LEN: usize = 14;
/// Bytes of the trailing checksum.
pub const CRC_LEN: usize = 4;
const FLAG_PRESENCE: u8 = 1;

/// One encoded page and its statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedPage {
    /// The page, checksum included.
    pub bytes: Vec<u8>,
    /// Statistics of the page's values, to store in the segment's page index.
    pub zone: ZoneMap,
}

/// What a page's header says (after its checksum was verified).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // header facts for the file inspector; exercised by the tests
pub struct PageInfo {
    /// How the payload is encoded.
    pub encoding: Encoding,
    /// Rows in the page.
    pub rows: u32,
    /// Rows with a value (`rows` when there is no presence bitmap).
    pub present: u32,
    /// Payload bytes after decompression.
    pub raw_len: u32,
    /// Payload bytes as stored.
    pub stored_len: u32,
}

/// Bytes a value takes in a page's raw payload of this kind (upper bound for Int).
fn raw_cost(kind: ColumnKind, v: &Value) -> u64 {
    match (kind, v) {
        (ColumnKind::Bool, Value::Bool(_)) => 1,
        (ColumnKind::Int, Value::Int(_)) | (ColumnKind::Float, Value::Float(_)) => 8,
        (ColumnKind::Str, Value::Str(s)) => 4 + s.len() as u64,
        _ => 4 + tagged::encoded_len(v),
    }
}

/// How many leading `values` make one page that [`try_encode_page`] accepts:
/// at most [`PAGE_ROWS_MAX`] rows and at most [`PAGE_BYTES_MAX`] raw bytes.
/// At least 1 when `values` is not empty (a single value larger than a page
/// still does not encode: callers bound value sizes far below that).
pub fn page_rows_fitting(kind: ColumnKind, values: &[Option<&Value>]) -> usize {
    // A value that does not fit the kind turns the whole page tagged.
    let mut total_kind = 0u64;
    let mut total_tagged = 0u64;
    let mut fits = true;
    for (i, v) in values.iter().take(PAGE_ROWS_MAX).enumerate() {
        if let Some(v) = v {
            fits &= kind.holds(v);
            total_kind += raw_cost(kind, v);
            total_tagged += raw_cost(ColumnKind::Any, v);
            let total = if fits { total_kind } else { total_tagged };
            if total > PAGE_BYTES_MAX as u64 {
                return i.max(1);
            }
        }
    }
    values.len().min(PAGE_ROWS_MAX)
}

/// Encodes one page, choosing the smallest encoding for the data.
///
/// A present value that does not fit `kind` (e.g. a `Str` in an Int column)
/// makes the page tagged (as for [`ColumnKind::Any`]) rather than lose data;
/// [`decode_page`] accepts tagged pages for every kind.
///
/// # Panics
/// If the page is too large (see [`try_encode_page`], [`page_rows_fitting`]).
pub fn encode_page(kind: ColumnKind, values: &[Option<&Value>]) -> EncodedPage {
    match try_encode_page(kind, values) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

/// [`encode_page`], refusing pages of more than [`PAGE_ROWS_MAX`] rows or
/// [`PAGE_BYTES_MAX`] raw payload bytes.
pub fn try_encode_page(kind: ColumnKind, values: &[Option<&Value>]) -> Result<EncodedPage, EncodeError> {
    let rows = values.len();
    if rows > PAGE_ROWS_MAX {
        return Err(EncodeError { detail: format!("{rows} rows > PAGE_ROWS_MAX {PAGE_ROWS_MAX}") });
    }
    let present: Vec<&Value> = values.iter().flatten().copied().collect();
    let kind = if present.iter().all(|v| kind.holds(v)) { kind } else { ColumnKind::Any };
    let raw_bound: u64 = present.iter().map(|v| raw_cost(kind, v)).sum();
    if raw_bound > PAGE_BYTES_MAX as u64 {
        return Err(EncodeError { detail: format!("{raw_bound} payload bytes > PAGE_BYTES_MAX {PAGE_BYTES_MAX}") });
    }

    let (encoding, raw_len, stored) = match kind {
        ColumnKind::Bool => {
            let raw =
                payload::encode_bools(&present.iter().map(|v| matches!(v, Value::Bool(true))).collect::<Vec<_>>());
            (Encoding::BoolBitmap, raw.len(), raw)
        }
        ColumnKind::Int => {
            let ints: Vec<i64> = present.iter().map(|v| if let Value::Int(i) = v { *i } else { 0 }).collect();
            let (enc, raw) = payload::encode_ints(&ints);
            (enc, raw.len(), raw)
        }
        ColumnKind::Float => {
            let fs: Vec<f64> = present.iter().map(|v| if let Value::Float(f) = v { *f } else { 0.0 }).collect();
            let raw = payload::encode_floats(&fs);
            (Encoding::FloatPlain, raw.len(), raw)
        }
        ColumnKind::Str => {
            let strs: Vec<&str> = present.iter().map(|v| if let Value::Str(s) = v { s.as_str() } else { "" }).collect();
            let raw = payload::encode_slots(strs.iter().map(|s| s.as_bytes()));
            let raw_len = raw.len();
            let (c, stored) = payload::compress(raw);
            let enc = match c {
                Compression::None => Encoding::StrPlain,
                Compression::Snappy => Encoding::StrSnappy,
                Compression::Zstd => Encoding::StrZstd,
            };
            match payload::encode_str_dict(&strs) {
                Some(dict) if dict.len() < stored.len() => (Encoding::StrDict, dict.len(), dict),
                _ => (enc, raw_len, stored),
            }
        }
        ColumnKind::Any => {
            let slots: Vec<Vec<u8>> = present
                .iter()
                .map(|v| {
                    let mut b = Vec::new();
                    tagged::encode(v, &mut b);
                    b
                })
                .collect();
            let raw = payload::encode_slots(slots.iter().map(Vec::as_slice));
            let raw_len = raw.len();
            let (c, stored) = payload::compress(raw);
            let enc = match c {
                Compression::None => Encoding::TaggedPlain,
                Compression::Snappy => Encoding::TaggedSnappy,
                Compression::Zstd => Encoding::TaggedZstd,
            };
            (enc, raw_len, stored)
        }
    };

    let all_present = present.len() == rows;
    let bitmap_len = if all_present { 0 } else { rows.div_ceil(8) };
    let mut bytes = Vec::with_capacity(HEADER_LEN + bitmap_len + stored.len() + CRC_LEN);
    bytes.push(encoding as u8);
    bytes.push(if all_present { 0 } else { FLAG_PRESENCE });
    // Bounded above: rows <= PAGE_ROWS_MAX, raw_len <= PAGE_BYTES_MAX and
    // stored is only kept when smaller than raw.
    bytes.extend_from_slice(&(rows as u32).to_le_bytes());
    bytes.extend_from_slice(&(raw_len as u32).to_le_bytes());
    bytes.extend_from_slice(&(stored.len() as u32).to_le_bytes());
    if !all_present {
        bytes.extend_from_slice(&bits::bitmap_from(rows, |i| values[i].is_some()));
    }
    bytes.extend_from_slice(&stored);
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());

    Ok(EncodedPage { bytes, zone: zone::compute(kind, rows, &present) })
}

/// A page whose framing has been validated.
struct Parsed<'a> {
    encoding: Encoding,
    rows: usize,
    presence: Option<&'a [u8]>,
    present: usize,
    raw_len: usize,
    stored: &'a [u8],
    payload_off: usize,
}

fn parse(bytes: &[u8]) -> Result<Parsed<'_>, DecodeError> {
    let len = bytes.len();
    if len < HEADER_LEN + CRC_LEN {
        return Err(DecodeError::new(0, format!("page of {len} bytes is shorter than header and checksum")));
    }
    let body = &bytes[..len - CRC_LEN];
    let stored_crc = super::reader::le_u32(bytes, len - CRC_LEN);
    let crc = crc32c::crc32c(body);
    if crc != stored_crc {
        return Err(DecodeError::new(len - CRC_LEN, format!("checksum {crc:#010x} != stored {stored_crc:#010x}")));
    }

    let mut r = Reader::new(body, 0, true);
    let id = r.u8("encoding id")?;
    let Some(encoding) = Encoding::from_u8(id) else { return Err(r.err_at(0, format!("unknown encoding id {id}"))) };
    let flags = r.u8("flags")?;
    if flags & !FLAG_PRESENCE != 0 {
        return Err(r.err_at(1, format!("unknown flags {flags:#04x}")));
    }
    let rows = r.u32("rows")? as usize;
    if rows > PAGE_ROWS_MAX {
        return Err(r.err_at(2, format!("{rows} rows > PAGE_ROWS_MAX {PAGE_ROWS_MAX}")));
    }
    let raw_len = r.u32("raw_len")? as usize;
    if raw_len > PAGE_BYTES_MAX {
        return Err(r.err_at(6, format!("raw_len {raw_len} > PAGE_BYTES_MAX {PAGE_BYTES_MAX}")));
    }
    let stored_len = r.u32("stored_len")? as usize;
    let bitmap_len = if flags & FLAG_PRESENCE != 0 { rows.div_ceil(8) } else { 0 };
    let want = HEADER_LEN as u64 + bitmap_len as u64 + stored_len as u64;
    if want != body.len() as u64 {
        return Err(r.err_at(10, format!("header says {want} bytes before the checksum, page has {}", body.len())));
    }
    let presence = if bitmap_len > 0 { Some(r.bytes(bitmap_len, "presence bitmap")?) } else { None };
    let present = match presence {
        Some(b) => {
            if !bits::padding_is_zero(b, rows) {
                return Err(r.err_at(HEADER_LEN + bitmap_len - 1, "presence bitmap padding bits set"));
            }
            bits::rank(b, rows)
        }
        None => rows,
    };
    let payload_off = r.pos();
    let stored = r.bytes(stored_len, "payload")?;
    match encoding.compression() {
        Compression::None if raw_len != stored_len => {
            return Err(r.err_at(6, format!("uncompressed payload: raw_len {raw_len} != stored_len {stored_len}")));
        }
        Compression::Snappy | Compression::Zstd if stored_len >= raw_len => {
            return Err(r.err_at(10, format!("compressed payload of {stored_len} bytes for {raw_len} raw bytes")));
        }
        _ => {}
    }
    Ok(Parsed { encoding, rows, presence, present, raw_len, stored, payload_off })
}

fn parse_for(kind: ColumnKind, bytes: &[u8]) -> Result<Parsed<'_>, DecodeError> {
    let p = parse(bytes)?;
    if !p.encoding.fits(kind) {
        return Err(DecodeError::new(0, format!("encoding {:?} in a {kind:?} column", p.encoding)));
    }
    Ok(p)
}

/// The decompressed payload; allocates at most `raw_len` (<= PAGE_BYTES_MAX).
fn raw<'a>(p: &Parsed<'a>) -> Result<Cow<'a, [u8]>, DecodeError> {
    let err = |detail: String| DecodeError::new(p.payload_off, detail);
    match p.encoding.compression() {
        Compression::None => Ok(Cow::Borrowed(p.stored)),
        Compression::Snappy => {
            let n = snap::raw::decompress_len(p.stored).map_err(|e| err(format!("snappy: {e}")))?;
            if n != p.raw_len {
                return Err(err(format!("snappy payload decompresses to {n} bytes, header says {}", p.raw_len)));
            }
            let mut out = vec![0u8; p.raw_len];
            let got =
                snap::raw::Decoder::new().decompress(p.stored, &mut out).map_err(|e| err(format!("snappy: {e}")))?;
            if got != p.raw_len {
                return Err(err(format!("snappy payload decompressed to {got} bytes, header says {}", p.raw_len)));
            }
            Ok(Cow::Owned(out))
        }
        Compression::Zstd => {
            let out = zstd::bulk::decompress(p.stored, p.raw_len).map_err(|e| err(format!("zstd: {e}")))?;
            if out.len() != p.raw_len {
                return Err(err(format!(
                    "zstd payload decompressed to {} bytes, header says {}",
                    out.len(),
                    p.raw_len
                )));
            }
            Ok(Cow::Owned(out))
        }
    }
}

fn ctx(p: &Parsed<'_>) -> Ctx {
    Ctx { base: p.payload_off, exact: p.encoding.compression() == Compression::None }
}

/// Validates the checksum and header of a page and reports what it holds.
#[allow(dead_code)]
pub fn page_info(bytes: &[u8]) -> Result<PageInfo, DecodeError> {
    let p = parse(bytes)?;
    Ok(PageInfo {
        encoding: p.encoding,
        rows: p.rows as u32,
        present: p.present as u32,
        raw_len: p.raw_len as u32,
        stored_len: p.stored.len() as u32,
    })
}

/// Decodes one page of a `kind` column, validating everything. Never panics;
/// allocates at most `raw_len` (<= [`PAGE_BYTES_MAX`]) for decompression plus
/// the decoded values (<= [`PAGE_ROWS_MAX`] rows, bounded by the payload).
pub fn decode_page(kind: ColumnKind, bytes: &[u8]) -> Result<Vec<Option<Value>>, DecodeError> {
    let p = parse_for(kind, bytes)?;
    let raw = raw(&p)?;
    let ctx = ctx(&p);
    let lay = payload::layout(p.encoding, &raw, p.present, ctx)?;
    let mut vals = payload::values_all(&lay, &raw, p.present, ctx)?.into_iter();
    let mut out = Vec::with_capacity(p.rows);
    for i in 0..p.rows {
        out.push(match p.presence {
            Some(b) if !bits::bit(b, i) => None,
            _ => vals.next(),
        });
    }
    Ok(out)
}

/// Decodes row `row` of a page. Uncompressed pages read only that row's bytes
/// (plus O(rows) length / bitmap arithmetic); compressed ones decompress the
/// payload first. The checksum and framing are always verified; other rows'
/// values are not (e.g. their UTF-8), so a forged page may decode here and
/// fail in [`decode_page`].
#[allow(dead_code)] // point reads go through the decoded-page cache; kept (and tested) for tools
pub fn decode_row(kind: ColumnKind, bytes: &[u8], row: usize) -> Result<Option<Value>, DecodeError> {
    let p = parse_for(kind, bytes)?;
    if row >= p.rows {
        return Err(DecodeError::new(2, format!("row {row} out of a page of {} rows", p.rows)));
    }
    let idx = match p.presence {
        Some(b) if !bits::bit(b, row) => return Ok(None),
        Some(b) => bits::rank(b, row),
        None => row,
    };
    let raw = raw(&p)?;
    let ctx = ctx(&p);
    let lay = payload::layout(p.encoding, &raw, p.present, ctx)?;
    payload::value_at(&lay, &raw, p.present, idx, ctx).map(Some)
}
