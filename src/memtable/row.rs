//! A stored document version in the memtable.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::hnsw::{normalize, Metric};
use crate::{Document, Value};

pub(crate) struct Row {
    pub seq: u64,
    pub id: Arc<str>,
    /// Exactly as the caller gave it (cosine normalisation is for the graph only).
    pub vector: Box<[f32]>,
    pub metadata: BTreeMap<String, Value>,
    /// Seq of the version that replaced or deleted this one; `u64::MAX` while newest.
    pub superseded_at: AtomicU64,
}

impl Row {
    pub fn new(seq: u64, id: Arc<str>, vector: Vec<f32>, metadata: BTreeMap<String, Value>) -> Row {
        Row { seq, id, vector: vector.into_boxed_slice(), metadata, superseded_at: AtomicU64::new(u64::MAX) }
    }

    /// Is this the version a snapshot at `s` sees?
    #[inline]
    pub fn visible_at(&self, s: u64) -> bool {
        self.seq <= s && s < self.superseded_at.load(Ordering::Acquire)
    }

    /// The vector as the graph stores it.
    pub fn index_vector(&self, metric: Metric) -> Vec<f32> {
        let mut v = Vec::with_capacity(self.vector.len());
        self.index_vector_into(metric, &mut v);
        v
    }

    /// [`Row::index_vector`] into a reused buffer (exact scans of many rows).
    pub fn index_vector_into(&self, metric: Metric, out: &mut Vec<f32>) {
        out.clear();
        out.extend_from_slice(&self.vector);
        if metric == Metric::Cosine {
            normalize(out);
        }
    }

    /// The document with only what a search asked for.
    pub fn project(&self, with_vector: bool, fields: Option<&[String]>) -> Document {
        Document {
            id: self.id.to_string(),
            vector: if with_vector { self.vector.to_vec() } else { Vec::new() },
            metadata: match fields {
                None => self.metadata.clone(),
                Some(f) => {
                    self.metadata.iter().filter(|(k, _)| f.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
                }
            },
            version: self.seq,
        }
    }

    pub fn document(&self, version: u64) -> Document {
        Document { id: self.id.to_string(), vector: self.vector.to_vec(), metadata: self.metadata.clone(), version }
    }
}

/// Rough heap footprint of a document, for memtable accounting.
pub(crate) fn approx_bytes(doc: &Document) -> usize {
    std::mem::size_of::<Row>() + doc.payload_bytes()
}
