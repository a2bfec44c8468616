//! [`WalError`]: the one error type of the crate.

use storage_core::PersistenceError;

use crate::format::CorruptionReason;

/// Every way a WAL call can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// The storage backend failed. When this comes from a write or a sync, the log is poisoned from then on.
    #[error("storage: {0}")]
    Storage(#[from] PersistenceError),
    /// A record (a single payload, or a batch's encoded payload) is larger than the configured limit. Nothing was
    /// written.
    #[error("a record of {length_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    RecordTooLarge {
        /// The record's payload size.
        length_bytes: u64,
        /// [`crate::WalOptions::record_bytes_max`].
        limit_bytes: u64,
    },
    /// A batch or transaction with no operation. Nothing was written.
    #[error("a batch needs at least one operation")]
    EmptyBatch,
    /// A batch or transaction with more than [`crate::format::BATCH_OPERATIONS_MAX`] operations. Nothing was written.
    #[error("a batch of {operation_count} operations exceeds the limit of {limit}")]
    BatchTooLarge {
        /// The number of operations.
        operation_count: u64,
        /// The limit.
        limit: u32,
    },
    /// Stored bytes are damaged in a way that is not a torn write (see `docs/wal.md`, "Torn tail or corruption").
    /// Opening with [`crate::RecoveryMode::SalvagePrefix`] keeps the valid prefix instead.
    #[error("corrupted log: segment {segment:?} at byte {offset}: {reason}")]
    Corrupted {
        /// The segment's key.
        segment: String,
        /// Byte offset of the bad record (0 for a bad header or a missing segment).
        offset: u64,
        /// What is wrong.
        reason: CorruptionReason,
    },
    /// An earlier write or sync failed, so the log no longer knows what is durable. Every call fails with this
    /// until the log is opened again, which recovers from the durable state.
    #[error("the log is poisoned by an earlier failure ({cause}); reopen it to recover")]
    Poisoned {
        /// The first failure, as text.
        cause: String,
    },
    /// [`crate::WalOptions`] out of range.
    #[error("invalid options: {reason}")]
    InvalidOptions {
        /// What is wrong.
        reason: String,
    },
    /// The log reached [`crate::format::LSN_MAX`].
    #[error("LSNs are exhausted")]
    LsnExhausted,
    /// The backend lists more segments than [`crate::format::SEGMENTS_MAX`].
    #[error("{count} segments exceed the limit of {limit}")]
    TooManySegments {
        /// How many were listed.
        count: usize,
        /// The limit.
        limit: usize,
    },
}

impl WalError {
    /// True for [`Self::Corrupted`].
    pub fn is_corrupted(&self) -> bool {
        matches!(self, Self::Corrupted { .. })
    }

    /// True for [`Self::Poisoned`].
    pub fn is_poisoned(&self) -> bool {
        matches!(self, Self::Poisoned { .. })
    }
}
