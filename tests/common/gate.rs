//! A storage wrapper that can stop a chosen file operation at a gate, so a
//! test can line up a failing write with a flush or merge running at the
//! same moment — the interleavings the chaos harness meets only by luck.
#![allow(dead_code)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use vego::storage::{StdStorage, Storage, StorageFile};

/// Which call a gate stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Append,
    Sync,
    Rename,
}

/// What the stopped call does once released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    Proceed,
    FailNoSpace,
    FailEio,
}

struct Gate {
    id: u64,
    call: Call,
    /// The path must contain this.
    path_has: String,
    then: Then,
    reached: bool,
    released: bool,
}

#[derive(Default)]
struct State {
    gates: Vec<Gate>,
    next_id: u64,
    /// Calls that fail at once, every time, until cleared.
    failing: Vec<(Call, String)>,
}

/// The wrapper: real files, plus gates.
#[derive(Clone, Default)]
pub struct GateFs {
    state: Arc<(Mutex<State>, Condvar)>,
}

impl std::fmt::Debug for GateFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GateFs")
    }
}

impl GateFs {
    pub fn new() -> GateFs {
        GateFs::default()
    }

    /// Stops the next `call` on a path containing `path_has` until
    /// [`GateFs::release`]; it then does `then`.
    pub fn arm(&self, call: Call, path_has: &str, then: Then) {
        let (m, _) = &*self.state;
        let mut s = m.lock();
        s.next_id += 1;
        let id = s.next_id;
        s.gates.push(Gate { id, call, path_has: path_has.into(), then, reached: false, released: false });
    }

    /// Waits until the gate on `path_has` is reached (panics after 30 s).
    pub fn wait_reached(&self, path_has: &str) {
        let (m, cv) = &*self.state;
        let mut s = m.lock();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !s.gates.iter().any(|g| g.path_has == path_has && g.reached) {
            assert!(!cv.wait_until(&mut s, deadline).timed_out(), "gate {path_has} never reached");
        }
    }

    /// Lets the call stopped at the gate on `path_has` go on.
    pub fn release(&self, path_has: &str) {
        let (m, cv) = &*self.state;
        let mut s = m.lock();
        for g in s.gates.iter_mut().filter(|g| g.path_has == path_has) {
            g.released = true;
        }
        cv.notify_all();
    }

    /// Makes every `call` on a path containing `path_has` fail with EIO
    /// (without doing anything) until [`GateFs::clear`].
    pub fn fail_always(&self, call: Call, path_has: &str) {
        self.state.0.lock().failing.push((call, path_has.into()));
    }

    /// Ends every [`GateFs::fail_always`].
    pub fn clear(&self) {
        self.state.0.lock().failing.clear();
    }

    /// Runs the gate protocol for one call; returns what to do.
    fn pass(&self, call: Call, path: &Path) -> Then {
        let (m, cv) = &*self.state;
        let mut s = m.lock();
        let p = path.to_string_lossy().into_owned();
        if s.failing.iter().any(|(c, has)| *c == call && p.contains(has.as_str())) {
            return Then::FailEio;
        }
        let Some(i) = s.gates.iter().position(|g| g.call == call && !g.reached && p.contains(&g.path_has)) else {
            return Then::Proceed;
        };
        s.gates[i].reached = true;
        let id = s.gates[i].id;
        cv.notify_all();
        // Other gates may come and go meanwhile: find this one by id.
        let at = |s: &State| s.gates.iter().position(|g| g.id == id).expect("a reached gate stays until it passes");
        while !s.gates[at(&s)].released {
            cv.wait(&mut s);
        }
        let i = at(&s);
        let gate = s.gates.remove(i);
        gate.then
    }

    fn wrap(&self, path: &Path, inner: Box<dyn StorageFile>) -> Box<dyn StorageFile> {
        Box::new(GateFile { fs: self.clone(), path: path.to_path_buf(), inner })
    }
}

struct GateFile {
    fs: GateFs,
    path: PathBuf,
    inner: Box<dyn StorageFile>,
}

fn outcome(then: Then) -> io::Result<()> {
    match then {
        Then::Proceed => Ok(()),
        Then::FailNoSpace => Err(io::Error::new(io::ErrorKind::StorageFull, "gated ENOSPC")),
        Then::FailEio => Err(io::Error::other("gated EIO")),
    }
}

impl StorageFile for GateFile {
    fn append(&mut self, buf: &[u8]) -> io::Result<()> {
        outcome(self.fs.pass(Call::Append, &self.path))?;
        self.inner.append(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        outcome(self.fs.pass(Call::Sync, &self.path))?;
        self.inner.sync()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

impl Storage for GateFs {
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        Ok(self.wrap(path, StdStorage.create_new(path)?))
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        Ok(self.wrap(path, StdStorage.create(path)?))
    }
    fn open_existing(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        Ok(self.wrap(path, StdStorage.open_existing(path)?))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        outcome(self.pass(Call::Rename, to))?;
        StdStorage.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdStorage.remove_file(path)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        StdStorage.create_dir_all(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdStorage.sync_dir(dir)
    }
}
