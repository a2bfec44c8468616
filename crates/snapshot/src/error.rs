//! [`SnapshotError`]: the snapshot crate's one error type.

use storage_core::PersistenceError;

/// A snapshot that `load_latest` passed over, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedSnapshot {
    /// Its key.
    pub key: String,
    /// The LSN its name claims.
    pub lsn: u64,
    /// Why it was not used.
    pub reason: String,
}

/// Every way saving, loading or recovering a snapshot can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] PersistenceError),
    /// A snapshot's bytes failed validation.
    #[error("snapshot {key:?} is corrupted at byte {offset}: {reason}")]
    Corrupted {
        /// The snapshot's key (empty when parsing bytes with no key).
        key: String,
        /// Where.
        offset: u64,
        /// What.
        reason: String,
    },
    /// The snapshot was written by a newer format than this code reads.
    #[error("snapshot format version {found} is not supported (this build reads version 1)")]
    UnsupportedVersion {
        /// The version found.
        found: u16,
    },
    /// A section the state needs is missing.
    #[error("the snapshot has no section tagged {tag}")]
    MissingSection {
        /// The tag.
        tag: u32,
    },
    /// The snapshot was written by another kind of state.
    #[error("the snapshot was written by {found:?}, not {expected:?}")]
    ProducerMismatch {
        /// The producer this state expects.
        expected: String,
        /// The producer the snapshot names.
        found: String,
    },
    /// The state decoded from a snapshot does not hash to the digest stored with it.
    #[error("state digest mismatch in {key:?}: stored {stored}, recomputed {computed}")]
    DigestMismatch {
        /// The snapshot's key.
        key: String,
        /// The stored digest.
        stored: crate::StateDigest,
        /// The digest of the loaded state.
        computed: crate::StateDigest,
    },
    /// A section's content is not a valid state (reported by the state's decoder).
    #[error("snapshot {key:?}: invalid state: {reason}")]
    Decode {
        /// The snapshot's key (empty when parsing bytes with no key).
        key: String,
        /// What.
        reason: String,
    },
    /// Snapshots exist but none of them is valid. Nothing is loaded: the database is not silently empty.
    #[error("all {} snapshots are corrupt: {}", skipped.len(), describe(skipped))]
    AllCorrupt {
        /// Each snapshot tried and why it was rejected, newest first.
        skipped: Vec<SkippedSnapshot>,
    },
    /// The state could not be encoded (a bug in the state's encoder, or a limit).
    #[error("cannot encode the snapshot: {reason}")]
    Encode {
        /// What.
        reason: String,
    },
    /// The snapshot would exceed [`crate::format::SNAPSHOT_BYTES_MAX`].
    #[error("the snapshot is {size_bytes} bytes; the limit is {limit_bytes}")]
    TooLarge {
        /// Its size.
        size_bytes: u64,
        /// The limit.
        limit_bytes: u64,
    },
    /// An option is out of range.
    #[error("invalid option: {reason}")]
    InvalidOption {
        /// What.
        reason: String,
    },
    /// The write-ahead log failed.
    #[error(transparent)]
    Wal(#[from] wal::WalError),
    /// The log no longer holds the operations right after the newest valid snapshot (it was truncated past it, or
    /// every snapshot that covered the gap is gone or corrupt). Nothing is loaded: the state would be missing
    /// acknowledged operations.
    #[error(
        "the log starts at LSN {first_log_lsn} but the state needs LSN {needed_lsn} onwards \
         (snapshot LSN {snapshot_lsn:?}); acknowledged operations would be lost"
    )]
    LogGap {
        /// The snapshot used, if any.
        snapshot_lsn: Option<u64>,
        /// The first LSN needed from the log.
        needed_lsn: u64,
        /// The first LSN the log holds.
        first_log_lsn: u64,
    },
    /// The log ends before the snapshot's LSN: its newest records are missing, and new records would reuse LSNs.
    #[error("the log's next LSN is {next_log_lsn} but the snapshot covers LSN {snapshot_lsn}: the log lost records")]
    LogBehindSnapshot {
        /// The snapshot's LSN.
        snapshot_lsn: u64,
        /// The LSN the log would give the next record.
        next_log_lsn: u64,
    },
    /// A logged operation could not be decoded during replay.
    #[error("the operation at LSN {lsn} cannot be decoded: {reason}")]
    UndecodableOperation {
        /// Its LSN.
        lsn: u64,
        /// Why.
        reason: String,
    },
    /// An earlier write failed, so the in-memory state may be ahead of or behind what is durable. Every write fails
    /// until the store is reopened, which recovers from what is durable.
    #[error("the durable state is poisoned by an earlier failure ({cause}); reopen it to recover")]
    Poisoned {
        /// The first failure.
        cause: String,
    },
}

fn describe(skipped: &[SkippedSnapshot]) -> String {
    skipped.iter().map(|s| format!("{} ({})", s.key, s.reason)).collect::<Vec<_>>().join("; ")
}

impl SnapshotError {
    /// Names the key in errors raised while parsing bytes that had no key attached.
    pub fn in_key(self, snapshot_key: &str) -> Self {
        match self {
            Self::Corrupted { offset, reason, .. } => Self::Corrupted { key: snapshot_key.to_owned(), offset, reason },
            Self::Decode { reason, .. } => Self::Decode { key: snapshot_key.to_owned(), reason },
            other => other,
        }
    }

    /// True for errors that say the stored bytes are bad (so an older snapshot may still serve), as opposed to
    /// storage failures, which must stop the caller.
    pub fn is_bad_snapshot(&self) -> bool {
        matches!(
            self,
            Self::Corrupted { .. }
                | Self::UnsupportedVersion { .. }
                | Self::MissingSection { .. }
                | Self::ProducerMismatch { .. }
                | Self::DigestMismatch { .. }
                | Self::Decode { .. }
        )
    }
}
