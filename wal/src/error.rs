//! The crate's error type.

use std::path::PathBuf;

/// Errors returned by the write-ahead log.
#[non_exhaustive]
#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// An I/O call failed. `path` is the file or directory involved.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// File or directory the failing call touched.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes that were durable are not valid: the log cannot be trusted and
    /// open refuses to guess. `offset` is the byte offset within `file`.
    #[error("corrupt log file {file} at offset {offset}: {detail}")]
    Corruption {
        /// The corrupt file.
        file: PathBuf,
        /// Byte offset of the first bad byte range.
        offset: u64,
        /// Human-readable explanation.
        detail: String,
    },
    /// The file was written by an incompatible (newer) major format version.
    #[error("log file {file} has format major version {found}; this build supports {supported}")]
    IncompatibleFormat {
        /// The file.
        file: PathBuf,
        /// Major version found in the header.
        found: u16,
        /// Major version this build reads and writes.
        supported: u16,
    },
    /// A write or fsync failed earlier in a way that leaves the durable state
    /// unknown; the log refuses all further writes until it is reopened (which
    /// re-reads what actually reached the disk). Retrying an fsync after a
    /// failure is unsafe because the kernel may have dropped the dirty pages
    /// ("fsyncgate").
    #[error("write-ahead log is poisoned: {0}")]
    Poisoned(String),
    /// A payload exceeds [`crate::RECORD_BYTES_MAX`].
    #[error("record of {bytes} bytes exceeds maximum of {max}")]
    RecordTooLarge {
        /// Payload size offered.
        bytes: u64,
        /// The maximum ([`crate::RECORD_BYTES_MAX`]).
        max: u64,
    },
    /// The log has been closed (or its writer thread has exited).
    #[error("write-ahead log is closed")]
    Closed,
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

/// A cloneable description of a failure, so one failed batch can hand an
/// equivalent [`Error`] to each of its tickets (`io::Error` is not `Clone`).
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// An I/O failure that did not poison the log.
    Io { path: PathBuf, kind: std::io::ErrorKind, message: String },
    /// The log is poisoned.
    Poisoned(String),
    /// The writer is gone.
    Closed,
}

impl Failure {
    /// Captures an I/O error for later fan-out.
    pub(crate) fn from_io(path: &std::path::Path, e: &std::io::Error) -> Self {
        Failure::Io { path: path.to_path_buf(), kind: e.kind(), message: e.to_string() }
    }

    /// Builds a fresh [`Error`] equivalent to this failure.
    pub(crate) fn to_error(&self) -> Error {
        match self {
            Failure::Io { path, kind, message } => Error::io(path.clone(), std::io::Error::new(*kind, message.clone())),
            Failure::Poisoned(m) => Error::Poisoned(m.clone()),
            Failure::Closed => Error::Closed,
        }
    }
}
