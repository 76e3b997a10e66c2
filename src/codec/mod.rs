//! The byte codecs of the `vego` crate: the bounded little-endian reader and
//! writer every on-disk structure is built from, the WAL payload, the
//! collection config record, and the one table of distance codes. Codecs
//! know bytes and the model's vocabulary, nothing of the engine.

pub(crate) mod bytes;
pub(crate) mod config;
pub(crate) mod distance;
pub(crate) mod wal_record;

pub use bytes::DecodeError;
pub(crate) use bytes::{Reader, Writer};
