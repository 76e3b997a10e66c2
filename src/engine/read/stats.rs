//! The counters of a collection (`Collection::stats`), read from its
//! current layers.

use crate::engine::core::CollectionCore;
use crate::model::stats::CollectionStats;

/// Documents, versions, bytes and latencies of the collection now.
pub(crate) fn stats(core: &CollectionCore) -> CollectionStats {
    let t = core.layers.load();
    let mems = std::iter::once(&t.active).chain(t.frozen.iter().map(|f| &f.mem));
    let (mut versions, mut memtable_bytes, mut index_bytes, mut orphans) = (0u64, 0u64, 0u64, 0u64);
    for m in mems {
        versions += m.row_count() as u64;
        orphans += m.orphan_rows();
        memtable_bytes += m.data_bytes();
        index_bytes += m.graph().memory_bytes() as u64;
    }
    versions += t.segments.iter().map(|s| s.rows() as u64).sum::<u64>();
    let (merge_failures, last_merge_error) = core.merge_failures.lock().clone();
    let documents = core.live.load(std::sync::atomic::Ordering::Relaxed).max(0) as u64;
    CollectionStats {
        name: core.name.clone(),
        dimension: core.config.dimension,
        distance: core.config.distance,
        documents,
        versions,
        dead: versions.saturating_sub(documents),
        orphans,
        segments: t.segments.len() as u64,
        disk_bytes: t.segments.iter().map(|s| s.file_bytes()).sum(),
        memtable_bytes,
        index_bytes,
        m: core.params.m,
        ef_construction: core.params.ef_construction,
        ef_search: core.params.ef_search,
        quantization: core.config.quantization,
        write_latency: core.metrics.write.summary(),
        get_latency: core.metrics.get.summary(),
        search_latency: core.metrics.search.summary(),
        merge_failures,
        last_merge_error,
    }
}
