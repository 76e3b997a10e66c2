//! The engine below the public handles: the state a database shares
//! (`shared`) and a collection's (`core`), where files live (`layout`), a
//! collection's layers (`layers`) and which writes readers see
//! (`visibility`); how writes are applied (`apply`, shared by the write path
//! and WAL replay) and written (`write`), how reads run (`read/`), how
//! memtables become segments (`flush`, `segment_out`) and segments merge
//! (`compaction/`), how a new version is installed (`install`), the one
//! background worker (`background`), open-time recovery (`recovery`),
//! backups (`backup`) and the WAL handle (`wal`).
//!
//! May import `model`, `codec`, `memtable`, `segment`, `hnsw` and the
//! workspace crates; never `api`.

pub(crate) mod apply;
pub(crate) mod background;
pub(crate) mod backup;
pub(crate) mod compaction;
pub(crate) mod core;
pub(crate) mod flush;
pub(crate) mod inner;
pub(crate) mod install;
pub(crate) mod layers;
pub(crate) mod layout;
pub(crate) mod lifecycle;
pub(crate) mod maintenance;
pub(crate) mod read;
pub(crate) mod recovery;
pub(crate) mod segment_out;
pub(crate) mod shared;
pub(crate) mod sync;
pub(crate) mod visibility;
pub(crate) mod wal;
pub(crate) mod write;
