//! Payload encodings: what follows the header and presence bitmap, before
//! compression. `n` is always the number of present rows.

use std::collections::HashMap;

use super::bits::{self, bytes_for_bits, Unpacker};
use super::reader::{le_u32, le_u64, Reader};
use super::{tagged, Compression, DecodeError, Encoding, Value, ZSTD_LEVEL, ZSTD_MIN_RAW_BYTES};

// ---------------------------------------------------------------- encoding

pub(crate) fn encode_bools(vals: &[bool]) -> Vec<u8> {
    bits::bitmap_from(vals.len(), |i| vals[i])
}

pub(crate) fn encode_floats(vals: &[f64]) -> Vec<u8> {
    vals.iter().flat_map(|f| f.to_bits().to_le_bytes()).collect()
}

/// The smallest of plain, frame-of-reference and delta encodings (plain wins ties).
pub(crate) fn encode_ints(vals: &[i64]) -> (Encoding, Vec<u8>) {
    let plain_len = vals.len() * 8;
    let (Some(&first), Some(&min), Some(&max)) = (vals.first(), vals.iter().min(), vals.iter().max()) else {
        return (Encoding::IntPlain, Vec::new());
    };
    let for_w = bits::width(max.wrapping_sub(min) as u64);
    let for_len = 9 + bytes_for_bits(vals.len() as u64 * for_w as u64) as usize;
    // Deltas are wrapping differences; subtracting their minimum (as i64)
    // keeps the span of the deltas — never wider than zigzag + min.
    let deltas = || vals.windows(2).map(|w| w[1].wrapping_sub(w[0]));
    let (dmin, dmax) = deltas().fold((i64::MAX, i64::MIN), |(lo, hi), d| (lo.min(d), hi.max(d)));
    let (dmin, dw) = if vals.len() > 1 { (dmin, bits::width(dmax.wrapping_sub(dmin) as u64)) } else { (0, 0) };
    let delta_len = 17 + bytes_for_bits((vals.len() as u64 - 1) * dw as u64) as usize;

    if plain_len <= for_len && plain_len <= delta_len {
        (Encoding::IntPlain, vals.iter().flat_map(|v| v.to_le_bytes()).collect())
    } else if for_len <= delta_len {
        let mut out = Vec::with_capacity(for_len);
        out.extend_from_slice(&min.to_le_bytes());
        out.push(for_w as u8);
        bits::pack(vals.iter().map(|v| v.wrapping_sub(min) as u64), for_w, &mut out);
        (Encoding::IntFor, out)
    } else {
        let mut out = Vec::with_capacity(delta_len);
        out.extend_from_slice(&first.to_le_bytes());
        out.extend_from_slice(&dmin.to_le_bytes());
        out.push(dw as u8);
        bits::pack(deltas().map(|d| d.wrapping_sub(dmin) as u64), dw, &mut out);
        (Encoding::IntDelta, out)
    }
}

/// Length-prefixed slots: `n` u32 lengths, then the slots' bytes.
pub(crate) fn encode_slots<'a>(slots: impl Iterator<Item = &'a [u8]> + Clone) -> Vec<u8> {
    let mut out = Vec::new();
    for s in slots.clone() {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    }
    for s in slots {
        out.extend_from_slice(s);
    }
    out
}

/// Dictionary encoding of strings: `d` u32, width u8, the `d` distinct
/// strings in byte order as slots (u32 lengths, then bytes), then one
/// `width`-bit index per value, `width` = bits of `d - 1`. `None` if empty.
pub(crate) fn encode_str_dict(strs: &[&str]) -> Option<Vec<u8>> {
    // Worth it only when values repeat: give up once half of them are distinct.
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for s in strs {
        ids.insert(s, 0);
        if ids.len() > strs.len() / 2 + 1 {
            return None;
        }
    }
    if strs.is_empty() {
        return None;
    }
    let mut dict: Vec<&str> = ids.keys().copied().collect();
    dict.sort_unstable();
    for (i, s) in dict.iter().enumerate() {
        ids.insert(s, i);
    }
    let w = bits::width(dict.len() as u64 - 1);
    let mut out = Vec::new();
    out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    out.push(w as u8);
    out.extend_from_slice(&encode_slots(dict.iter().map(|s| s.as_bytes())));
    bits::pack(strs.iter().map(|s| ids.get(s).copied().unwrap_or(0) as u64), w, &mut out);
    Some(out)
}

/// Compresses `raw` if that makes it smaller: snappy for small payloads,
/// zstd for payloads over `ZSTD_MIN_RAW_BYTES`. Returns the stored bytes.
pub(crate) fn compress(raw: Vec<u8>) -> (Compression, Vec<u8>) {
    if raw.is_empty() {
        return (Compression::None, raw);
    }
    let candidate = if raw.len() > ZSTD_MIN_RAW_BYTES {
        zstd::bulk::compress(&raw, ZSTD_LEVEL).ok().map(|c| (Compression::Zstd, c))
    } else {
        snap::raw::Encoder::new().compress_vec(&raw).ok().map(|c| (Compression::Snappy, c))
    };
    match candidate {
        Some((c, bytes)) if bytes.len() < raw.len() => (c, bytes),
        _ => (Compression::None, raw),
    }
}

// ---------------------------------------------------------------- decoding

/// Where a payload sits, for error offsets.
#[derive(Clone, Copy)]
pub(crate) struct Ctx {
    /// Offset of the payload (stored bytes) within the page.
    pub base: usize,
    /// Whether payload positions are page positions (uncompressed).
    pub exact: bool,
}

impl Ctx {
    fn reader<'a>(&self, raw: &'a [u8]) -> Reader<'a> {
        Reader::new(raw, self.base, self.exact)
    }
}

/// A validated payload: every length checked against `n` and `raw.len()`.
pub(crate) enum Layout {
    Bool,
    IntPlain,
    IntFor {
        min: i64,
        w: u32,
    },
    IntDelta {
        first: i64,
        dmin: i64,
        w: u32,
    },
    Float,
    Slots {
        tagged: bool,
    },
    /// Dictionary of `d` strings; their bytes start at `data`, indices at `idx`.
    StrDict {
        d: usize,
        w: u32,
        data: usize,
        idx: usize,
    },
}

pub(crate) fn layout(enc: Encoding, raw: &[u8], n: usize, ctx: Ctx) -> Result<Layout, DecodeError> {
    let r = ctx.reader(raw);
    let len = raw.len() as u64;
    let n64 = n as u64;
    let expect = |want: u64, what: &str| {
        if len == want {
            Ok(())
        } else {
            Err(r.err_at(0, format!("{what} payload of {n} values is {len} bytes, expected {want}")))
        }
    };
    match enc {
        Encoding::BoolBitmap => {
            expect(bytes_for_bits(n64), "bool")?;
            if !bits::padding_is_zero(raw, n) {
                return Err(r.err_at(raw.len() - 1, "bool bitmap padding bits set"));
            }
            Ok(Layout::Bool)
        }
        Encoding::IntPlain => expect(n64 * 8, "int").map(|_| Layout::IntPlain),
        Encoding::FloatPlain => expect(n64 * 8, "float").map(|_| Layout::Float),
        Encoding::IntFor => {
            if n == 0 || raw.len() < 9 {
                return Err(r.err_at(0, "frame-of-reference payload without values"));
            }
            let w = packed_width(raw[8], &r, 8)?;
            expect(9 + bytes_for_bits(n64 * w as u64), "frame-of-reference")?;
            check_pack_padding(&raw[9..], n64 * w as u64, &r, 9)?;
            Ok(Layout::IntFor { min: le_u64(raw, 0) as i64, w })
        }
        Encoding::IntDelta => {
            if n == 0 || raw.len() < 17 {
                return Err(r.err_at(0, "delta payload without values"));
            }
            let w = packed_width(raw[16], &r, 16)?;
            expect(17 + bytes_for_bits((n64 - 1) * w as u64), "delta")?;
            check_pack_padding(&raw[17..], (n64 - 1) * w as u64, &r, 17)?;
            Ok(Layout::IntDelta { first: le_u64(raw, 0) as i64, dmin: le_u64(raw, 8) as i64, w })
        }
        Encoding::StrDict => {
            if n == 0 || raw.len() < 5 {
                return Err(r.err_at(0, "dictionary payload without values"));
            }
            let d = le_u32(raw, 0) as usize;
            if d == 0 || d > n {
                return Err(r.err_at(0, format!("dictionary of {d} strings for {n} values")));
            }
            let w = raw[4] as u32;
            if w != bits::width(d as u64 - 1) {
                return Err(r.err_at(4, format!("index width {w} for a dictionary of {d}")));
            }
            let lens_end = 5 + 4 * d as u64;
            if len < lens_end {
                return Err(r.err_at(5, format!("{len} bytes cannot hold {d} dictionary lengths")));
            }
            let data_len: u64 = (0..d).map(|i| le_u32(raw, 5 + 4 * i) as u64).sum();
            expect(lens_end + data_len + bytes_for_bits(n64 * w as u64), "dictionary")?;
            let idx = (lens_end + data_len) as usize;
            check_pack_padding(&raw[idx..], n64 * w as u64, &r, idx)?;
            let mut u = Unpacker::new(&raw[idx..], w);
            for i in 0..n {
                if u.next_value() >= d as u64 {
                    return Err(r.err_at(idx, format!("dictionary index of value {i} out of {d}")));
                }
            }
            Ok(Layout::StrDict { d, w, data: lens_end as usize, idx })
        }
        e => {
            let tagged = !matches!(e, Encoding::StrPlain | Encoding::StrSnappy | Encoding::StrZstd);
            if len < n64 * 4 {
                return Err(r.err_at(0, format!("{len} bytes cannot hold {n} slot lengths")));
            }
            let total: u64 = (0..n).map(|i| le_u32(raw, 4 * i) as u64).sum();
            let data = len - n64 * 4;
            if total != data {
                return Err(r.err_at(0, format!("slot lengths add up to {total}, data is {data} bytes")));
            }
            Ok(Layout::Slots { tagged })
        }
    }
}

fn packed_width(w: u8, r: &Reader<'_>, at: usize) -> Result<u32, DecodeError> {
    if w > 64 {
        return Err(r.err_at(at, format!("bit width {w} > 64")));
    }
    Ok(w as u32)
}

fn check_pack_padding(packed: &[u8], bits_used: u64, r: &Reader<'_>, at: usize) -> Result<(), DecodeError> {
    let rem = (bits_used % 8) as u32;
    if rem != 0 && packed.last().is_some_and(|b| b >> rem != 0) {
        return Err(r.err_at(at + packed.len() - 1, "bit-packing padding bits set"));
    }
    Ok(())
}

/// Present value `i` (< n) of a validated payload.
pub(crate) fn value_at(lay: &Layout, raw: &[u8], n: usize, i: usize, ctx: Ctx) -> Result<Value, DecodeError> {
    Ok(match *lay {
        Layout::Bool => Value::Bool(bits::bit(raw, i)),
        Layout::IntPlain => Value::Int(le_u64(raw, 8 * i) as i64),
        Layout::Float => Value::Float(f64::from_bits(le_u64(raw, 8 * i))),
        Layout::IntFor { min, w } => Value::Int(min.wrapping_add(bits::unpack_at(&raw[9..], w, i) as i64)),
        Layout::IntDelta { first, dmin, w } => {
            let mut u = Unpacker::new(&raw[17..], w);
            let mut v = first;
            for _ in 0..i {
                v = v.wrapping_add((u.next_value() as i64).wrapping_add(dmin));
            }
            Value::Int(v)
        }
        Layout::Slots { tagged } => {
            let start = 4 * n + (0..i).map(|k| le_u32(raw, 4 * k) as usize).sum::<usize>();
            let len = le_u32(raw, 4 * i) as usize;
            slot_value(raw, start, len, tagged, ctx)?
        }
        Layout::StrDict { w, data, idx, .. } => {
            let k = bits::unpack_at(&raw[idx..], w, i) as usize;
            let start = data + (0..k).map(|j| le_u32(raw, 5 + 4 * j) as usize).sum::<usize>();
            slot_value(raw, start, le_u32(raw, 5 + 4 * k) as usize, false, ctx)?
        }
    })
}

/// All `n` present values of a validated payload.
pub(crate) fn values_all(lay: &Layout, raw: &[u8], n: usize, ctx: Ctx) -> Result<Vec<Value>, DecodeError> {
    let mut out = Vec::with_capacity(n);
    match *lay {
        Layout::IntFor { min, w } => {
            let mut u = Unpacker::new(&raw[9..], w);
            out.extend((0..n).map(|_| Value::Int(min.wrapping_add(u.next_value() as i64))));
        }
        Layout::IntDelta { first, dmin, w } => {
            let mut u = Unpacker::new(&raw[17..], w);
            let mut v = first;
            out.push(Value::Int(v));
            for _ in 1..n {
                v = v.wrapping_add((u.next_value() as i64).wrapping_add(dmin));
                out.push(Value::Int(v));
            }
        }
        Layout::Slots { tagged } => {
            let mut start = 4 * n;
            for i in 0..n {
                let len = le_u32(raw, 4 * i) as usize;
                out.push(slot_value(raw, start, len, tagged, ctx)?);
                start += len;
            }
        }
        Layout::StrDict { d, w, data, idx } => {
            let mut dict = Vec::with_capacity(d);
            let mut start = data;
            for j in 0..d {
                let len = le_u32(raw, 5 + 4 * j) as usize;
                dict.push(slot_value(raw, start, len, false, ctx)?);
                start += len;
            }
            let mut u = Unpacker::new(&raw[idx..], w);
            // Indices were checked against `d` by `layout`.
            out.extend((0..n).map(|_| dict[u.next_value() as usize].clone()));
        }
        _ => {
            for i in 0..n {
                out.push(value_at(lay, raw, n, i, ctx)?);
            }
        }
    }
    Ok(out)
}

fn slot_value(raw: &[u8], start: usize, len: usize, tagged: bool, ctx: Ctx) -> Result<Value, DecodeError> {
    let slot = &raw[start..start + len];
    let mut r = Reader::with_origin(slot, ctx.base, ctx.exact, start);
    if !tagged {
        return Ok(Value::Str(tagged::utf8(&r, 0, slot)?));
    }
    let v = tagged::decode(&mut r, 0)?;
    if r.remaining() != 0 {
        return Err(r.err(format!("{} stray bytes after a tagged value", r.remaining())));
    }
    Ok(v)
}
