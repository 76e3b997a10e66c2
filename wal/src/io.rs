//! Every file-system call the log makes lives here.
//!
//! Every change to the file system goes through the [`vego_storage::Storage`]
//! trait (here also named [`LogFs`] / [`LogFile`]), so a fault-injecting or
//! power-loss-simulating implementation can be swapped in by tests and the
//! chaos harness. Read-side helpers used only at open are plain functions
//! over `std::fs`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub use vego_storage::{StdFile as StdLogFile, StdStorage as StdFs, Storage as LogFs, StorageFile as LogFile};

/// Creates `dir` (and parents) if missing.
pub(crate) fn create_dir_all(fs: &dyn LogFs, dir: &Path) -> Result<()> {
    fs.create_dir_all(dir).map_err(|e| Error::io(dir, e))
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

/// Reads at most the first `n` bytes of a file.
pub(crate) fn read_prefix(path: &Path, n: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(n);
    let file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    file.take(n as u64).read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

/// Deletes a file.
pub(crate) fn remove_file(fs: &dyn LogFs, path: &Path) -> Result<()> {
    fs.remove_file(path).map_err(|e| Error::io(path, e))
}
