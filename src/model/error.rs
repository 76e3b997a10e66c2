//! The one error type of the public API.

use std::path::PathBuf;

/// Everything that can go wrong in Vego. Bad input is reported before anything
/// changes; damaged files name the file and the byte offset.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A vector's length differs from the collection's dimension.
    #[error("dimension mismatch: expected {expected}, got {got}")]
    DimensionMismatch {
        /// The collection's dimension.
        expected: usize,
        /// The length passed in.
        got: usize,
    },
    /// An argument is invalid (the message says which and why).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The document id does not exist (e.g. `update` of a missing id).
    #[error("document not found: {0}")]
    NotFound(String),
    /// The document id or collection name already exists.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// An optimistic-concurrency check failed: the stored version differs.
    #[error("version conflict on {id}: expected {expected}, found {found}")]
    Conflict {
        /// The document id.
        id: String,
        /// The version the caller expected.
        expected: u64,
        /// The version found (0 = absent).
        found: u64,
    },
    /// No collection of that name.
    #[error("collection not found: {0}")]
    CollectionNotFound(String),
    /// A file failed validation.
    #[error("corruption in {file} at offset {offset}: {detail}")]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What was wrong.
        detail: String,
    },
    /// A file was written by a format version this build cannot read.
    #[error("{file}: format version {found} is not supported (supported: {supported})")]
    IncompatibleFormat {
        /// The file.
        file: PathBuf,
        /// Version found.
        found: u16,
        /// Version supported.
        supported: u16,
    },
    /// The database or collection was closed or dropped.
    #[error("database or collection is closed")]
    Closed,
    /// Another process (or another `Db` in this process) holds the database lock.
    #[error("database {path} is locked by another process")]
    Locked {
        /// The database directory.
        path: PathBuf,
    },
    /// The directory exists, is not empty, and holds no Vego database.
    #[error("{path} is not a Vego database")]
    NotADatabase {
        /// The directory.
        path: PathBuf,
    },
    /// A write or fsync failed earlier; writes are refused until the database is reopened
    /// (data that was acknowledged is safe; whether in-flight writes survived is unknown).
    #[error("write path poisoned by an earlier I/O failure: {0}")]
    Poisoned(String),
    /// An operating-system I/O error.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Result alias of the public API.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}

pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

impl From<vego_manifest::Error> for Error {
    fn from(e: vego_manifest::Error) -> Self {
        use vego_manifest::Error as M;
        match e {
            M::Io { path, source } => Error::Io { path, source },
            M::Corruption { file, offset, detail } => Error::Corruption { file, offset, detail },
            M::IncompatibleFormat { file, found, supported } => Error::IncompatibleFormat { file, found, supported },
            M::Missing(path) => Error::NotADatabase { path },
            M::Rejected(msg) => Error::InvalidArgument(msg),
            other => Error::Poisoned(other.to_string()),
        }
    }
}

impl From<vego_wal::Error> for Error {
    fn from(e: vego_wal::Error) -> Self {
        use vego_wal::Error as W;
        match e {
            W::Io { path, source } => Error::Io { path, source },
            W::Corruption { file, offset, detail } => Error::Corruption { file, offset, detail },
            W::IncompatibleFormat { file, found, supported } => Error::IncompatibleFormat { file, found, supported },
            W::Poisoned(why) => Error::Poisoned(why),
            W::RecordTooLarge { bytes, max } => {
                Error::InvalidArgument(format!("write of {bytes} bytes exceeds the {max}-byte WAL record limit"))
            }
            W::Closed => Error::Closed,
            other => Error::Poisoned(other.to_string()),
        }
    }
}
