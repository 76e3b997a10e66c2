use std::path::PathBuf;

/// Errors of the manifest crate.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O call failed on `path`.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A manifest file failed validation.
    #[error("corruption in {file} at offset {offset}: {detail}")]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the first bad byte found.
        offset: u64,
        /// What was wrong.
        detail: String,
    },
    /// The manifest was written by a format this build cannot read.
    #[error("{file}: manifest format {found} is not supported (supported: {supported})")]
    IncompatibleFormat {
        /// The file.
        file: PathBuf,
        /// Major version found on disk.
        found: u16,
        /// Major version this build reads.
        supported: u16,
    },
    /// No manifest exists in the directory.
    #[error("no manifest in {0}")]
    Missing(PathBuf),
    /// The edit closure refused the edit; nothing was persisted.
    #[error("{0}")]
    Rejected(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
