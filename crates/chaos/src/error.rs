//! [`ChaosError`]: the crate's one error type. A failed *check* is not an error: it is a
//! [`crate::PrefixViolation`] counted in a [`crate::ScenarioSummary`]. Errors are for a campaign that could not run.

use storage_core::PersistenceError;

/// Why a scenario could not run (as opposed to running and finding a violation).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChaosError {
    /// An operating-system call of the harness failed (spawning the writer, creating the work directory, a pipe).
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The storage layer failed where the harness itself needed it (outside the checked workload).
    #[error("storage: {0}")]
    Storage(#[from] PersistenceError),
    /// The write-ahead log failed where the harness itself needed it.
    #[error("wal: {0}")]
    Wal(#[from] wal::WalError),
    /// The snapshot layer failed where the harness itself needed it.
    #[error("snapshot: {0}")]
    Snapshot(#[from] snapshot::SnapshotError),
    /// The writer process misbehaved (printed a line the protocol does not know, hung).
    #[error("writer process: {reason}")]
    Writer {
        /// What happened.
        reason: String,
    },
    /// The FUSE power-loss file system could not be mounted or unmounted.
    #[error("power-loss file system: {reason}")]
    Fuse {
        /// What happened.
        reason: String,
    },
    /// The command line was not understood.
    #[error("usage: {reason}")]
    Usage {
        /// What was wrong.
        reason: String,
    },
}

impl ChaosError {
    /// An [`Self::Io`] error with its context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}
