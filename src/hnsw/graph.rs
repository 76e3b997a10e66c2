//! Node storage and neighbour lists, shared between concurrent inserts and
//! searches without any global lock.
//!
//! # Layout
//! Nodes live in an append-only arena of buckets whose sizes double
//! (1024, 2048, 4096, ...), allocated on first use. A node's address never
//! changes, so a reader can hold `&Node` while other threads append, and
//! finding a node is two array lookups with no lock.
//!
//! # Concurrency protocol
//! * A node's vector and level are written once, through a `OnceLock`, before
//!   its id is stored in any neighbour list; readers that still see it unset
//!   (possible only for a node mid-insert) skip it.
//! * Neighbour lists are fixed-capacity arrays of `AtomicU32` with the count
//!   in slot 0. Writers hold the node's `Mutex`; readers take no lock and may
//!   see a list mid-rewrite (a mix of old and new ids). Every id ever stored
//!   names a real node, so a torn read costs at most a slightly worse step,
//!   the same trade-off hnswlib makes, but without undefined behaviour.
//! * Writers never hold two node locks at once, so linking cannot deadlock.
//! * `ready` is set (Release) once a node is fully linked; searches only
//!   return ready nodes but use unready ones as waypoints.

use super::params::{HnswParams, MAX_LEVEL};
use super::NodeId;
use parking_lot::{Mutex, MutexGuard};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Most nodes one index can hold. Ids are `u32`; stopping at 2^31 keeps the
/// bucket arithmetic in range with room to spare.
pub(crate) const NODES_MAX: usize = 1 << 31;

/// log2 of the first bucket's size.
const FIRST_BUCKET_BITS: u32 = 10;
/// Buckets needed to cover ids `0..NODES_MAX` with doubling sizes.
const BUCKETS: usize = 31 - FIRST_BUCKET_BITS as usize + 1;

/// Data fixed when a node is created.
pub(crate) struct NodeData {
    /// The node's vector, copied from the caller.
    pub(crate) vector: Box<[f32]>,
    /// Top layer this node appears on.
    pub(crate) level: usize,
    /// All layers' neighbour lists in one allocation: layer 0 first
    /// (`1 + m0` slots), then `1 + m` slots per upper layer. The first slot of
    /// each list holds its length.
    links: Box<[AtomicU32]>,
}

/// One slot of the arena, aligned to a cache line so reading a node's vector
/// pointer and init state costs exactly one cache miss.
#[derive(Default)]
#[repr(align(64))]
pub(crate) struct Node {
    data: OnceLock<NodeData>,
    /// Serialises writers of this node's neighbour lists.
    lock: Mutex<()>,
    /// Set once the node is fully linked and may appear in results.
    ready: AtomicBool,
}

impl Node {
    /// The node's vector and level, or `None` while its insert has not yet
    /// stored them.
    #[inline]
    pub(crate) fn data(&self) -> Option<&NodeData> {
        self.data.get()
    }

    /// Whether the node's insert has completed.
    #[inline]
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Locks the node's neighbour lists for writing.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ()> {
        self.lock.lock()
    }
}

/// The arena plus the list geometry shared by all nodes.
pub(crate) struct Graph {
    buckets: [OnceLock<Box<[Node]>>; BUCKETS],
    /// Next id to hand out; ids are dense in the order inserts start.
    next_id: AtomicUsize,
    /// Links capacity above layer 0.
    m: usize,
    /// Links capacity on layer 0.
    m0: usize,
    /// Bytes of vectors and link arrays allocated so far.
    node_heap_bytes: AtomicUsize,
}

/// Bucket index and offset of `id` in the doubling layout.
#[inline]
fn locate(id: NodeId) -> (usize, usize) {
    let x = u64::from(id) + (1u64 << FIRST_BUCKET_BITS);
    let top_bit = 63 - x.leading_zeros();
    ((top_bit - FIRST_BUCKET_BITS) as usize, (x - (1u64 << top_bit)) as usize)
}

impl Graph {
    pub(crate) fn new(params: &HnswParams) -> Graph {
        Graph {
            buckets: std::array::from_fn(|_| OnceLock::new()),
            next_id: AtomicUsize::new(0),
            m: params.m,
            m0: params.m0(),
            node_heap_bytes: AtomicUsize::new(0),
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
    pub(crate) fn allocated(&self) -> usize {
        self.next_id.load(Ordering::Relaxed).min(NODES_MAX)
    }

    /// Stores `vector` and `level` for the freshly allocated `id`, allocating
    /// its bucket if it is the first node there.
    pub(crate) fn init_node(&self, id: NodeId, vector: &[f32], level: usize) -> &NodeData {
        debug_assert!(level <= MAX_LEVEL);
        let (b, off) = locate(id);
        let bucket = self.buckets[b].get_or_init(|| {
            let len = 1usize << (FIRST_BUCKET_BITS as usize + b);
            (0..len).map(|_| Node::default()).collect()
        });
        let slots = (1 + self.m0) + level * (1 + self.m);
        let links: Box<[AtomicU32]> = (0..slots).map(|_| AtomicU32::new(0)).collect();
        self.node_heap_bytes.fetch_add(4 * (vector.len() + slots) + std::mem::size_of::<NodeData>(), Ordering::Relaxed);
        let data = NodeData { vector: vector.into(), level, links };
        if bucket[off].data.set(data).is_err() {
            unreachable!("node {id} initialised twice");
        }
        bucket[off].data.get().expect("just set")
    }

    /// The node with `id`, if its bucket exists.
    #[inline]
    pub(crate) fn node(&self, id: NodeId) -> Option<&Node> {
        let (b, off) = locate(id);
        self.buckets.get(b)?.get().map(|bucket| &bucket[off])
    }

    /// The data of node `id`, if it has been stored.
    #[inline]
    pub(crate) fn data(&self, id: NodeId) -> Option<&NodeData> {
        self.node(id)?.data()
    }

    /// Marks `id` as fully linked.
    pub(crate) fn mark_ready(&self, id: NodeId) {
        if let Some(node) = self.node(id) {
            node.ready.store(true, Ordering::Release);
        }
    }

    /// The slots of `layer`'s list (count slot first) inside `data`, or an
    /// empty slice if the node does not reach that layer.
    #[inline]
    fn list<'a>(&self, data: &'a NodeData, layer: usize) -> &'a [AtomicU32] {
        if layer > data.level {
            return &[];
        }
        if layer == 0 {
            &data.links[..1 + self.m0]
        } else {
            let start = (1 + self.m0) + (layer - 1) * (1 + self.m);
            &data.links[start..start + 1 + self.m]
        }
    }

    /// Current neighbours of `data` on `layer`, read without locking. The
    /// result may be torn by a concurrent writer; see the module docs.
    #[inline]
    pub(crate) fn neighbours<'a>(&self, data: &'a NodeData, layer: usize) -> impl Iterator<Item = NodeId> + 'a {
        let list = self.list(data, layer);
        let count = match list.first() {
            // Acquire pairs with the writer's Release so the ids it wrote
            // before publishing the count are visible.
            Some(c) => (c.load(Ordering::Acquire) as usize).min(list.len() - 1),
            None => 0,
        };
        list.iter().skip(1).take(count).map(|slot| slot.load(Ordering::Relaxed))
    }

    /// Replaces the list of `data` on `layer` with `ids`. The guard proves
    /// the caller holds that node's lock.
    pub(crate) fn set_neighbours(
        &self,
        _guard: &MutexGuard<'_, ()>,
        data: &NodeData,
        layer: usize,
        ids: impl ExactSizeIterator<Item = NodeId>,
    ) {
        let list = self.list(data, layer);
        assert!(ids.len() < list.len(), "neighbour list overflow");
        let n = ids.len();
        for (slot, id) in list[1..].iter().zip(ids) {
            slot.store(id, Ordering::Relaxed);
        }
        list[0].store(n as u32, Ordering::Release);
    }

    /// Appends `id` to the list of `data` on `layer` if there is room;
    /// returns false (changing nothing) when the list is full.
    pub(crate) fn try_push_neighbour(
        &self,
        _guard: &MutexGuard<'_, ()>,
        data: &NodeData,
        layer: usize,
        id: NodeId,
    ) -> bool {
        let list = self.list(data, layer);
        let n = list[0].load(Ordering::Relaxed) as usize;
        if n + 1 >= list.len() {
            return false;
        }
        list[1 + n].store(id, Ordering::Relaxed);
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

    /// Heap bytes held by the arena: node slots of allocated buckets plus
    /// every node's vector and link array.
    pub(crate) fn memory_bytes(&self) -> usize {
        let slots: usize = self
            .buckets
            .iter()
            .enumerate()
            .filter(|(_, b)| b.get().is_some())
            .map(|(i, _)| 1usize << (FIRST_BUCKET_BITS as usize + i))
            .sum();
        slots * std::mem::size_of::<Node>() + self.node_heap_bytes.load(Ordering::Relaxed)
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
        assert!(off < 1 << (FIRST_BUCKET_BITS as usize + b));
    }

    #[test]
    fn lists_round_trip_and_respect_capacity() {
        let p = HnswParams { m: 2, ef_construction: 8, seed: 1 };
        let g = Graph::new(&p);
        let id = g.allocate_id();
        let d = g.init_node(id, &[1.0, 2.0], 1);
        let node = g.node(id).unwrap();
        let guard = node.lock();
        g.set_neighbours(&guard, d, 0, [5, 6, 7].into_iter());
        assert!(g.try_push_neighbour(&guard, d, 0, 8));
        assert!(!g.try_push_neighbour(&guard, d, 0, 9), "m0 = 4 is full");
        assert_eq!(g.neighbours(d, 0).collect::<Vec<_>>(), [5, 6, 7, 8]);
        g.set_neighbours(&guard, d, 1, [3].into_iter());
        assert_eq!(g.neighbours(d, 1).collect::<Vec<_>>(), [3]);
        assert_eq!(g.neighbours(d, 2).count(), 0, "above the node's level");
        assert!(g.data(1).is_none(), "never initialised");
    }
}
