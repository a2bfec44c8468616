//! The file-system [`StorageBackend`](storage_core::StorageBackend): [`FileBackend`] keeps a store in one
//! directory, one file per key, with `fdatasync`-durable appends and crash-atomic replaces.
//!
//! - **Layout.** Keys map to file names by replacing `/` with `%` (`wal/0001` is the file `wal%0001`); names
//!   starting with `.` are the backend's own (`.lock`, `.tmp-*`), which no key can collide with.
//! - **Durability.** `sync(key)` is one `fdatasync` (plus one directory `fsync` after the file was created);
//!   `atomic_write` is temp file, `fdatasync`, `rename`, directory `fsync`. The full contract and its assumptions
//!   are on [`FileBackend`].
//! - **Exclusive.** A `flock` on `.lock` keeps every other handle out, in this process or another
//!   ([`PersistenceError::Locked`](storage_core::PersistenceError::Locked)).
//! - **Sticky failures.** After a failed write or sync the handle is poisoned until reopened (fsyncgate).
//!
//! ```
//! use storage_core::{Key, PersistenceError, StorageBackend};
//! use storage_fs::FileBackend;
//!
//! let directory = std::env::temp_dir().join(format!("storage-fs-doctest-{}", std::process::id()));
//! let log = Key::new("wal/0001")?;
//! {
//!     let store = FileBackend::open(&directory)?;
//!     store.append(&log, b"first record;")?;
//!     store.sync(&log)?; // durable from here on
//!     assert!(matches!(FileBackend::open(&directory), Err(PersistenceError::Locked { .. })));
//! }
//! let store = FileBackend::open(&directory)?;
//! assert_eq!(store.read(&log)?.as_deref(), Some(&b"first record;"[..]));
//! assert_eq!(store.list("wal/")?, vec![log]);
//! # drop(store);
//! # std::fs::remove_dir_all(&directory).ok();
//! # Ok::<(), PersistenceError>(())
//! ```
#![deny(missing_docs)]

mod backend;
mod lock;
mod name;
mod poison;

pub use backend::{FileBackend, FileOptions, OPEN_FILES_MAX, OPEN_FILES_MAX_DEFAULT};
