//! Node storage and neighbour lists, shared between concurrent inserts and
//! searches without any global lock.
//!
//! # Layout
//! Nodes live in an append-only arena of buckets whose sizes double
//! (1024, 2048, 4096, ...), allocated on first use. Each bucket holds its
//! nodes' data column by column, so the search loop reaches everything it
//! needs by address arithmetic on the id, with no pointer chasing:
//!
//! * `vectors`: `len × dim` f32, row-major (one contiguous block);
//! * `links0`: `len × (1 + m0)` u32, the layer-0 list of each node (count
//!   first, then ids);
//! * `records`: `len × record_len` bytes, each node's quantized record
//!   (`quant.rs`), only when the index quantizes (empty otherwise);
//! * `state`: one byte per node (free → claimed → stored → ready);
//! * `nodes`: the rarely touched rest (level, upper-layer lists, lock).
//!
//! The big columns are allocated zeroed, so pages of a bucket that no node
//! has reached yet are never touched and cost no resident memory.
//!
//! # Concurrency protocol
//! * An insert claims its id (`state` free → claimed, once), writes the
//!   vector, its quantized record and level, then publishes them with a Release store of `state`
//!   = stored. Readers load `state` with Acquire and read the vector only if
//!   it says stored or ready, so a vector is never read while it is written.
//! * Neighbour lists are fixed-capacity arrays of `AtomicU32` with the count
//!   in slot 0. Writers hold the node's `Mutex`; readers take no lock and may
//!   see a list mid-rewrite (a mix of old and new ids). Every id ever stored
//!   names a node whose vector is stored, so a torn read costs at most a
//!   slightly worse step, the same trade-off hnswlib makes, but without
//!   undefined behaviour.
//! * Writers never hold two node locks at once, so linking cannot deadlock.
//! * `state` = ready (Release) once a node is fully linked; searches only
//!   return ready nodes but use the others as waypoints.

use super::params::{HnswParams, MAX_LEVEL};
use super::view::GraphView;
use super::NodeId;
use parking_lot::{Mutex, MutexGuard};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Most nodes one index can hold. Ids are `u32`; stopping at 2^31 keeps the
/// bucket arithmetic in range with room to spare.
pub(crate) const NODES_MAX: usize = 1 << 31;

/// log2 of the first bucket's size.
const FIRST_BUCKET_BITS: u32 = 10;
/// Buckets needed to cover ids `0..NODES_MAX` with doubling sizes.
const BUCKETS: usize = 31 - FIRST_BUCKET_BITS as usize + 1;

/// `state` values, in the order a node passes through them.
const FREE: u8 = 0;
const CLAIMED: u8 = 1;
const STORED: u8 = 2;
const READY: u8 = 3;

/// Data fixed when a node is created, besides its vector.
pub(crate) struct NodeData {
    /// Top layer this node appears on.
    pub(crate) level: usize,
    /// Lists of layers `1..=level`, `1 + m` slots each (count first).
    upper: Box<[AtomicU32]>,
}

/// The cold part of a node: touched by inserts and by upper-layer descents.
#[derive(Default)]
pub(crate) struct Node {
    data: OnceLock<NodeData>,
    /// Serialises writers of this node's neighbour lists.
    lock: Mutex<()>,
}

impl Node {
    /// Locks the node's neighbour lists for writing.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock()
    }
}

/// f32 storage written once per row by the inserting thread and read by
/// everyone afterwards.
struct VectorCells(Box<[UnsafeCell<f32>]>);

// SAFETY: the cells are written only by the one thread that claimed the row
// (`Graph::init_node` wins the FREE → CLAIMED exchange exactly once per id)
// and only before that thread publishes the row with a Release store of
// STORED; every reader first loads the row's state with Acquire and reads
// only rows that are STORED or READY (`Graph::vector`). So no cell is ever
// read while it is being written, and the written values are visible to the
// readers (Release/Acquire), which is what `Sync` requires.
unsafe impl Sync for VectorCells {}

/// Quantized records, written and published exactly like `VectorCells`.
struct RecordCells(Box<[UnsafeCell<u8>]>);

// SAFETY: the same protocol as `VectorCells`: a record is written only by
// the thread that claimed its row, before the Release store of STORED, and
// read only after an Acquire load sees STORED or READY (`Graph::record`).
unsafe impl Sync for RecordCells {}

/// One bucket of the arena; see the module docs.
struct Bucket {
    vectors: VectorCells,
    records: RecordCells,
    links0: Box<[AtomicU32]>,
    state: Box<[AtomicU8]>,
    nodes: Box<[Node]>,
}

/// A zero-filled boxed slice. `vec![0; n]` allocates with `alloc_zeroed`, so
/// untouched pages stay unmapped.
fn zeroed_atomics_u32(len: usize) -> Box<[AtomicU32]> {
    let raw = Box::into_raw(vec![0u32; len].into_boxed_slice());
    // SAFETY: `AtomicU32` has the same size, alignment and bit validity as
    // `u32` (documented), so the allocation is a valid `[AtomicU32]` of the
    // same length, and the box owns it exactly once.
    unsafe { Box::from_raw(raw as *mut [AtomicU32]) }
}

fn zeroed_atomics_u8(len: usize) -> Box<[AtomicU8]> {
    let raw = Box::into_raw(vec![0u8; len].into_boxed_slice());
    // SAFETY: `AtomicU8` has the same size, alignment and bit validity as `u8`.
    unsafe { Box::from_raw(raw as *mut [AtomicU8]) }
}

fn zeroed_byte_cells(len: usize) -> Box<[UnsafeCell<u8>]> {
    let raw = Box::into_raw(vec![0u8; len].into_boxed_slice());
    // SAFETY: `UnsafeCell<u8>` has the same in-memory representation as `u8`.
    unsafe { Box::from_raw(raw as *mut [UnsafeCell<u8>]) }
}

fn zeroed_cells(len: usize) -> Box<[UnsafeCell<f32>]> {
    let raw = Box::into_raw(vec![0f32; len].into_boxed_slice());
    // SAFETY: `UnsafeCell<f32>` has the same in-memory representation as
    // `f32` (documented), so this is the same allocation viewed as cells.
    unsafe { Box::from_raw(raw as *mut [UnsafeCell<f32>]) }
}

/// The arena plus the list geometry shared by all nodes.
pub(crate) struct Graph {
    buckets: [OnceLock<Bucket>; BUCKETS],
    /// Next id to hand out; ids are dense in the order inserts start.
    next_id: AtomicUsize,
    dim: usize,
    /// Bytes of a node's quantized record (0 = not quantized).
    record_len: usize,
    /// Links capacity above layer 0.
    m: usize,
    /// Links capacity on layer 0.
    m0: usize,
    /// Ids stored so far (for memory accounting).
    stored: AtomicUsize,
    /// Bytes of upper-layer link arrays allocated so far.
    upper_bytes: AtomicUsize,
}

/// Bucket index and offset of `id` in the doubling layout.
#[inline(always)]
fn locate(id: NodeId) -> (usize, usize) {
    let x = u64::from(id) + (1u64 << FIRST_BUCKET_BITS);
    let top_bit = 63 - x.leading_zeros();
    ((top_bit - FIRST_BUCKET_BITS) as usize, (x - (1u64 << top_bit)) as usize)
}

/// Number of nodes bucket `b` holds.
fn bucket_len(b: usize) -> usize {
    1usize << (FIRST_BUCKET_BITS as usize + b)
}

impl Graph {
    pub(crate) fn new(dim: usize, params: &HnswParams) -> Graph {
        Graph {
            buckets: std::array::from_fn(|_| OnceLock::new()),
            next_id: AtomicUsize::new(0),
            dim,
            record_len: if params.quantize { super::quant::record_len(dim) } else { 0 },
            m: params.m,
            m0: params.m0(),
            stored: AtomicUsize::new(0),
            upper_bytes: AtomicUsize::new(0),
        }
    }

    /// Reserves the next dense id.
    ///
    /// # Panics
    /// When the index already holds [`NODES_MAX`] nodes.
    #[cfg(test)]
    pub(crate) fn allocate_id(&self) -> NodeId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        assert!(id < NODES_MAX, "HNSW index is full: at most {NODES_MAX} nodes are supported");
        id as NodeId
    }

    /// Claims a caller-chosen id (the memtable uses its row numbers as node
    /// ids, reserved under its write lock). Ids may arrive in any order and
    /// may leave gaps; each may be claimed once.
    ///
    /// # Panics
    /// When `id >= NODES_MAX`.
    pub(crate) fn claim_id(&self, id: NodeId) -> NodeId {
        assert!((id as usize) < NODES_MAX, "HNSW index is full: at most {NODES_MAX} nodes are supported");
        self.next_id.fetch_max(id as usize + 1, Ordering::Relaxed);
        id
    }

    /// Ids handed out so far (including inserts still in progress).
    #[inline]
    pub(crate) fn allocated(&self) -> usize {
        self.next_id.load(Ordering::Relaxed).min(NODES_MAX)
    }

    fn bucket_for(&self, b: usize) -> &Bucket {
        self.buckets[b].get_or_init(|| {
            let len = bucket_len(b);
            Bucket {
                vectors: VectorCells(zeroed_cells(len * self.dim)),
                records: RecordCells(zeroed_byte_cells(len * self.record_len)),
                links0: zeroed_atomics_u32(len * (1 + self.m0)),
                state: zeroed_atomics_u8(len),
                nodes: (0..len).map(|_| Node::default()).collect(),
            }
        })
    }

    /// Stores `vector` and `level` for the freshly claimed `id`, allocating
    /// its bucket if it is the first node there.
    ///
    /// # Panics
    /// If `id` was initialised before, or `vector` has the wrong length.
    pub(crate) fn init_node(&self, id: NodeId, vector: &[f32], level: usize) {
        debug_assert!(level <= MAX_LEVEL);
        assert_eq!(vector.len(), self.dim);
        let (b, off) = locate(id);
        let bucket = self.bucket_for(b);
        let state = &bucket.state[off];
        if state.compare_exchange(FREE, CLAIMED, Ordering::Acquire, Ordering::Relaxed).is_err() {
            panic!("HNSW node {id} inserted twice");
        }
        let cells = &bucket.vectors.0[off * self.dim..(off + 1) * self.dim];
        for (cell, &x) in cells.iter().zip(vector) {
            // SAFETY: this thread won the FREE → CLAIMED exchange for `id`, so
            // it is the only writer these cells ever have, and no reader looks
            // at them before the Release store of STORED below.
            unsafe { *cell.get() = x };
        }
        if self.record_len > 0 {
            let mut record = vec![0u8; self.record_len];
            super::quant::encode(vector, &mut record);
            let cells = &bucket.records.0[off * self.record_len..(off + 1) * self.record_len];
            for (cell, &b) in cells.iter().zip(&record) {
                // SAFETY: as for the vector cells above: this thread claimed
                // `id` and publishes the record with the STORED store below.
                unsafe { *cell.get() = b };
            }
        }
        let upper = zeroed_atomics_u32(level * (1 + self.m));
        self.upper_bytes.fetch_add(4 * upper.len(), Ordering::Relaxed);
        if bucket.nodes[off].data.set(NodeData { level, upper }).is_err() {
            unreachable!("node {id} claimed twice");
        }
        self.stored.fetch_add(1, Ordering::Relaxed);
        state.store(STORED, Ordering::Release);
    }

    /// The bucket holding `id` and the offset inside it, if allocated.
    #[inline(always)]
    fn slot(&self, id: NodeId) -> Option<(&Bucket, usize)> {
        let (b, off) = locate(id);
        Some((self.buckets.get(b)?.get()?, off))
    }

    /// The cold node record of `id`, if its bucket exists.
    #[inline]
    pub(crate) fn node(&self, id: NodeId) -> Option<&Node> {
        let (bucket, off) = self.slot(id)?;
        bucket.nodes.get(off)
    }

    /// Level and upper lists of `id`, once stored.
    #[inline]
    pub(crate) fn data(&self, id: NodeId) -> Option<&NodeData> {
        self.node(id)?.data.get()
    }

    /// The stored vector of `id`, or `None` if `id` has not been stored yet.
    #[inline(always)]
    pub(crate) fn vector(&self, id: NodeId) -> Option<&[f32]> {
        let (bucket, off) = self.slot(id)?;
        if bucket.state.get(off)?.load(Ordering::Acquire) < STORED {
            return None;
        }
        let cells = bucket.vectors.0.get(off * self.dim..(off + 1) * self.dim)?;
        // SAFETY: state >= STORED (Acquire) means the claiming thread finished
        // writing these cells and published them with a Release store, and
        // nobody writes them again (see `VectorCells`). `UnsafeCell<f32>` has
        // the layout of `f32`, so the cast keeps the length and alignment.
        Some(unsafe { &*(std::ptr::from_ref::<[UnsafeCell<f32>]>(cells) as *const [f32]) })
    }

    /// Whether nodes carry quantized records.
    #[inline(always)]
    pub(crate) fn quantized(&self) -> bool {
        self.record_len > 0
    }

    /// The stored quantized record of `id`, or `None` if `id` has not been
    /// stored yet or the graph does not quantize.
    #[inline(always)]
    pub(crate) fn record(&self, id: NodeId) -> Option<&[u8]> {
        let (bucket, off) = self.slot(id)?;
        if bucket.state.get(off)?.load(Ordering::Acquire) < STORED {
            return None;
        }
        let cells = bucket.records.0.get(off * self.record_len..(off + 1) * self.record_len)?;
        if cells.is_empty() {
            return None;
        }
        // SAFETY: as in `vector`: STORED (Acquire) means the cells were
        // written and published; `UnsafeCell<u8>` has the layout of `u8`.
        Some(unsafe { &*(std::ptr::from_ref::<[UnsafeCell<u8>]>(cells) as *const [u8]) })
    }

    /// Hints the CPU to start loading `lines` cache lines (0 = all) of the
    /// record of `id`.
    #[inline(always)]
    pub(crate) fn prefetch_record(&self, id: NodeId, lines: usize) {
        if let Some((bucket, off)) = self.slot(id) {
            if let Some(cells) = bucket.records.0.get(off * self.record_len..(off + 1) * self.record_len) {
                // A record is `record_len` bytes = record_len / 4 "floats" of prefetch stride.
                super::distance::prefetch_ptr(cells.as_ptr().cast(), self.record_len / 4, lines);
            }
        }
    }

    /// Hints the CPU to start loading the vector of `id` (`lines` cache lines
    /// of it; 0 = all).
    #[inline(always)]
    pub(crate) fn prefetch_vector(&self, id: NodeId, lines: usize) {
        if let Some((bucket, off)) = self.slot(id) {
            if let Some(cells) = bucket.vectors.0.get(off * self.dim..(off + 1) * self.dim) {
                super::distance::prefetch_ptr(cells.as_ptr().cast(), self.dim, lines);
            }
        }
    }

    /// Hints the CPU to start loading `id`'s layer-0 list.
    #[inline(always)]
    pub(crate) fn prefetch_links0(&self, id: NodeId) {
        if let Some((bucket, off)) = self.slot(id) {
            let w = 1 + self.m0;
            if let Some(list) = bucket.links0.get(off * w..(off + 1) * w) {
                super::distance::prefetch_ptr(list.as_ptr().cast(), w, 0);
            }
        }
    }

    /// Marks `id` as fully linked.
    pub(crate) fn mark_ready(&self, id: NodeId) {
        if let Some((bucket, off)) = self.slot(id) {
            bucket.state[off].store(READY, Ordering::Release);
        }
    }

    /// Whether `id`'s insert has completed.
    #[inline(always)]
    pub(crate) fn is_ready(&self, id: NodeId) -> bool {
        self.slot(id).and_then(|(b, off)| b.state.get(off)).is_some_and(|s| s.load(Ordering::Acquire) == READY)
    }

    /// The slots of `layer`'s list of `id` (count slot first), or an empty
    /// slice if the node does not exist or does not reach that layer.
    #[inline(always)]
    fn list(&self, id: NodeId, layer: usize) -> &[AtomicU32] {
        let Some((bucket, off)) = self.slot(id) else {
            return &[];
        };
        if layer == 0 {
            let w = 1 + self.m0;
            return bucket.links0.get(off * w..(off + 1) * w).unwrap_or(&[]);
        }
        match bucket.nodes.get(off).and_then(|n| n.data.get()) {
            Some(d) if layer <= d.level => {
                let w = 1 + self.m;
                d.upper.get((layer - 1) * w..layer * w).unwrap_or(&[])
            }
            _ => &[],
        }
    }

    /// Calls `f` with each current neighbour of `id` on `layer`, read without
    /// locking. The list may be torn by a concurrent writer; see the module
    /// docs.
    #[inline(always)]
    pub(crate) fn for_each_neighbour(&self, id: NodeId, layer: usize, mut f: impl FnMut(NodeId)) {
        let list = self.list(id, layer);
        let Some((count, slots)) = list.split_first() else {
            return;
        };
        // Acquire pairs with the writer's Release so the ids it wrote
        // before publishing the count are visible.
        let count = (count.load(Ordering::Acquire) as usize).min(slots.len());
        for slot in &slots[..count] {
            // Acquire: the id was stored (Release) by a thread that had seen
            // the node's vector stored, so reading that vector next is safe.
            f(slot.load(Ordering::Acquire));
        }
    }

    /// Current neighbours of `id` on `layer`, collected (for inserts).
    pub(crate) fn neighbours(&self, id: NodeId, layer: usize) -> impl Iterator<Item = NodeId> + '_ {
        let list = self.list(id, layer);
        let count = match list.first() {
            Some(c) => (c.load(Ordering::Acquire) as usize).min(list.len() - 1),
            None => 0,
        };
        list.iter().skip(1).take(count).map(|slot| slot.load(Ordering::Acquire))
    }

    /// Replaces the list of `id` on `layer` with `ids`. The guard proves the
    /// caller holds that node's lock.
    pub(crate) fn set_neighbours(
        &self,
        _guard: &MutexGuard<'_, ()>,
        id: NodeId,
        layer: usize,
        ids: impl ExactSizeIterator<Item = NodeId>,
    ) {
        let list = self.list(id, layer);
        assert!(ids.len() < list.len(), "neighbour list overflow");
        let n = ids.len();
        for (slot, id) in list[1..].iter().zip(ids) {
            slot.store(id, Ordering::Release);
        }
        list[0].store(n as u32, Ordering::Release);
    }

    /// Appends `nb` to the list of `id` on `layer` if there is room; returns
    /// false (changing nothing) when the list is full.
    pub(crate) fn try_push_neighbour(&self, _guard: &MutexGuard<'_, ()>, id: NodeId, layer: usize, nb: NodeId) -> bool {
        let list = self.list(id, layer);
        let n = list[0].load(Ordering::Relaxed) as usize;
        if n + 1 >= list.len() {
            return false;
        }
        list[1 + n].store(nb, Ordering::Release);
        list[0].store(n as u32 + 1, Ordering::Release);
        true
    }

    /// Capacity of a list on `layer`.
    pub(crate) fn max_links(&self, layer: usize) -> usize {
        if layer == 0 {
            self.m0
        } else {
            self.m
        }
    }

    /// Heap bytes in use: vectors and layer-0 lists of stored nodes, the
    /// node records of allocated buckets and the upper-layer lists. Bucket
    /// columns beyond the last stored node are reserved address space that
    /// is never touched, so they are not counted.
    pub(crate) fn memory_bytes(&self) -> usize {
        let slots: usize =
            self.buckets.iter().enumerate().filter(|(_, b)| b.get().is_some()).map(|(i, _)| bucket_len(i)).sum();
        let per_node = 4 * (self.dim + 1 + self.m0) + 1 + self.record_len;
        slots * std::mem::size_of::<Node>()
            + self.stored.load(Ordering::Relaxed) * per_node
            + self.upper_bytes.load(Ordering::Relaxed)
    }

    /// Layer-0 list capacity.
    pub(crate) fn m0(&self) -> usize {
        self.m0
    }

    /// Upper-layer list capacity.
    pub(crate) fn m(&self) -> usize {
        self.m
    }
}

/// The live graph as seen by the shared search code.
pub(crate) struct LiveView<'a> {
    pub(crate) graph: &'a Graph,
    pub(crate) entry: Option<(NodeId, usize)>,
}

impl GraphView for LiveView<'_> {
    #[inline(always)]
    fn entry(&self) -> Option<(NodeId, usize)> {
        self.entry
    }

    #[inline(always)]
    fn id_bound(&self) -> usize {
        self.graph.allocated()
    }

    #[inline(always)]
    fn vector(&self, id: NodeId) -> Option<&[f32]> {
        self.graph.vector(id)
    }

    #[inline(always)]
    fn prefetch_vector(&self, id: NodeId, lines: usize) {
        self.graph.prefetch_vector(id, lines)
    }

    #[inline(always)]
    fn for_each_neighbour(&self, id: NodeId, layer: usize, f: impl FnMut(NodeId)) {
        self.graph.for_each_neighbour(id, layer, f)
    }

    #[inline(always)]
    fn prefetch_links(&self, id: NodeId, layer: usize) {
        if layer == 0 {
            self.graph.prefetch_links0(id)
        }
    }

    #[inline(always)]
    fn is_ready(&self, id: NodeId) -> bool {
        self.graph.is_ready(id)
    }

    #[inline(always)]
    fn quantized(&self) -> bool {
        self.graph.quantized()
    }

    #[inline(always)]
    fn record(&self, id: NodeId) -> Option<&[u8]> {
        self.graph.record(id)
    }

    #[inline(always)]
    fn prefetch_record(&self, id: NodeId, lines: usize) {
        self.graph.prefetch_record(id, lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_ids_densely() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(1023), (0, 1023));
        assert_eq!(locate(1024), (1, 0));
        assert_eq!(locate(3071), (1, 2047));
        assert_eq!(locate(3072), (2, 0));
        let (b, off) = locate((NODES_MAX - 1) as NodeId);
        assert_eq!(b, BUCKETS - 1);
        assert!(off < bucket_len(b));
    }

    #[test]
    fn lists_round_trip_and_respect_capacity() {
        let p = HnswParams { m: 2, ef_construction: 8, seed: 1, quantize: false };
        let g = Graph::new(2, &p);
        let id = g.allocate_id();
        assert!(g.vector(id).is_none(), "not stored yet");
        g.init_node(id, &[1.0, 2.0], 1);
        assert_eq!(g.vector(id), Some(&[1.0, 2.0][..]));
        assert!(!g.is_ready(id));
        let node = g.node(id).unwrap();
        let guard = node.lock();
        g.set_neighbours(&guard, id, 0, [5, 6, 7].into_iter());
        assert!(g.try_push_neighbour(&guard, id, 0, 8));
        assert!(!g.try_push_neighbour(&guard, id, 0, 9), "m0 = 4 is full");
        assert_eq!(g.neighbours(id, 0).collect::<Vec<_>>(), [5, 6, 7, 8]);
        g.set_neighbours(&guard, id, 1, [3].into_iter());
        assert_eq!(g.neighbours(id, 1).collect::<Vec<_>>(), [3]);
        assert_eq!(g.neighbours(id, 2).count(), 0, "above the node's level");
        assert!(g.data(1).is_none(), "never initialised");
        assert!(g.vector(1).is_none() && g.vector(5000).is_none());
        g.mark_ready(id);
        assert!(g.is_ready(id));
    }

    #[test]
    #[should_panic(expected = "inserted twice")]
    fn a_node_cannot_be_initialised_twice() {
        let g = Graph::new(1, &HnswParams::default());
        g.init_node(3, &[1.0], 0);
        g.init_node(3, &[2.0], 0);
    }

    #[test]
    fn vectors_of_many_buckets_stay_distinct() {
        let g = Graph::new(3, &HnswParams::default());
        for id in (0..5000u32).step_by(7) {
            g.claim_id(id);
            g.init_node(id, &[id as f32, -(id as f32), 0.5], 0);
        }
        for id in (0..5000u32).step_by(7) {
            assert_eq!(g.vector(id).unwrap(), [id as f32, -(id as f32), 0.5]);
        }
        assert!(g.vector(1).is_none());
    }
}
