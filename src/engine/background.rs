//! A background worker: one long-lived thread working through a queue of
//! collection ids. A database has two (`vego-flusher` for flushes,
//! `vego-compactor` for the merges the policy wants; see `maintenance`).
//!
//! Writers only *request* work for a collection (a queue of collection ids,
//! each at most once); the worker does it, one collection at a time. A
//! failed flush is retried with a growing delay ([`RETRY_DELAY_MIN`] …
//! [`RETRY_DELAY_MAX`]) — the frozen memtable stays searchable and its
//! writes stay in the WAL meanwhile. `close` stops the worker and joins it
//! before the database lets go of its lock, so no background write ever
//! outlives the handle (one thread per flush used to pile up until close,
//! and one started while `close` ran could write after the lock was
//! released).
//!
//! The worker knows queues and retries, not the engine: what a job does is
//! the function it is started with (`maintenance::run_job`, by
//! `lifecycle::open`). That function holds only a weak reference to the
//! database, so dropping the last handle still shuts the database down; if
//! that drop happens on the worker itself (it held the last reference for
//! the duration of a job), shutdown runs there and the worker exits after it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// First delay before a failed flush is retried.
pub(crate) const RETRY_DELAY_MIN: Duration = Duration::from_millis(50);
/// Longest delay between retries of a failing flush.
pub(crate) const RETRY_DELAY_MAX: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Queue {
    /// Collections to work on, in request order.
    ready: VecDeque<u64>,
    /// Collections whose last flush failed, and when to try again.
    retry: Vec<(u64, Instant)>,
    /// The current retry delay of each collection whose flushes fail.
    delay: HashMap<u64, Duration>,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

/// The worker's handle, owned by the database.
#[derive(Default)]
pub(crate) struct Background {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Background {
    /// Starts the worker. `job(collection_id)` does the work requested for
    /// a collection and says whether its flush succeeded (`Some(false)`:
    /// retry later), or `None` once the database is gone.
    /// The thread is called `name`.
    pub fn start(&self, name: &str, job: impl Fn(u64) -> Option<bool> + Send + 'static) -> std::io::Result<()> {
        let shared = self.shared.clone();
        let handle = std::thread::Builder::new().name(name.into()).spawn(move || run(&shared, job))?;
        *self.thread.lock() = Some(handle);
        Ok(())
    }

    /// Asks for the collection's frozen memtables to be flushed (and its
    /// segments compacted if the policy wants). Ignored once stopped.
    pub fn request(&self, collection_id: u64) {
        let mut q = self.shared.queue.lock();
        if q.stop || q.ready.contains(&collection_id) {
            return;
        }
        q.ready.push_back(collection_id);
        drop(q);
        self.shared.wake.notify_one();
    }

    /// Stops the worker and waits for the job in progress to end (unless
    /// called from the worker itself, which then exits when this returns).
    pub fn stop(&self) {
        self.shared.queue.lock().stop = true;
        self.shared.wake.notify_all();
        let Some(handle) = self.thread.lock().take() else { return };
        if handle.thread().id() != std::thread::current().id() {
            // A panic in a job was already reported; shutdown goes on.
            let _ = handle.join();
        }
    }
}

fn run(shared: &Shared, job: impl Fn(u64) -> Option<bool>) {
    while let Some(id) = next_job(shared) {
        let Some(flushed) = job(id) else { return };
        let mut q = shared.queue.lock();
        if flushed {
            q.delay.remove(&id);
        } else {
            let delay = q.delay.get(&id).map_or(RETRY_DELAY_MIN, |d| (*d * 2).min(RETRY_DELAY_MAX));
            q.delay.insert(id, delay);
            q.retry.push((id, Instant::now() + delay));
        }
    }
}

/// The next collection to work on, waiting for a request or a due retry;
/// `None` once stopped.
fn next_job(shared: &Shared) -> Option<u64> {
    let mut q = shared.queue.lock();
    loop {
        if q.stop {
            return None;
        }
        if let Some(id) = q.ready.pop_front() {
            return Some(id);
        }
        let now = Instant::now();
        if let Some(i) = q.retry.iter().position(|&(_, at)| at <= now) {
            return Some(q.retry.swap_remove(i).0);
        }
        match q.retry.iter().map(|&(_, at)| at).min() {
            Some(at) => {
                shared.wake.wait_until(&mut q, at);
            }
            None => shared.wake.wait(&mut q),
        }
    }
}
