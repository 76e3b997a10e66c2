//! Metadata columns of a segment: one section `col.<field>` per field.
//!
//! ```text
//! u8 kind | [u8; 3] zero | u32 page count
//! per page: u64 offset (from the section start) | u32 length | u32 rows | u32 zone length | zone bytes
//! pages (each self-checking: see encoding/FORMAT)
//! ```
//!
//! Rows of a column are split into pages in order; a row's page is found by
//! its running row count. The zone map of each page lets filters skip pages
//! (and whole segments) that cannot match.

use std::collections::{BTreeMap, BTreeSet};

use super::encoding::{self, ColumnKind, ZoneMap};
use crate::codec::{Reader, Writer};
use crate::Value;

/// Section name prefix of metadata columns.
pub(crate) const COLUMN_PREFIX: &str = "col.";

/// One page of a column directory.
#[derive(Clone, Debug)]
pub(crate) struct PageRef {
    pub offset: u64,
    pub len: u32,
    pub first_row: u32,
    pub rows: u32,
    pub zone: ZoneMap,
}

/// A parsed column directory.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    pub kind: ColumnKind,
    pub pages: Vec<PageRef>,
}

impl Column {
    /// The page holding `row`, if any.
    pub fn page_of(&self, row: u32) -> Option<&PageRef> {
        let i = self.pages.partition_point(|p| p.first_row + p.rows <= row);
        self.pages.get(i).filter(|p| p.first_row <= row)
    }
}

/// Encodes every metadata field of `rows` into column sections.
pub(crate) fn encode(metadata: &[&BTreeMap<String, Value>]) -> Vec<(String, Vec<u8>)> {
    let fields: BTreeSet<&String> = metadata.iter().flat_map(|m| m.keys()).collect();
    fields
        .into_iter()
        .map(|field| {
            let values: Vec<Option<&Value>> = metadata.iter().map(|m| m.get(field)).collect();
            (format!("{COLUMN_PREFIX}{field}"), encode_column(&values))
        })
        .collect()
}

fn encode_column(values: &[Option<&Value>]) -> Vec<u8> {
    let kind = encoding::column_kind(values);
    let mut pages = Vec::new();
    let mut at = 0;
    while at < values.len() {
        let n = encoding::page_rows_fitting(kind, &values[at..]).max(1);
        pages.push((n as u32, encoding::encode_page(kind, &values[at..at + n])));
        at += n;
    }
    let mut dir = Writer::default();
    dir.u8(kind as u8);
    dir.buf.extend_from_slice(&[0; 3]);
    dir.u32(pages.len() as u32);
    let zones: Vec<Vec<u8>> = pages.iter().map(|(_, p)| encoding::encode_zone(&p.zone)).collect();
    let dir_len = 8 + zones.iter().map(|z| 20 + z.len()).sum::<usize>();
    let mut offset = dir_len as u64;
    for ((rows, page), zone) in pages.iter().zip(&zones) {
        dir.u64(offset);
        dir.u32(page.bytes.len() as u32);
        dir.u32(*rows);
        dir.u32(zone.len() as u32);
        dir.buf.extend_from_slice(zone);
        offset += page.bytes.len() as u64;
    }
    debug_assert_eq!(dir.buf.len(), dir_len);
    for (_, page) in &pages {
        dir.buf.extend_from_slice(&page.bytes);
    }
    dir.buf
}

/// Parses and checks a column directory against the section and row count.
pub(crate) fn parse(section: &[u8], rows: u64) -> Result<Column, (usize, String)> {
    let mut r = Reader::new(section);
    let e = |r: &Reader, d: String| (section.len() - r.remaining(), d);
    let kind_byte = r.u8().map_err(|x| (x.offset, x.detail))?;
    let kind = ColumnKind::from_u8(kind_byte).ok_or_else(|| (0, format!("unknown column kind {kind_byte}")))?;
    r.bytes(3).map_err(|x| (x.offset, x.detail))?;
    let n = r.u32().map_err(|x| (x.offset, x.detail))? as usize;
    if n > section.len() / 20 + 1 {
        return Err((4, format!("{n} pages in {} bytes", section.len())));
    }
    let mut pages = Vec::with_capacity(n);
    let mut first_row = 0u64;
    for _ in 0..n {
        let offset = r.u64().map_err(|x| (x.offset, x.detail))?;
        let len = r.u32().map_err(|x| (x.offset, x.detail))?;
        let page_rows = r.u32().map_err(|x| (x.offset, x.detail))?;
        let zone_len = r.u32().map_err(|x| (x.offset, x.detail))? as usize;
        let zone_bytes = r.bytes(zone_len).map_err(|x| (x.offset, x.detail))?;
        let (zone, used) = encoding::decode_zone(zone_bytes).map_err(|x| (x.offset, x.detail))?;
        if used != zone_len || zone.rows != page_rows {
            return Err(e(&r, "zone map does not match its page".into()));
        }
        if offset.checked_add(len as u64).is_none_or(|end| end > section.len() as u64) || page_rows == 0 {
            return Err(e(&r, "page out of bounds".into()));
        }
        pages.push(PageRef { offset, len, first_row: first_row as u32, rows: page_rows, zone });
        first_row += page_rows as u64;
    }
    if first_row != rows {
        return Err((4, format!("column covers {first_row} rows, segment has {rows}")));
    }
    Ok(Column { kind, pages })
}
