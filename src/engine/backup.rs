//! Online backup and restore.
//!
//! A backup is a complete, openable database directory holding exactly the
//! writes with sequence number ≤ the backup's seq `S`, taken while other
//! threads keep writing:
//!
//! 1. Hold the collection registry (no collection is created or dropped) and
//!    every collection's flush and compaction locks (no flush or merge edits the
//!    manifest, deletes a segment file or checkpoints the WAL). Writers are
//!    not blocked: they keep appending to the WAL and the memtables.
//! 2. `S` = the visible seq. Every write ≤ `S` has its WAL record written
//!    (a write becomes visible only after its record is), and every segment
//!    the current manifest names holds only seqs ≤ `S` (flushes and
//!    compactions wait for what they write to be visible).
//! 3. Write the current manifest version into the destination, hard-link
//!    (or, across file systems, copy) the segment files it names, and copy
//!    the WAL files, cut at the first record with seq > `S` (or at the first
//!    bytes still being appended). Later files are left out.
//! 4. Release the locks, fsync every file and directory of the copy.
//!
//! Reopening the copy replays the WAL records above each collection's
//! `flushed_seq` — exactly the writes in `(flushed_seq, S]` — on top of the
//! segments: the state a snapshot at `S` sees.
//!
//! Segment files are immutable (they are only ever created whole and
//! deleted), so a hard link shares their blocks safely; WAL and manifest
//! files are copied because the database appends to and replaces them.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use vego_manifest::ManifestState;

use crate::engine::layout::{segment_file_name, LOCK_FILE, SEGMENTS_DIR, WAL_DIR};
use crate::model::error::{invalid, io_err};
use crate::model::stats::BackupStats;
use crate::{Error, Result};

/// The consistent cut a backup copies, taken under the database's locks.
pub(crate) struct Cut<'a> {
    /// The database directory.
    pub src: &'a Path,
    /// The current manifest version (stable while the locks are held).
    pub manifest: &'a ManifestState,
    /// The visible seq.
    pub seq: u64,
}

/// Creates `dest` (missing or empty) with its `wal/` and `segments/`
/// sub-directories; refuses anything else.
pub(crate) fn prepare_dest(dest: &Path) -> Result<()> {
    match fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(invalid(format!("destination {} exists and is not empty", dest.display())));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::Io { path: dest.to_path_buf(), source: e }),
    }
    for d in [dest.to_path_buf(), dest.join(WAL_DIR), dest.join(SEGMENTS_DIR)] {
        fs::create_dir_all(&d).map_err(io_err(&d))?;
    }
    Ok(())
}

/// Copies the cut into `dest` (prepared by [`prepare_dest`]); the caller
/// holds the locks that keep the cut stable. Does not fsync (see [`sync_tree`]).
pub(crate) fn copy_cut(cut: &Cut<'_>, dest: &Path) -> Result<BackupStats> {
    let mut stats = BackupStats {
        seq: cut.seq,
        manifest_version: cut.manifest.version,
        collections: cut.manifest.collections.len() as u64,
        ..BackupStats::default()
    };
    let manifest_bytes = vego_manifest::encode(cut.manifest);
    let name = format!("{}{:020}", vego_manifest::MANIFEST_PREFIX, cut.manifest.version);
    write_new(&dest.join(name), &manifest_bytes)?;
    stats.bytes += manifest_bytes.len() as u64;
    for c in cut.manifest.collections.values() {
        for s in &c.segments {
            let name = segment_file_name(s.file_id);
            let linked = link_or_copy(&cut.src.join(SEGMENTS_DIR).join(&name), &dest.join(SEGMENTS_DIR).join(&name))?;
            if linked {
                stats.segments_linked += 1;
            } else {
                stats.segments_copied += 1;
            }
            stats.bytes += s.bytes;
        }
    }
    let (files, records, bytes) = copy_wal_prefix(&cut.src.join(WAL_DIR), &dest.join(WAL_DIR), cut.seq)?;
    stats.wal_files = files;
    stats.wal_records = records;
    stats.bytes += bytes;
    Ok(stats)
}

/// Copies the WAL files of `src` into `dest`, keeping exactly the records
/// with seq ≤ `max_seq`: the first file holding a later record (or bytes
/// still being written) is cut there and later files are left out. Returns
/// (files, records, bytes) written.
fn copy_wal_prefix(src: &Path, dest: &Path, max_seq: u64) -> Result<(u64, u64, u64)> {
    let mut numbers: Vec<u64> = fs::read_dir(src)
        .map_err(io_err(src))?
        .filter_map(|e| e.ok())
        .filter_map(|e| vego_wal::parse_file_name(&e.file_name().to_string_lossy()))
        .collect();
    numbers.sort_unstable();
    let (mut files, mut records, mut bytes) = (0u64, 0u64, 0u64);
    for (i, &number) in numbers.iter().enumerate() {
        let name = vego_wal::file_name(number);
        let path = src.join(&name);
        let mut data = match fs::read(&path) {
            // The log writer deletes covered files oldest first (a trim
            // asked for by an earlier checkpoint): one gone before any was
            // copied held only records that segments already have.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && files == 0 => continue,
            other => other.map_err(io_err(&path))?,
        };
        // Only the part the next file's header counts is the log.
        if let Some(len) = vego_wal::counted_len(src, number)? {
            data.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        }
        let is_last = i + 1 == numbers.len();
        let (keep, kept_records, complete) = wal_prefix(&path, &data, max_seq, is_last)?;
        write_new(&dest.join(&name), &data[..keep])?;
        files += 1;
        records += kept_records;
        bytes += keep as u64;
        if !complete {
            break;
        }
    }
    Ok((files, records, bytes))
}

/// How much of one WAL file to keep: (bytes, records, whether the whole file
/// was kept). Stops at the first record above `max_seq`; an undecodable
/// record is tolerated only in the last file (an append in progress).
fn wal_prefix(path: &Path, data: &[u8], max_seq: u64, is_last: bool) -> Result<(usize, u64, bool)> {
    let corrupt =
        |offset: usize, detail: String| Error::Corruption { file: path.to_path_buf(), offset: offset as u64, detail };
    vego_wal::decode_file_header(data).map_err(|e| corrupt(0, format!("WAL file header: {e}")))?;
    let mut at = vego_wal::FILE_HEADER_BYTES;
    let mut records = 0;
    loop {
        match vego_wal::decode_record(&data[at..]) {
            Ok(None) => return Ok((at, records, true)),
            Ok(Some((h, _))) if h.seq > max_seq => return Ok((at, records, false)),
            Ok(Some((h, _))) => {
                at += h.total_bytes() as usize;
                records += 1;
            }
            Err(_) if is_last => return Ok((at, records, false)),
            Err(e) => return Err(corrupt(at, format!("invalid record in a sealed WAL file: {e}"))),
        }
    }
}

/// Hard-links `from` to `to`, copying when linking is impossible (another
/// file system, no link support). Returns whether it linked.
fn link_or_copy(from: &Path, to: &Path) -> Result<bool> {
    if fs::hard_link(from, to).is_ok() {
        return Ok(true);
    }
    fs::copy(from, to).map_err(io_err(from))?;
    Ok(false)
}

/// Creates `path` with `bytes` (it must not exist).
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))
}

/// fsyncs every file in `dir/`, `dir/wal/` and `dir/segments/`, then the
/// directories themselves, so the copy survives a power loss once this returns.
pub(crate) fn sync_tree(dir: &Path) -> Result<()> {
    for d in [dir.join(WAL_DIR), dir.join(SEGMENTS_DIR), dir.to_path_buf()] {
        for entry in fs::read_dir(&d).map_err(io_err(&d))? {
            let entry = entry.map_err(io_err(&d))?;
            if entry.file_type().map_err(io_err(entry.path()))?.is_file() {
                let p = entry.path();
                File::open(&p).and_then(|f| f.sync_all()).map_err(io_err(&p))?;
            }
        }
        File::open(&d).and_then(|f| f.sync_all()).map_err(io_err(&d))?;
    }
    Ok(())
}

/// The newest complete manifest in `dir`, decoded and checked.
fn newest_manifest(dir: &Path) -> Result<(PathBuf, ManifestState)> {
    let mut best: Option<(u64, PathBuf)> = None;
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(v) = name.strip_prefix(vego_manifest::MANIFEST_PREFIX).and_then(|r| r.parse::<u64>().ok()) else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| v > *b) {
            best = Some((v, entry.path()));
        }
    }
    let Some((_, path)) = best else { return Err(Error::NotADatabase { path: dir.to_path_buf() }) };
    let bytes = fs::read(&path).map_err(io_err(&path))?;
    let state = vego_manifest::decode(&path, &bytes)?;
    Ok((path, state))
}

/// Copies the database (or backup) in `src`, which no process may have
/// open, into `dest` (missing or empty): its newest manifest, the segment
/// files that manifest names (hard-linked where possible) and its WAL files.
pub(crate) fn copy_db(src: &Path, dest: &Path) -> Result<()> {
    let lock = src.join(LOCK_FILE);
    if lock.exists() {
        let f = OpenOptions::new().write(true).open(&lock).map_err(io_err(&lock))?;
        if let Err(std::fs::TryLockError::WouldBlock) = f.try_lock() {
            return Err(Error::Locked { path: src.to_path_buf() });
        }
    }
    let (manifest_path, state) = newest_manifest(src)?;
    let name = manifest_path.file_name().expect("manifest file name");
    fs::copy(&manifest_path, dest.join(name)).map_err(io_err(&manifest_path))?;
    for c in state.collections.values() {
        for s in &c.segments {
            let name = segment_file_name(s.file_id);
            link_or_copy(&src.join(SEGMENTS_DIR).join(&name), &dest.join(SEGMENTS_DIR).join(&name))?;
        }
    }
    let wal = src.join(WAL_DIR);
    if wal.is_dir() {
        for entry in fs::read_dir(&wal).map_err(io_err(&wal))? {
            let entry = entry.map_err(io_err(&wal))?;
            let name = entry.file_name();
            if vego_wal::parse_file_name(&name.to_string_lossy()).is_some() {
                fs::copy(entry.path(), dest.join(WAL_DIR).join(&name)).map_err(io_err(entry.path()))?;
            }
        }
    }
    Ok(())
}
