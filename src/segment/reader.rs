//! An open segment: the file mapped into memory, validated, with accessors
//! for ids, sequence numbers, vectors and the id index, plus the runtime
//! `superseded_at` state of its rows.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::columns::{self, Column, PageRef, COLUMN_PREFIX};
use super::encoding;
use super::format::{corrupt, Header, SectionEntry};
use super::id_index;
use super::io::{next_uid, IoConfig, PageCache, Storage};
use crate::codec::distance;
use crate::hnsw::{FrozenGraph, FrozenParts, Metric};
use crate::model::limits::SEGMENT_ENTRIES_MAX;
use crate::{Result, Value};

/// Sections checked when the segment opens (search needs them at once);
/// the others are checked on first use.
const EAGER: &[&str] = &[
    "ids",
    "seqs",
    "vectors",
    "id_index",
    "graph.meta",
    "graph.levels",
    "graph.links0",
    "graph.upper_offsets",
    "graph.upper",
];

/// The optional section of quantized graph records (checked at open when present).
const RECORDS: &str = "graph.records";

/// Cosine segments of format 2: one f32 per row, the factor that makes the
/// row (stored as written) unit length (checked at open).
pub(crate) const INV_NORMS: &str = "vector_inv_norms";

/// Format-1 cosine segments: the rows as written, beside unit `vectors`.
pub(crate) const RAW_VECTORS: &str = "raw_vectors";

pub(crate) struct Segment {
    path: PathBuf,
    storage: Storage,
    pub header: Header,
    sections: HashMap<String, SectionEntry>,
    verified: HashMap<String, OnceLock<std::result::Result<(), String>>>,
    /// Per document row: seq of the version that replaced or deleted it; `u64::MAX` while current.
    superseded_at: Box<[AtomicU64]>,
    /// Rows whose `superseded_at` is set: kept with every change to it, so
    /// the compaction policy reads a count instead of walking every row.
    dead: AtomicU64,
    metric: Metric,
    uid: u64,
    pages: Arc<PageCache>,
    /// Deletes the file when it becomes obsolete.
    fs: Arc<dyn vego_storage::Storage>,
    /// Set when the manifest no longer names this file (compacted away, or
    /// its collection dropped): the file is deleted when the last reference —
    /// the current layers or a snapshot — lets go.
    obsolete: AtomicBool,
    /// Metadata columns by field name, parsed on first use.
    columns: BTreeMap<String, OnceLock<std::result::Result<Arc<Column>, String>>>,
}

impl Drop for Segment {
    fn drop(&mut self) {
        if self.obsolete.load(Ordering::Acquire) {
            // Best effort: a file left behind (e.g. the process dies first)
            // is unnamed by the manifest and removed at the next open.
            let _ = self.fs.remove_file(&self.path);
        }
    }
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment").field("path", &self.path).field("header", &self.header).finish_non_exhaustive()
    }
}

/// The header's row and tombstone counts, checked before anything is
/// allocated from them: against [`SEGMENT_ENTRIES_MAX`] and against the
/// `seqs` section (8 bytes an entry), which the section table has already
/// proven to lie inside the file — so no count read from disk can make open
/// allocate more than the file's size.
fn check_entries(path: &Path, header: &Header, sections: &HashMap<String, SectionEntry>) -> Result<()> {
    let entries = header.rows.checked_add(header.tombstones).filter(|&n| n <= SEGMENT_ENTRIES_MAX);
    let Some(entries) = entries else {
        return Err(corrupt(path, 24, format!("{} rows + {} tombstones", header.rows, header.tombstones)));
    };
    let seqs = sections.get("seqs").ok_or_else(|| corrupt(path, 0, "section seqs missing"))?;
    if seqs.len != entries * 8 {
        let detail = format!("section seqs is {} bytes, the header's {entries} entries need {}", seqs.len, entries * 8);
        return Err(corrupt(path, seqs.offset, detail));
    }
    Ok(())
}

impl Segment {
    /// Opens and validates the file: header, section table, and the checksums
    /// of the sections search needs. Never panics on bad bytes.
    pub fn open(path: &Path, cfg: &IoConfig) -> Result<Segment> {
        // Held in memory (or mapped) from open: what search reads.
        let hot: Vec<&str> = EAGER.iter().copied().chain([INV_NORMS]).collect();
        let (storage, header, sections) = Storage::open(path, cfg, &hot)?;
        let sections: HashMap<String, SectionEntry> = sections.into_iter().map(|s| (s.name.clone(), s)).collect();
        check_entries(path, &header, &sections)?;
        let verified = sections.keys().map(|k| (k.clone(), OnceLock::new())).collect();
        let columns = sections
            .keys()
            .filter_map(|k| k.strip_prefix(COLUMN_PREFIX))
            .map(|f| (f.to_owned(), OnceLock::new()))
            .collect();
        let rows = usize::try_from(header.rows).map_err(|_| corrupt(path, 24, "row count"))?;
        let superseded_at = (0..rows).map(|_| AtomicU64::new(u64::MAX)).collect();
        // The header decoder refused codes this build does not know.
        let metric = distance::metric(distance::from_code(header.metric).expect("checked by decode_header"));
        let seg = Segment {
            path: path.to_path_buf(),
            storage,
            header,
            sections,
            verified,
            superseded_at,
            dead: AtomicU64::new(0),
            metric,
            uid: next_uid(),
            pages: cfg.pages.clone(),
            fs: cfg.fs.clone(),
            obsolete: AtomicBool::new(false),
            columns,
        };
        let optional = [RECORDS, INV_NORMS].into_iter().filter(|n| seg.sections.contains_key(*n));
        for name in EAGER.iter().copied().chain(optional) {
            seg.section(name)?;
        }
        seg.validate_shapes()?;
        FrozenGraph::new(seg.graph_parts()?)
            .map_err(|e| corrupt(path, seg.sections["graph.meta"].offset, e.to_string()))?;
        Ok(seg)
    }

    fn entries(&self) -> u64 {
        self.header.rows + self.header.tombstones
    }

    fn validate_shapes(&self) -> Result<()> {
        let n = self.entries();
        let dim = self.header.dimension as u64;
        let expect = |name: &str, len: u64| -> Result<()> {
            let s = self.entry(name)?;
            if s.len != len {
                return Err(corrupt(
                    &self.path,
                    s.offset,
                    format!("section {name} is {} bytes, expected {len}", s.len),
                ));
            }
            Ok(())
        };
        expect("seqs", n * 8)?;
        expect("vectors", self.header.rows * dim * 4)?;
        self.check_vector_layout()?;
        if self.sections.contains_key(INV_NORMS) {
            expect(INV_NORMS, self.header.rows * 4)?;
        }
        expect("id_index", id_index::capacity(n as usize) as u64 * 4)?;
        // Ids are read on every lookup: check them all once, here.
        for e in 0..n as u32 {
            self.id(e)?;
        }
        Ok(())
    }

    /// Which copy of a cosine vector the file holds must be unambiguous:
    /// format 2 stores rows as written with their factors, format 1 unit
    /// rows (and the written ones in `raw_vectors`). Comparing rows of one
    /// layout as the other would answer wrongly without an error.
    fn check_vector_layout(&self) -> Result<()> {
        let (scaled, raw) = (self.sections.get(INV_NORMS), self.sections.get(RAW_VECTORS));
        let cosine = self.metric == Metric::Cosine;
        let problem = match (self.header.format_major, scaled, raw) {
            (_, Some(s), Some(_)) => Some((s.offset, format!("both {INV_NORMS} and {RAW_VECTORS}"))),
            (1, Some(s), None) => Some((s.offset, format!("{INV_NORMS} in a format-1 file"))),
            (2.., None, _) if cosine => Some((0, format!("cosine segment of format 2 without {INV_NORMS}"))),
            (2.., _, Some(r)) => Some((r.offset, format!("{RAW_VECTORS} in a format-2 file"))),
            (_, Some(s), None) if !cosine => Some((s.offset, format!("{INV_NORMS} in a {:?} segment", self.metric))),
            _ => None,
        };
        match problem {
            Some((offset, detail)) => Err(corrupt(&self.path, offset, detail)),
            None => Ok(()),
        }
    }

    fn entry(&self, name: &str) -> Result<&SectionEntry> {
        self.sections.get(name).ok_or_else(|| corrupt(&self.path, 0, format!("section {name} missing")))
    }

    /// A resident section (see `EAGER`), checksum-verified (once).
    pub fn section(&self, name: &str) -> Result<&[u8]> {
        let s = self.entry(name)?;
        let Some(bytes) = self.storage.resident(s) else {
            return Err(corrupt(&self.path, s.offset, format!("section {name} is not resident")));
        };
        self.verify(s, || Ok(Cow::Borrowed(bytes)))?;
        Ok(bytes)
    }

    /// Checks a section's CRC the first time it is used.
    fn verify<'a>(&'a self, s: &SectionEntry, bytes: impl FnOnce() -> Result<Cow<'a, [u8]>>) -> Result<()> {
        let state = self.verified[&s.name].get_or_init(|| match bytes() {
            Ok(b) if crc32c::crc32c(&b) == s.crc => Ok(()),
            Ok(_) => Err(format!("section {} checksum mismatch", s.name)),
            Err(e) => Err(e.to_string()),
        });
        state.clone().map_err(|detail| corrupt(&self.path, s.offset, detail))
    }

    /// Bytes `offset .. offset + len` of a section read on demand (metadata
    /// columns, raw vectors); the whole section's CRC is checked on first use.
    fn cold(&self, name: &str, offset: u64, len: u64) -> Result<Cow<'_, [u8]>> {
        let s = self.entry(name)?;
        if offset.checked_add(len).is_none_or(|end| end > s.len) {
            return Err(corrupt(&self.path, s.offset, format!("read past the end of section {name}")));
        }
        self.verify(s, || self.storage.read(&self.path, s.offset, s.len))?;
        self.storage.read(&self.path, s.offset + offset, len)
    }

    fn pod<T: bytemuck::Pod>(&self, name: &str) -> Result<&[T]> {
        let bytes = self.section(name)?;
        bytemuck::try_cast_slice(bytes).map_err(|e| corrupt(&self.path, self.sections[name].offset, format!("{e:?}")))
    }

    fn graph_parts(&self) -> Result<FrozenParts<'_>> {
        let meta: &[u32] = self.pod("graph.meta")?;
        let &[entry, max_level, m, m0] = meta else {
            return Err(corrupt(&self.path, self.sections["graph.meta"].offset, "graph.meta is not 4 words"));
        };
        let max_level = u8::try_from(max_level)
            .map_err(|_| corrupt(&self.path, self.sections["graph.meta"].offset, "graph level out of range"))?;
        Ok(FrozenParts {
            metric: self.metric,
            dim: self.header.dimension as usize,
            m: m as usize,
            m0: m0 as usize,
            vectors: self.vectors(),
            inv_norms: if self.sections.contains_key(INV_NORMS) { self.pod(INV_NORMS)? } else { &[] },
            levels: self.section("graph.levels")?,
            links0: self.pod("graph.links0")?,
            upper_offsets: self.pod("graph.upper_offsets")?,
            upper: self.pod("graph.upper")?,
            records: if self.sections.contains_key(RECORDS) { self.section(RECORDS)? } else { &[] },
            entry: (entry != u32::MAX).then_some(entry),
            max_level,
        })
    }

    /// Graph search over the segment's rows: the `k` nearest rows with
    /// `accept(row)`, nearest first (query as the graph compares it).
    pub fn search(&self, query: &[f32], k: usize, ef: usize, accept: &dyn Fn(u32) -> bool) -> Vec<(u32, f32)> {
        let parts = self.graph_parts().expect("verified and validated at open");
        FrozenGraph::prevalidated(parts).search(query, k, ef, accept)
    }

    /// The segment's graph (validated at open); node `i` is row `i`.
    pub fn graph(&self) -> FrozenGraph<'_> {
        FrozenGraph::prevalidated(self.graph_parts().expect("verified and validated at open"))
    }

    /// Sequence numbers of all entries (documents, then tombstones).
    pub fn seqs(&self) -> &[u64] {
        self.pod("seqs").expect("verified at open")
    }

    /// All stored vectors, row-major: as written, except in format-1
    /// cosine segments (unit length there).
    fn vectors(&self) -> &[f32] {
        self.pod("vectors").expect("verified at open")
    }

    /// The stored `vectors` row of document row `row`.
    fn stored_vector(&self, row: u32) -> &[f32] {
        let d = self.header.dimension as usize;
        &self.vectors()[row as usize * d..(row as usize + 1) * d]
    }

    /// The vector of document row `row` as search compares it (unit length
    /// for cosine; computed from the written row in format 2).
    pub fn compared_vector(&self, row: u32) -> Cow<'_, [f32]> {
        self.graph().compared_vector(row).expect("a document row")
    }

    /// The vector of document row `row` exactly as it was written.
    pub fn raw_vector(&self, row: u32) -> Result<Vec<f32>> {
        if !self.sections.contains_key(RAW_VECTORS) {
            return Ok(self.stored_vector(row).to_vec());
        }
        let d = self.header.dimension as u64;
        let bytes = self.cold(RAW_VECTORS, row as u64 * d * 4, d * 4)?;
        Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect())
    }

    /// The stored document of row `row` (the version is its seq).
    pub fn document(&self, row: u32, with_vector: bool, fields: Option<&[String]>) -> Result<crate::Document> {
        let metadata = self.metadata(row, fields)?;
        Ok(crate::Document {
            id: self.id(row)?.to_owned(),
            vector: if with_vector { self.raw_vector(row)? } else { Vec::new() },
            metadata,
            version: self.seqs()[row as usize],
        })
    }

    /// Item `i` of an offsets-and-bytes section holding `n` items.
    fn item(&self, name: &str, n: usize, i: usize) -> Result<(&[u8], u64)> {
        let bytes = self.section(name)?;
        let base = self.sections[name].offset;
        let Some(offsets) = bytes.get(..(n + 1) * 8).and_then(|b| bytemuck::try_cast_slice::<u8, u64>(b).ok()) else {
            return Err(corrupt(&self.path, base, format!("section {name} offsets unreadable")));
        };
        let data = &bytes[(n + 1) * 8..];
        let (start, end) = (offsets[i], offsets[i + 1]);
        let (start, end) = (usize::try_from(start).unwrap_or(usize::MAX), usize::try_from(end).unwrap_or(usize::MAX));
        let at = base + (n as u64 + 1) * 8 + start.min(data.len()) as u64;
        if start > end || end > data.len() {
            return Err(corrupt(&self.path, at, format!("{name} item {i} out of range")));
        }
        Ok((&data[start..end], at))
    }

    /// Id of entry `e` (document row or tombstone).
    pub fn id(&self, e: u32) -> Result<&str> {
        let (bytes, at) = self.item("ids", self.entries() as usize, e as usize)?;
        std::str::from_utf8(bytes).map_err(|_| corrupt(&self.path, at, format!("id {e} is not UTF-8")))
    }

    /// The parsed directory of column `field`, if the segment has one.
    pub fn column(&self, field: &str) -> Result<Option<Arc<Column>>> {
        let Some(slot) = self.columns.get(field) else { return Ok(None) };
        let name = format!("{COLUMN_PREFIX}{field}");
        let parsed = slot.get_or_init(|| {
            let len = self.sections[&name].len;
            let bytes = self.cold(&name, 0, len).map_err(|e| e.to_string())?;
            columns::parse(&bytes, self.header.rows)
                .map(Arc::new)
                .map_err(|(at, detail)| format!("{name} directory at +{at}: {detail}"))
        });
        match parsed {
            Ok(c) => Ok(Some(c.clone())),
            Err(detail) => Err(corrupt(&self.path, self.sections[&name].offset, detail.clone())),
        }
    }

    fn page_bytes(&self, field: &str, page: &PageRef) -> Result<(Cow<'_, [u8]>, u64)> {
        let name = format!("{COLUMN_PREFIX}{field}");
        let at = self.sections[&name].offset + page.offset;
        Ok((self.cold(&name, page.offset, page.len as u64)?, at))
    }

    /// Every value of one page of a column (`None` = absent), decoded once
    /// and then served from the database's page cache.
    pub fn decode_page(&self, field: &str, column: &Column, page: &PageRef) -> Result<Arc<Vec<Option<Value>>>> {
        let index = column.pages.partition_point(|p| p.first_row < page.first_row) as u32;
        self.pages.get_or_decode((self.uid, Arc::from(field), index), || self.decode_page_uncached(field, column, page))
    }

    fn decode_page_uncached(&self, field: &str, column: &Column, page: &PageRef) -> Result<Vec<Option<Value>>> {
        let (bytes, at) = self.page_bytes(field, page)?;
        let values = encoding::decode_page(column.kind, &bytes)
            .map_err(|e| corrupt(&self.path, at + e.offset as u64, e.detail))?;
        if values.len() != page.rows as usize {
            return Err(corrupt(&self.path, at, "page row count differs from its directory"));
        }
        Ok(values)
    }

    /// Metadata of document row `row`: all fields, or only `fields` (then
    /// only those columns are read).
    pub fn metadata(&self, row: u32, fields: Option<&[String]>) -> Result<BTreeMap<String, Value>> {
        let mut out = BTreeMap::new();
        let names: Vec<&str> = match fields {
            Some(f) => f.iter().map(String::as_str).filter(|f| self.columns.contains_key(*f)).collect(),
            None => self.columns.keys().map(String::as_str).collect(),
        };
        for field in names {
            let column = self.column(field)?.expect("listed columns exist");
            let Some(page) = column.page_of(row) else {
                return Err(corrupt(&self.path, 0, format!("column {field} has no page for row {row}")));
            };
            let values = self.decode_page(field, &column, page)?;
            if let Some(v) = &values[(row - page.first_row) as usize] {
                out.insert(field.to_owned(), v.clone());
            }
        }
        Ok(out)
    }

    /// The entry holding `id`, if any.
    pub fn find(&self, id: &str) -> Option<u32> {
        let slots: &[u32] = self.pod("id_index").expect("verified at open");
        id_index::lookup(slots, id, |e| if (e as u64) < self.entries() { self.id(e).ok() } else { None })
    }

    /// Is entry `e` a tombstone?
    pub fn is_tombstone(&self, e: u32) -> bool {
        e as u64 >= self.header.rows
    }

    /// Document rows.
    pub fn rows(&self) -> u32 {
        self.header.rows as u32
    }

    /// Is document row `row` the version a snapshot at `s` sees?
    #[inline]
    pub fn visible_at(&self, row: u32, s: u64) -> bool {
        self.seqs()[row as usize] <= s && s < self.superseded_at[row as usize].load(Ordering::Acquire)
    }

    /// Records that `row` was replaced or deleted at `seq` (keeps the earliest).
    pub fn supersede(&self, row: u32, seq: u64) {
        let before = self.superseded_at[row as usize].fetch_min(seq, Ordering::AcqRel);
        if before == u64::MAX && seq != u64::MAX {
            self.dead.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Moves `row`'s mark from `from` to `to` (`u64::MAX`: current again)
    /// if it is still `from`: the undo of a failed write that superseded it.
    pub fn resupersede(&self, row: u32, from: u64, to: u64) {
        let moved = self.superseded_at[row as usize].compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire);
        match (moved.is_ok(), from == u64::MAX, to == u64::MAX) {
            (true, true, false) => {
                self.dead.fetch_add(1, Ordering::Relaxed);
            }
            (true, false, true) => {
                self.dead.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    /// The manifest no longer names this file: delete it once unused.
    pub fn mark_obsolete(&self) {
        self.obsolete.store(true, Ordering::Release);
    }

    /// Seq of the write that replaced or deleted `row` (`u64::MAX` if none).
    pub fn superseded_at(&self, row: u32) -> u64 {
        self.superseded_at[row as usize].load(Ordering::Acquire)
    }

    /// Document rows replaced or deleted (those not `is_current`).
    pub fn dead_rows(&self) -> u64 {
        self.dead.load(Ordering::Relaxed)
    }

    /// Is document row `row` current (not replaced or deleted)?
    #[cfg(test)]
    pub fn is_current(&self, row: u32) -> bool {
        self.superseded_at[row as usize].load(Ordering::Acquire) == u64::MAX
    }

    /// File size in bytes.
    pub fn file_bytes(&self) -> u64 {
        self.storage.len()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
