//! Turns the newest versions of a frozen memtable into segment bytes.

use std::collections::BTreeMap;

use super::columns;
use super::format::{Header, FORMAT_MAJOR};
use super::id_index;
use super::reader::{INV_NORMS, RAW_VECTORS};
use super::writer::SegmentBuilder;
use crate::codec::distance;
use crate::hnsw::{inv_norm, FlatGraph};

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

/// The bytes of a segment file of the current format.
pub(crate) fn encode(input: &SegmentIn<'_>) -> Vec<u8> {
    encode_as(input, FORMAT_MAJOR)
}

/// The bytes of a segment file of `format_major` (1 only for the tests
/// that prove old files still read: unit `vectors` plus `raw_vectors`).
pub(crate) fn encode_as(input: &SegmentIn<'_>, format_major: u16) -> Vec<u8> {
    let entries = input.rows.len() + input.tombstones.len();
    let seqs: Vec<u64> = input.rows.iter().map(|r| r.seq).chain(input.tombstones.iter().map(|t| t.1)).collect();
    let header = Header {
        format_major,
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
    match (input.metric == distance::COSINE, format_major) {
        (true, 1) => {
            let raw: Vec<f32> = input.rows.iter().flat_map(|r| r.vector.iter().copied()).collect();
            b.pod_section(RAW_VECTORS, &raw);
            b.pod_section("vectors", g.vectors);
        }
        // One copy: the rows as written (what `get` returns) and the factor
        // that makes each the unit vector the graph was built on.
        (true, _) => {
            let raw: Vec<f32> = input.rows.iter().flat_map(|r| r.vector.iter().copied()).collect();
            let inv: Vec<f32> = input.rows.iter().map(|r| inv_norm(r.vector)).collect();
            assert_scaled_rows_are_the_graph_rows(&raw, &inv, g.vectors);
            b.pod_section("vectors", &raw);
            b.pod_section(INV_NORMS, &inv);
        }
        (false, _) => b.pod_section("vectors", g.vectors),
    }
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

/// The search of a format-2 cosine segment compares row × factor where the
/// build compared the graph's unit rows: they must be the same numbers, bit
/// for bit, or search and graph disagree without an error.
fn assert_scaled_rows_are_the_graph_rows(raw: &[f32], inv: &[f32], unit: &[f32]) {
    assert_eq!(raw.len(), unit.len(), "one unit row per written row");
    let dim = raw.len().checked_div(inv.len()).unwrap_or(0);
    for (row, (v, u)) in raw.chunks_exact(dim.max(1)).zip(unit.chunks_exact(dim.max(1))).enumerate() {
        let same = v.iter().zip(u).all(|(x, y)| (x * inv[row]).to_bits() == y.to_bits());
        assert!(same, "row {row}: the graph's vector is not the written one normalised");
    }
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
