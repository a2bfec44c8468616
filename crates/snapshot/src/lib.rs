//! Snapshots, checkpoints and recovery over any [`storage_core::StorageBackend`].
//!
//! A snapshot captures a whole state at an LSN so the WAL before it can be dropped; recovery is "newest valid
//! snapshot + the WAL after it". Snapshots are written with `atomic_write` only, checksummed section by section,
//! and carry a digest of the whole state that loading verifies against the decoded state. See docs/snapshot.md.
//!
//! ```
//! use snapshot::{SnapshotManager, SnapshotOptions};
//! use snapshot::testing::VectorState;
//! use storage_mem::MemoryBackend;
//!
//! let manager = SnapshotManager::new(MemoryBackend::new(), SnapshotOptions::default())?;
//! let mut state = VectorState::new(3);
//! state.vectors.insert(7, vec![1.0, 2.0, 3.0]);
//! manager.save(&state, 10)?;
//! let loaded = manager.load_latest::<VectorState>()?.expect("a snapshot was saved");
//! assert_eq!((loaded.state, loaded.lsn), (state, 10));
//! # Ok::<(), snapshot::SnapshotError>(())
//! ```
#![deny(missing_docs)]

// Digests and encodings view f32 slices as their in-memory bytes, which are the little-endian bytes the formats
// specify only on little-endian targets (x86-64, aarch64, wasm32: every target we build for).
#[cfg(target_endian = "big")]
compile_error!("the snapshot formats assume a little-endian target");

mod durable;
mod error;
pub mod format;
mod manager;
#[cfg(feature = "testing")]
pub mod suite;
pub mod testing;

pub use durable::{
    AsyncDurable, CheckpointPolicy, CheckpointReport, Durable, DurableOptions, RecoveryReport, StateGuard,
    StateMachine, check_log_covers, replay_entry,
};
pub use error::{SkippedSnapshot, SnapshotError};
pub use format::{DigestBuilder, PartHasher, SnapshotReader, SnapshotWriter, StateDigest};
pub use manager::{
    AsyncSnapshotManager, LoadedSnapshot, RETAIN_COUNT_MAX, SNAPSHOT_KEY_PREFIX, SavedSnapshot, Snapshot,
    SnapshotManager, SnapshotOptions, decode_snapshot, encode_snapshot, list_snapshots, load_latest,
    parse_snapshot_key, save, snapshot_key,
};

/// The code samples in docs/recovery.md, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/recovery.md")]
pub struct RecoveryDocumentSamples;
