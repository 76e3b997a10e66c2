//! Encoders and decoders agree, and decoders never panic on any bytes.

mod common;

use proptest::prelude::*;
use vego_wal::{
    decode_file_header, decode_record, encode_file_header, encode_record, scan_file_bytes, FileRole, ScanError,
    FILE_HEADER_BYTES,
};

fn valid_file(recs: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut b = encode_file_header(1).to_vec();
    for (seq, p) in recs {
        let synced = b.len() as u64; // as if each record was fsynced (Always)
        encode_record(&mut b, *seq, synced, p);
    }
    b
}

fn arb_recs() -> impl Strategy<Value = Vec<(u64, Vec<u8>)>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..12)
        .prop_map(|ps| ps.into_iter().enumerate().map(|(i, p)| (i as u64 * 2 + 1, p)).collect())
}

proptest! {
    #![proptest_config(common::proptest_config(512))]

    #[test]
    fn record_encode_decode_round_trips(
        seq in any::<u64>(),
        synced in FILE_HEADER_BYTES as u64..u64::MAX,
        payload in prop::collection::vec(any::<u8>(), 0..4096),
        trailing in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut buf = Vec::new();
        encode_record(&mut buf, seq, synced, &payload);
        let total = buf.len();
        buf.extend_from_slice(&trailing);
        let (h, p) = decode_record(&buf).unwrap().unwrap();
        prop_assert_eq!((h.seq, h.synced_offset, h.kind), (seq, synced, 1));
        prop_assert_eq!(h.total_bytes(), total as u64);
        prop_assert_eq!(p, &payload[..]);
    }

    #[test]
    fn file_header_round_trips(n in 1u64..) {
        prop_assert_eq!(decode_file_header(&encode_file_header(n)).unwrap().file_number, n);
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_record(&bytes);
        let _ = decode_file_header(&bytes);
        let _ = scan_file_bytes(&bytes, FileRole::Last, None);
        let _ = scan_file_bytes(&bytes, FileRole::Sealed, Some(7));
        // Arbitrary bytes behind a valid header exercise the record scanner.
        let mut f = encode_file_header(1).to_vec();
        f.extend_from_slice(&bytes);
        let _ = scan_file_bytes(&f, FileRole::Last, None);
        let _ = scan_file_bytes(&f, FileRole::Sealed, None);
    }

    #[test]
    fn mutated_last_file_yields_an_original_prefix_or_corruption(
        recs in arb_recs(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..,
    ) {
        let mut b = valid_file(&recs);
        let i = at.index(b.len());
        b[i] ^= xor;
        match scan_file_bytes(&b, FileRole::Last, None) {
            Ok(scan) => {
                prop_assert!(scan.records.len() <= recs.len());
                for (r, (seq, p)) in scan.records.iter().zip(&recs) {
                    prop_assert_eq!(r.header.seq, *seq);
                    prop_assert_eq!(r.payload(&b).unwrap(), &p[..]);
                }
                // Only damage in the last record may be taken for a torn tail
                // (every earlier record is vouched for by a later watermark).
                prop_assert!(scan.records.len() + 1 >= recs.len());
            }
            Err(ScanError::Corruption { .. }) => {}
            // Magic and major version are read before the CRC, so damage to
            // the major field reads as a future format.
            Err(ScanError::IncompatibleFormat { .. }) if (8..10).contains(&i) => {}
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
        prop_assert!(scan_file_bytes(&b, FileRole::Sealed, None).is_err());
    }
}
