//! [`VecDbError`]: the one error type of the crate.

use crate::filter::FilterError;
use snapshot::SnapshotError;
use storage_core::PersistenceError;

/// Every error the crate returns.
///
/// Bad input is rejected with one of these before anything changes: a call that returns an error leaves the index
/// (and any other state it was given, a [`crate::Db`] included) exactly as it was. Storage failures come in through
/// [`VecDbError::Storage`] and [`VecDbError::Durability`]; after one of those a database may be poisoned (every
/// later write fails until it is reopened, which recovers from what is durable).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VecDbError {
    /// A vector's length is not the index's dimension.
    #[error("the vector has {found} components; the index's dimension is {expected}")]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// The length of the vector given.
        found: usize,
    },
    /// A vector component is NaN or infinite.
    #[error("component {index} of the vector is NaN or infinite")]
    NonFiniteValue {
        /// Position of the first bad component.
        index: usize,
    },
    /// Under the cosine metric a vector must have a non-zero length (it is normalized at insert).
    #[error("the vector is all zeros, which has no direction under the cosine metric")]
    ZeroVectorUnderCosine,
    /// A batch holds no items.
    #[error("the batch is empty")]
    EmptyBatch,
    /// A search asked for zero results.
    #[error("k is zero: a search must ask for at least one result")]
    KIsZero,
    /// No live vector has this id.
    #[error("no live vector has id {id}")]
    UnknownId {
        /// The id asked for.
        id: u64,
    },
    /// A live vector already has this id (to replace it, mark the old one deleted first).
    #[error("a live vector already has id {id}")]
    DuplicateId {
        /// The id given.
        id: u64,
    },
    /// A value is over one of the crate's `*_MAX` limits.
    #[error("{what} is {value}; the limit is {limit}")]
    LimitExceeded {
        /// The name of the limit's constant, e.g. `"K_MAX"`.
        what: &'static str,
        /// The value given.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// A configuration field is invalid for a reason other than a `*_MAX` limit.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: &'static str,
    },
    /// A filter expression could not be parsed.
    #[error("filter: {0}")]
    Filter(#[from] FilterError),
    /// Encoded metadata is longer than [`crate::metadata::METADATA_ENCODED_BYTES_MAX`].
    #[error("the metadata encodes to {encoded_bytes} bytes; the limit is {limit_bytes}")]
    MetadataTooLarge {
        /// The encoded size.
        encoded_bytes: usize,
        /// The limit.
        limit_bytes: usize,
    },
    /// Metadata has more keys than [`crate::metadata::METADATA_KEYS_MAX`].
    #[error("the metadata has {count} keys; the limit is {limit}")]
    MetadataTooManyKeys {
        /// The number of keys.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A metadata key is empty, too long, or not of the form `[a-z_][a-z0-9_.]*` (the filter language's field
    /// names, so every key can be filtered on).
    #[error("metadata key {key:?} is invalid: {reason}")]
    MetadataKeyInvalid {
        /// The key (cut to [`crate::metadata::METADATA_KEY_BYTES_MAX`] bytes plus a little, for the message).
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A metadata string value is longer than [`crate::metadata::METADATA_STRING_BYTES_MAX`].
    #[error("the string value of metadata key {key:?} is {length_bytes} bytes; the limit is {limit_bytes}")]
    MetadataStringTooLong {
        /// The key holding the value.
        key: String,
        /// The value's length.
        length_bytes: usize,
        /// The limit.
        limit_bytes: usize,
    },
    /// A metadata number is NaN or infinite (it could never be compared in a filter).
    #[error("the number under metadata key {key:?} is NaN or infinite")]
    MetadataNonFiniteNumber {
        /// The key holding the value.
        key: String,
    },
    /// Encoded bytes (an index or metadata) are truncated, corrupted or of an unknown version.
    #[error("corrupt encoding at byte {offset}: {reason}")]
    Corrupt {
        /// Byte offset in the input where decoding found the problem.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The storage backend failed (reading or writing the stored configuration, listing keys for statistics).
    #[error("storage: {0}")]
    Storage(#[from] PersistenceError),
    /// The durable layer failed: the write-ahead log, a snapshot, recovery, or an earlier failure that poisoned
    /// the database (reopen it to recover from what is durable).
    #[error("durability: {0}")]
    Durability(#[from] SnapshotError),
    /// The store holds no database: its configuration (`vecdb/config`) is missing.
    #[error("no database at {location}: it has no stored configuration (create one first)")]
    NoDatabase {
        /// Where (a directory, or the backend's name).
        location: String,
    },
    /// `create` was given a store that already holds a database, or other data.
    #[error("{location} is not empty ({key_count} keys{}); open the database instead, or create it elsewhere",
        if *holds_database { ", a database among them" } else { "" })]
    StoreNotEmpty {
        /// Where (a directory, or the backend's name).
        location: String,
        /// How many keys the store holds.
        key_count: usize,
        /// Whether one of them is a database configuration.
        holds_database: bool,
    },
    /// A database was opened with a configuration that differs from the one it was created with.
    #[error("the database was created with {field} = {stored}, but {requested} was asked for")]
    ConfigMismatch {
        /// The first field that differs, as named in [`crate::DbConfig`] (e.g. `"index.m"`).
        field: &'static str,
        /// The stored value.
        stored: String,
        /// The value asked for.
        requested: String,
    },
}

impl From<vecdb_index::IndexError> for VecDbError {
    /// The index's errors are the variants of the same name here.
    fn from(error: vecdb_index::IndexError) -> Self {
        use vecdb_index::IndexError;
        match error {
            IndexError::DimensionMismatch { expected, found } => Self::DimensionMismatch { expected, found },
            IndexError::NonFiniteValue { index } => Self::NonFiniteValue { index },
            IndexError::ZeroVectorUnderCosine => Self::ZeroVectorUnderCosine,
            IndexError::KIsZero => Self::KIsZero,
            IndexError::UnknownId { id } => Self::UnknownId { id },
            IndexError::DuplicateId { id } => Self::DuplicateId { id },
            IndexError::LimitExceeded { what, value, limit } => Self::LimitExceeded { what, value, limit },
            IndexError::InvalidConfig { reason } => Self::InvalidConfig { reason },
            IndexError::Corrupt { offset, reason } => Self::Corrupt { offset, reason },
            // `IndexError` is non-exhaustive; a variant added there without a twin here reads as corruption
            // rather than vanishing.
            _ => Self::Corrupt { offset: 0, reason: "an index error this version of vecdb does not know" },
        }
    }
}
