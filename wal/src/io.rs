//! Every file-system call the log makes lives here.
//!
//! The write path goes through the small [`LogFs`] / [`LogFile`] traits so a
//! fault-injecting implementation (failing writes, short writes, failing
//! fsyncs) can be swapped in by tests and the chaos harness. Read-side helpers
//! used only at open are plain functions over `std::fs`.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// An open log file, written only by appending.
pub trait LogFile: Send {
    /// Writes all of `buf` at the end of the file. On error, an unknown prefix
    /// of `buf` may have been written; the caller rolls back with [`set_len`].
    ///
    /// [`set_len`]: LogFile::set_len
    fn append(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes the file's contents *and length* durable.
    fn sync(&mut self) -> io::Result<()>;
    /// Truncates (or extends) the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty (provided for completeness).
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Creates and opens log files, and makes directory entries durable.
pub trait LogFs: Send + Sync + fmt::Debug {
    /// Creates a new file for appending; fails if it already exists (so a
    /// file number is never silently reused).
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn LogFile>>;
    /// Opens an existing file for appending.
    fn open_existing(&self, path: &Path) -> io::Result<Box<dyn LogFile>>;
    /// fsyncs the directory so created/deleted entries survive a crash.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

/// [`LogFile`] over `std::fs::File` opened in append mode.
#[derive(Debug)]
pub struct StdLogFile(File);

impl StdLogFile {
    /// Wraps a file that was opened for appending.
    pub fn new(file: File) -> Self {
        StdLogFile(file)
    }
}

impl LogFile for StdLogFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        // The file is opened with O_APPEND, so writes land at the current end
        // even after a rollback via set_len.
        self.0.write_all(buf)
    }

    fn sync(&mut self) -> io::Result<()> {
        // sync_all rather than sync_data: fdatasync is specified to include
        // the file size, but after a rollback (ftruncate) we need the size
        // change durable on every platform/file system, and the extra inode
        // timestamp write is amortised by group commit.
        self.0.sync_all()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

impl LogFs for StdFs {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let f = OpenOptions::new().append(true).create_new(true).open(path)?;
        Ok(Box::new(StdLogFile(f)))
    }

    fn open_existing(&self, path: &Path) -> io::Result<Box<dyn LogFile>> {
        let f = OpenOptions::new().append(true).open(path)?;
        Ok(Box::new(StdLogFile(f)))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        sync_dir_std(dir)
    }
}

#[cfg(unix)]
fn sync_dir_std(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir_std(_dir: &Path) -> io::Result<()> {
    // Directories cannot be opened/fsynced portably outside unix; NTFS
    // journals metadata itself.
    Ok(())
}

/// Creates `dir` (and parents) if missing.
pub(crate) fn create_dir_all(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// Names of the regular entries in `dir`.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        // Non-UTF-8 names cannot be ours; skip them.
        if let Ok(name) = entry.file_name().into_string() {
            out.push((name, entry.path()));
        }
    }
    Ok(out)
}

/// Reads a whole file.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Error::io(path, e))
}

/// Deletes a file.
pub(crate) fn remove_file(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|e| Error::io(path, e))
}
