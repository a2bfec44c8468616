//! The storage layer's contract: the [`StorageBackend`] trait (and its asynchronous twin
//! [`AsyncStorageBackend`]), validated [`Key`]s, the [`PersistenceError`] type, the [`crc32`] checksum of every
//! on-disk format, and (feature `conformance`) the behaviour suite every backend runs.
//!
//! This crate depends on no other crate of the workspace and does no I/O of its own.
//!
//! ```
//! use storage_core::{Key, KEY_BYTES_MAX, PersistenceError};
//!
//! let key = Key::new("wal/00000000000000000001")?;
//! assert_eq!(key.as_str(), "wal/00000000000000000001");
//! assert!(matches!(Key::new(".lock"), Err(PersistenceError::InvalidKey { .. })));
//! assert!(Key::new("k".repeat(KEY_BYTES_MAX + 1)).is_err());
//! # Ok::<(), PersistenceError>(())
//! ```
#![deny(missing_docs)]

mod backend;
pub mod crc32;
mod error;
mod key;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use backend::{AsyncStorageBackend, StorageBackend, block_on};
pub use error::{KeyError, Operation, PersistenceError, Result};
pub use key::{KEY_BYTES_MAX, Key};
