//! The file inspector behind `vego inspect`: decodes any WAL, segment or
//! manifest file and reports its header, its parts (records, sections,
//! metadata pages, collections) and whether each one's checksum and
//! structure are ok or bad.
//!
//! It reuses the decoders the engine opens files with, on bytes read into
//! memory, and never panics: garbage, truncated or foreign files get a
//! report whose parts say what is bad and where.
//!
//! ```
//! # fn main() -> vego::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let db = vego::Db::open(dir.path(), vego::Options::default().dimension(2))?;
//! db.collection("c")?.insert(vego::Document::new("a", vec![1.0, 2.0]))?;
//! db.close()?;
//! let manifest = std::fs::read_dir(dir.path()).unwrap().flatten()
//!     .find(|e| e.file_name().to_string_lossy().starts_with("MANIFEST-")).unwrap().path();
//! let report = vego::inspect::inspect_file(&manifest)?;
//! assert_eq!(report.kind, vego::inspect::FileKind::Manifest);
//! assert!(report.ok);
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::codec::wal_record::{self, WalOp};
use crate::model::error::io_err;
use crate::segment::columns::{self, COLUMN_PREFIX};
use crate::segment::encoding;
use crate::segment::format::{self, HEADER_BYTES};
use crate::segment::io::{IoConfig, SegmentIo};
use crate::segment::reader::Segment;
use crate::Result;

/// What kind of file was inspected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A write-ahead-log file (`wal/<n>.wal`).
    Wal,
    /// A segment file (`segments/<n>.vseg`).
    Segment,
    /// A manifest version (`MANIFEST-<n>`).
    Manifest,
    /// Not recognisably a Vego file.
    Unknown,
}

/// One header field.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Field {
    /// Field name.
    pub name: String,
    /// Its value, as text.
    pub value: String,
}

/// One checked part of a file: a WAL record, a segment section or metadata
/// page, a manifest collection or segment entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Part {
    /// What it is: `record`, `section`, `page`, `structure`, `collection`, `segment`.
    pub kind: String,
    /// Its name (record seq, section name, …).
    pub name: String,
    /// Byte offset in the file, when it has one.
    pub offset: Option<u64>,
    /// Length in bytes, when it has one.
    pub len: Option<u64>,
    /// Checksum and structure are good.
    pub ok: bool,
    /// What it holds, or what is wrong with it.
    pub detail: String,
}

/// Everything the inspector found in one file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The file.
    pub path: PathBuf,
    /// Its kind (by magic, else by name).
    pub kind: FileKind,
    /// File length.
    pub bytes: u64,
    /// True when every check passed.
    pub ok: bool,
    /// Header fields, in file order.
    pub header: Vec<Field>,
    /// Checked parts, in file order.
    pub parts: Vec<Part>,
    /// Problems that are not tied to one part (bad header, bad table, …).
    pub problems: Vec<String>,
}

impl Report {
    fn new(path: &Path, kind: FileKind, bytes: usize) -> Report {
        Report {
            path: path.to_path_buf(),
            kind,
            bytes: bytes as u64,
            ok: true,
            header: Vec::new(),
            parts: Vec::new(),
            problems: Vec::new(),
        }
    }

    fn field(&mut self, name: &str, value: impl ToString) {
        self.header.push(Field { name: name.into(), value: value.to_string() });
    }

    fn part(
        &mut self,
        kind: &str,
        name: impl Into<String>,
        at: Option<(u64, u64)>,
        ok: bool,
        detail: impl Into<String>,
    ) {
        self.parts.push(Part {
            kind: kind.into(),
            name: name.into(),
            offset: at.map(|a| a.0),
            len: at.map(|a| a.1),
            ok,
            detail: detail.into(),
        });
    }

    fn problem(&mut self, p: impl Into<String>) {
        self.problems.push(p.into());
    }

    fn finish(mut self) -> Report {
        self.ok = self.problems.is_empty() && self.parts.iter().all(|p| p.ok);
        self
    }
}

/// Reads and inspects the file at `path`. Fails only if it cannot be read;
/// damage is reported in the [`Report`]. Segment files also get a full open
/// (graph, id index, shapes) as the engine would do it.
pub fn inspect_file(path: &Path) -> Result<Report> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let mut report = inspect_bytes(path, &bytes);
    if report.kind == FileKind::Segment && report.problems.is_empty() {
        match Segment::open(path, &IoConfig::new(SegmentIo::Pread { cache_bytes: 1 << 20 })) {
            Ok(seg) => {
                let detail = format!("opens: {} rows, {} tombstones, graph ok", seg.rows(), seg.header.tombstones);
                report.part("structure", "open", None, true, detail);
            }
            Err(e) => report.part("structure", "open", None, false, e.to_string()),
        }
        report = report.finish();
    }
    Ok(report)
}

/// Inspects file contents; `path` names the file in the report and breaks
/// ties when the magic is unrecognisable. Never panics.
pub fn inspect_bytes(path: &Path, bytes: &[u8]) -> Report {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let kind = if bytes.starts_with(&vego_wal::format::FILE_MAGIC) {
        FileKind::Wal
    } else if bytes.starts_with(format::MAGIC) {
        FileKind::Segment
    } else if bytes.starts_with(vego_manifest::MAGIC) {
        FileKind::Manifest
    } else if name.ends_with(vego_wal::LOG_FILE_SUFFIX) {
        FileKind::Wal
    } else if name.ends_with(".vseg") {
        FileKind::Segment
    } else if name.starts_with(vego_manifest::MANIFEST_PREFIX) {
        FileKind::Manifest
    } else {
        FileKind::Unknown
    };
    let mut report = Report::new(path, kind, bytes.len());
    match kind {
        FileKind::Wal => wal(&mut report, &name, bytes),
        FileKind::Segment => segment(&mut report, path, bytes),
        FileKind::Manifest => manifest(&mut report, path, bytes),
        FileKind::Unknown => {
            report.problem("not a Vego file: unknown magic (expected a WAL, segment or manifest file)")
        }
    }
    report.finish()
}

fn wal(report: &mut Report, name: &str, bytes: &[u8]) {
    use vego_wal::{decode_file_header, decode_record, FileRole, ScanError, FILE_HEADER_BYTES};
    match decode_file_header(bytes) {
        Ok(h) => {
            report.field("format", format!("{}.{}", h.major, h.minor));
            report.field("file number", h.file_number);
            if let Some(n) = vego_wal::parse_file_name(name) {
                if n != h.file_number {
                    report.problem(format!("header names file {}, the file name says {n}", h.file_number));
                }
            }
        }
        Err(e) => {
            report.problem(format!("file header (offset 0): {e}"));
            return;
        }
    }
    let mut at = FILE_HEADER_BYTES;
    let (mut records, mut last_seq) = (0u64, None::<u64>);
    loop {
        match decode_record(&bytes[at..]) {
            Ok(None) => break,
            Ok(Some((h, payload))) => {
                let (mut ok, mut detail) = match wal_record::decode(payload) {
                    Ok(batch) => {
                        let puts = batch.ops.iter().filter(|o| matches!(o, WalOp::Put { .. })).count();
                        let deletes = batch.ops.len() - puts;
                        (true, format!("collection {}: {puts} put(s), {deletes} delete(s)", batch.collection_id))
                    }
                    Err(e) => (false, format!("payload does not decode at byte {}: {}", e.offset, e.detail)),
                };
                if last_seq.is_some_and(|s| h.seq <= s) {
                    ok = false;
                    detail = format!("seq {} not above the previous seq; {detail}", h.seq);
                }
                detail.push_str(&format!("; crc ok; synced through {}", h.synced_offset));
                report.part("record", format!("seq {}", h.seq), Some((at as u64, h.total_bytes())), ok, detail);
                records += 1;
                last_seq = Some(h.seq);
                at += h.total_bytes() as usize;
            }
            Err(e) => {
                let rest = (bytes.len() - at) as u64;
                report.part("record", "invalid", Some((at as u64, rest)), false, format!("bad: {e}"));
                break;
            }
        }
    }
    report.field("records", records);
    if let Some(s) = last_seq {
        report.field("last seq", s);
    }
    // What opening the log would do with this file as its newest file.
    let verdict = match vego_wal::scan_file_bytes(bytes, FileRole::Last, None) {
        Ok(scan) => match scan.torn_at {
            None => "clean".to_string(),
            Some(x) => format!(
                "torn tail at offset {x}: recovery would cut {} byte(s) if this is the newest file",
                bytes.len() as u64 - x
            ),
        },
        Err(ScanError::Corruption { offset, detail }) => {
            format!("corruption at offset {offset}: open would fail ({detail})")
        }
        Err(ScanError::IncompatibleFormat { found }) => format!("unsupported format major version {found}"),
    };
    report.field("recovery", verdict);
}

fn segment(report: &mut Report, path: &Path, bytes: &[u8]) {
    let header = match format::decode_header(path, bytes) {
        Ok(h) => {
            report.field("format", format!("{}.{}", h.format_major, u16::from_le_bytes([bytes[10], bytes[11]])));
            report.field("dimension", h.dimension);
            report.field("metric", metric_name(h.metric));
            report.field("rows", h.rows);
            report.field("tombstones", h.tombstones);
            report.field("seqs", format!("{}..={}", h.min_seq, h.max_seq));
            report.part("section", "header", Some((0, HEADER_BYTES as u64)), true, "crc ok");
            Some(h)
        }
        Err(e) => {
            report.problem(format!("header: {e}"));
            None
        }
    };
    let sections = match format::decode_footer(path, bytes) {
        Ok(s) => s,
        Err(e) => {
            report.problem(format!("section table: {e}"));
            return;
        }
    };
    report.field("sections", sections.len());
    for s in &sections {
        // decode_footer checked every section lies inside the file.
        let data = &bytes[s.offset as usize..(s.offset + s.len) as usize];
        let crc = crc32c::crc32c(data);
        let ok = crc == s.crc;
        let detail =
            if ok { "crc ok".to_string() } else { format!("bad: crc {crc:#010x}, table says {:#010x}", s.crc) };
        report.part("section", s.name.clone(), Some((s.offset, s.len)), ok, detail);
        let (Some(field), Some(h), true) = (s.name.strip_prefix(COLUMN_PREFIX), header, ok) else { continue };
        match columns::parse(data, h.rows) {
            Ok(col) => {
                for (i, page) in col.pages.iter().enumerate() {
                    let at = s.offset + page.offset;
                    let page_bytes = &data[page.offset as usize..page.offset as usize + page.len as usize];
                    let (ok, detail) = match encoding::decode_page(col.kind, page_bytes) {
                        Ok(v) if v.len() == page.rows as usize => (true, format!("{} rows, checksum ok", page.rows)),
                        Ok(v) => (false, format!("bad: {} rows decoded, directory says {}", v.len(), page.rows)),
                        Err(e) => (false, format!("bad at byte {}: {}", e.offset, e.detail)),
                    };
                    report.part("page", format!("{field}#{i}"), Some((at, page.len as u64)), ok, detail);
                }
            }
            Err((off, detail)) => {
                report.part("page", format!("{field} directory"), Some((s.offset + off as u64, 0)), false, detail)
            }
        }
    }
}

fn manifest(report: &mut Report, path: &Path, bytes: &[u8]) {
    if bytes.len() >= 28 {
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
        report.field("format", format!("{}.{}", u16_at(8), u16_at(10)));
        report.field("version (header)", u64::from_le_bytes(bytes[16..24].try_into().unwrap_or_default()));
        report.field("body bytes", u32::from_le_bytes(bytes[24..28].try_into().unwrap_or_default()));
    }
    let state = match vego_manifest::decode(path, bytes) {
        Ok(s) => s,
        Err(e) => {
            report.problem(e.to_string());
            return;
        }
    };
    report.field("checksum", "ok");
    report.field("last seq", state.last_seq);
    report.field("wal checkpoint seq", state.wal_checkpoint_seq);
    report.field("next collection id", state.next_collection_id);
    report.field("next file id", state.next_file_id);
    report.field("collections", state.collections.len());
    for (name, c) in &state.collections {
        let cfg = &c.config;
        let detail = format!(
            "id {}, dim {}, {}, M {}, ef_construction {}, ef_search {}, flushed_seq {}, {} segment(s)",
            c.id,
            cfg.dimension,
            metric_name(cfg.distance),
            cfg.m,
            cfg.ef_construction,
            cfg.ef_search,
            c.flushed_seq,
            c.segments.len()
        );
        report.part("collection", name.clone(), None, true, detail);
        for s in &c.segments {
            let detail = format!("{name}: {} rows, {} bytes, seqs {}..={}", s.rows, s.bytes, s.min_seq, s.max_seq);
            report.part("segment", crate::engine::layout::segment_file_name(s.file_id), None, true, detail);
        }
    }
}

fn metric_name(code: u8) -> String {
    crate::codec::distance::name(code).map_or_else(|| format!("unknown metric {code}"), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_empty_files_are_reported_not_panicked_on() {
        let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
        for len in [0usize, 1, 7, 8, 31, 32, 33, 64, 100, 300] {
            for fill in [0u8, 0xff, 0x41] {
                let mut b = vec![fill; len];
                inputs.push(("x".into(), b.clone()));
                for magic in [&vego_wal::format::FILE_MAGIC[..], format::MAGIC, vego_manifest::MAGIC] {
                    b = [magic, &vec![fill; len]].concat();
                    inputs.push(("y".into(), b.clone()));
                }
            }
        }
        for (name, bytes) in inputs {
            for suffix in ["", ".wal", ".vseg"] {
                let r = inspect_bytes(Path::new(&format!("{name}{suffix}")), &bytes);
                assert!(!r.ok, "{name}{suffix}: {} bytes judged ok", bytes.len());
            }
        }
    }
}
