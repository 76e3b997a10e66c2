//! Open-time recovery: list the directory, validate every file, repair a torn
//! tail of the last file, and replay records.
//!
//! Files are read whole, one at a time, and scanned by
//! [`crate::scan_file_bytes`]; peak memory is therefore one file (about
//! `file_bytes_max` plus one batch).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::file_name::{file_path, parse_file_name, TEMP_FILE_SUFFIX};
use crate::format::{
    decode_file_header, encode_file_header, encode_file_header_with_prev_len, encode_record, FILE_HEADER_BYTES,
    FORMAT_MAJOR,
};

use crate::io::{self, LogFile, LogFs};
use crate::scan::{scan_file_bytes, FileRole, FileScan, ScanError};
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
    /// Records of the last file that nothing proved durable (written after
    /// its last known fsync) and that `visit` needed: open copied them into
    /// a fresh file, fsynced it, and continues the log there (see
    /// [`crate::FileHeader::prev_len`]).
    pub records_rewritten: u64,
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

/// Why [`create_log_file`] failed: `Temp` — nothing under the file's name
/// changed (the temp file is deleted at the next open); `Publish` — the
/// rename or directory fsync failed, so the file may or may not exist after
/// a crash.
pub(crate) type CreateError = (vego_storage::AtomicWriteStage, std::io::Error);

/// Creates log file `number` holding `body` (encoded records, possibly none)
/// after a header counting `prev_len` bytes of the previous file (0 = all),
/// atomically: temp file, fsync, rename, directory fsync. Every byte of the
/// new file is durable when this returns, and a crash leaves either no file
/// under the name or all of it. Returns the file, open for appending, and
/// its length.
pub(crate) fn create_log_file(
    fs: &dyn LogFs,
    dir: &Path,
    number: u64,
    prev_len: u64,
    body: &[u8],
) -> std::result::Result<(Box<dyn LogFile>, u64), CreateError> {
    let path = file_path(dir, number);
    let tmp = dir.join(format!("{}.tmp", crate::file_name(number)));
    debug_assert!(tmp.to_string_lossy().ends_with(TEMP_FILE_SUFFIX), "open deletes leftover temp files");
    let mut bytes = encode_file_header_with_prev_len(number, prev_len).to_vec();
    bytes.extend_from_slice(body);
    vego_storage::write_file_atomically(fs, &path, &tmp, &bytes).map_err(|(stage, _, e)| (stage, e))?;
    let file = fs.open_existing(&path).map_err(|e| (vego_storage::AtomicWriteStage::Publish, e))?;
    Ok((file, bytes.len() as u64))
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
///
/// The last file is never appended to as it stands when it holds records:
/// its bytes past the last `synced_offset` were written, but nothing proves
/// they reached the disk — after a failed fsync the page cache may show
/// records the disk lost, and a later successful fsync does not bring them
/// back. Appending there would make new records' watermarks vouch for them,
/// and a power loss would then turn a lost unacknowledged write into
/// corruption of the whole log. So open copies the records of that unproven
/// tail that `visit` needed into a new file (temp, fsync, rename, directory
/// fsync — fresh pages, really written) whose header says how much of the
/// old file counts, and appends there.
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

    let mut entries = Vec::with_capacity(numbers.len() + 1);
    let mut prev_seq = None;
    let mut records = 0u64;
    let mut replayed = 0u64;
    let mut last = None;
    for &number in &numbers {
        let path = file_path(dir, number);
        let is_last = number == last_number;
        let role = if is_last { FileRole::Last } else { FileRole::Sealed };
        let counted = if is_last { None } else { counted_len(dir, number)? };
        let mut bytes = io::read_file(&path)?;
        if let Some(len) = counted {
            if (bytes.len() as u64) < len {
                let detail =
                    format!("file is {} bytes, but its successor's header counts {len} as durable", bytes.len());
                return Err(Error::Corruption { file: path, offset: bytes.len() as u64, detail }.into());
            }
            bytes.truncate(len as usize);
        }
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
        entries.push(FileEntry { number, path: path.clone(), max_seq });
        if is_last {
            last = Some((path, bytes, scan));
        }
    }
    let (path, bytes, scan) = last.expect("the last file was scanned");
    let torn_tail =
        scan.torn_at.map(|offset| TornTail { file: path.clone(), offset, bytes_dropped: bytes.len() as u64 - offset });
    let mut records_rewritten = 0;
    let active = if scan.header.is_some() && scan.valid_len > scan.proven_len {
        let tail: Vec<(u64, &[u8])> = scan
            .records
            .iter()
            .filter(|r| r.offset >= scan.proven_len && r.header.seq >= from_seq)
            .map(|r| (r.header.seq, r.payload(&bytes).expect("scan ranges lie within the scanned bytes")))
            .collect();
        records_rewritten = tail.len() as u64;
        // The old file now counts only up to its proven length.
        let old = entries.last_mut().expect("the last file is listed");
        old.max_seq = scan.records.iter().take_while(|r| r.offset < scan.proven_len).last().map(|r| r.header.seq);
        let number = last_number + 1;
        let active = continue_in_new_file(dir, fs, number, &scan, &tail)?;
        entries.push(FileEntry { number, path: active.path.clone(), max_seq: tail.last().map(|t| t.0) });
        active
    } else {
        reopen_last(dir, fs, last_number, scan.valid_len, scan.header.is_none())?
    };
    let report = RecoveryReport {
        files: u32::try_from(entries.len()).unwrap_or(u32::MAX),
        records,
        replayed,
        last_seq: prev_seq,
        torn_tail,
        records_rewritten,
    };
    Ok(Recovered { files: entries, last_seq: prev_seq, active, report })
}

/// How much of log file `number` in `dir` is part of the log, as the next
/// file's header says ([`crate::FileHeader::prev_len`]): `None` = all of it
/// (also when there is no next file). Bytes past it are to be ignored. A
/// next header that does not decode says nothing (its own scan reports it,
/// or it is the last file's torn header, which only a rotation — after
/// sealing this file — can leave).
pub fn counted_len(dir: &Path, number: u64) -> Result<Option<u64>> {
    let path = file_path(dir, number + 1);
    let head = match std::fs::File::open(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        _ => io::read_prefix(&path, FILE_HEADER_BYTES)?,
    };
    Ok(decode_file_header(&head).ok().map(|h| h.prev_len).filter(|&n| n != 0))
}

/// Starts log file `number` holding copies of `tail` (seq, payload), with a
/// header counting the previous file up to its proven length. Created
/// atomically, so a crash leaves either no new file (the old one is read as
/// before) or all of it.
fn continue_in_new_file(
    dir: &Path,
    fs: &dyn LogFs,
    number: u64,
    scan: &FileScan,
    tail: &[(u64, &[u8])],
) -> Result<ActiveFile> {
    let path = file_path(dir, number);
    let mut body = Vec::new();
    for (seq, payload) in tail {
        // Nothing of this file is durable yet; the creation's fsync makes all of it so.
        encode_record(&mut body, *seq, FILE_HEADER_BYTES as u64, payload);
    }
    let (file, len) = create_log_file(fs, dir, number, scan.proven_len, &body).map_err(|(_, e)| Error::io(&path, e))?;
    Ok(ActiveFile { file, number, path, len, synced: len })
}

/// Opens the last file for appending when it holds no record (only a header,
/// or a torn header, which is rewritten), cuts it to `keep_len`, and fsyncs
/// file and directory.
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
    let (file, len) = create_log_file(fs, dir, 1, 0, &[]).map_err(|(_, e)| Error::io(&path, e))?;
    Ok(Recovered {
        files: vec![FileEntry { number: 1, path: path.clone(), max_seq: None }],
        last_seq: None,
        active: ActiveFile { file, number: 1, path, len, synced: len },
        report: RecoveryReport {
            files: 1,
            records: 0,
            replayed: 0,
            last_seq: None,
            torn_tail: None,
            records_rewritten: 0,
        },
    })
}
