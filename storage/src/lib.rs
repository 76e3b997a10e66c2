//! `vego-storage`: the one trait through which Vego changes the file system.
//!
//! The write-ahead log, the manifest and the segment writer create, append,
//! fsync, truncate, rename and delete files only through [`Storage`] and
//! [`StorageFile`]. Reads (recovery scans, memory-mapped segments) use the
//! real files directly: whatever a `Storage` implementation writes must land
//! in the real directory, so that reads see it.
//!
//! The default implementation is [`StdStorage`], the real file system. The
//! chaos harness plugs in an implementation that records which writes and
//! directory operations were made durable by an fsync, so it can simulate a
//! power loss (keeping only durable state, plus a torn or reordered part of
//! the rest), and that injects I/O faults (EIO, ENOSPC, short writes,
//! failing fsyncs).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// An open file, written only by appending.
pub trait StorageFile: Send {
    /// Writes all of `buf` at the end of the file. On error, an unknown prefix
    /// of `buf` may have been written; the caller rolls back with [`set_len`]
    /// or abandons the file.
    ///
    /// [`set_len`]: StorageFile::set_len
    fn append(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes the file's contents *and length* durable (fsync). After a
    /// failure, nothing written since the last successful sync may be assumed
    /// durable, and a later successful sync does not change that.
    fn sync(&mut self) -> io::Result<()>;
    /// Truncates (or extends with zeros) the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// Creates, renames and deletes files and directories, and makes directory
/// entries durable. A directory operation (create, rename, unlink, mkdir) is
/// durable only after [`Storage::sync_dir`] of the directory holding the
/// entry succeeds.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Creates a new, empty file for appending; fails if it already exists.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn StorageFile>>;
    /// Creates a file for appending, truncating it if it exists.
    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>>;
    /// Opens an existing file for appending.
    fn open_existing(&self, path: &Path) -> io::Result<Box<dyn StorageFile>>;
    /// Renames a file within its directory, replacing any file named `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Deletes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Creates a directory and any missing parents (no error if it exists).
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// fsyncs a directory so that entries created, renamed or deleted in it
    /// survive a crash.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdStorage;

/// [`StorageFile`] over a `std::fs::File` opened in append mode.
#[derive(Debug)]
pub struct StdFile(File);

impl StdFile {
    /// Wraps a file that was opened for appending (`O_APPEND`).
    pub fn new(file: File) -> Self {
        StdFile(file)
    }
}

impl StorageFile for StdFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        // O_APPEND: writes land at the current end, also after a rollback
        // through set_len.
        self.0.write_all(buf)
    }

    fn sync(&mut self) -> io::Result<()> {
        // sync_all rather than sync_data: after a rollback (ftruncate) the
        // size change must be durable on every platform and file system.
        self.0.sync_all()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

impl Storage for StdStorage {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let f = OpenOptions::new().append(true).create_new(true).open(path)?;
        Ok(Box::new(StdFile(f)))
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        // Truncate first, then reopen in append mode (O_APPEND and O_TRUNC
        // together are allowed, but keep it obvious).
        let f = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
        drop(f);
        self.open_existing(path)
    }

    fn open_existing(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let f = OpenOptions::new().append(true).open(path)?;
        Ok(Box::new(StdFile(f)))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
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
    // Directories cannot be opened and fsynced portably outside unix; NTFS
    // journals metadata itself.
    Ok(())
}

/// How far [`write_file_atomically`] got when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomicWriteStage {
    /// Writing or fsyncing the temp file: nothing under `path` changed.
    Temp,
    /// Renaming or fsyncing the directory: the new file may or may not
    /// survive a crash.
    Publish,
}

/// Why [`write_file_atomically`] failed: the stage, the path involved and
/// the error.
pub type AtomicWriteError = (AtomicWriteStage, std::path::PathBuf, io::Error);

/// Writes `bytes` as `path` so that a crash leaves either no file or the
/// whole file under that name: write `tmp`, fsync it, rename it to `path`,
/// fsync the directory. On error says how far it got (`tmp` may be left
/// behind; callers delete leftover temp files at open).
pub fn write_file_atomically(
    storage: &dyn Storage,
    path: &Path,
    tmp: &Path,
    bytes: &[u8],
) -> Result<(), AtomicWriteError> {
    let on = |stage: AtomicWriteStage, p: &Path| {
        let p = p.to_path_buf();
        move |e| (stage, p, e)
    };
    let temp = |p: &Path| on(AtomicWriteStage::Temp, p);
    let publish = |p: &Path| on(AtomicWriteStage::Publish, p);
    let mut f = storage.create(tmp).map_err(temp(tmp))?;
    f.append(bytes).map_err(temp(tmp))?;
    f.sync().map_err(temp(tmp))?;
    drop(f);
    storage.rename(tmp, path).map_err(publish(path))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    storage.sync_dir(dir).map_err(publish(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_storage_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = StdStorage;
        let sub = dir.path().join("a/b");
        s.create_dir_all(&sub).unwrap();
        let p = sub.join("f");
        let mut f = s.create_new(&p).unwrap();
        f.append(b"hello world").unwrap();
        f.sync().unwrap();
        f.set_len(5).unwrap();
        f.append(b"!").unwrap();
        assert_eq!(f.len().unwrap(), 6);
        assert!(s.create_new(&p).is_err(), "create_new refuses an existing file");
        drop(f);
        assert_eq!(fs::read(&p).unwrap(), b"hello!");
        write_file_atomically(&s, &sub.join("g"), &sub.join("g.tmp"), b"xyz").unwrap();
        assert_eq!(fs::read(sub.join("g")).unwrap(), b"xyz");
        assert!(!sub.join("g.tmp").exists());
        s.rename(&sub.join("g"), &sub.join("h")).unwrap();
        s.remove_file(&sub.join("h")).unwrap();
        s.sync_dir(&sub).unwrap();
        assert!(!sub.join("h").exists());
        let mut t = s.create(&p).unwrap();
        assert!(t.is_empty().unwrap(), "create truncates");
        t.append(b"z").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"z");
    }
}
