//! Turns the newest versions of a frozen memtable into segment bytes.

use std::collections::BTreeMap;

use super::columns;
use super::format::Header;
use super::id_index;
use super::writer::SegmentBuilder;
use crate::codec::distance;
use crate::hnsw::FlatGraph;

/// Metric code of cosine in segment headers.
use crate::Value;

/// One document row of a segment being built.
pub(crate) struct RowIn<'a> {
    pub id: &'a str,
    pub seq: u64,
    pub vector: &'a [f32],
    pub metadata: &'a BTreeMap<String, Value>,
}

/// Everything a segment file holds.
pub(crate) struct SegmentIn<'a> {
    pub dimension: u32,
    pub metric: u8,
    pub rows: Vec<RowIn<'a>>,
    /// Deleted ids and the seq of their delete.
    pub tombstones: Vec<(&'a str, u64)>,
    /// The graph over `rows` (node i = row i).
    pub graph: FlatGraph,
}

pub(crate) fn encode(input: &SegmentIn<'_>) -> Vec<u8> {
    let entries = input.rows.len() + input.tombstones.len();
    let seqs: Vec<u64> = input.rows.iter().map(|r| r.seq).chain(input.tombstones.iter().map(|t| t.1)).collect();
    let header = Header {
        dimension: input.dimension,
        metric: input.metric,
        rows: input.rows.len() as u64,
        tombstones: input.tombstones.len() as u64,
        min_seq: seqs.iter().copied().min().unwrap_or(0),
        max_seq: seqs.iter().copied().max().unwrap_or(0),
    };
    let mut b = SegmentBuilder::new(&header);
    let ids: Vec<&str> = input.rows.iter().map(|r| r.id).chain(input.tombstones.iter().map(|t| t.0)).collect();
    debug_assert_eq!(ids.len(), entries);
    b.section("ids", &offsets_and_bytes(ids.iter().map(|s| s.as_bytes()), entries));
    b.pod_section("seqs", &seqs);
    let g = input.graph.view().parts();
    assert_eq!(g.levels.len(), input.rows.len(), "graph covers every row");
    if input.metric == distance::COSINE {
        // Search compares the graph's unit vectors; documents keep the caller's.
        let raw: Vec<f32> = input.rows.iter().flat_map(|r| r.vector.iter().copied()).collect();
        b.pod_section("raw_vectors", &raw);
    }
    b.pod_section("vectors", g.vectors);
    b.pod_section("id_index", &id_index::build(ids.iter().copied()));
    let metadata: Vec<&BTreeMap<String, Value>> = input.rows.iter().map(|r| r.metadata).collect();
    for (name, bytes) in columns::encode(&metadata) {
        b.section(name, &bytes);
    }
    let meta = [g.entry.unwrap_or(u32::MAX), g.max_level as u32, g.m as u32, g.m0 as u32];
    b.pod_section("graph.meta", &meta);
    b.pod_section("graph.levels", g.levels);
    b.pod_section("graph.links0", g.links0);
    b.pod_section("graph.upper_offsets", g.upper_offsets);
    b.pod_section("graph.upper", g.upper);
    if !g.records.is_empty() {
        b.section("graph.records", g.records);
    }
    b.finish()
}

/// `n + 1` u64 offsets (relative to the data) followed by the concatenated items.
fn offsets_and_bytes<'a>(items: impl Iterator<Item = &'a [u8]>, n: usize) -> Vec<u8> {
    let mut offsets = Vec::with_capacity(n + 1);
    let mut data = Vec::new();
    offsets.push(0u64);
    for item in items {
        data.extend_from_slice(item);
        offsets.push(data.len() as u64);
    }
    assert_eq!(offsets.len(), n + 1);
    let mut out = Vec::with_capacity(offsets.len() * 8 + data.len());
    out.extend_from_slice(bytemuck::cast_slice(&offsets));
    out.extend_from_slice(&data);
    out
}
