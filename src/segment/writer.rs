//! Writes a segment file: header, aligned sections, section table, trailer.
//! The file is written under a temporary name, fsynced, renamed into place and
//! the directory fsynced, so a crash never leaves a half-written segment
//! under its final name (leftover temp files are deleted at open).

use std::path::{Path, PathBuf};

use super::format::{self, Header, SectionEntry, HEADER_BYTES, SECTION_ALIGN};
use crate::{Error, Result};

/// Accumulates sections in memory.
pub(crate) struct SegmentBuilder {
    buf: Vec<u8>,
    sections: Vec<SectionEntry>,
}

impl SegmentBuilder {
    pub fn new(header: &Header) -> Self {
        let mut buf = Vec::with_capacity(1 << 20);
        buf.extend_from_slice(&format::encode_header(header));
        debug_assert_eq!(buf.len(), HEADER_BYTES);
        SegmentBuilder { buf, sections: Vec::new() }
    }

    /// Appends a section, 64-byte aligned, recording its CRC.
    pub fn section(&mut self, name: impl Into<String>, bytes: &[u8]) {
        let name = name.into();
        assert!(!self.sections.iter().any(|s| s.name == name), "section {name} written twice");
        let pad = self.buf.len().next_multiple_of(SECTION_ALIGN) - self.buf.len();
        self.buf.resize(self.buf.len() + pad, 0);
        let offset = self.buf.len() as u64;
        self.buf.extend_from_slice(bytes);
        self.sections.push(SectionEntry { name, offset, len: bytes.len() as u64, crc: crc32c::crc32c(bytes) });
    }

    /// Appends a section of plain-old-data values (u32/u64/f32), little-endian.
    pub fn pod_section<T: bytemuck::Pod>(&mut self, name: impl Into<String>, values: &[T]) {
        const { assert!(cfg!(target_endian = "little"), "segment files are little-endian") };
        self.section(name, bytemuck::cast_slice(values));
    }

    pub fn finish(mut self) -> Vec<u8> {
        let table_offset = self.buf.len() as u64;
        let footer = format::encode_footer(table_offset, &self.sections);
        self.buf.extend_from_slice(&footer);
        self.buf
    }
}

/// Writes `bytes` as `path` atomically (temp → fsync → rename → fsync dir).
pub(crate) fn write_file_atomically(fs: &dyn vego_storage::Storage, path: &Path, bytes: &[u8]) -> Result<()> {
    vego_storage::write_file_atomically(fs, path, &temp_path(path), bytes)
        .map_err(|(_, path, source)| Error::Io { path, source })
}

/// The temporary name of a file being written.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().expect("file name").to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}
