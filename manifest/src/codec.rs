//! Byte framing of a manifest file. Layout (little endian), see docs/FORMAT.md:
//!
//! ```text
//! 0   magic      8  b"VEGOMANI"
//! 8   major      u16
//! 10  minor      u16
//! 12  reserved   u32 (0)
//! 16  version    u64 (equals the state's version and the file name)
//! 24  body_len   u32
//! 28  body       body_len bytes: bincode 2, standard config, fixed-int, little endian
//! ..  crc32c     u32 over bytes [0, 28 + body_len)
//! ```

use std::path::Path;

use crate::{Error, ManifestState, Result};

/// File magic.
pub const MAGIC: &[u8; 8] = b"VEGOMANI";
/// Major format version written by this build (2: collections record their
/// quantization). Format 1 is still read.
pub const FORMAT_MAJOR: u16 = 2;
/// Minor format version written by this build (readers accept any minor).
pub const FORMAT_MINOR: u16 = 0;
/// Upper bound on a manifest body; larger lengths are corruption.
pub const MANIFEST_BYTES_MAX: u32 = 64 << 20;

const HEADER_BYTES: usize = 28;
const CRC_BYTES: usize = 4;

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<{ MANIFEST_BYTES_MAX as usize }>()
}

/// Encodes a state into the framed file bytes.
pub fn encode(state: &ManifestState) -> Vec<u8> {
    let body = bincode::serde::encode_to_vec(state, bincode_config()).expect("manifest state always encodes");
    assert!(body.len() <= MANIFEST_BYTES_MAX as usize, "manifest body over limit");
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len() + CRC_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_MAJOR.to_le_bytes());
    out.extend_from_slice(&FORMAT_MINOR.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&state.version.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes and validates framed manifest bytes read from `file` (named in errors).
pub fn decode(file: &Path, bytes: &[u8]) -> Result<ManifestState> {
    let corrupt =
        |offset: usize, detail: String| Error::Corruption { file: file.to_path_buf(), offset: offset as u64, detail };
    if bytes.len() < HEADER_BYTES + CRC_BYTES {
        return Err(corrupt(0, format!("file too short ({} bytes)", bytes.len())));
    }
    if &bytes[0..8] != MAGIC {
        return Err(corrupt(0, "bad magic".into()));
    }
    let major = u16::from_le_bytes([bytes[8], bytes[9]]);
    if major != FORMAT_MAJOR && major != crate::v1::MAJOR {
        return Err(Error::IncompatibleFormat { file: file.to_path_buf(), found: major, supported: FORMAT_MAJOR });
    }
    let version = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
    let body_len = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
    if body_len > MANIFEST_BYTES_MAX {
        return Err(corrupt(24, format!("body length {body_len} over limit")));
    }
    let end = HEADER_BYTES + body_len as usize;
    if bytes.len() != end + CRC_BYTES {
        return Err(corrupt(24, format!("length {} does not match body length {body_len}", bytes.len())));
    }
    let stored = u32::from_le_bytes(bytes[end..end + 4].try_into().unwrap());
    if crc32c::crc32c(&bytes[..end]) != stored {
        return Err(corrupt(end, "checksum mismatch".into()));
    }
    let body = &bytes[HEADER_BYTES..end];
    let undecodable = |e: bincode::error::DecodeError| corrupt(HEADER_BYTES, format!("undecodable body: {e}"));
    let (state, used): (ManifestState, usize) = if major == crate::v1::MAJOR {
        let (old, used): (crate::v1::StateV1, usize) =
            bincode::serde::decode_from_slice(body, bincode_config()).map_err(undecodable)?;
        (old.into(), used)
    } else {
        bincode::serde::decode_from_slice(body, bincode_config()).map_err(undecodable)?
    };
    if used != body_len as usize {
        return Err(corrupt(HEADER_BYTES + used, "trailing bytes in body".into()));
    }
    if state.version != version {
        return Err(corrupt(16, format!("header version {version} != body {}", state.version)));
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CollectionEntry, CollectionRecordConfig, SegmentEntry};
    use proptest::prelude::*;

    fn arb_state() -> impl Strategy<Value = ManifestState> {
        let coll = (any::<u64>(), any::<u32>(), 0u8..3, any::<u64>(), 0usize..4).prop_map(|(id, dim, d, seq, segs)| {
            CollectionEntry {
                id,
                config: CollectionRecordConfig {
                    dimension: dim,
                    distance: d,
                    m: 16,
                    ef_construction: 200,
                    ef_search: 64,
                    durability: 0,
                    durability_interval_ms: 0,
                    memtable_bytes: 1 << 26,
                    quantization: d % 2,
                },
                flushed_seq: seq,
                segments: (0..segs as u64)
                    .map(|i| SegmentEntry { file_id: i, rows: i, bytes: i, min_seq: i, max_seq: i })
                    .collect(),
            }
        });
        (any::<u64>(), any::<u64>(), any::<u64>(), proptest::collection::btree_map("[a-z]{1,8}", coll, 0..5)).prop_map(
            |(version, next, last_seq, collections)| ManifestState {
                version,
                next_collection_id: next,
                next_file_id: next,
                last_seq,
                wal_checkpoint_seq: last_seq / 2,
                collections,
            },
        )
    }

    proptest! {
        #[test]
        fn manifest_encoding_round_trips(state in arb_state()) {
            let bytes = encode(&state);
            prop_assert_eq!(decode(Path::new("m"), &bytes).unwrap(), state);
        }

        #[test]
        fn any_flipped_byte_is_detected(state in arb_state(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut bytes = encode(&state);
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            prop_assert!(decode(Path::new("m"), &bytes).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(Path::new("m"), &bytes);
        }
    }

    #[test]
    fn format_1_manifests_are_read_with_no_quantization() {
        // A format-1 database written before collections recorded their
        // quantization (checked in as a fuzz seed).
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/manifest");
        let file = dir.join("db1-MANIFEST-00000000000000000003");
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 1, "the seed is format 1");
        let state = decode(&file, &bytes).unwrap();
        assert!(!state.collections.is_empty());
        assert!(state.collections.values().all(|c| c.config.quantization == 0));
        // Re-encoded, it is format 2 and round-trips.
        let again = encode(&state);
        assert_eq!(u16::from_le_bytes([again[8], again[9]]), FORMAT_MAJOR);
        assert_eq!(decode(&file, &again).unwrap(), state);
    }

    #[test]
    fn unknown_major_version_is_incompatible() {
        let mut bytes = encode(&ManifestState::default());
        bytes[8] = 9;
        assert!(matches!(decode(Path::new("m"), &bytes), Err(Error::IncompatibleFormat { found: 9, .. })));
    }
}
