//! On-disk framing: the 32-byte file header and the 32-byte record header.
//!
//! Everything here is pure (no I/O) so the decoders can be driven by a fuzzer.
//! All integers are little-endian and fixed-width; nothing on disk is `usize`.
//! The byte-by-byte layout is documented in `docs/FORMAT.md` ("WAL framing");
//! keep the two in sync.

/// Magic bytes at offset 0 of every log file.
pub const FILE_MAGIC: [u8; 8] = *b"VEGOWAL\0";
/// Format major version written by this crate. A reader refuses any other major
/// ([`DecodeError::UnsupportedMajor`]) because the layout may differ.
pub const FORMAT_MAJOR: u16 = 1;
/// Format minor version written by this crate. Minor bumps are backward
/// compatible (e.g. assigning meaning to reserved fields), so readers ignore it.
/// 1.1 assigns the two reserved header fields to `prev_len`.
pub const FORMAT_MINOR: u16 = 1;
/// Size of the file header that starts every log file.
pub const FILE_HEADER_BYTES: usize = 32;
/// Size of the fixed header that precedes every record payload.
pub const RECORD_HEADER_BYTES: usize = 32;
/// Largest payload one record may carry (64 MiB). Bounds the memory a reader
/// must trust a length field with, so a corrupt `len` cannot make us allocate
/// or skip gigabytes.
pub const RECORD_BYTES_MAX: u32 = 64 << 20;
/// Record kind for a data record (the only kind defined in format 1.0).
/// Other values are reserved; readers treat them as invalid.
pub const RECORD_KIND_DATA: u8 = 1;

// Field offsets inside the file header.
const FH_MAGIC: usize = 0;
const FH_MAJOR: usize = 8;
const FH_MINOR: usize = 10;
/// Low 32 bits of `prev_len` (reserved, zero, in 1.0).
const FH_PREV_LEN_LO: usize = 12;
const FH_FILE_NUMBER: usize = 16;
/// High 32 bits of `prev_len` (reserved, zero, in 1.0).
const FH_PREV_LEN_HI: usize = 24;
const FH_CRC: usize = 28;

// Field offsets inside the record header.
const RH_CRC: usize = 0;
const RH_LEN: usize = 4;
const RH_KIND: usize = 8;
const RH_PAD: usize = 9;
const RH_SEQ: usize = 16;
const RH_SYNCED: usize = 24;

/// Why a byte range is not a valid file header or record. Never produced by a
/// panic: every decoder checks bounds before reading.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The buffer ends before the structure does.
    #[error("truncated: need {needed} bytes, have {available}")]
    Truncated {
        /// Bytes the structure needs (as far as could be determined).
        needed: u64,
        /// Bytes actually present.
        available: u64,
    },
    /// The stored CRC does not match the bytes it covers.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// CRC read from disk.
        stored: u32,
        /// CRC computed over the bytes on disk.
        computed: u32,
    },
    /// The file header's magic is not [`FILE_MAGIC`].
    #[error("bad magic")]
    BadMagic,
    /// The file header carries a major version this crate cannot read.
    #[error("unsupported format major version {0}")]
    UnsupportedMajor(u16),
    /// A record's `len` exceeds [`RECORD_BYTES_MAX`].
    #[error("record length {len} exceeds maximum {max}")]
    LengthTooLarge {
        /// Length read from disk.
        len: u32,
        /// [`RECORD_BYTES_MAX`].
        max: u32,
    },
    /// A record's kind byte is not a known kind.
    #[error("unknown record kind {0}")]
    UnknownKind(u8),
    /// A record's padding bytes are not all zero.
    #[error("nonzero record padding")]
    NonZeroPadding,
}

/// Decoded file header (the fields that carry meaning in format 1.x).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// Format major version (always [`FORMAT_MAJOR`] after a successful decode).
    pub major: u16,
    /// Format minor version (informational).
    pub minor: u16,
    /// The file's number; must equal the number in its file name.
    pub file_number: u64,
    /// How much of the previous file (number − 1) is the log: 0 = all of it
    /// (it was sealed by a successful fsync at rotation); otherwise only its
    /// first `prev_len` bytes — the part proven durable — count, and whatever
    /// follows is ignored (format 1.1). Written by an open that found the
    /// previous file's tail unproven: it copied the needed records of that
    /// tail into this file, so that nothing appended later ever vouches for
    /// bytes whose durability nobody knows (e.g. after a failed fsync).
    pub prev_len: u64,
}

/// Decoded record header. The CRC is checked by [`decode_record`] and not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Payload length in bytes (`<= RECORD_BYTES_MAX`).
    pub len: u32,
    /// Record kind ([`RECORD_KIND_DATA`]).
    pub kind: u8,
    /// Caller-assigned sequence number; strictly increasing across the log.
    pub seq: u64,
    /// Offset in the same file up to which the file was known to be fsynced
    /// when this record was written. Recovery uses it to tell a torn tail
    /// (invalid bytes past every watermark) from corruption of durable data.
    pub synced_offset: u64,
}

impl RecordHeader {
    /// Total on-disk size of the record (header + payload).
    pub fn total_bytes(&self) -> u64 {
        RECORD_HEADER_BYTES as u64 + u64::from(self.len)
    }
}

fn u16_at(buf: &[u8], at: usize) -> u16 {
    let mut b = [0u8; 2];
    b.copy_from_slice(&buf[at..at + 2]);
    u16::from_le_bytes(b)
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Encodes the header of log file number `file_number` (the previous file,
/// if any, counts whole: `prev_len` = 0).
pub fn encode_file_header(file_number: u64) -> [u8; FILE_HEADER_BYTES] {
    encode_file_header_with_prev_len(file_number, 0)
}

/// Encodes the header of log file number `file_number` saying that only the
/// first `prev_len` bytes of the previous file count (0 = all of it).
pub fn encode_file_header_with_prev_len(file_number: u64, prev_len: u64) -> [u8; FILE_HEADER_BYTES] {
    assert!(file_number >= 1, "file numbers start at 1");
    assert!(prev_len == 0 || prev_len >= FILE_HEADER_BYTES as u64, "prev_len {prev_len} inside a file header");
    let mut h = [0u8; FILE_HEADER_BYTES];
    h[FH_MAGIC..FH_MAGIC + 8].copy_from_slice(&FILE_MAGIC);
    h[FH_MAJOR..FH_MAJOR + 2].copy_from_slice(&FORMAT_MAJOR.to_le_bytes());
    h[FH_MINOR..FH_MINOR + 2].copy_from_slice(&FORMAT_MINOR.to_le_bytes());
    h[FH_PREV_LEN_LO..FH_PREV_LEN_LO + 4].copy_from_slice(&(prev_len as u32).to_le_bytes());
    h[FH_FILE_NUMBER..FH_FILE_NUMBER + 8].copy_from_slice(&file_number.to_le_bytes());
    h[FH_PREV_LEN_HI..FH_PREV_LEN_HI + 4].copy_from_slice(&((prev_len >> 32) as u32).to_le_bytes());
    let crc = crc32c::crc32c(&h[..FH_CRC]);
    h[FH_CRC..FH_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(decode_file_header(&h).map(|fh| (fh.file_number, fh.prev_len)), Ok((file_number, prev_len)));
    h
}

/// Decodes a file header from the start of `buf` (extra bytes are ignored).
///
/// Magic and major version are checked *before* the CRC when the magic
/// matches: a future major version may move or redefine the CRC, and such a
/// file must be reported as incompatible rather than corrupt.
pub fn decode_file_header(buf: &[u8]) -> Result<FileHeader, DecodeError> {
    if buf.len() >= FH_MAJOR + 2 && buf[FH_MAGIC..FH_MAGIC + 8] == FILE_MAGIC {
        let major = u16_at(buf, FH_MAJOR);
        if major != FORMAT_MAJOR {
            return Err(DecodeError::UnsupportedMajor(major));
        }
    }
    if buf.len() < FILE_HEADER_BYTES {
        return Err(DecodeError::Truncated { needed: FILE_HEADER_BYTES as u64, available: buf.len() as u64 });
    }
    let stored = u32_at(buf, FH_CRC);
    let computed = crc32c::crc32c(&buf[..FH_CRC]);
    if stored != computed {
        return Err(DecodeError::ChecksumMismatch { stored, computed });
    }
    if buf[FH_MAGIC..FH_MAGIC + 8] != FILE_MAGIC {
        return Err(DecodeError::BadMagic);
    }
    // Writers of 1.0 wrote zeros here (prev_len 0: the previous file whole).
    let prev_len = u64::from(u32_at(buf, FH_PREV_LEN_LO)) | (u64::from(u32_at(buf, FH_PREV_LEN_HI)) << 32);
    Ok(FileHeader {
        major: u16_at(buf, FH_MAJOR),
        minor: u16_at(buf, FH_MINOR),
        file_number: u64_at(buf, FH_FILE_NUMBER),
        prev_len,
    })
}

/// Appends one encoded data record to `out`.
///
/// Panics if `payload` exceeds [`RECORD_BYTES_MAX`] or `synced_offset` is
/// below the file header: callers validate sizes first (the public API returns
/// [`crate::Error::RecordTooLarge`]), so either is a bug in this crate.
pub fn encode_record(out: &mut Vec<u8>, seq: u64, synced_offset: u64, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("payload length fits u32");
    assert!(len <= RECORD_BYTES_MAX, "payload {len} exceeds RECORD_BYTES_MAX");
    assert!(synced_offset >= FILE_HEADER_BYTES as u64, "watermark below file header");
    let start = out.len();
    let mut h = [0u8; RECORD_HEADER_BYTES];
    h[RH_LEN..RH_LEN + 4].copy_from_slice(&len.to_le_bytes());
    h[RH_KIND] = RECORD_KIND_DATA;
    // RH_PAD..RH_SEQ stays zero.
    h[RH_SEQ..RH_SEQ + 8].copy_from_slice(&seq.to_le_bytes());
    h[RH_SYNCED..RH_SYNCED + 8].copy_from_slice(&synced_offset.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&h[RH_LEN..]), payload);
    h[RH_CRC..RH_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    debug_assert!(matches!(
        decode_record(&out[start..]),
        Ok(Some((rh, p))) if rh.seq == seq && p.len() == payload.len()
    ));
}

/// Decodes the record at the start of `buf`.
///
/// Returns `Ok(None)` for an empty buffer (a clean end of file), otherwise the
/// header and the payload slice; the record occupies
/// `RecordHeader::total_bytes()` bytes of `buf`. Structural checks (length,
/// kind, padding) run before the CRC so garbage is rejected cheaply.
pub fn decode_record(buf: &[u8]) -> Result<Option<(RecordHeader, &[u8])>, DecodeError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf.len() < RECORD_HEADER_BYTES {
        return Err(DecodeError::Truncated { needed: RECORD_HEADER_BYTES as u64, available: buf.len() as u64 });
    }
    let len = u32_at(buf, RH_LEN);
    if len > RECORD_BYTES_MAX {
        return Err(DecodeError::LengthTooLarge { len, max: RECORD_BYTES_MAX });
    }
    let kind = buf[RH_KIND];
    if kind != RECORD_KIND_DATA {
        return Err(DecodeError::UnknownKind(kind));
    }
    if buf[RH_PAD..RH_SEQ].iter().any(|&b| b != 0) {
        return Err(DecodeError::NonZeroPadding);
    }
    // len <= 64 MiB, so this cannot overflow usize on any supported target.
    let total = RECORD_HEADER_BYTES + len as usize;
    if buf.len() < total {
        return Err(DecodeError::Truncated { needed: total as u64, available: buf.len() as u64 });
    }
    let stored = u32_at(buf, RH_CRC);
    let computed = crc32c::crc32c(&buf[RH_LEN..total]);
    if stored != computed {
        return Err(DecodeError::ChecksumMismatch { stored, computed });
    }
    let header = RecordHeader { len, kind, seq: u64_at(buf, RH_SEQ), synced_offset: u64_at(buf, RH_SYNCED) };
    Ok(Some((header, &buf[RECORD_HEADER_BYTES..total])))
}

/// Cheap pre-filter used when searching garbage for valid records: reads the
/// `synced_offset` field of a would-be record at the start of `buf` without
/// checking anything else. `None` if `buf` is shorter than a record header.
pub(crate) fn peek_synced_offset(buf: &[u8]) -> Option<u64> {
    (buf.len() >= RECORD_HEADER_BYTES).then(|| u64_at(buf, RH_SYNCED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_header_round_trips() {
        let h = encode_file_header(7);
        let d = decode_file_header(&h).unwrap();
        assert_eq!(d.file_number, 7);
        assert_eq!(d.major, FORMAT_MAJOR);
        assert_eq!(d.minor, FORMAT_MINOR);
    }

    #[test]
    fn prev_len_round_trips_in_both_halves() {
        for prev_len in [0, 32, 4096, u32::MAX as u64, (7 << 32) | 5, u64::MAX] {
            let h = encode_file_header_with_prev_len(3, prev_len);
            assert_eq!(decode_file_header(&h).unwrap().prev_len, prev_len);
        }
        assert_eq!(decode_file_header(&encode_file_header(3)).unwrap().prev_len, 0);
    }

    #[test]
    fn file_header_with_future_major_is_unsupported_even_if_crc_differs() {
        let mut h = encode_file_header(1);
        h[FH_MAJOR..FH_MAJOR + 2].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(decode_file_header(&h), Err(DecodeError::UnsupportedMajor(2)));
    }

    #[test]
    fn file_header_short_or_flipped_is_rejected() {
        let h = encode_file_header(1);
        assert!(matches!(decode_file_header(&h[..31]), Err(DecodeError::Truncated { .. })));
        let mut bad = h;
        bad[20] ^= 1;
        assert!(matches!(decode_file_header(&bad), Err(DecodeError::ChecksumMismatch { .. })));
    }

    #[test]
    fn record_round_trips_and_empty_buffer_is_clean_end() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 42, 32, b"hello");
        let (h, p) = decode_record(&buf).unwrap().unwrap();
        assert_eq!((h.seq, h.synced_offset, h.len, p), (42, 32, 5, &b"hello"[..]));
        assert_eq!(decode_record(&[]), Ok(None));
    }

    #[test]
    fn record_every_single_bit_flip_is_detected() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 9, 32, b"payload bytes");
        for i in 0..buf.len() * 8 {
            let mut b = buf.clone();
            b[i / 8] ^= 1 << (i % 8);
            assert!(decode_record(&b).is_err(), "flip of bit {i} undetected");
        }
    }
}
