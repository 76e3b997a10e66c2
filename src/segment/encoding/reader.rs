//! Bounds-checked little-endian reader that reports offsets within the page.

use super::DecodeError;

/// Reads from `buf`; errors carry `base + pos` (or just `base` when `buf` is
/// a decompressed payload whose positions do not map onto the page bytes).
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    exact: bool,
    origin: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize, exact: bool) -> Reader<'a> {
        Reader::with_origin(buf, base, exact, 0)
    }

    /// A reader whose `buf` starts at position `origin` of the payload.
    pub(crate) fn with_origin(buf: &'a [u8], base: usize, exact: bool, origin: usize) -> Reader<'a> {
        Reader { buf, pos: 0, base, exact, origin }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// An error at the current position.
    pub(crate) fn err(&self, detail: impl Into<String>) -> DecodeError {
        self.err_at(self.pos, detail)
    }

    /// An error at position `pos` of `buf`.
    pub(crate) fn err_at(&self, pos: usize, detail: impl Into<String>) -> DecodeError {
        let pos = self.origin + pos;
        if self.exact {
            DecodeError::new(self.base + pos, detail)
        } else {
            DecodeError::new(self.base, format!("{} (at byte {} of the decompressed payload)", detail.into(), pos))
        }
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(self.err(format!("truncated {what}: need {n} bytes, {} left", self.remaining())));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.bytes(1, what)?[0])
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn i64(&mut self, what: &str) -> Result<i64, DecodeError> {
        Ok(self.u64(what)? as i64)
    }
}

/// Reads the little-endian u32 at `at` of `buf` (caller checked bounds).
pub(crate) fn le_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// Reads the little-endian u64 at `at` of `buf` (caller checked bounds).
pub(crate) fn le_u64(buf: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(a)
}
