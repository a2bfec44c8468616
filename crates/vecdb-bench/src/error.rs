//! [`BenchError`]: every way preparing data, measuring or reporting can fail.

use std::path::PathBuf;

/// Every way preparing data, measuring or reporting can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// An `.npy` file is not a two-dimensional little-endian `float32` array.
    #[error("npy: {reason}")]
    Npy {
        /// What was wrong.
        reason: String,
    },
    /// Data files disagree with each other, with their manifest or with the request.
    #[error("dataset: {reason}")]
    Dataset {
        /// What was wrong.
        reason: String,
    },
    /// A results or manifest file is not valid JSON or lacks a field.
    #[error("{path}: {reason}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A plot could not be drawn.
    #[error("plot {path}: {reason}")]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// What plotters said.
        reason: String,
    },
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// vecdb rejected an operation.
    #[error(transparent)]
    VecDb(#[from] vecdb::VecDbError),
    /// The HNSW index rejected an operation.
    #[error(transparent)]
    Index(#[from] vecdb::index::IndexError),
    /// The durable layer failed.
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotError),
    /// The storage backend failed.
    #[error(transparent)]
    Storage(#[from] storage_core::PersistenceError),
}

impl BenchError {
    /// An [`BenchError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
