//! [`WasmError`]: the one error type of the bindings, and the `kind` each error carries into JavaScript.

use snapshot::SnapshotError;
use storage_core::PersistenceError;
use vecdb::VecDbError;
use wal::WalError;

/// Every error the bindings raise. In JavaScript each one is thrown (or rejects the promise) as an `Error` whose
/// `message` is this error's text and whose `kind` property is [`WasmError::kind`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WasmError {
    /// An id that is not a safe non-negative integer number (`0..=ID_MAX`).
    #[error("invalid id: {reason}")]
    InvalidId {
        /// What is wrong with it.
        reason: String,
    },
    /// An argument of the wrong type or shape (a vector that is not numbers, metadata that is not an object of
    /// strings, numbers and booleans, an unknown metric name, an option that is not a positive integer).
    #[error("invalid argument {what}: {reason}")]
    InvalidArgument {
        /// Which argument or option.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A read (`search`, `get`, `stats`, ...) was made while a write was pending (called, its promise not yet
    /// settled): await the write first.
    #[error("a write is pending: await it before reading (reads are synchronous and see only finished writes)")]
    Busy,
    /// More writes are queued than [`crate::PENDING_WRITES_MAX`]: await some before starting more.
    #[error("{pending} writes are already queued; the limit is {limit}")]
    TooManyPendingWrites {
        /// Writes queued when this one was refused.
        pending: usize,
        /// The limit.
        limit: usize,
    },
    /// The database was closed (`close()`), or a failed open left no database behind.
    #[error("the database is closed; open it again")]
    Closed,
    /// The database refused the call (bad input, a limit, a storage failure, recovery).
    #[error("{0}")]
    VecDb(#[from] VecDbError),
    /// IndexedDB itself failed outside the database (opening or deleting it).
    #[error("storage: {0}")]
    Storage(#[from] PersistenceError),
}

impl WasmError {
    /// The error's `kind` in JavaScript: the variant's name, and for [`WasmError::VecDb`] the name of the
    /// [`VecDbError`] variant inside (`"DimensionMismatch"`, `"UnknownId"`, `"Filter"`, `"Durability"`, ...).
    /// [`WasmError::TooManyPendingWrites`] is `"LimitExceeded"`, like every other limit.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidId { .. } => "InvalidId",
            Self::InvalidArgument { .. } => "InvalidArgument",
            Self::Busy => "Busy",
            Self::TooManyPendingWrites { .. } => "LimitExceeded",
            Self::Closed => "Closed",
            Self::VecDb(error) => vecdb_kind(error),
            Self::Storage(_) => "Storage",
        }
    }

    /// For a storage failure anywhere in the chain of causes (also inside the log or a snapshot), the name of the
    /// innermost [`PersistenceError`] variant: `"DiskFull"` (the browser's quota), `"Locked"`, `"Poisoned"`,
    /// `"Corrupted"`, `"Backend"`, ... In JavaScript this is the error's `storageKind` property.
    pub fn storage_kind(&self) -> Option<&'static str> {
        // The chain is walked by type, not through `std::error::Error::source`: a `&dyn Error` would pull every
        // error type's `Debug` (a supertrait, so in each vtable) into the wasm module.
        let storage = match self {
            Self::Storage(error)
            | Self::VecDb(
                VecDbError::Storage(error)
                | VecDbError::Durability(SnapshotError::Storage(error) | SnapshotError::Wal(WalError::Storage(error))),
            ) => error,
            _ => return None,
        };
        Some(storage_kind(storage))
    }

    /// An [`WasmError::InvalidArgument`].
    pub(crate) fn argument(what: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidArgument { what, reason: reason.into() }
    }
}

/// The name of a [`VecDbError`] variant. An explicit `match` rather than the `Debug` text: `Debug` would pull
/// every nested error's `Debug` into the wasm module. `VecDbError` is `#[non_exhaustive]`: a variant added later
/// is `"VecDb"` until it is named here (a test pins every variant known today).
fn vecdb_kind(error: &VecDbError) -> &'static str {
    match error {
        VecDbError::DimensionMismatch { .. } => "DimensionMismatch",
        VecDbError::NonFiniteValue { .. } => "NonFiniteValue",
        VecDbError::ZeroVectorUnderCosine => "ZeroVectorUnderCosine",
        VecDbError::EmptyBatch => "EmptyBatch",
        VecDbError::KIsZero => "KIsZero",
        VecDbError::UnknownId { .. } => "UnknownId",
        VecDbError::DuplicateId { .. } => "DuplicateId",
        VecDbError::LimitExceeded { .. } => "LimitExceeded",
        VecDbError::InvalidConfig { .. } => "InvalidConfig",
        VecDbError::Filter(_) => "Filter",
        VecDbError::MetadataTooLarge { .. } => "MetadataTooLarge",
        VecDbError::MetadataTooManyKeys { .. } => "MetadataTooManyKeys",
        VecDbError::MetadataKeyInvalid { .. } => "MetadataKeyInvalid",
        VecDbError::MetadataStringTooLong { .. } => "MetadataStringTooLong",
        VecDbError::MetadataNonFiniteNumber { .. } => "MetadataNonFiniteNumber",
        VecDbError::Corrupt { .. } => "Corrupt",
        VecDbError::Storage(_) => "Storage",
        VecDbError::Durability(_) => "Durability",
        VecDbError::NoDatabase { .. } => "NoDatabase",
        VecDbError::StoreNotEmpty { .. } => "StoreNotEmpty",
        VecDbError::ConfigMismatch { .. } => "ConfigMismatch",
        _ => "VecDb",
    }
}

/// The name of a [`PersistenceError`] variant (see [`vecdb_kind`] for why not `Debug`).
fn storage_kind(error: &PersistenceError) -> &'static str {
    match error {
        PersistenceError::NotFound { .. } => "NotFound",
        PersistenceError::DiskFull { .. } => "DiskFull",
        PersistenceError::Locked { .. } => "Locked",
        PersistenceError::Corrupted { .. } => "Corrupted",
        PersistenceError::Poisoned { .. } => "Poisoned",
        PersistenceError::InvalidKey { .. } => "InvalidKey",
        PersistenceError::InvalidArgument { .. } => "InvalidArgument",
        PersistenceError::Unsupported { .. } => "Unsupported",
        PersistenceError::Io { .. } => "Io",
        PersistenceError::Backend { .. } => "Backend",
        _ => "Storage",
    }
}

impl From<vecdb::index::IndexError> for WasmError {
    /// The index's errors read as vecdb's variants of the same name (the same JavaScript kinds).
    fn from(error: vecdb::index::IndexError) -> Self {
        Self::VecDb(VecDbError::from(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk_full() -> PersistenceError {
        PersistenceError::DiskFull { operation: storage_core::Operation::Append, key: "wal/1".into() }
    }

    #[test]
    fn storage_failures_name_the_innermost_storage_error() {
        assert_eq!(WasmError::Storage(disk_full()).storage_kind(), Some("DiskFull"));
        assert_eq!(WasmError::from(VecDbError::Storage(disk_full())).storage_kind(), Some("DiskFull"));
        let in_the_log = VecDbError::Durability(SnapshotError::Wal(WalError::Storage(disk_full())));
        assert_eq!(WasmError::from(in_the_log).storage_kind(), Some("DiskFull"));
        let in_a_snapshot = VecDbError::Durability(SnapshotError::Storage(disk_full()));
        assert_eq!(WasmError::from(in_a_snapshot).storage_kind(), Some("DiskFull"));
        assert_eq!(WasmError::from(VecDbError::KIsZero).storage_kind(), None);
        assert_eq!(WasmError::Busy.storage_kind(), None);
    }

    #[test]
    fn every_vecdb_error_takes_its_variant_name_as_kind() {
        let filter_error = vecdb::Filter::parse("year >").err().unwrap();
        let text = String::new;
        let cases: Vec<(VecDbError, &str)> = vec![
            (VecDbError::DimensionMismatch { expected: 3, found: 2 }, "DimensionMismatch"),
            (VecDbError::NonFiniteValue { index: 0 }, "NonFiniteValue"),
            (VecDbError::ZeroVectorUnderCosine, "ZeroVectorUnderCosine"),
            (VecDbError::EmptyBatch, "EmptyBatch"),
            (VecDbError::KIsZero, "KIsZero"),
            (VecDbError::UnknownId { id: 7 }, "UnknownId"),
            (VecDbError::DuplicateId { id: 7 }, "DuplicateId"),
            (VecDbError::LimitExceeded { what: "K_MAX", value: 2000, limit: 1024 }, "LimitExceeded"),
            (VecDbError::InvalidConfig { reason: "x" }, "InvalidConfig"),
            (VecDbError::Filter(filter_error), "Filter"),
            (VecDbError::MetadataTooLarge { encoded_bytes: 1, limit_bytes: 0 }, "MetadataTooLarge"),
            (VecDbError::MetadataTooManyKeys { count: 1, limit: 0 }, "MetadataTooManyKeys"),
            (VecDbError::MetadataKeyInvalid { key: text(), reason: "x" }, "MetadataKeyInvalid"),
            (
                VecDbError::MetadataStringTooLong { key: text(), length_bytes: 1, limit_bytes: 0 },
                "MetadataStringTooLong",
            ),
            (VecDbError::MetadataNonFiniteNumber { key: text() }, "MetadataNonFiniteNumber"),
            (VecDbError::Corrupt { offset: 0, reason: "x" }, "Corrupt"),
            (VecDbError::Storage(disk_full()), "Storage"),
            (VecDbError::Durability(SnapshotError::Storage(disk_full())), "Durability"),
            (VecDbError::NoDatabase { location: text() }, "NoDatabase"),
            (VecDbError::StoreNotEmpty { location: text(), key_count: 1, holds_database: false }, "StoreNotEmpty"),
            (VecDbError::ConfigMismatch { field: "index.m", stored: text(), requested: text() }, "ConfigMismatch"),
        ];
        for (error, kind) in cases {
            assert_eq!(WasmError::from(error).kind(), kind);
        }
    }

    #[test]
    fn every_storage_error_names_its_variant() {
        use storage_core::Operation;
        let key = String::new;
        let cases: Vec<(PersistenceError, &str)> = vec![
            (PersistenceError::NotFound { operation: Operation::Read, key: key() }, "NotFound"),
            (disk_full(), "DiskFull"),
            (PersistenceError::Locked { location: key() }, "Locked"),
            (PersistenceError::Corrupted { key: key(), offset: 0, reason: key() }, "Corrupted"),
            (PersistenceError::Poisoned { operation: Operation::Sync, key: key(), cause: key() }, "Poisoned"),
            (
                PersistenceError::InvalidArgument { operation: Operation::Truncate, key: key(), reason: key() },
                "InvalidArgument",
            ),
            (PersistenceError::Unsupported { operation: Operation::Lock, backend: "x" }, "Unsupported"),
            (
                PersistenceError::Io { operation: Operation::Append, key: key(), source: std::io::Error::other("x") },
                "Io",
            ),
            (PersistenceError::Backend { operation: Operation::Open, key: key(), message: key() }, "Backend"),
        ];
        for (error, kind) in cases {
            assert_eq!(WasmError::Storage(error).storage_kind(), Some(kind));
        }
    }

    #[test]
    fn binding_errors_have_their_own_kinds() {
        assert_eq!(WasmError::InvalidId { reason: "x".into() }.kind(), "InvalidId");
        assert_eq!(WasmError::argument("vector", "x").kind(), "InvalidArgument");
        assert_eq!(WasmError::Busy.kind(), "Busy");
        assert_eq!(WasmError::Closed.kind(), "Closed");
        assert_eq!(WasmError::TooManyPendingWrites { pending: 1, limit: 1 }.kind(), "LimitExceeded");
        assert_eq!(WasmError::Storage(disk_full()).kind(), "Storage");
    }

    #[test]
    fn the_message_is_the_database_errors_own_text() {
        let error = WasmError::from(VecDbError::UnknownId { id: 7 });
        assert_eq!(error.to_string(), VecDbError::UnknownId { id: 7 }.to_string());
    }
}
