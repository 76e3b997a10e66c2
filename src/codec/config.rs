//! A collection's configuration as the manifest stores it: every index
//! parameter resolved, so a reopened collection never re-derives other M/ef
//! values than it was built with.

use std::path::Path;
use std::time::Duration;

use vego_manifest::CollectionRecordConfig;

use crate::codec::distance;
use crate::model::options::IndexParams;
use crate::{CollectionConfig, Durability, Error, Quantization, Result};

/// The record of `cfg` with the resolved parameters `p`.
pub(crate) fn config_to_record(cfg: &CollectionConfig, p: IndexParams) -> CollectionRecordConfig {
    let (durability, durability_interval_ms) = match cfg.durability {
        Durability::Sync => (0, 0),
        Durability::Periodic(d) => (1, d.as_millis().max(1) as u64),
        Durability::None => (2, 0),
    };
    CollectionRecordConfig {
        dimension: cfg.dimension as u32,
        distance: distance::code(cfg.distance),
        m: p.m as u32,
        ef_construction: p.ef_construction as u32,
        ef_search: p.ef_search as u32,
        durability,
        durability_interval_ms,
        memtable_bytes: cfg.memtable_bytes_limit(),
        quantization: match cfg.quantization {
            Quantization::None => 0,
            Quantization::Int8 => 1,
        },
    }
}

/// The persisted record back to a config with every parameter explicit, so a
/// reopened collection never re-derives different M/ef values.
pub(crate) fn config_from_record(manifest: &Path, r: &CollectionRecordConfig) -> Result<CollectionConfig> {
    // A code this build does not know was written by a newer one.
    let unknown = |found: u8, supported: u8| Error::IncompatibleFormat {
        file: manifest.to_path_buf(),
        found: found.into(),
        supported: supported.into(),
    };
    let distance = distance::from_code(r.distance).ok_or_else(|| unknown(r.distance, distance::CODE_MAX))?;
    let durability = match r.durability {
        0 => Durability::Sync,
        1 => Durability::Periodic(Duration::from_millis(r.durability_interval_ms)),
        2 => Durability::None,
        other => return Err(unknown(other, 2)),
    };
    let quantization = match r.quantization {
        0 => Quantization::None,
        1 => Quantization::Int8,
        other => return Err(unknown(other, 1)),
    };
    Ok(CollectionConfig {
        dimension: r.dimension as usize,
        distance,
        m: Some(r.m as usize),
        ef_construction: Some(r.ef_construction as usize),
        ef_search: Some(r.ef_search as usize),
        expected_size: None,
        adaptive: false,
        durability,
        memtable_bytes: Some(r.memtable_bytes),
        quantization,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Distance;

    #[test]
    fn config_record_round_trips_with_resolved_parameters() {
        let cfg = CollectionConfig::new(384).distance(Distance::Cosine).durability(Durability::None);
        let p = cfg.index_params();
        let back = config_from_record(Path::new("MANIFEST"), &config_to_record(&cfg, p)).unwrap();
        assert_eq!(back.dimension, 384);
        assert_eq!(back.distance, Distance::Cosine);
        assert_eq!(back.durability, Durability::None);
        assert_eq!(back.index_params(), p);
    }

    #[test]
    fn an_unknown_distance_code_is_an_incompatible_format() {
        let mut r = config_to_record(&CollectionConfig::new(4), CollectionConfig::new(4).index_params());
        r.distance = distance::CODE_MAX + 1;
        let e = config_from_record(Path::new("MANIFEST-1"), &r).unwrap_err();
        assert!(matches!(e, Error::IncompatibleFormat { found: 3, .. }), "{e}");
        r.distance = 0;
        r.quantization = 7;
        assert!(matches!(config_from_record(Path::new("M"), &r), Err(Error::IncompatibleFormat { found: 7, .. })));
    }
}
