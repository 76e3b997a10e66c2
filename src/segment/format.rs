//! Byte layout of a segment file (see docs/FORMAT.md, "Segment"):
//!
//! ```text
//! header (64 bytes) | sections, each 64-byte aligned | section table | trailer (24 bytes)
//! ```
//!
//! The header and the section table carry their own CRC-32C; every section's
//! bytes are covered by the CRC recorded for it in the table.

use std::path::Path;

use crate::codec::{distance, Reader, Writer};
use crate::{Error, Result};

/// File magic at offset 0.
pub(crate) const MAGIC: &[u8; 8] = b"VEGOSEG\0";
/// Magic at the very end of the file.
pub(crate) const END_MAGIC: &[u8; 8] = b"VEGOEND\0";
/// Major format version written by this build (2: cosine segments store
/// each vector once, as written, with a factor per row; a 1.x reader would
/// compare those rows as unit vectors, so it must refuse them).
pub(crate) const FORMAT_MAJOR: u16 = 2;
/// The oldest major version this build reads (1: cosine segments hold unit
/// `vectors` and the written rows in `raw_vectors`).
pub(crate) const FORMAT_MAJOR_OLDEST: u16 = 1;
/// Minor format version written by this build.
pub(crate) const FORMAT_MINOR: u16 = 0;
/// Header size.
pub(crate) const HEADER_BYTES: usize = 64;
/// Trailer size: table offset u64, table length u32, table crc u32, end magic.
pub(crate) const TRAILER_BYTES: usize = 24;
/// Every section starts at a multiple of this (so f32/u32/u64 arrays can be
/// used in place from a page-aligned mapping).
pub(crate) const SECTION_ALIGN: usize = 64;
/// Most sections in one file (a bound for the decoder).
pub(crate) const SECTIONS_MAX: usize = 1 << 16;
/// Longest section name.
pub(crate) const SECTION_NAME_BYTES_MAX: usize = 1_024;

/// Fixed facts about a segment, stored in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// Format major version of the file (written: [`FORMAT_MAJOR`]).
    pub format_major: u16,
    pub dimension: u32,
    /// 0 = L2, 1 = cosine, 2 = inner product.
    pub metric: u8,
    /// Rows that are documents (have vectors).
    pub rows: u64,
    /// Rows that are tombstones (ids deleted), stored after the documents.
    pub tombstones: u64,
    pub min_seq: u64,
    pub max_seq: u64,
}

/// Where a section lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SectionEntry {
    pub name: String,
    pub offset: u64,
    pub len: u64,
    pub crc: u32,
}

pub(crate) fn encode_header(h: &Header) -> [u8; HEADER_BYTES] {
    let mut w = Writer::default();
    w.buf.extend_from_slice(MAGIC);
    assert!((FORMAT_MAJOR_OLDEST..=FORMAT_MAJOR).contains(&h.format_major), "format {}", h.format_major);
    w.u16(h.format_major);
    w.u16(if h.format_major == FORMAT_MAJOR { FORMAT_MINOR } else { 1 });
    w.u32(0);
    w.u32(h.dimension);
    w.u8(h.metric);
    w.buf.extend_from_slice(&[0; 3]);
    w.u64(h.rows);
    w.u64(h.tombstones);
    w.u64(h.min_seq);
    w.u64(h.max_seq);
    w.u32(0);
    let crc = crc32c::crc32c(&w.buf);
    w.u32(crc);
    w.buf.try_into().expect("header is 64 bytes")
}

pub(crate) fn corrupt(file: &Path, offset: u64, detail: impl Into<String>) -> Error {
    Error::Corruption { file: file.to_path_buf(), offset, detail: detail.into() }
}

pub(crate) fn decode_header(file: &Path, bytes: &[u8]) -> Result<Header> {
    if bytes.len() < HEADER_BYTES + TRAILER_BYTES {
        return Err(corrupt(file, 0, format!("file of {} bytes is too short", bytes.len())));
    }
    if &bytes[0..8] != MAGIC {
        return Err(corrupt(file, 0, "bad magic"));
    }
    let major = u16::from_le_bytes([bytes[8], bytes[9]]);
    if !(FORMAT_MAJOR_OLDEST..=FORMAT_MAJOR).contains(&major) {
        return Err(Error::IncompatibleFormat { file: file.to_path_buf(), found: major, supported: FORMAT_MAJOR });
    }
    let stored = u32::from_le_bytes(bytes[60..64].try_into().unwrap());
    if crc32c::crc32c(&bytes[..60]) != stored {
        return Err(corrupt(file, 60, "header checksum mismatch"));
    }
    let mut r = Reader::new(&bytes[16..60]);
    let err = |e: crate::codec::DecodeError| corrupt(file, 16 + e.offset as u64, e.detail);
    let dimension = r.u32().map_err(err)?;
    let metric = r.u8().map_err(err)?;
    r.bytes(3).map_err(err)?;
    let h = Header {
        format_major: major,
        dimension,
        metric,
        rows: r.u64().map_err(err)?,
        tombstones: r.u64().map_err(err)?,
        min_seq: r.u64().map_err(err)?,
        max_seq: r.u64().map_err(err)?,
    };
    if h.dimension == 0 || h.dimension as usize > crate::model::limits::DIMENSION_MAX {
        return Err(corrupt(file, 16, "bad dimension"));
    }
    // The header checksum held, so an unknown metric was written by a newer build.
    if distance::from_code(h.metric).is_none() {
        return Err(Error::IncompatibleFormat {
            file: file.to_path_buf(),
            found: h.metric.into(),
            supported: distance::CODE_MAX.into(),
        });
    }
    Ok(h)
}

/// Encodes the section table and the trailer that points to it.
pub(crate) fn encode_footer(table_offset: u64, sections: &[SectionEntry]) -> Vec<u8> {
    let mut w = Writer::default();
    w.u32(sections.len() as u32);
    for s in sections {
        w.str16(&s.name);
        w.u64(s.offset);
        w.u64(s.len);
        w.u32(s.crc);
    }
    let table_len = w.buf.len() as u32;
    let crc = crc32c::crc32c(&w.buf);
    w.u64(table_offset);
    w.u32(table_len);
    w.u32(crc);
    w.buf.extend_from_slice(END_MAGIC);
    w.buf
}

/// Reads the trailer and the section table, checking that every section lies
/// inside the file, after the header, before the table, and aligned.
pub(crate) fn decode_footer(file: &Path, bytes: &[u8]) -> Result<Vec<SectionEntry>> {
    if bytes.len() < HEADER_BYTES + TRAILER_BYTES {
        return Err(corrupt(file, 0, "file too short for a trailer"));
    }
    let trailer = &bytes[bytes.len() - TRAILER_BYTES..];
    let table_offset = u64::from_le_bytes(trailer[0..8].try_into().unwrap());
    let start = (table_offset as usize).min(bytes.len() - TRAILER_BYTES);
    decode_footer_tail(file, bytes.len() as u64, &bytes[start..], start as u64)
}

/// The footer from the file's tail: `tail` holds bytes `tail_start..file_len`
/// and must reach back at least to the section table (a reader that does not
/// map the file reads the trailer first, then this much).
pub(crate) fn decode_footer_tail(
    file: &Path,
    file_len: u64,
    tail: &[u8],
    tail_start: u64,
) -> Result<Vec<SectionEntry>> {
    if file_len < (HEADER_BYTES + TRAILER_BYTES) as u64 || tail.len() < TRAILER_BYTES {
        return Err(corrupt(file, 0, "file too short for a trailer"));
    }
    let trailer = &tail[tail.len() - TRAILER_BYTES..];
    let at = file_len - TRAILER_BYTES as u64;
    if &trailer[16..24] != END_MAGIC {
        return Err(corrupt(file, at + 16, "bad end magic (file truncated?)"));
    }
    let table_offset = u64::from_le_bytes(trailer[0..8].try_into().unwrap());
    let table_len = u32::from_le_bytes(trailer[8..12].try_into().unwrap()) as u64;
    let table_crc = u32::from_le_bytes(trailer[12..16].try_into().unwrap());
    if table_offset < HEADER_BYTES as u64
        || table_offset.checked_add(table_len) != Some(at)
        || table_offset < tail_start
    {
        return Err(corrupt(file, at, "section table bounds do not match the file"));
    }
    let table = &tail[(table_offset - tail_start) as usize..tail.len() - TRAILER_BYTES];
    if crc32c::crc32c(table) != table_crc {
        return Err(corrupt(file, table_offset, "section table checksum mismatch"));
    }
    let mut r = Reader::new(table);
    let err = |e: crate::codec::DecodeError| corrupt(file, table_offset + e.offset as u64, e.detail);
    let n = r.u32().map_err(err)? as usize;
    if n > SECTIONS_MAX {
        return Err(corrupt(file, table_offset, format!("{n} sections")));
    }
    let mut out = Vec::with_capacity(n.min(table.len() / 22));
    for _ in 0..n {
        let name = r.str16().map_err(err)?;
        let s = SectionEntry {
            name,
            offset: r.u64().map_err(err)?,
            len: r.u64().map_err(err)?,
            crc: r.u32().map_err(err)?,
        };
        let ok = s.name.len() <= SECTION_NAME_BYTES_MAX
            && s.offset >= HEADER_BYTES as u64
            && s.offset.is_multiple_of(SECTION_ALIGN as u64)
            && s.offset.checked_add(s.len).is_some_and(|e| e <= table_offset);
        if !ok {
            return Err(corrupt(file, table_offset, format!("section {:?} out of bounds", s.name)));
        }
        out.push(s);
    }
    if r.remaining() != 0 {
        return Err(corrupt(file, table_offset, "trailing bytes in section table"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn file(h: &Header, sections: &[SectionEntry]) -> Vec<u8> {
        let mut bytes = encode_header(h).to_vec();
        let end = sections.iter().map(|s| s.offset + s.len).max().unwrap_or(HEADER_BYTES as u64);
        bytes.resize(end as usize, 0);
        let table_offset = bytes.len() as u64;
        bytes.extend(encode_footer(table_offset, sections));
        bytes
    }

    proptest! {
        #[test]
        fn header_and_footer_round_trip(major in FORMAT_MAJOR_OLDEST..=FORMAT_MAJOR, dim in 1u32..4096, metric in 0u8..3, rows in any::<u32>(), seq in any::<u32>(), n in 0usize..5) {
            let h = Header { format_major: major, dimension: dim, metric, rows: rows as u64, tombstones: 3, min_seq: seq as u64, max_seq: seq as u64 + 9 };
            let sections: Vec<SectionEntry> = (0..n)
                .map(|i| SectionEntry { name: format!("s{i}"), offset: 64 * (i as u64 + 1), len: 10, crc: i as u32 })
                .collect();
            let bytes = file(&h, &sections);
            prop_assert_eq!(decode_header(Path::new("f"), &bytes).unwrap(), h);
            prop_assert_eq!(decode_footer(Path::new("f"), &bytes).unwrap(), sections);
        }

        #[test]
        fn flipped_header_or_footer_byte_is_detected(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let h = Header { format_major: FORMAT_MAJOR, dimension: 8, metric: 1, rows: 5, tombstones: 0, min_seq: 1, max_seq: 2 };
            let sections = vec![SectionEntry { name: "a".into(), offset: 64, len: 8, crc: 7 }];
            let mut bytes = file(&h, &sections);
            let i = pos.index(bytes.len());
            if (64..128).contains(&i) {
                return Ok(()); // section bytes: covered by the section's own crc
            }
            bytes[i] ^= 1 << bit;
            let ok = decode_header(Path::new("f"), &bytes).is_ok() && decode_footer(Path::new("f"), &bytes).is_ok();
            prop_assert!(!ok, "flip at {} went unnoticed", i);
        }

        #[test]
        fn unknown_major_version_is_incompatible_format(major in prop_oneof![Just(0u16), (FORMAT_MAJOR + 1)..u16::MAX]) {
            let h = Header { format_major: FORMAT_MAJOR, dimension: 8, metric: 0, rows: 1, tombstones: 0, min_seq: 1, max_seq: 1 };
            let mut bytes = file(&h, &[]);
            bytes[8..10].copy_from_slice(&major.to_le_bytes());
            let found = matches!(decode_header(Path::new("f"), &bytes), Err(Error::IncompatibleFormat { found, .. }) if found == major);
            prop_assert!(found);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if decode_header(Path::new("f"), &bytes).is_ok() {
                let _ = decode_footer(Path::new("f"), &bytes);
            }
        }
    }
}
