//! Atomic persistence and publication of manifest versions.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use vego_storage::{StdStorage, Storage};

use crate::error::io;
use crate::{codec, Error, ManifestState, Result};

/// File name prefix of manifest versions: `MANIFEST-<version, 20 digits>`.
pub const MANIFEST_PREFIX: &str = "MANIFEST-";
const TMP_SUFFIX: &str = ".tmp";

/// The catalogue: the current version, published lock-free to readers.
pub struct Manifest {
    dir: PathBuf,
    storage: Arc<dyn Storage>,
    current: ArcSwap<ManifestState>,
    /// Serialises edits; also remembers a failure that poisons further edits.
    writer: Mutex<Option<String>>,
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest").field("dir", &self.dir).finish_non_exhaustive()
    }
}

/// True if `dir` holds at least one manifest version (complete or temporary).
pub fn is_database_dir(dir: &Path) -> Result<bool> {
    Ok(!list_versions(dir)?.0.is_empty())
}

impl Manifest {
    /// Creates version 1 (an empty catalogue) in `dir`, which must exist.
    pub fn create(dir: &Path) -> Result<Manifest> {
        Self::create_with(dir, Arc::new(StdStorage))
    }

    /// [`Manifest::create`], changing files through `storage`.
    pub fn create_with(dir: &Path, storage: Arc<dyn Storage>) -> Result<Manifest> {
        let state = ManifestState { version: 1, next_collection_id: 1, next_file_id: 1, ..Default::default() };
        write_version(&*storage, dir, &state).map_err(|(_, e)| e)?;
        Ok(Manifest {
            dir: dir.to_path_buf(),
            storage,
            current: ArcSwap::from_pointee(state),
            writer: Mutex::new(None),
        })
    }

    /// Opens the newest complete version in `dir`, deleting temp files and older versions.
    pub fn open(dir: &Path) -> Result<Manifest> {
        Self::open_with(dir, Arc::new(StdStorage))
    }

    /// [`Manifest::open`], changing files through `storage`.
    pub fn open_with(dir: &Path, storage: Arc<dyn Storage>) -> Result<Manifest> {
        let (versions, temps) = list_versions(dir)?;
        for t in temps {
            storage.remove_file(&t).map_err(io(&t))?;
        }
        let Some(&(version, ref path)) = versions.last() else {
            return Err(Error::Missing(dir.to_path_buf()));
        };
        let bytes = fs::read(path).map_err(io(path))?;
        let state = codec::decode(path, &bytes)?;
        if state.version != version {
            return Err(Error::Corruption {
                file: path.clone(),
                offset: 16,
                detail: format!("file name says version {version}, contents say {}", state.version),
            });
        }
        for (_, old) in &versions[..versions.len() - 1] {
            storage.remove_file(old).map_err(io(old))?;
        }
        Ok(Manifest {
            dir: dir.to_path_buf(),
            storage,
            current: ArcSwap::from_pointee(state),
            writer: Mutex::new(None),
        })
    }

    /// The current version (cheap; never blocks on writers).
    pub fn current(&self) -> Arc<ManifestState> {
        self.current.load_full()
    }

    /// Whether a failed edit left the on-disk state unknown (the new version
    /// may or may not survive a crash): edits are refused until reopen, and
    /// files the failed edit named must be kept.
    pub fn is_poisoned(&self) -> bool {
        self.writer.lock().is_some()
    }

    /// The directory holding the manifest.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Applies `f` to a copy of the current state, persists it as the next
    /// version, then publishes it. If `f` fails nothing changes. If writing or
    /// fsyncing the temp file fails, the edit fails and nothing changes (the
    /// previous version is still the newest complete file). If the rename or
    /// the directory fsync fails the manifest is poisoned: whether the new
    /// version survives a crash is unknown, so further edits are refused until
    /// the database is reopened.
    pub fn edit<F>(&self, f: F) -> Result<Arc<ManifestState>>
    where
        F: FnOnce(&mut ManifestState) -> Result<()>,
    {
        let mut poisoned = self.writer.lock();
        if let Some(why) = poisoned.as_ref() {
            return Err(Error::Poisoned(why.clone()));
        }
        let old = self.current.load_full();
        let mut next = (*old).clone();
        f(&mut next)?;
        next.version = old.version + 1;
        if let Err((stage, e)) = write_version(&*self.storage, &self.dir, &next) {
            if stage == Stage::Publish {
                *poisoned = Some(e.to_string());
            }
            return Err(e);
        }
        let next = Arc::new(next);
        self.current.store(next.clone());
        // The new version is durable; the old file is garbage. A failure to delete
        // it is harmless (open deletes it) so it does not poison.
        let _ = self.storage.remove_file(&version_path(&self.dir, old.version));
        Ok(next)
    }
}

fn version_path(dir: &Path, version: u64) -> PathBuf {
    dir.join(format!("{MANIFEST_PREFIX}{version:020}"))
}

/// Manifest files found in a directory.
type Listing = (Vec<(u64, PathBuf)>, Vec<PathBuf>);

/// Complete versions sorted ascending, and leftover temp files.
fn list_versions(dir: &Path) -> Result<Listing> {
    let mut versions = Vec::new();
    let mut temps = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix(MANIFEST_PREFIX) else {
            continue;
        };
        if rest.ends_with(TMP_SUFFIX) {
            temps.push(entry.path());
        } else if let Ok(v) = rest.parse::<u64>() {
            versions.push((v, entry.path()));
        }
    }
    versions.sort();
    Ok((versions, temps))
}

/// How far [`write_version`] got when it failed.
type Stage = vego_storage::AtomicWriteStage;

/// write temp → fsync → rename → fsync dir.
fn write_version(storage: &dyn Storage, dir: &Path, state: &ManifestState) -> std::result::Result<(), (Stage, Error)> {
    let path = version_path(dir, state.version);
    let tmp = PathBuf::from(format!("{}{TMP_SUFFIX}", path.display()));
    vego_storage::write_file_atomically(storage, &path, &tmp, &codec::encode(state))
        .map_err(|(stage, p, e)| (stage, io(p)(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_persist_and_reopen_sees_newest() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::create(dir.path()).unwrap();
        for i in 0..5 {
            m.edit(|s| {
                s.last_seq = i;
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(m.current().version, 6);
        let r = Manifest::open(dir.path()).unwrap();
        assert_eq!(r.current().version, 6);
        assert_eq!(r.current().last_seq, 4);
        assert_eq!(list_versions(dir.path()).unwrap().0.len(), 1, "old versions deleted");
    }

    #[test]
    fn rejected_edit_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::create(dir.path()).unwrap();
        let err = m.edit(|s| {
            s.last_seq = 99;
            Err(Error::Rejected("no".into()))
        });
        assert!(err.is_err());
        assert_eq!(m.current().last_seq, 0);
        assert_eq!(Manifest::open(dir.path()).unwrap().current().last_seq, 0);
    }

    #[test]
    fn leftover_temp_file_is_ignored_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::create(dir.path()).unwrap();
        drop(m);
        let tmp = dir.path().join(format!("{MANIFEST_PREFIX}{:020}{TMP_SUFFIX}", 2));
        fs::write(&tmp, b"half written").unwrap();
        let r = Manifest::open(dir.path()).unwrap();
        assert_eq!(r.current().version, 1);
        assert!(!tmp.exists());
    }

    #[test]
    fn corrupt_newest_version_is_reported_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest::create(dir.path()).unwrap();
        m.edit(|_| Ok(())).unwrap();
        let path = version_path(dir.path(), 2);
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 6] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        match Manifest::open(dir.path()) {
            Err(Error::Corruption { file, .. }) => assert_eq!(file, path),
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    #[test]
    fn empty_dir_has_no_manifest() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Manifest::open(dir.path()), Err(Error::Missing(_))));
        assert!(!is_database_dir(dir.path()).unwrap());
    }
}
