//! [`PersistenceError`]: the one error type of the storage layer.

use std::fmt;
use std::io;

/// The storage operation that failed, carried in every error for context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Opening or creating the store.
    Open,
    /// Taking the store's exclusive lock.
    Lock,
    /// [`crate::StorageBackend::read`].
    Read,
    /// [`crate::StorageBackend::read_range`].
    ReadRange,
    /// [`crate::StorageBackend::len`].
    Len,
    /// [`crate::StorageBackend::append`].
    Append,
    /// [`crate::StorageBackend::sync`].
    Sync,
    /// [`crate::StorageBackend::atomic_write`].
    AtomicWrite,
    /// [`crate::StorageBackend::truncate`].
    Truncate,
    /// [`crate::StorageBackend::delete`].
    Delete,
    /// [`crate::StorageBackend::list`].
    List,
}

impl fmt::Display for Operation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Open => "open",
            Self::Lock => "lock",
            Self::Read => "read",
            Self::ReadRange => "read_range",
            Self::Len => "len",
            Self::Append => "append",
            Self::Sync => "sync",
            Self::AtomicWrite => "atomic_write",
            Self::Truncate => "truncate",
            Self::Delete => "delete",
            Self::List => "list",
        };
        formatter.write_str(name)
    }
}

/// Why a key was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key has no characters.
    #[error("the key is empty")]
    Empty,
    /// The key is longer than [`crate::KEY_BYTES_MAX`].
    #[error("the key is {length_bytes} bytes long; the limit is {limit_bytes}")]
    TooLong {
        /// The key's length.
        length_bytes: usize,
        /// The limit.
        limit_bytes: usize,
    },
    /// The key holds a character outside `[a-z0-9_.-/]`.
    #[error("character {character:?} at byte {position} is not allowed (use a-z 0-9 _ - . /)")]
    BadCharacter {
        /// Byte offset of the character.
        position: usize,
        /// The character.
        character: char,
    },
    /// Leading, trailing or doubled `/`.
    #[error("a segment between '/' separators is empty")]
    EmptySegment,
    /// A segment starts with `.`, which backends reserve for their own files.
    #[error("segment {segment:?} starts with '.', which is reserved for backend files")]
    ReservedSegment {
        /// The offending segment.
        segment: String,
    },
}

/// Every way a storage operation can fail. Backends map each of their native errors (an [`io::Error`], an
/// IndexedDB `DOMException`) to one of these, with the operation and the key for context.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistenceError {
    /// The key does not exist (for operations that need it to: `read_range`, `truncate`).
    #[error("{operation} {key:?}: no such key")]
    NotFound {
        /// What was attempted.
        operation: Operation,
        /// The missing key.
        key: String,
    },
    /// The medium is full (ENOSPC, EDQUOT, the browser's quota). Nothing of the failed call is durable.
    #[error("{operation} {key:?}: the disk is full (or the quota is exhausted)")]
    DiskFull {
        /// What was attempted.
        operation: Operation,
        /// The key being written, or empty when none.
        key: String,
    },
    /// Another process (or another handle in this process) holds the store's exclusive lock.
    #[error("the store at {location} is locked by another process or handle")]
    Locked {
        /// Where the store is (a directory, a database name).
        location: String,
    },
    /// Stored bytes failed validation.
    #[error("corrupted data in {key:?} at byte {offset}: {reason}")]
    Corrupted {
        /// The key holding the bad bytes.
        key: String,
        /// Byte offset of the bad bytes within the value.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A previous write or sync failed, so the handle no longer knows what is durable (fsyncgate: the kernel may
    /// have dropped the dirty pages). Every call fails with this until the store is reopened, which recovers from
    /// the durable state.
    #[error("the store is poisoned: an earlier {operation} of {key:?} failed ({cause}); reopen it to recover")]
    Poisoned {
        /// The operation that failed first.
        operation: Operation,
        /// Its key.
        key: String,
        /// The first failure, as text.
        cause: String,
    },
    /// The key is malformed.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected text.
        key: String,
        /// Why.
        #[source]
        reason: KeyError,
    },
    /// An argument is out of range (say, truncating a value to more than its length).
    #[error("{operation} {key:?}: {reason}")]
    InvalidArgument {
        /// What was attempted.
        operation: Operation,
        /// The key.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// The backend cannot do this at all.
    #[error("{operation} is not supported by the {backend} backend")]
    Unsupported {
        /// What was attempted.
        operation: Operation,
        /// The backend's name.
        backend: &'static str,
    },
    /// Any other I/O error, with its context.
    #[error("{operation} {key:?}: {source}")]
    Io {
        /// What was attempted.
        operation: Operation,
        /// The key, or empty when none.
        key: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A non-I/O failure of the backend's platform (an IndexedDB error), as its message.
    #[error("{operation} {key:?}: {message}")]
    Backend {
        /// What was attempted.
        operation: Operation,
        /// The key, or empty when none.
        key: String,
        /// The platform's message.
        message: String,
    },
}

impl PersistenceError {
    /// Maps an [`io::Error`] to the matching variant: ENOSPC/EDQUOT to [`Self::DiskFull`], ENOENT to
    /// [`Self::NotFound`], EWOULDBLOCK on [`Operation::Lock`] to [`Self::Locked`], anything else to [`Self::Io`].
    pub fn from_io(operation: Operation, key: &str, source: io::Error) -> Self {
        const ENOSPC: i32 = 28;
        const EDQUOT: i32 = 122;
        match (source.kind(), source.raw_os_error()) {
            (io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded, _) | (_, Some(ENOSPC | EDQUOT)) => {
                Self::DiskFull { operation, key: key.to_owned() }
            }
            (io::ErrorKind::NotFound, _) => Self::NotFound { operation, key: key.to_owned() },
            (io::ErrorKind::WouldBlock, _) if operation == Operation::Lock => Self::Locked { location: key.to_owned() },
            _ => Self::Io { operation, key: key.to_owned(), source },
        }
    }

    /// The [`Self::Poisoned`] error that follows `self` for the rest of a handle's life.
    pub fn poisoned_by(&self, operation: Operation, key: &str) -> Self {
        match self {
            Self::Poisoned { operation, key, cause } => {
                Self::Poisoned { operation: *operation, key: key.clone(), cause: cause.clone() }
            }
            other => Self::Poisoned { operation, key: key.to_owned(), cause: other.to_string() },
        }
    }

    /// True for [`Self::DiskFull`].
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::DiskFull { .. })
    }

    /// True for [`Self::Poisoned`].
    pub fn is_poisoned(&self) -> bool {
        matches!(self, Self::Poisoned { .. })
    }

    /// True for [`Self::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

/// The storage layer's result.
pub type Result<T, E = PersistenceError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_typed_variants_with_context() {
        let full = PersistenceError::from_io(Operation::Append, "wal/1", io::Error::from_raw_os_error(28));
        assert!(matches!(&full, PersistenceError::DiskFull { operation: Operation::Append, key } if key == "wal/1"));
        let quota = PersistenceError::from_io(Operation::Sync, "k", io::Error::from_raw_os_error(122));
        assert!(quota.is_disk_full());
        let missing = PersistenceError::from_io(Operation::Read, "k", io::Error::from(io::ErrorKind::NotFound));
        assert!(missing.is_not_found());
        let locked = PersistenceError::from_io(Operation::Lock, "/db", io::Error::from(io::ErrorKind::WouldBlock));
        assert!(matches!(locked, PersistenceError::Locked { location } if location == "/db"));
        let other = PersistenceError::from_io(Operation::Sync, "k", io::Error::from_raw_os_error(5));
        assert!(matches!(&other, PersistenceError::Io { operation: Operation::Sync, .. }));
        assert_eq!(other.to_string(), format!("sync \"k\": {}", io::Error::from_raw_os_error(5)));
    }

    #[test]
    fn poison_keeps_the_first_cause() {
        let first = PersistenceError::from_io(Operation::Sync, "wal/1", io::Error::from_raw_os_error(5));
        let poisoned = first.poisoned_by(Operation::Sync, "wal/1");
        let again = poisoned.poisoned_by(Operation::Append, "other");
        assert!(
            matches!(again, PersistenceError::Poisoned { operation: Operation::Sync, ref key, .. } if key == "wal/1")
        );
    }
}
