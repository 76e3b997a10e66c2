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
    /// Serialises edits; remembers the version of the last edit whose
    /// publication failed, if no edit has been durable since.
    writer: Mutex<Uncertain>,
}

/// An edit whose rename or directory fsync failed: its version may or may
/// not be on disk, and may or may not survive a crash.
#[derive(Default)]
struct Uncertain {
    version: Option<u64>,
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
            writer: Mutex::new(Uncertain::default()),
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
            writer: Mutex::new(Uncertain::default()),
        })
    }

    /// The current version (cheap; never blocks on writers).
    pub fn current(&self) -> Arc<ManifestState> {
        self.current.load_full()
    }

    /// Whether the last edit failed at its publication (rename or directory
    /// fsync) and no edit has been durable since: its version may still be
    /// the newest on disk after a crash, so files it named must be kept.
    /// Once a later edit is durable, that one wins at open and the files
    /// only the failed version named are garbage (open deletes them).
    pub fn last_edit_uncertain(&self) -> bool {
        self.writer.lock().version.is_some()
    }

    /// The directory holding the manifest.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of the current version (what errors about its contents name).
    pub fn path(&self) -> PathBuf {
        version_path(&self.dir, self.current().version)
    }

    /// Applies `f` to a copy of the current state, persists it as the next
    /// version, then publishes it. If `f` fails nothing changes. If writing or
    /// fsyncing the temp file fails, the edit fails and nothing changes (the
    /// previous version is still the newest complete file). If the rename or
    /// the directory fsync fails, the edit fails but its version may or may
    /// not survive a crash ([`Manifest::last_edit_uncertain`]): memory keeps
    /// the previous state, and the next edit is written under a *higher*
    /// version number than the failed one, so once it is durable it wins at
    /// open whatever became of the failed one. Edits therefore keep working
    /// when the fault clears; nothing is ever retried under the same name.
    pub fn edit<F>(&self, f: F) -> Result<Arc<ManifestState>>
    where
        F: FnOnce(&mut ManifestState) -> Result<()>,
    {
        let mut uncertain = self.writer.lock();
        let old = self.current.load_full();
        let mut next = (*old).clone();
        f(&mut next)?;
        next.version = old.version.max(uncertain.version.unwrap_or(0)) + 1;
        if let Err((stage, e)) = write_version(&*self.storage, &self.dir, &next) {
            if stage == Stage::Publish {
                uncertain.version = Some(next.version);
            }
            return Err(e);
        }
        let failed = uncertain.version.take();
        let next = Arc::new(next);
        self.current.store(next.clone());
        // The new version is durable; older files are garbage. A failure to
        // delete them is harmless (open deletes them) so it does not fail the edit.
        for v in std::iter::once(old.version).chain(failed) {
            let _ = self.storage.remove_file(&version_path(&self.dir, v));
        }
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

    /// Defect (issue 12, 4): one failed rename poisoned the manifest for good,
    /// so no flush could ever succeed again while writes went on. Now the
    /// next edit goes under a higher version and wins at open.
    #[test]
    fn edit_after_a_failed_rename_succeeds_under_a_higher_version_and_wins_at_open() {
        #[derive(Debug, Default)]
        struct FailRenames(std::sync::atomic::AtomicU32);
        impl Storage for FailRenames {
            fn create_new(&self, p: &Path) -> std::io::Result<Box<dyn vego_storage::StorageFile>> {
                StdStorage.create_new(p)
            }
            fn create(&self, p: &Path) -> std::io::Result<Box<dyn vego_storage::StorageFile>> {
                StdStorage.create(p)
            }
            fn open_existing(&self, p: &Path) -> std::io::Result<Box<dyn vego_storage::StorageFile>> {
                StdStorage.open_existing(p)
            }
            fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
                let fail = self.0.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                if fail {
                    // The rename happens, but its report is lost: the worst case.
                    fs::rename(from, to)?;
                    return Err(std::io::Error::other("injected EIO on rename"));
                }
                StdStorage.rename(from, to)
            }
            fn remove_file(&self, p: &Path) -> std::io::Result<()> {
                StdStorage.remove_file(p)
            }
            fn create_dir_all(&self, p: &Path) -> std::io::Result<()> {
                StdStorage.create_dir_all(p)
            }
            fn sync_dir(&self, d: &Path) -> std::io::Result<()> {
                StdStorage.sync_dir(d)
            }
        }
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(FailRenames::default());
        let m = Manifest::create_with(dir.path(), storage.clone()).unwrap();
        storage.0.store(1, Ordering::SeqCst);
        let failed = m.edit(|s| {
            s.last_seq = 5;
            Ok(())
        });
        assert!(failed.is_err());
        assert!(m.last_edit_uncertain());
        assert_eq!(m.current().last_seq, 0, "memory keeps the previous state");
        let next = m
            .edit(|s| {
                s.last_seq = 9;
                Ok(())
            })
            .expect("edits work again once the fault clears");
        assert_eq!(next.version, 3, "the failed edit's version 2 is never reused");
        assert!(!m.last_edit_uncertain());
        let r = Manifest::open(dir.path()).unwrap();
        assert_eq!((r.current().version, r.current().last_seq), (3, 9));
    }

    #[test]
    fn empty_dir_has_no_manifest() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Manifest::open(dir.path()), Err(Error::Missing(_))));
        assert!(!is_database_dir(dir.path()).unwrap());
    }
}
