//! `vego-wal`: the write-ahead log of Vego.
//!
//! * **Framing** ([`mod@format`]): every file starts with a 32-byte header; every
//!   record has a 32-byte header (CRC32C, length, kind, seq, durable
//!   watermark) followed by its payload. Byte layout: `docs/FORMAT.md` (section "WAL framing").
//! * **Group commit** ([`Wal::submit`], [`Ticket::wait`]): one background
//!   thread per log writes all pending records with one `write` and one
//!   fsync, so concurrent writers share fsyncs.
//! * **Recovery** ([`Wal::open`], [`scan_file_bytes`]): sealed files must be
//!   perfect; the last file may end in a torn tail, which is cut off — unless
//!   a later valid record's watermark proves the bad bytes had been fsynced,
//!   or the bad record is complete and has no zero sector (damage, not a
//!   torn write), in which case open fails with [`Error::Corruption`]
//!   instead of silently dropping data. Records of the last file that no
//!   watermark proves durable are copied into a new file, so nothing
//!   appended later vouches for them ([`FileHeader::prev_len`]).
//! * **Failure policy**: a failed write is rolled back and fails only its
//!   batch; a failed fsync (or failed rollback) poisons the log until reopen.
//!
//! The decoders ([`decode_file_header`], [`decode_record`],
//! [`scan_file_bytes`]) are pure and never panic, for fuzzing.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod file_name;
pub mod format;
mod io;
mod options;
mod recovery;
mod scan;
mod stats;
mod ticket;
mod wal;
mod writer;

pub use error::{Error, Result};
pub use file_name::{file_name, parse_file_name, LOG_FILE_SUFFIX, TEMP_FILE_SUFFIX};
pub use format::{
    decode_file_header, decode_record, encode_file_header, encode_file_header_with_prev_len, encode_record,
    DecodeError, FileHeader, RecordHeader, FILE_HEADER_BYTES, RECORD_BYTES_MAX, RECORD_HEADER_BYTES,
};
pub use io::{LogFile, LogFs, StdFs, StdLogFile};
pub use options::{SyncMode, WalOptions, FILE_BYTES_MAX_DEFAULT};
pub use recovery::{counted_len, RecoveryReport, TornTail};
pub use scan::{scan_file_bytes, FileRole, FileScan, RecordInfo, ScanError, SECTOR_BYTES};
pub use stats::WalStats;
pub use ticket::Ticket;
pub use wal::Wal;

#[cfg(test)]
mod assert_traits {
    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn wal_is_send_and_sync() {
        send_sync::<super::Wal>();
        send_sync::<super::Ticket>();
    }
}
