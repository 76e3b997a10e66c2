//! Validation of one log file's bytes: the recovery rules, without I/O.
//!
//! [`scan_file_bytes`] is pure and total (it never panics on any input), so a
//! fuzz target can call it directly. `recovery.rs` applies its verdict to the
//! directory (truncating, replaying, reporting).
//!
//! The rule for the last file: at the first invalid record at offset X, look
//! for any later valid record R whose `synced_offset` > X. Such an R proves the
//! bytes at X had been fsynced before R was written, so X is corruption of
//! durable data. Otherwise X is in the unsynced tail, where it is a torn
//! write (and may be truncated) only if it looks like one: a record cut
//! short by the end of the file, or one with a 512-byte sector of zeros (a
//! block whose data never reached the disk). A record that is complete, with
//! no zero sector, whose checksum fails, is damage to a written record —
//! bit rot of an acknowledged write — and is corruption too.

use std::ops::Range;

use crate::format::{
    decode_file_header, decode_record, peek_synced_offset, DecodeError, FileHeader, RecordHeader, FILE_HEADER_BYTES,
    RECORD_HEADER_BYTES,
};

/// Which rules apply to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// Any file but the newest: fsynced at rotation, so any invalid byte is
    /// corruption.
    Sealed,
    /// The newest file: may end in a torn (unsynced) tail.
    Last,
}

/// One valid record found by the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordInfo {
    /// Byte offset of the record header within the file.
    pub offset: u64,
    /// The decoded header.
    pub header: RecordHeader,
}

impl RecordInfo {
    /// Range of the payload within the scanned bytes.
    pub fn payload_range(&self) -> Range<usize> {
        // Offsets come from scanning an in-memory buffer, so they fit usize.
        let start = self.offset as usize + RECORD_HEADER_BYTES;
        start..start + self.header.len as usize
    }

    /// The payload within `bytes` (the buffer that was scanned); `None` if
    /// `bytes` is not that buffer and is too short.
    pub fn payload<'a>(&self, bytes: &'a [u8]) -> Option<&'a [u8]> {
        bytes.get(self.payload_range())
    }
}

/// Result of scanning one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileScan {
    /// The file header, or `None` if the (last) file's header is torn.
    pub header: Option<FileHeader>,
    /// Valid records, in file order.
    pub records: Vec<RecordInfo>,
    /// Bytes to keep: end of the last valid record (or of the header); 0 if
    /// the header is torn.
    pub valid_len: u64,
    /// `Some(valid_len)` when bytes past `valid_len` are a torn tail to drop.
    pub torn_at: Option<u64>,
    /// Bytes proven durable: the largest `synced_offset` of a valid record
    /// (the header end if there is none; 0 if the header is torn). Bytes from
    /// here to `valid_len` were written but nothing in the file shows they
    /// were fsynced.
    pub proven_len: u64,
}

/// Sector size of the torn-write test: the unit a device or file system
/// writes atomically (or not at all) — 512 bytes, or a multiple of it.
pub const SECTOR_BYTES: u64 = 512;

/// Why a file cannot be opened. Offsets are within the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// Durable bytes are invalid.
    #[error("corruption at offset {offset}: {detail}")]
    Corruption {
        /// Offset of the bad bytes.
        offset: u64,
        /// Explanation.
        detail: String,
    },
    /// The header declares an unsupported major version.
    #[error("unsupported format major version {found}")]
    IncompatibleFormat {
        /// Major version found.
        found: u16,
    },
}

fn corruption(offset: u64, detail: String) -> ScanError {
    ScanError::Corruption { offset, detail }
}

/// Validates the bytes of one log file.
///
/// `prev_seq` is the last seq of the preceding file (seqs must increase
/// strictly across the whole log). Does not check the header's file number
/// against the file name; the caller knows the name.
pub fn scan_file_bytes(bytes: &[u8], role: FileRole, prev_seq: Option<u64>) -> Result<FileScan, ScanError> {
    let header = match decode_file_header(bytes) {
        Ok(h) => h,
        Err(DecodeError::UnsupportedMajor(found)) => return Err(ScanError::IncompatibleFormat { found }),
        Err(e @ (DecodeError::Truncated { .. } | DecodeError::ChecksumMismatch { .. })) if role == FileRole::Last => {
            // Records are written only after the header was fsynced, so a
            // torn header is acceptable only if nothing valid follows it.
            match find_valid_record(bytes, FILE_HEADER_BYTES as u64, |_| true) {
                Search::Found(at) => {
                    return Err(corruption(
                        0,
                        format!("file header invalid ({e}) but a valid record exists at offset {at}"),
                    ))
                }
                Search::GaveUp(at) => {
                    return Err(corruption(0, format!("file header invalid ({e}); record-like bytes up to {at}")))
                }
                Search::NotFound => {}
            }
            return Ok(FileScan { header: None, records: Vec::new(), valid_len: 0, torn_at: Some(0), proven_len: 0 });
        }
        Err(e) => return Err(corruption(0, format!("file header invalid: {e}"))),
    };

    let file_len = bytes.len() as u64;
    let mut records = Vec::new();
    let mut offset = FILE_HEADER_BYTES as u64;
    let mut last_seq = prev_seq;
    let mut last_synced = FILE_HEADER_BYTES as u64;
    let problem = loop {
        // Invariant: offset <= file_len, so the slice is in bounds.
        let rest = &bytes[offset as usize..];
        let (h, _payload) = match decode_record(rest) {
            Ok(None) => break None,
            Ok(Some(r)) => r,
            Err(e) => break Some(e.to_string()),
        };
        if last_seq.is_some_and(|s| h.seq <= s) {
            break Some(format!("seq {} not greater than previous seq {}", h.seq, last_seq.unwrap_or_default()));
        }
        // The watermark only moves forward and never past the record itself.
        if h.synced_offset < last_synced || h.synced_offset > offset {
            break Some(format!("synced_offset {} outside [{last_synced}, {offset}]", h.synced_offset));
        }
        records.push(RecordInfo { offset, header: h });
        last_seq = Some(h.seq);
        last_synced = h.synced_offset;
        offset += h.total_bytes();
        debug_assert!(offset <= file_len);
    };

    let proven_len = last_synced;
    let Some(reason) = problem else {
        return Ok(FileScan { header: Some(header), records, valid_len: offset, torn_at: None, proven_len });
    };
    if role == FileRole::Sealed {
        return Err(corruption(offset, format!("invalid record in sealed file: {reason}")));
    }
    let x = offset;
    match find_valid_record(bytes, x + 1, |s| s > x) {
        Search::Found(at) => {
            let s = peek_synced_offset(&bytes[at as usize..]).unwrap_or_default();
            return Err(corruption(
                x,
                format!(
                    "invalid record ({reason}), but the valid record at offset {at} shows the file \
                     was fsynced through offset {s}"
                ),
            ));
        }
        Search::GaveUp(at) => {
            return Err(corruption(
                x,
                format!("invalid record ({reason}) followed by record-like bytes up to offset {at}; refusing to guess"),
            ));
        }
        Search::NotFound => {}
    }
    if !looks_torn(bytes, x) {
        return Err(corruption(
            x,
            format!(
                "damaged record ({reason}): it is complete and has no zero {SECTOR_BYTES}-byte sector, so it \
                 is not a torn write"
            ),
        ));
    }
    Ok(FileScan { header: Some(header), records, valid_len: x, torn_at: Some(x), proven_len })
}

/// Whether the invalid record at `x` has the shape of a torn write: fewer
/// bytes than a header, a length reaching past the end of the file, or a
/// [`SECTOR_BYTES`]-aligned chunk of it (by file offset) that is all zeros —
/// an unwritten block, which file systems read back as zeros. Anything else
/// is a complete record whose bytes changed after they were written.
fn looks_torn(bytes: &[u8], x: u64) -> bool {
    let Some(rest) = usize::try_from(x).ok().and_then(|x| bytes.get(x..)) else { return true };
    if rest.len() < RECORD_HEADER_BYTES {
        return true;
    }
    let len = u32::from_le_bytes(rest[4..8].try_into().expect("header present"));
    let claimed = RECORD_HEADER_BYTES as u64 + u64::from(len);
    if claimed > rest.len() as u64 {
        return true;
    }
    let end = x + claimed;
    let mut at = x;
    while at < end {
        let next = ((at / SECTOR_BYTES + 1) * SECTOR_BYTES).min(end);
        // In bounds: x + claimed <= bytes.len().
        if bytes[at as usize..next as usize].iter().all(|&b| b == 0) {
            return true;
        }
        at = next;
    }
    false
}

/// Outcome of searching a damaged tail for a valid record.
#[derive(Debug, PartialEq, Eq)]
enum Search {
    /// A valid record (satisfying the watermark test) starts here.
    Found(u64),
    /// No valid record anywhere after the start.
    NotFound,
    /// The CRC work budget ran out at this offset: the tail is full of
    /// record-like bytes (crafted or badly damaged), so refuse rather than guess.
    GaveUp(u64),
}

/// CRC work allowed per byte of file while searching a damaged tail; bounds
/// the search to linear time (each position may claim a long record).
const SEARCH_CRC_BYTES_PER_FILE_BYTE: usize = 8;

/// Searches byte by byte from `from` for a valid record whose
/// `synced_offset` satisfies `want` and is not past the record's own offset.
/// The watermark test runs first because it is a single load and rejects
/// almost every position, so the CRC is computed only for real candidates.
fn find_valid_record(bytes: &[u8], from: u64, want: impl Fn(u64) -> bool) -> Search {
    find_valid_record_within(bytes, from, want, bytes.len() * SEARCH_CRC_BYTES_PER_FILE_BYTE + (1 << 20))
}

fn find_valid_record_within(bytes: &[u8], from: u64, want: impl Fn(u64) -> bool, mut budget: usize) -> Search {
    let Some(end) = bytes.len().checked_sub(RECORD_HEADER_BYTES) else { return Search::NotFound };
    let Ok(start) = usize::try_from(from) else { return Search::NotFound };
    for p in start..=end {
        let buf = &bytes[p..];
        match peek_synced_offset(buf) {
            Some(s) if want(s) && s <= p as u64 => {
                let claimed = u32::from_le_bytes(buf[4..8].try_into().expect("header present")) as usize;
                let cost = claimed.min(buf.len()) + RECORD_HEADER_BYTES;
                if cost > budget {
                    return Search::GaveUp(p as u64);
                }
                budget -= cost;
                if matches!(decode_record(buf), Ok(Some(_))) {
                    return Search::Found(p as u64);
                }
            }
            _ => {}
        }
    }
    Search::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_file_header, encode_record};

    /// A tail of fake headers each claiming a record to the end of the file
    /// (with a wrong CRC) used to cost O(n²) CRC work; the budget stops it.
    #[test]
    fn tail_of_fake_record_headers_exhausts_the_budget_instead_of_going_quadratic() {
        let mut b = encode_file_header(1).to_vec();
        encode_record(&mut b, 1, 32, b"ok");
        let x = b.len();
        b.push(0xff); // the damaged record
        while b.len() < x + 64 * 1024 {
            let remaining = (x + 64 * 1024 - b.len()) as u32;
            let mut h = [0u8; RECORD_HEADER_BYTES];
            h[4..8].copy_from_slice(&remaining.to_le_bytes());
            h[8] = 1;
            h[24..32].copy_from_slice(&(x as u64 + 1).to_le_bytes());
            b.extend_from_slice(&h);
        }
        let budget = 256 * 1024;
        assert!(matches!(find_valid_record_within(&b, x as u64 + 1, |s| s > x as u64, budget), Search::GaveUp(_)));
        let unlimited = usize::MAX;
        assert_eq!(find_valid_record_within(&b, x as u64 + 1, |s| s > x as u64, unlimited), Search::NotFound);
        match scan_file_bytes(&b, FileRole::Last, None) {
            Err(ScanError::Corruption { offset, .. }) => assert_eq!(offset, x as u64, "names the damaged record"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn file(records: &[(u64, u64, &[u8])]) -> Vec<u8> {
        let mut b = encode_file_header(1).to_vec();
        for &(seq, synced, p) in records {
            encode_record(&mut b, seq, synced, p);
        }
        b
    }

    #[test]
    fn clean_file_scans_all_records() {
        let b = file(&[(1, 32, b"a"), (2, 65, b"bb")]);
        let s = scan_file_bytes(&b, FileRole::Sealed, None).unwrap();
        assert_eq!(s.records.len(), 2);
        assert_eq!(s.valid_len, b.len() as u64);
        assert_eq!(s.torn_at, None);
        assert_eq!(s.records[1].payload(&b), Some(&b"bb"[..]));
    }

    #[test]
    fn seq_must_exceed_previous_file() {
        let b = file(&[(5, 32, b"a")]);
        assert!(scan_file_bytes(&b, FileRole::Sealed, Some(5)).is_err());
        // A record with a valid checksum out of order is no torn write.
        assert!(matches!(scan_file_bytes(&b, FileRole::Last, Some(5)), Err(ScanError::Corruption { offset: 32, .. })));
    }

    #[test]
    fn damaged_complete_last_record_is_corruption_but_a_zero_sector_or_short_record_is_torn() {
        let payload = vec![0xabu8; 2000];
        let b = file(&[(1, 32, b"first"), (2, 32, &payload)]);
        let last = 32 + 32 + 5;
        // A bit flip inside the complete last record: damage.
        let mut flipped = b.clone();
        flipped[last + 40 + 700] ^= 0x04;
        match scan_file_bytes(&flipped, FileRole::Last, None) {
            Err(ScanError::Corruption { offset, .. }) => assert_eq!(offset, last as u64),
            other => panic!("expected corruption, got {other:?}"),
        }
        // One sector of it never written (zeros): a torn write.
        let mut zeroed = b.clone();
        zeroed[1024..1536].fill(0);
        let s = scan_file_bytes(&zeroed, FileRole::Last, None).unwrap();
        assert_eq!((s.records.len(), s.torn_at), (1, Some(last as u64)));
        // Cut short by the end of the file: a torn write.
        let s = scan_file_bytes(&b[..b.len() - 1], FileRole::Last, None).unwrap();
        assert_eq!((s.records.len(), s.torn_at), (1, Some(last as u64)));
        // A partial header: a torn write.
        let s = scan_file_bytes(&b[..last + 20], FileRole::Last, None).unwrap();
        assert_eq!(s.torn_at, Some(last as u64));
    }

    #[test]
    fn proven_len_is_the_last_watermark() {
        let b = file(&[(1, 32, b"a"), (2, 32, b"b"), (3, 98, b"c")]);
        assert_eq!(scan_file_bytes(&b, FileRole::Last, None).unwrap().proven_len, 98);
        assert_eq!(scan_file_bytes(&file(&[]), FileRole::Last, None).unwrap().proven_len, 32);
    }

    #[test]
    fn torn_header_of_last_file_is_torn_unless_records_follow() {
        let b = file(&[(1, 32, b"a")]);
        let s = scan_file_bytes(&b[..20], FileRole::Last, None).unwrap();
        assert_eq!((s.header, s.torn_at), (None, Some(0)));
        let mut bad = b.clone();
        bad[3] ^= 0xff;
        assert!(matches!(scan_file_bytes(&bad, FileRole::Last, None), Err(ScanError::Corruption { offset: 0, .. })));
        assert!(scan_file_bytes(&b[..20], FileRole::Sealed, None).is_err());
    }

    #[test]
    fn scan_never_panics_on_tiny_inputs() {
        for len in 0..80 {
            for fill in [0u8, 0xff, 1] {
                let b = vec![fill; len];
                let _ = scan_file_bytes(&b, FileRole::Last, None);
                let _ = scan_file_bytes(&b, FileRole::Sealed, Some(u64::MAX));
            }
        }
    }
}
