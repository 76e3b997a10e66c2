//! The names a database directory holds and the lock that keeps a second
//! process out: everything that knows where a file lives.
//!
//! ```text
//! <dir>/LOCK                      advisory lock (held while open)
//! <dir>/MANIFEST-<version:020>    the catalogue (vego-manifest)
//! <dir>/wal/                      the write-ahead log (vego-wal)
//! <dir>/segments/<file_id:020>.vseg
//! ```

use std::fs::{self, File, OpenOptions};
use std::path::Path;

use vego_manifest::is_database_dir;

use crate::model::error::io_err;
use crate::{Error, Result};

/// Name of the lock file that keeps a second process out.
pub(crate) const LOCK_FILE: &str = "LOCK";
/// Sub-directory of the write-ahead log.
pub(crate) const WAL_DIR: &str = "wal";
/// Sub-directory of segment files.
pub(crate) const SEGMENTS_DIR: &str = "segments";

/// File name of segment `file_id`.
pub(crate) fn segment_file_name(file_id: u64) -> String {
    format!("{file_id:020}.vseg")
}

/// Refuses directories that hold files but no database.
pub(crate) fn check_dir_is_ours(dir: &Path, create: bool) -> Result<()> {
    let meta = match fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return if create { Ok(()) } else { Err(Error::NotADatabase { path: dir.to_path_buf() }) };
        }
        other => other.map_err(io_err(dir))?,
    };
    if !meta.is_dir() {
        return Err(Error::NotADatabase { path: dir.to_path_buf() });
    }
    if is_database_dir(dir)? {
        return Ok(());
    }
    let foreign = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok())
        .any(|e| !is_ours_before_manifest(&e.file_name().to_string_lossy()));
    if foreign || !create {
        return Err(Error::NotADatabase { path: dir.to_path_buf() });
    }
    Ok(())
}

/// Names a directory may hold before its first manifest version is
/// complete: what a crash while creating the database leaves behind (the
/// lock file, the WAL and segment directories, a manifest temp file).
fn is_ours_before_manifest(name: &str) -> bool {
    name == LOCK_FILE
        || name == WAL_DIR
        || name == SEGMENTS_DIR
        || (name.starts_with(vego_manifest::MANIFEST_PREFIX) && name.ends_with(".tmp"))
}

pub(crate) fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io_err(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked { path: dir.to_path_buf() }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::Io { path, source: e }),
    }
}
