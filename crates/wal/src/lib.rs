//! A write-ahead log over the `storage-core` backends: records framed with salted CRC32s in segments, group
//! commit, batches and transactions, torn-tail recovery that tells a torn write from corruption, checkpoints.
//!
//! The decisions live in plain code over bytes, with no I/O, clock or threads: [`format`](mod@format) (the on-disk layout),
//! `writer_core` (LSNs, framing, rotation, what to write and sync), `recovery` (where the durable end is), `reader`
//! (incremental decoding). One driver, written against [`storage_core::AsyncStorageBackend`], carries out their
//! intents. Native callers use the blocking, thread-safe [`Wal`] (which runs the driver with
//! [`storage_core::block_on`]); browser callers use [`AsyncWal`] over IndexedDB.
//!
//! The format, the torn-tail rule, the sync policies and the failure modes are specified in `docs/wal.md`.
//!
//! ```
//! use storage_mem::MemoryBackend;
//! use wal::{Lsn, Wal, WalError, WalOptions};
//!
//! let backend = MemoryBackend::new();
//! let wal = Wal::open(backend.clone(), WalOptions::default())?;
//! let first = wal.append(b"put a=1")?; // durable when it returns (SyncPolicy::EveryCommit)
//! let batch = wal.append_batch(&[b"put b=2", b"del a"])?; // all or nothing
//! let mut transaction = wal.transaction();
//! transaction.stage(b"put c=3")?;
//! let committed = transaction.commit()?;
//! assert_eq!((first, batch.first, batch.last, committed.first), (Lsn(1), Lsn(2), Lsn(3), Lsn(4)));
//! wal.close()?;
//!
//! // Reopen (after a clean close or a crash) and replay from any LSN.
//! let wal = Wal::open(backend, WalOptions::default())?;
//! let mut operations = Vec::new();
//! for entry in wal.replay(Lsn(2))? {
//!     for (lsn, operation) in entry?.operations() {
//!         operations.push((lsn.get(), operation.to_vec()));
//!     }
//! }
//! assert_eq!(operations, vec![(2, b"put b=2".to_vec()), (3, b"del a".to_vec()), (4, b"put c=3".to_vec())]);
//! # Ok::<(), WalError>(())
//! ```
#![deny(missing_docs)]

mod async_wal;
mod clock;
mod driver;
mod entry;
mod error;
pub mod format;
mod options;
mod reader;
mod recovery;
mod wal;
mod writer_core;

#[cfg(feature = "testing")]
pub mod testing;

pub use async_wal::{AsyncReplay, AsyncTransaction, AsyncWal};
pub use entry::{Entry, Lsn, LsnRange};
pub use error::WalError;
pub use format::{CorruptionReason, FormatVersion, RecordType};
pub use options::{RecoveryMode, SyncPolicy, WalOptions};
pub use recovery::{RecoveryReport, SalvageReport, TornTail};
pub use wal::{GATHER_WINDOW_MAX_US, Replay, Transaction, Wal};
