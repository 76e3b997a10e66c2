//! `vego-manifest`: the versioned catalogue of a Vego database.
//!
//! A manifest version records which collections exist, their configuration,
//! the segment files each one owns, and the write-ahead-log checkpoint. Every
//! edit produces a new, higher-numbered version that is persisted atomically
//! before it is published:
//!
//! 1. encode the whole state into `MANIFEST-<version>.tmp` (framed, checksummed),
//! 2. fsync the temp file, 3. rename it to `MANIFEST-<version>`,
//! 4. fsync the directory, 5. publish in memory through [`arc_swap::ArcSwap`],
//! 6. delete older versions.
//!
//! A crash before step 4 leaves the previous version as the newest complete
//! file; temp files are removed at open. Open picks the newest complete version;
//! if that one fails its checksum the store reports [`Error::Corruption`] rather
//! than silently falling back to an older catalogue (which would forget
//! collections or files).
//!
//! ```
//! # fn main() -> vego_manifest::Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let m = vego_manifest::Manifest::create(dir.path())?;
//! m.edit(|s| { s.last_seq = 7; Ok(()) })?;
//! let reopened = vego_manifest::Manifest::open(dir.path())?;
//! assert_eq!(reopened.current().last_seq, 7);
//! # Ok(()) }
//! ```

mod codec;
mod error;
mod persist;
mod state;
mod v1;

pub use codec::{decode, encode, FORMAT_MAJOR, FORMAT_MINOR, MAGIC, MANIFEST_BYTES_MAX};
pub use error::{Error, Result};
pub use persist::{is_database_dir, Manifest, MANIFEST_PREFIX};
pub use state::{CollectionEntry, CollectionRecordConfig, ManifestState, SegmentEntry};
