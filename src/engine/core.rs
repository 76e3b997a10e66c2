//! A collection's engine state, below its public handle: configuration,
//! layers, live count, visibility, flush coordination and metrics. The
//! database tracks collections by their cores, so a core knows nothing of
//! the database (no reference cycle).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::Arc;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::codec::distance;
use crate::engine::layers::Layers;
use crate::engine::visibility::Visibility;
use crate::hnsw::Metric;
use crate::memtable::Memtable;
use crate::model::metrics::CollectionMetrics;
use crate::model::options::IndexParams;
use crate::segment::reader::Segment;
use crate::CollectionConfig;

/// A collection's data and configuration, independent of the database handle
/// (so the database can track collections without a reference cycle).
pub(crate) struct CollectionCore {
    pub name: String,
    pub id: u64,
    pub config: CollectionConfig,
    pub params: IndexParams,
    /// Where this database keeps segment files.
    pub segments_dir: PathBuf,
    pub layers: ArcSwap<Layers>,
    /// Live documents, counting writes in flight.
    pub live: AtomicI64,
    /// Which of this collection's writes readers may see: its own, so no
    /// other collection's slow write holds its writes back.
    pub visibility: Visibility,
    /// One flush at a time per collection, oldest frozen memtable first.
    pub flush_lock: Mutex<()>,
    /// One merge at a time per collection. Not the flush lock: a flush
    /// never waits for a merge (both install under the write lock, and each
    /// keeps what the other installed meanwhile).
    pub compaction_lock: Mutex<()>,
    /// The outcome of the last flush, for writers waiting for room.
    pub flush_state: Mutex<FlushState>,
    /// Signalled after every flush attempt.
    pub flushed: parking_lot::Condvar,
    pub dropped: AtomicBool,
    /// Background merges that failed (nobody waits for them), and the
    /// error of the last one.
    pub merge_failures: Mutex<(u64, Option<String>)>,
    /// Latency histograms of this collection's operations.
    pub metrics: CollectionMetrics,
}

impl CollectionCore {
    pub fn new(
        name: String,
        id: u64,
        config: CollectionConfig,
        segments_dir: PathBuf,
        segments: Vec<Arc<Segment>>,
    ) -> Self {
        let params = config.index_params();
        let live = segments.iter().map(|s| s.rows() as i64 - s.dead_rows() as i64).sum();
        let active = Arc::new(Memtable::new(config.dimension, distance::metric(config.distance), params));
        CollectionCore {
            name,
            id,
            params,
            segments_dir,
            layers: ArcSwap::from_pointee(Layers { active, frozen: Vec::new(), segments }),
            live: AtomicI64::new(live),
            visibility: Visibility::new(0),
            flush_lock: Mutex::new(()),
            compaction_lock: Mutex::new(()),
            flush_state: Mutex::new(FlushState::default()),
            flushed: parking_lot::Condvar::new(),
            dropped: AtomicBool::new(false),
            merge_failures: Mutex::new((0, None)),
            config,
            metrics: CollectionMetrics::default(),
        }
    }

    pub fn new_memtable(&self) -> Memtable {
        Memtable::new(self.config.dimension, distance::metric(self.config.distance), self.params)
    }

    pub fn metric(&self) -> Metric {
        distance::metric(self.config.distance)
    }
}

/// What writers waiting for room need to know about flushes.
#[derive(Default)]
pub(crate) struct FlushState {
    /// Why the last flush failed, if it did.
    pub last_error: Option<String>,
}
