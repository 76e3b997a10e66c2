//! Open-time recovery: list the directory, validate every file, repair a torn
//! tail of the last file, and replay records.
//!
//! Files are read whole, one at a time, and scanned by
//! [`crate::scan_file_bytes`]; peak memory is therefore one file (about
//! `file_bytes_max` plus one batch).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::file_name::{file_path, parse_file_name, TEMP_FILE_SUFFIX};
use crate::format::{encode_file_header, FILE_HEADER_BYTES, FORMAT_MAJOR};
use crate::io::{self, LogFile, LogFs};
use crate::scan::{scan_file_bytes, FileRole, ScanError};
use crate::writer::{ActiveFile, FileEntry};

/// What [`crate::Wal::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Log files present after recovery (including a newly created first file).
    pub files: u32,
    /// Valid records found in the whole log (replayed or not).
    pub records: u64,
    /// Records passed to `visit` (those with `seq >= from_seq`).
    pub replayed: u64,
    /// Highest seq in the log, if any record exists.
    pub last_seq: Option<u64>,
    /// The torn tail that was cut off the last file, if any.
    pub torn_tail: Option<TornTail>,
}

/// An unsynced tail removed from the last log file at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The file that was truncated.
    pub file: PathBuf,
    /// New length of the file: the offset of the first invalid byte (0 when
    /// the file header itself was torn and has been rewritten).
    pub offset: u64,
    /// Bytes removed (for a torn header: the whole old file length).
    pub bytes_dropped: u64,
}

/// Everything the writer needs to continue the log.
pub(crate) struct Recovered {
    pub files: Vec<FileEntry>,
    pub last_seq: Option<u64>,
    pub active: ActiveFile,
    pub report: RecoveryReport,
}

fn scan_error(e: ScanError, file: &Path) -> Error {
    match e {
        ScanError::Corruption { offset, detail } => Error::Corruption { file: file.to_path_buf(), offset, detail },
        ScanError::IncompatibleFormat { found } => {
            Error::IncompatibleFormat { file: file.to_path_buf(), found, supported: FORMAT_MAJOR }
        }
    }
}

/// Creates log file `number` with its header and makes it and its directory
/// entry durable, so the durable watermark of a fresh file is the header end.
pub(crate) fn create_log_file(fs: &dyn LogFs, dir: &Path, number: u64) -> std::io::Result<Box<dyn LogFile>> {
    let mut file = fs.create_new(&file_path(dir, number))?;
    file.append(&encode_file_header(number))?;
    file.sync()?;
    fs.sync_dir(dir)?;
    Ok(file)
}

/// Lists log file numbers in `dir` (sorted), deleting leftover temp files.
fn list_log_files(fs: &dyn LogFs, dir: &Path) -> Result<Vec<u64>> {
    let mut numbers = Vec::new();
    for (name, path) in io::list_dir(dir)? {
        if let Some(n) = parse_file_name(&name) {
            numbers.push(n);
        } else if name.ends_with(TEMP_FILE_SUFFIX) {
            io::remove_file(fs, &path)?;
        }
    }
    numbers.sort_unstable();
    for w in numbers.windows(2) {
        if w[1] != w[0] + 1 {
            return Err(Error::Corruption {
                file: file_path(dir, w[1]),
                offset: 0,
                detail: format!("file number gap: file {} is followed by file {}", w[0], w[1]),
            });
        }
    }
    Ok(numbers)
}

/// Recovers the log in `dir`; see [`crate::Wal::open`] for the contract.
pub(crate) fn recover<E, F>(
    dir: &Path,
    fs: &dyn LogFs,
    from_seq: u64,
    mut visit: F,
) -> std::result::Result<Recovered, E>
where
    E: From<Error>,
    F: FnMut(u64, &[u8]) -> std::result::Result<(), E>,
{
    io::create_dir_all(fs, dir)?;
    let numbers = list_log_files(fs, dir)?;
    let Some(&last_number) = numbers.last() else {
        return Ok(fresh_log(dir, fs)?);
    };

    let mut entries = Vec::with_capacity(numbers.len());
    let mut prev_seq = None;
    let mut records = 0u64;
    let mut replayed = 0u64;
    let mut torn_tail = None;
    let mut keep_len = 0u64;
    let mut rewrite_header = false;
    for &number in &numbers {
        let path = file_path(dir, number);
        let is_last = number == last_number;
        let role = if is_last { FileRole::Last } else { FileRole::Sealed };
        let bytes = io::read_file(&path)?;
        let scan = scan_file_bytes(&bytes, role, prev_seq).map_err(|e| scan_error(e, &path))?;
        if let Some(h) = scan.header {
            if h.file_number != number {
                let detail = format!("header names file {}, file name says {number}", h.file_number);
                return Err(Error::Corruption { file: path, offset: 16, detail }.into());
            }
        }
        for r in &scan.records {
            records += 1;
            if r.header.seq >= from_seq {
                let payload = r.payload(&bytes).expect("scan ranges lie within the scanned bytes");
                visit(r.header.seq, payload)?;
                replayed += 1;
            }
        }
        let max_seq = scan.records.last().map(|r| r.header.seq);
        prev_seq = max_seq.or(prev_seq);
        if is_last {
            keep_len = scan.valid_len;
            rewrite_header = scan.header.is_none();
            if let Some(offset) = scan.torn_at {
                debug_assert_eq!(offset, scan.valid_len);
                torn_tail = Some(TornTail { file: path.clone(), offset, bytes_dropped: bytes.len() as u64 - offset });
            }
        }
        entries.push(FileEntry { number, path, max_seq });
    }

    let active = reopen_last(dir, fs, last_number, keep_len, rewrite_header)?;
    let report = RecoveryReport {
        files: u32::try_from(entries.len()).unwrap_or(u32::MAX),
        records,
        replayed,
        last_seq: prev_seq,
        torn_tail,
    };
    Ok(Recovered { files: entries, last_seq: prev_seq, active, report })
}

/// Opens the last file for appending, cuts it to `keep_len` (rewriting the
/// header if it was torn), and fsyncs file and directory. The fsyncs matter
/// even without a torn tail: the previous process may have crashed with its
/// writes only in the page cache, and new records will stamp the current
/// length as their durable watermark.
fn reopen_last(dir: &Path, fs: &dyn LogFs, number: u64, keep_len: u64, rewrite_header: bool) -> Result<ActiveFile> {
    let path = file_path(dir, number);
    let io_err = |e| Error::io(&path, e);
    let mut file = fs.open_existing(&path).map_err(io_err)?;
    let len = if rewrite_header {
        file.set_len(0).map_err(io_err)?;
        file.append(&encode_file_header(number)).map_err(io_err)?;
        FILE_HEADER_BYTES as u64
    } else {
        if file.len().map_err(io_err)? != keep_len {
            file.set_len(keep_len).map_err(io_err)?;
        }
        keep_len
    };
    file.sync().map_err(io_err)?;
    fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
    let actual = file.len().map_err(io_err)?;
    if actual != len {
        return Err(Error::Corruption {
            file: path,
            offset: len,
            detail: format!("file is {actual} bytes after recovery, expected {len}; modified concurrently?"),
        });
    }
    Ok(ActiveFile { file, number, path, len, synced: len })
}

/// Starts an empty log: file 1 with just its header.
fn fresh_log(dir: &Path, fs: &dyn LogFs) -> Result<Recovered> {
    let path = file_path(dir, 1);
    let file = create_log_file(fs, dir, 1).map_err(|e| Error::io(&path, e))?;
    let len = FILE_HEADER_BYTES as u64;
    Ok(Recovered {
        files: vec![FileEntry { number: 1, path: path.clone(), max_seq: None }],
        last_seq: None,
        active: ActiveFile { file, number: 1, path, len, synced: len },
        report: RecoveryReport { files: 1, records: 0, replayed: 0, last_seq: None, torn_tail: None },
    })
}
