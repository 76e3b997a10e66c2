//! The payload of one WAL record: an atomic batch of writes to one collection.
//!
//! Layout (little endian; the WAL crate frames it with length and crc32c):
//!
//! ```text
//! u8   payload format (1)
//! u64  collection id
//! u32  op count (1..=BATCH_DOCS_MAX)
//! ops: u8 kind (1 = put, 2 = delete), u16 id length + UTF-8 id,
//!      put only: u32 dimension + f32 × dimension, metadata
//! metadata: u32 field count, then (u16 key length + key, value) per field
//! value: u8 tag: 0 null, 1 false, 2 true, 3 i64, 4 f64 bits, 5 u32 length + UTF-8,
//!        6 u32 count + values
//! ```

use std::collections::BTreeMap;

use crate::codec::{DecodeError, Reader, Writer};
use crate::model::document::metadata_bytes;
use crate::model::limits::{BATCH_DOCS_MAX, DIMENSION_MAX, ID_BYTES_MAX};
use crate::{Document, Value};

const PAYLOAD_FORMAT: u8 = 1;

/// One write inside a batch.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum WalOp {
    Put { id: String, vector: Vec<f32>, metadata: BTreeMap<String, Value> },
    Delete { id: String },
}

/// A decoded WAL payload.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct WalBatch {
    pub collection_id: u64,
    pub ops: Vec<WalOp>,
}

fn header(collection_id: u64, ops: usize, bytes: usize) -> Writer {
    assert!(ops > 0 && ops <= BATCH_DOCS_MAX, "batch size checked by caller");
    let mut w = Writer { buf: Vec::with_capacity(13 + bytes) };
    w.u8(PAYLOAD_FORMAT);
    w.u64(collection_id);
    w.u32(ops as u32);
    w
}

fn put_op(w: &mut Writer, id: &str, vector: &[f32], metadata: &BTreeMap<String, Value>) {
    w.u8(1);
    w.str16(id);
    w.f32s(vector);
    w.metadata(metadata);
}

pub(crate) fn encode(collection_id: u64, ops: &[WalOp]) -> Vec<u8> {
    let mut w = header(collection_id, ops.len(), ops.iter().map(encoded_len).sum());
    for op in ops {
        match op {
            WalOp::Put { id, vector, metadata } => put_op(&mut w, id, vector, metadata),
            WalOp::Delete { id } => {
                w.u8(2);
                w.str16(id);
            }
        }
    }
    w.buf
}

/// Encodes puts straight from documents (no intermediate copies of vectors).
pub(crate) fn encode_puts(collection_id: u64, docs: &[Document]) -> Vec<u8> {
    let mut w = header(collection_id, docs.len(), docs.iter().map(put_len).sum());
    docs.iter().for_each(|d| put_op(&mut w, &d.id, &d.vector, &d.metadata));
    w.buf
}

/// Encoded size of a put of `doc`.
pub(crate) fn put_len(doc: &Document) -> usize {
    // kind, id length, dimension: the framing around the document's payload.
    1 + 2 + 4 + doc.payload_bytes()
}

/// Decodes a payload; any malformed byte is an error, never a panic.
/// The collection a payload belongs to, read from its first bytes without
/// decoding the ops (recovery skips records of dropped or flushed
/// collections this way); `None` if the bytes are too short or of an
/// unknown payload format — the full decode then reports why.
pub(crate) fn peek_collection_id(bytes: &[u8]) -> Option<u64> {
    let mut r = Reader::new(bytes);
    (r.u8().ok()? == PAYLOAD_FORMAT).then_some(())?;
    r.u64().ok()
}

pub(crate) fn decode(bytes: &[u8]) -> Result<WalBatch, DecodeError> {
    let mut r = Reader::new(bytes);
    let format = r.u8()?;
    if format != PAYLOAD_FORMAT {
        return Err(DecodeError { offset: 0, detail: format!("unknown payload format {format}") });
    }
    let collection_id = r.u64()?;
    let n = r.u32()? as usize;
    if n == 0 || n > BATCH_DOCS_MAX || n > r.remaining() {
        return Err(r.err(format!("bad op count {n}")));
    }
    let mut ops = Vec::with_capacity(n);
    for _ in 0..n {
        let kind = r.u8()?;
        let id = r.str16()?;
        if id.is_empty() || id.len() > ID_BYTES_MAX {
            return Err(r.err("bad document id"));
        }
        ops.push(match kind {
            1 => WalOp::Put { id, vector: r.f32s(DIMENSION_MAX)?, metadata: r.metadata()? },
            2 => WalOp::Delete { id },
            k => return Err(r.err(format!("unknown op kind {k}"))),
        });
    }
    if r.remaining() != 0 {
        return Err(r.err("trailing bytes"));
    }
    Ok(WalBatch { collection_id, ops })
}

/// Bytes `op` adds to an encoded batch (to enforce the batch size limit before encoding).
pub(crate) fn encoded_len(op: &WalOp) -> usize {
    match op {
        WalOp::Put { id, vector, metadata } => 1 + 2 + id.len() + 4 + vector.len() * 4 + metadata_bytes(metadata),
        WalOp::Delete { id } => 1 + 2 + id.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::bytes::tests::arb_value;
    use proptest::prelude::*;

    fn arb_op() -> impl Strategy<Value = WalOp> {
        prop_oneof![
            (
                "[a-z0-9]{1,20}",
                proptest::collection::vec(-1e6f32..1e6, 0..16),
                proptest::collection::btree_map("[a-z]{1,5}", arb_value(), 0..4)
            )
                .prop_map(|(id, vector, metadata)| WalOp::Put { id, vector, metadata }),
            "[a-z0-9]{1,20}".prop_map(|id| WalOp::Delete { id }),
        ]
    }

    proptest! {
        #[test]
        fn wal_payload_round_trips(cid in any::<u64>(), ops in proptest::collection::vec(arb_op(), 1..8)) {
            let bytes = encode(cid, &ops);
            prop_assert_eq!(bytes.len(), 13 + ops.iter().map(encoded_len).sum::<usize>());
            let back = decode(&bytes).unwrap();
            prop_assert_eq!(back, WalBatch { collection_id: cid, ops });
        }

        #[test]
        fn truncated_payload_is_an_error(ops in proptest::collection::vec(arb_op(), 1..4), cut in any::<prop::sample::Index>()) {
            let bytes = encode(1, &ops);
            let cut = cut.index(bytes.len());
            prop_assert!(decode(&bytes[..cut]).is_err());
        }

        #[test]
        fn arbitrary_payload_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }
    }
}
