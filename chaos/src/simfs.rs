//! A [`Storage`] that remembers what an fsync made durable, so it can
//! simulate a power loss, and that injects I/O faults.
//!
//! Every change goes to the real directory too (recovery and memory-mapped
//! segments read the real files, as a process reads the page cache), and is
//! recorded in a model of the disk:
//!
//! * per file (inode): the bytes a successful fsync made durable, and the
//!   writes and truncations issued since (pending);
//! * per directory: the entries a successful directory fsync made durable,
//!   and the creates, renames, unlinks and mkdirs issued since (pending).
//!
//! [`SimFs::crash`] cuts the power: every later call fails with EIO, as the
//! dead machine would. [`SimFs::materialize`] then replaces the real
//! directory by one state the disk could hold after the crash, chosen by a
//! seeded random generator following the ALICE model (Pillai et al.,
//! OSDI '14) for a journaling file system:
//!
//! * each directory keeps its durable entries plus a prefix of its pending
//!   operations (metadata operations persist in order, but a directory's
//!   operations are independent of other directories and of file data: a
//!   created or renamed name may survive while the file's unsynced data does
//!   not, and a subdirectory whose creation did not persist loses everything
//!   in it);
//! * each file keeps its durable bytes plus a prefix of its pending writes,
//!   the next write possibly torn (a prefix of it), and, sometimes, one
//!   512-byte block of the unsynced range read back as zeros (the file size
//!   persisted before that block's data: reordered writes). Zeros, not
//!   garbage: every file Vego writes is append-only, and journaling file
//!   systems (ext4 `data=ordered`, the default; XFS; btrfs; ZFS) never expose
//!   stale bytes in an appended range — an unwritten block reads as zeros.
//!   That is what lets the WAL tell a torn write from a damaged record
//!   (`docs/DURABILITY.md`, media assumptions).
//!
//! A failed fsync (injected) models the Linux behaviour behind PostgreSQL's
//! "fsyncgate": part of the pending writes may have reached the disk, the
//! rest are dropped from the model for good — the real file (the page cache)
//! still shows them, and a later successful fsync does not bring them back.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vego::storage::{Storage, StorageFile};

/// Size of the unit that may be torn or garbled at a crash.
const BLOCK: u64 = 512;

/// A kind of injected I/O fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// An append fails with EIO, having written nothing.
    WriteEio,
    /// An append (or a file creation) fails with ENOSPC.
    Enospc,
    /// An append writes part of its bytes, then fails with ENOSPC.
    ShortWrite,
    /// A file fsync fails with EIO; unsynced writes may be lost (fsyncgate).
    FsyncEio,
    /// A directory fsync fails with EIO.
    DirFsyncEio,
    /// A rename fails with EIO.
    RenameEio,
}

impl Fault {
    /// Every kind, for random choice.
    pub const ALL: [Fault; 6] =
        [Fault::WriteEio, Fault::Enospc, Fault::ShortWrite, Fault::FsyncEio, Fault::DirFsyncEio, Fault::RenameEio];
}

/// A fault armed to fire on the first matching call after `after_ops`
/// mutating calls, `times` times in a row.
#[derive(Clone, Copy, Debug)]
pub struct FaultPlan {
    /// Mutating calls to let through first.
    pub after_ops: u64,
    /// What fails.
    pub kind: Fault,
    /// How many matching calls fail before the fault clears.
    pub times: u32,
}

/// What an injected fault hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultHit {
    /// The kind.
    pub kind: Fault,
    /// The file or directory.
    pub path: PathBuf,
}

#[derive(Clone, Debug)]
enum DataOp {
    Write { at: u64, bytes: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Default)]
struct Inode {
    durable: Vec<u8>,
    pending: Vec<DataOp>,
    len: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    File(u64),
    Dir,
}

#[derive(Clone, Debug)]
enum DirOp {
    Link(String, Entry),
    Unlink(String),
}

#[derive(Debug, Default)]
struct Dir {
    durable: BTreeMap<String, Entry>,
    current: BTreeMap<String, Entry>,
    pending: Vec<DirOp>,
}

#[derive(Debug)]
struct State {
    root: PathBuf,
    next_ino: u64,
    inodes: HashMap<u64, Inode>,
    /// Directories by path relative to the root ("" = the root).
    dirs: BTreeMap<PathBuf, Dir>,
    ops: u64,
    crash_at: Option<u64>,
    crashed: bool,
    plan: Option<FaultPlan>,
    hits: Vec<FaultHit>,
    rng: StdRng,
}

/// The simulated disk. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

struct SimFile {
    state: Arc<Mutex<State>>,
    ino: u64,
    path: PathBuf,
    file: File,
}

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("simulated EIO: {what}"))
}

fn enospc() -> io::Error {
    io::Error::new(io::ErrorKind::StorageFull, "simulated ENOSPC")
}

fn apply(bytes: &mut Vec<u8>, op: &DataOp) {
    match op {
        DataOp::Write { at, bytes: b } => {
            let at = *at as usize;
            if bytes.len() < at + b.len() {
                bytes.resize(at + b.len(), 0);
            }
            bytes[at..at + b.len()].copy_from_slice(b);
        }
        DataOp::SetLen(n) => bytes.resize(*n as usize, 0),
    }
}

impl State {
    /// Counts a mutating call; fails if the power is off (or goes off now).
    fn tick(&mut self) -> io::Result<()> {
        if self.crashed {
            return Err(eio("power is off"));
        }
        self.ops += 1;
        if self.crash_at.is_some_and(|at| self.ops >= at) {
            self.crashed = true;
            return Err(eio("power is off"));
        }
        Ok(())
    }

    /// Whether an armed fault of one of `kinds` fires on this call.
    fn fault(&mut self, kinds: &[Fault], path: &Path) -> Option<Fault> {
        let plan = self.plan.as_mut()?;
        if self.ops < plan.after_ops || !kinds.contains(&plan.kind) {
            return None;
        }
        let kind = plan.kind;
        plan.times -= 1;
        if plan.times == 0 {
            self.plan = None;
        }
        self.hits.push(FaultHit { kind, path: path.to_path_buf() });
        Some(kind)
    }

    fn rel(&self, path: &Path) -> io::Result<PathBuf> {
        let rel = path.strip_prefix(&self.root).map_err(|_| eio("path outside the simulated disk"))?;
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(eio("unsupported path"));
        }
        Ok(rel.to_path_buf())
    }

    /// (parent directory, file name) of a path below the root.
    fn split(&self, path: &Path) -> io::Result<(PathBuf, String)> {
        let rel = self.rel(path)?;
        let name = rel.file_name().and_then(|n| n.to_str()).ok_or_else(|| eio("no file name"))?.to_owned();
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        if !self.dirs.contains_key(&parent) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        Ok((parent, name))
    }

    fn dir_op(&mut self, dir: &Path, op: DirOp) {
        let d = self.dirs.get_mut(dir).expect("directory exists");
        match &op {
            DirOp::Link(name, e) => {
                d.current.insert(name.clone(), *e);
            }
            DirOp::Unlink(name) => {
                d.current.remove(name);
            }
        }
        d.pending.push(op);
    }

    fn new_inode(&mut self) -> u64 {
        self.next_ino += 1;
        self.inodes.insert(self.next_ino, Inode::default());
        self.next_ino
    }

    /// The inode a path names now, adopting a file created outside the
    /// storage layer (e.g. the lock file) as durable.
    fn lookup(&mut self, path: &Path) -> io::Result<u64> {
        let (dir, name) = self.split(path)?;
        match self.dirs[&dir].current.get(&name) {
            Some(Entry::File(ino)) => Ok(*ino),
            Some(Entry::Dir) => Err(eio("is a directory")),
            None => {
                let bytes = fs::read(path)?;
                let ino = self.new_inode();
                let node = self.inodes.get_mut(&ino).expect("just made");
                node.len = bytes.len() as u64;
                node.durable = bytes;
                let d = self.dirs.get_mut(&dir).expect("directory exists");
                d.durable.insert(name.clone(), Entry::File(ino));
                d.current.insert(name, Entry::File(ino));
                Ok(ino)
            }
        }
    }

    fn scan(&mut self, rel: &Path) -> io::Result<()> {
        self.dirs.insert(rel.to_path_buf(), Dir::default());
        for entry in fs::read_dir(self.root.join(rel))? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            let e = if entry.file_type()?.is_dir() {
                self.scan(&rel.join(&name))?;
                Entry::Dir
            } else {
                let bytes = fs::read(entry.path())?;
                let ino = self.new_inode();
                let node = self.inodes.get_mut(&ino).expect("just made");
                node.len = bytes.len() as u64;
                node.durable = bytes;
                Entry::File(ino)
            };
            let d = self.dirs.get_mut(rel).expect("just inserted");
            d.durable.insert(name.clone(), e);
            d.current.insert(name, e);
        }
        Ok(())
    }

    /// A file's bytes after a crash: durable + a prefix of the pending ops,
    /// maybe torn, maybe with one unsynced block read back as zeros.
    fn crashed_file(&self, ino: u64, rng: &mut StdRng) -> Vec<u8> {
        let node = &self.inodes[&ino];
        let mut bytes = node.durable.clone();
        let n = node.pending.len();
        let keep = match rng.gen_range(0..4) {
            0 => 0,
            1 => n,
            _ => rng.gen_range(0..=n),
        };
        let mut lo = bytes.len() as u64;
        for op in &node.pending[..keep] {
            apply(&mut bytes, op);
            if let DataOp::SetLen(l) = op {
                lo = lo.min(*l);
            }
        }
        if let Some(DataOp::Write { at, bytes: b }) = node.pending.get(keep) {
            if rng.gen_bool(0.5) && !b.is_empty() {
                let torn = rng.gen_range(0..b.len());
                apply(&mut bytes, &DataOp::Write { at: *at, bytes: b[..torn].to_vec() });
            }
        }
        let len = bytes.len() as u64;
        if len > lo && rng.gen_bool(0.25) {
            let first = lo / BLOCK;
            let last = (len - 1) / BLOCK;
            let block = rng.gen_range(first..=last);
            let from = (block * BLOCK).max(lo) as usize;
            let to = ((block + 1) * BLOCK).min(len) as usize;
            bytes[from..to].fill(0);
        }
        bytes
    }

    /// The entries of directory `rel` after a crash.
    fn crashed_dir(&self, rel: &Path, rng: &mut StdRng) -> BTreeMap<String, Entry> {
        let d = &self.dirs[rel];
        let mut entries = d.durable.clone();
        let n = d.pending.len();
        let keep = match rng.gen_range(0..3) {
            0 => 0,
            1 => n,
            _ => rng.gen_range(0..=n),
        };
        for op in &d.pending[..keep] {
            match op {
                DirOp::Link(name, e) => {
                    entries.insert(name.clone(), *e);
                }
                DirOp::Unlink(name) => {
                    entries.remove(name);
                }
            }
        }
        entries
    }

    fn write_tree(&self, rel: &Path, rng: &mut StdRng, out: &mut Vec<(PathBuf, Option<Vec<u8>>)>) {
        for (name, e) in self.crashed_dir(rel, rng) {
            let path = rel.join(&name);
            match e {
                Entry::File(ino) => out.push((path, Some(self.crashed_file(ino, rng)))),
                Entry::Dir if self.dirs.contains_key(&path) => {
                    out.push((path.clone(), None));
                    self.write_tree(&path, rng, out);
                }
                // A directory deleted outside the storage layer: gone.
                Entry::Dir => {}
            }
        }
    }
}

impl SimFs {
    /// A simulated disk holding what `root` holds now (all of it durable).
    /// `seed` drives the choices of torn writes and partial fsyncs.
    pub fn new(root: &Path, seed: u64) -> io::Result<Arc<SimFs>> {
        fs::create_dir_all(root)?;
        let mut state = State {
            root: root.to_path_buf(),
            next_ino: 0,
            inodes: HashMap::new(),
            dirs: BTreeMap::new(),
            ops: 0,
            crash_at: None,
            crashed: false,
            plan: None,
            hits: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
        };
        state.scan(Path::new(""))?;
        Ok(Arc::new(SimFs { state: Arc::new(Mutex::new(state)) }))
    }

    /// Cuts the power when the `op`-th mutating call (counted from now) is made.
    pub fn crash_after(&self, op: u64) {
        let mut s = self.state.lock();
        s.crash_at = Some(s.ops + op.max(1));
    }

    /// Cuts the power now: every later call fails.
    pub fn crash(&self) {
        self.state.lock().crashed = true;
    }

    /// Whether the power is off.
    pub fn crashed(&self) -> bool {
        self.state.lock().crashed
    }

    /// Mutating calls made so far.
    pub fn ops(&self) -> u64 {
        self.state.lock().ops
    }

    /// Arms a fault, `after_ops` counted from now.
    pub fn arm(&self, mut plan: FaultPlan) {
        let mut s = self.state.lock();
        plan.after_ops += s.ops;
        plan.times = plan.times.max(1);
        s.plan = Some(plan);
    }

    /// Disarms any pending fault.
    pub fn disarm(&self) {
        self.state.lock().plan = None;
    }

    /// The faults that fired so far.
    pub fn hits(&self) -> Vec<FaultHit> {
        self.state.lock().hits.clone()
    }

    /// After [`SimFs::crash`] (and once nothing uses the disk any more):
    /// replaces the real directory by a state the disk could hold after the
    /// power loss, chosen with `seed`.
    pub fn materialize(&self, seed: u64) -> io::Result<()> {
        let s = self.state.lock();
        assert!(s.crashed, "materialize needs a crash first");
        let mut rng = StdRng::seed_from_u64(seed);
        let mut tree = Vec::new();
        s.write_tree(Path::new(""), &mut rng, &mut tree);
        for entry in fs::read_dir(&s.root)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                fs::remove_dir_all(entry.path())?;
            } else {
                fs::remove_file(entry.path())?;
            }
        }
        for (rel, bytes) in tree {
            let path = s.root.join(rel);
            match bytes {
                None => fs::create_dir_all(&path)?,
                Some(b) => fs::write(&path, b)?,
            }
        }
        Ok(())
    }

    fn open(&self, path: &Path, ino: u64, append_only: bool) -> io::Result<Box<dyn StorageFile>> {
        let file = if append_only {
            OpenOptions::new().append(true).open(path)?
        } else {
            OpenOptions::new().append(true).create(true).open(path)?
        };
        Ok(Box::new(SimFile { state: self.state.clone(), ino, path: path.to_path_buf(), file }))
    }
}

impl Storage for SimFs {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let ino = {
            let mut s = self.state.lock();
            s.tick()?;
            let (dir, name) = s.split(path)?;
            if s.dirs[&dir].current.contains_key(&name) || path.exists() {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"));
            }
            if s.fault(&[Fault::Enospc], path).is_some() {
                return Err(enospc());
            }
            File::create_new(path)?;
            let ino = s.new_inode();
            s.dir_op(&dir, DirOp::Link(name, Entry::File(ino)));
            ino
        };
        self.open(path, ino, true)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let ino = {
            let mut s = self.state.lock();
            s.tick()?;
            let (dir, name) = s.split(path)?;
            if s.fault(&[Fault::Enospc], path).is_some() {
                return Err(enospc());
            }
            let existing = match s.dirs[&dir].current.get(&name) {
                Some(Entry::File(_)) => Some(s.lookup(path)?),
                Some(Entry::Dir) => return Err(eio("is a directory")),
                None if path.exists() => Some(s.lookup(path)?),
                None => None,
            };
            File::create(path)?;
            match existing {
                Some(ino) => {
                    let node = s.inodes.get_mut(&ino).expect("inode exists");
                    node.pending.push(DataOp::SetLen(0));
                    node.len = 0;
                    ino
                }
                None => {
                    let ino = s.new_inode();
                    s.dir_op(&dir, DirOp::Link(name, Entry::File(ino)));
                    ino
                }
            }
        };
        self.open(path, ino, true)
    }

    fn open_existing(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        let ino = {
            let mut s = self.state.lock();
            s.tick()?;
            s.lookup(path)?
        };
        self.open(path, ino, true)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.tick()?;
        let ino = s.lookup(from)?;
        let (fdir, fname) = s.split(from)?;
        let (tdir, tname) = s.split(to)?;
        if s.fault(&[Fault::RenameEio], to).is_some() {
            return Err(eio("rename"));
        }
        fs::rename(from, to)?;
        s.dir_op(&fdir, DirOp::Unlink(fname));
        s.dir_op(&tdir, DirOp::Link(tname, Entry::File(ino)));
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.tick()?;
        s.lookup(path)?;
        let (dir, name) = s.split(path)?;
        fs::remove_file(path)?;
        s.dir_op(&dir, DirOp::Unlink(name));
        Ok(())
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.tick()?;
        let rel = s.rel(path)?;
        let mut at = PathBuf::new();
        for c in rel.components() {
            let parent = at.clone();
            at.push(c);
            if s.dirs.contains_key(&at) {
                continue;
            }
            fs::create_dir_all(s.root.join(&at))?;
            s.dirs.insert(at.clone(), Dir::default());
            let name = c.as_os_str().to_string_lossy().into_owned();
            s.dir_op(&parent, DirOp::Link(name, Entry::Dir));
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.state.lock();
        s.tick()?;
        let rel = s.rel(dir)?;
        if !s.dirs.contains_key(&rel) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        if s.fault(&[Fault::DirFsyncEio], dir).is_some() {
            // The journal commit failed: the pending entries may or may not
            // be on disk; leave them pending.
            return Err(eio("directory fsync"));
        }
        let d = s.dirs.get_mut(&rel).expect("checked");
        d.durable = d.current.clone();
        d.pending.clear();
        Ok(())
    }
}

impl StorageFile for SimFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut s = self.state.lock();
        s.tick()?;
        let fault = s.fault(&[Fault::WriteEio, Fault::Enospc, Fault::ShortWrite], &self.path);
        let (n, err) = match fault {
            Some(Fault::WriteEio) => return Err(eio("write")),
            Some(Fault::Enospc) => return Err(enospc()),
            Some(_) => {
                let n = s.rng.gen_range(0..buf.len().max(1)).min(buf.len());
                (n, Some(enospc()))
            }
            None => (buf.len(), None),
        };
        self.file.write_all(&buf[..n])?;
        let node = s.inodes.get_mut(&self.ino).expect("inode exists");
        node.pending.push(DataOp::Write { at: node.len, bytes: buf[..n].to_vec() });
        node.len += n as u64;
        err.map_or(Ok(()), Err)
    }

    fn sync(&mut self) -> io::Result<()> {
        let mut s = self.state.lock();
        s.tick()?;
        if s.fault(&[Fault::FsyncEio], &self.path).is_some() {
            // Some writeback happened, the rest is dropped for good.
            let n = s.inodes[&self.ino].pending.len();
            let kept = s.rng.gen_range(0..=n);
            let node = s.inodes.get_mut(&self.ino).expect("inode exists");
            let pending = std::mem::take(&mut node.pending);
            for op in &pending[..kept] {
                apply(&mut node.durable, op);
            }
            return Err(eio("fsync"));
        }
        let node = s.inodes.get_mut(&self.ino).expect("inode exists");
        for op in std::mem::take(&mut node.pending) {
            apply(&mut node.durable, &op);
        }
        Ok(())
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let mut s = self.state.lock();
        s.tick()?;
        self.file.set_len(len)?;
        let node = s.inodes.get_mut(&self.ino).expect("inode exists");
        node.pending.push(DataOp::SetLen(len));
        node.len = len;
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.state.lock().inodes[&self.ino].len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(fs: &SimFs, path: &Path, bytes: &[u8], sync: bool) {
        let mut f = fs.create(path).unwrap();
        f.append(bytes).unwrap();
        if sync {
            f.sync().unwrap();
        }
    }

    #[test]
    fn synced_data_and_entries_survive_every_crash() {
        for seed in 0..50 {
            let dir = tempfile::tempdir().unwrap();
            let fs = SimFs::new(dir.path(), seed).unwrap();
            fs.create_dir_all(&dir.path().join("d")).unwrap();
            fs.sync_dir(dir.path()).unwrap();
            write(&fs, &dir.path().join("d/a"), b"durable", true);
            fs.sync_dir(&dir.path().join("d")).unwrap();
            write(&fs, &dir.path().join("d/b"), &[7; 3000], false);
            fs.crash();
            fs.materialize(seed).unwrap();
            assert_eq!(std::fs::read(dir.path().join("d/a")).unwrap(), b"durable", "seed {seed}");
        }
    }

    #[test]
    fn unsynced_state_is_sometimes_lost_torn_or_garbled() {
        let (mut missing, mut torn, mut whole) = (0, 0, 0);
        for seed in 0..200 {
            let dir = tempfile::tempdir().unwrap();
            let fs = SimFs::new(dir.path(), seed).unwrap();
            write(&fs, &dir.path().join("f"), &[7; 3000], false);
            fs.crash();
            fs.materialize(seed).unwrap();
            match std::fs::read(dir.path().join("f")) {
                Err(_) => missing += 1,
                Ok(b) if b == [7; 3000] => whole += 1,
                Ok(_) => torn += 1,
            }
        }
        assert!(missing > 0 && torn > 0 && whole > 0, "{missing} missing, {torn} torn, {whole} whole");
    }

    #[test]
    fn a_failed_fsync_loses_data_for_good() {
        let mut lost = 0;
        for seed in 0..50 {
            let dir = tempfile::tempdir().unwrap();
            let fs = SimFs::new(dir.path(), seed).unwrap();
            let path = dir.path().join("f");
            let mut f = fs.create_new(&path).unwrap();
            fs.sync_dir(dir.path()).unwrap();
            f.append(b"first").unwrap();
            fs.arm(FaultPlan { after_ops: 0, kind: Fault::FsyncEio, times: 1 });
            assert!(f.sync().is_err());
            // Retrying "succeeds" but the first write may be gone: exactly
            // what an engine must never acknowledge.
            f.append(b"second").unwrap();
            f.sync().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"firstsecond", "the page cache still shows it");
            fs.crash();
            fs.materialize(seed).unwrap();
            let after = std::fs::read(&path).unwrap();
            assert!(after.ends_with(b"second"));
            lost += u32::from(!after.starts_with(b"first"));
        }
        assert!(lost > 0);
    }
}
