//! [`CliError`]: the command line's one error type.

use std::path::PathBuf;

/// Every way a command can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The database refused or failed.
    #[error(transparent)]
    Db(#[from] vecdb::VecDbError),
    /// The storage layer failed (on `verify`'s in-memory copy).
    #[error(transparent)]
    Storage(#[from] vecdb::storage::PersistenceError),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A dataset file is malformed.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The arguments do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// `verify` found damage that recovery cannot get past.
    #[error("verification failed: {0}")]
    Verify(String),
    /// The demo's crash check failed (a bug: acknowledged writes must never be lost).
    #[error("demo: {0}")]
    Demo(String),
}

impl CliError {
    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// A format error about `path`.
    pub fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Format { path: path.into(), reason: reason.into() }
    }
}

/// The command line's result.
pub type Result<T, E = CliError> = std::result::Result<T, E>;
