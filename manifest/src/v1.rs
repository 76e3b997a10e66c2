//! Reading manifests of format 1 (before collections recorded their
//! quantization), so databases written by earlier builds open and are
//! rewritten in the current format by their next edit.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{CollectionEntry, CollectionRecordConfig, ManifestState, SegmentEntry};

/// The major version this module reads.
pub(crate) const MAJOR: u16 = 1;

#[derive(Deserialize)]
pub(crate) struct StateV1 {
    version: u64,
    next_collection_id: u64,
    next_file_id: u64,
    last_seq: u64,
    wal_checkpoint_seq: u64,
    collections: BTreeMap<String, EntryV1>,
}

#[derive(Deserialize)]
struct EntryV1 {
    id: u64,
    config: ConfigV1,
    flushed_seq: u64,
    segments: Vec<SegmentEntry>,
}

#[derive(Deserialize)]
struct ConfigV1 {
    dimension: u32,
    distance: u8,
    m: u32,
    ef_construction: u32,
    ef_search: u32,
    durability: u8,
    durability_interval_ms: u64,
    memtable_bytes: u64,
}

impl From<StateV1> for ManifestState {
    fn from(s: StateV1) -> ManifestState {
        let collections = s
            .collections
            .into_iter()
            .map(|(name, e)| {
                let c = e.config;
                let config = CollectionRecordConfig {
                    dimension: c.dimension,
                    distance: c.distance,
                    m: c.m,
                    ef_construction: c.ef_construction,
                    ef_search: c.ef_search,
                    durability: c.durability,
                    durability_interval_ms: c.durability_interval_ms,
                    memtable_bytes: c.memtable_bytes,
                    quantization: 0,
                };
                (name, CollectionEntry { id: e.id, config, flushed_seq: e.flushed_seq, segments: e.segments })
            })
            .collect();
        ManifestState {
            version: s.version,
            next_collection_id: s.next_collection_id,
            next_file_id: s.next_file_id,
            last_seq: s.last_seq,
            wal_checkpoint_seq: s.wal_checkpoint_seq,
            collections,
        }
    }
}
