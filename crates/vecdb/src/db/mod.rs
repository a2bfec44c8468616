//! The durable database: [`Db`] (blocking, thread-safe) and [`AsyncDb`] (the browser's single-threaded form), both
//! a [`DatabaseState`] made durable by the snapshot crate's commit protocol (see docs/recovery.md).
//!
//! # Semantics
//! - **Ids** are `u64`s chosen by the caller and never renumbered, not by compaction either.
//! - **Insert is upsert**: inserting an id that is live replaces its vector and its metadata (the old vector
//!   becomes a tombstone in the graph until [`Db::compact`]). A batch is applied in order, so when one id appears
//!   twice in a batch the later record wins.
//! - **Every write goes through the log** (inserts, batches, deletes, metadata updates, compaction) and is applied
//!   in memory only once logged. Under the default [`SyncPolicy::EveryCommit`] a write returns once it is durable;
//!   concurrent writers share one sync (group commit). A batch is one log record: after a crash all of it is back
//!   or none of it.
//! - **Bad input changes nothing**: every input is checked before it is logged (dimension, NaN or infinity, a zero
//!   vector under cosine, metadata limits, an empty or oversized batch, an unknown id), and the error is a typed
//!   [`VecDbError`]. Checks against ids see the state at the time of the call: a delete racing another delete of
//!   the same id may find it gone when its turn comes, and is then a no-op.
//! - **Reads** (`get`, `search`) see every write that returned before they started, and run concurrently with
//!   each other and with writers (which hold the state exclusively only while they apply).
//! - **Recovery** (`open`) loads the newest valid snapshot, which holds the graph as it was (never rebuilt), and
//!   replays the log after it; [`Db::recovery_report`] says what it found.

mod async_db;
pub mod config;
pub mod operation;
pub mod state;
pub mod storage;

use std::ops::RangeInclusive;

pub use async_db::AsyncDb;
pub use config::{CONFIG_KEY, CheckpointPolicy, DbConfig, Durability, SyncPolicy};
pub use operation::{OPERATION_BYTES_MAX, Operation, OperationKind};
pub use snapshot::{CheckpointReport, RecoveryReport, StateDigest as DatabaseDigest, StateGuard};
use snapshot::{Durable, Snapshot};
pub use state::{BATCH_BYTES_MAX, BATCH_ITEMS_MAX, DatabaseState, Hit, Record, SearchOptions};
pub use storage::Stats;
use storage_core::{StorageBackend, block_on};

use crate::error::VecDbError;
use crate::filter::Filter;
use crate::metadata::Metadata;

/// A durable vector database over a blocking [`StorageBackend`]. `Send + Sync`: share it between threads with an
/// `Arc` (or scoped threads); searches run concurrently with each other and with writers.
pub struct Db<B: StorageBackend> {
    durable: Durable<DatabaseState, B>,
    config: DbConfig,
}

impl<B: StorageBackend> std::fmt::Debug for Db<B> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Db")
            .field("config", &self.config)
            .field("applied_lsn", &self.durable.applied_lsn())
            .finish_non_exhaustive()
    }
}

impl<B: StorageBackend> Db<B> {
    /// Creates a database in an empty store: stores `config` durably, then opens it.
    ///
    /// # Errors
    /// [`VecDbError::StoreNotEmpty`] when the store holds anything; the configuration's errors; storage errors.
    pub fn create(backend: B, config: DbConfig) -> Result<Self, VecDbError> {
        let location = backend.name().to_owned();
        Self::create_at(backend, config, &location)
    }

    /// Opens the database in `backend` with the configuration it was created with, recovering its state.
    ///
    /// # Errors
    /// [`VecDbError::NoDatabase`] when the store holds none; recovery's errors ([`VecDbError::Durability`]).
    pub fn open(backend: B) -> Result<Self, VecDbError> {
        let location = backend.name().to_owned();
        Self::open_at(backend, None, &location)
    }

    /// Opens the database in `backend`, which must have been created with exactly `config`.
    ///
    /// # Errors
    /// [`VecDbError::ConfigMismatch`] naming the first field that differs, and the errors of [`Db::open`].
    pub fn open_with_config(backend: B, config: &DbConfig) -> Result<Self, VecDbError> {
        let location = backend.name().to_owned();
        Self::open_at(backend, Some(config), &location)
    }

    /// Opens the database in `backend` (which must have `config`), or creates it there when the store is empty.
    ///
    /// # Errors
    /// As [`Db::create`] and [`Db::open_with_config`].
    pub fn open_or_create(backend: B, config: DbConfig) -> Result<Self, VecDbError> {
        let location = backend.name().to_owned();
        let empty = block_on(storage_core::AsyncStorageBackend::list(&backend, ""))?.is_empty();
        if empty {
            Self::create_at(backend, config, &location)
        } else {
            Self::open_at(backend, Some(&config), &location)
        }
    }

    fn create_at(backend: B, config: DbConfig, location: &str) -> Result<Self, VecDbError> {
        block_on(storage::store_new_config(&backend, &config, location))?;
        Self::open_at(backend, Some(&config), location)
    }

    fn open_at(backend: B, expected: Option<&DbConfig>, location: &str) -> Result<Self, VecDbError> {
        let config = block_on(storage::config_to_open(&backend, expected, location))?;
        let initial = DatabaseState::new(config)?;
        let durable = Durable::open(backend, move || initial, config.durable_options())?;
        storage::check_recovered(&durable.read(), &config)?;
        Ok(Self { durable, config })
    }

    /// The configuration (as stored).
    pub fn config(&self) -> &DbConfig {
        &self.config
    }

    /// What `open` found and did: the snapshot it started from, the log it replayed, torn bytes it truncated.
    pub fn recovery_report(&self) -> &RecoveryReport {
        self.durable.recovery_report()
    }

    /// Read access to the whole state (searches through it avoid re-locking per call). Writers wait while the
    /// guard lives: keep it short, and never write from the thread holding it.
    pub fn read(&self) -> StateGuard<'_, DatabaseState> {
        self.durable.read()
    }

    /// Inserts `id` with its vector and metadata, or replaces them when `id` is live (upsert). Returns the write's
    /// LSN once it is durable (per the sync policy) and visible.
    ///
    /// # Errors
    /// Bad input ([`VecDbError::DimensionMismatch`], [`VecDbError::NonFiniteValue`],
    /// [`VecDbError::ZeroVectorUnderCosine`], metadata errors) changes nothing; storage errors
    /// ([`VecDbError::Durability`]) poison the database until it is reopened.
    pub fn insert(&self, id: u64, vector: &[f32], metadata: Metadata) -> Result<u64, VecDbError> {
        let operation = self.durable.read().prepare_upsert(Record::new(id, vector.to_vec(), metadata))?;
        Ok(self.durable.execute(operation)?.get())
    }

    /// Inserts (or replaces) every record as one atomic, durable unit: after a crash all of them are back or none.
    /// Returns the batch's LSNs.
    ///
    /// # Errors
    /// [`VecDbError::EmptyBatch`], [`VecDbError::LimitExceeded`] (`BATCH_ITEMS_MAX`, `BATCH_BYTES_MAX`), the first
    /// bad record's error (nothing of the batch is written), and storage errors.
    pub fn insert_batch(&self, records: Vec<Record>) -> Result<RangeInclusive<u64>, VecDbError> {
        let operations = self.durable.read().prepare_batch(records)?;
        let range = self.durable.execute_batch(operations)?;
        Ok(range.first.get()..=range.last.get())
    }

    /// Deletes a live id (a tombstone in the graph until [`Db::compact`]).
    ///
    /// # Errors
    /// [`VecDbError::UnknownId`] and storage errors.
    pub fn delete(&self, id: u64) -> Result<u64, VecDbError> {
        let operation = self.durable.read().prepare_delete(id)?;
        Ok(self.durable.execute(operation)?.get())
    }

    /// Replaces the metadata of a live id (empty metadata removes it).
    ///
    /// # Errors
    /// [`VecDbError::UnknownId`], metadata errors and storage errors.
    pub fn update_metadata(&self, id: u64, metadata: Metadata) -> Result<u64, VecDbError> {
        let operation = self.durable.read().prepare_update_metadata(id, metadata)?;
        Ok(self.durable.execute(operation)?.get())
    }

    /// The stored vector (normalized under cosine) and metadata of a live id.
    ///
    /// # Errors
    /// [`VecDbError::UnknownId`].
    pub fn get(&self, id: u64) -> Result<Record, VecDbError> {
        self.durable.read().get(id)
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u64) -> bool {
        self.durable.read().contains(id)
    }

    /// Live vectors.
    pub fn len(&self) -> usize {
        self.durable.read().len()
    }

    /// Whether there is no live vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every live id, ascending.
    pub fn ids(&self) -> Vec<u64> {
        self.durable.read().ids()
    }

    /// The `k` nearest live vectors to `query` (closest first), by HNSW graph search with the options' breadth
    /// and filter.
    ///
    /// # Errors
    /// [`VecDbError::KIsZero`], [`VecDbError::LimitExceeded`] (`K_MAX`, `EF_MAX`), and the vector errors for the
    /// query.
    pub fn search(&self, query: &[f32], k: usize, options: &SearchOptions) -> Result<Vec<Hit>, VecDbError> {
        self.durable.read().search(query, k, options)
    }

    /// The exact `k` nearest live (and matching) vectors, by scanning every vector: for small sets, and to measure
    /// the recall of [`Db::search`].
    ///
    /// # Errors
    /// As [`Db::search`].
    pub fn exact_search(&self, query: &[f32], k: usize, filter: Option<&Filter>) -> Result<Vec<Hit>, VecDbError> {
        self.durable.read().exact_search(query, k, filter)
    }

    /// Rebuilds the graph without tombstones (ids stay as they are), logged like every write, then checkpoints so
    /// that recovery starts from the compacted graph. Searches wait while the graph is rebuilt.
    ///
    /// # Errors
    /// Storage errors.
    pub fn compact(&self) -> Result<CheckpointReport, VecDbError> {
        self.durable.execute(Operation::compact())?;
        self.checkpoint()
    }

    /// Writes a snapshot of the state and drops the log below the oldest retained snapshot, so recovery replays
    /// less. Also makes every earlier write durable.
    ///
    /// # Errors
    /// Storage errors.
    pub fn checkpoint(&self) -> Result<CheckpointReport, VecDbError> {
        Ok(self.durable.checkpoint()?)
    }

    /// Makes every earlier write durable (needed only under [`SyncPolicy::Grouped`] and [`SyncPolicy::Manual`]);
    /// returns the durable LSN.
    ///
    /// # Errors
    /// Storage errors.
    pub fn sync(&self) -> Result<u64, VecDbError> {
        Ok(self.durable.sync()?.get())
    }

    /// Counts and sizes: live and deleted vectors, the log's length, the newest snapshot, bytes in the store.
    ///
    /// # Errors
    /// Storage errors (it lists the store).
    pub fn stats(&self) -> Result<Stats, VecDbError> {
        let applied_lsn = self.durable.applied_lsn();
        let mut stats = block_on(storage::storage_stats(self.durable.wal().backend(), applied_lsn))?;
        storage::fill_state_stats(&mut stats, &self.durable.read());
        let wal = self.durable.wal();
        stats.wal_operations = wal.next_lsn().get().saturating_sub(wal.first_lsn().get());
        Ok(stats)
    }

    /// The digest of the logical state (configuration, ids, vectors, tombstones, metadata), as snapshots and
    /// [`RecoveryReport::state_digest`] record it.
    pub fn digest(&self) -> DatabaseDigest {
        self.durable.read().digest()
    }

    /// The LSN of the last write applied.
    pub fn applied_lsn(&self) -> u64 {
        self.durable.applied_lsn()
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        self.durable.wal().backend()
    }

    /// Makes everything durable and closes the log cleanly (dropping the database without this is safe too: what
    /// was acknowledged is durable, and the next open recovers).
    ///
    /// # Errors
    /// Storage errors.
    pub fn close(self) -> Result<(), VecDbError> {
        Ok(self.durable.close()?)
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Db<storage_fs::FileBackend> {
    /// Creates a database in `directory` (created when missing; it must be empty) with the file-system backend.
    ///
    /// # Errors
    /// As [`Db::create`]; [`VecDbError::Storage`] with [`storage_core::PersistenceError::Locked`] when another
    /// process has the directory open.
    pub fn create_in(directory: impl AsRef<std::path::Path>, config: DbConfig) -> Result<Self, VecDbError> {
        let directory = directory.as_ref();
        config.validate()?;
        let backend = storage_fs::FileBackend::open(directory)?;
        Self::create_at(backend, config, &directory.display().to_string())
    }

    /// Opens the database in `directory` with the file-system backend, recovering its state.
    ///
    /// # Errors
    /// [`VecDbError::NoDatabase`] when the directory is missing or holds no database (a missing directory is not
    /// created), and the errors of [`Db::open`].
    pub fn open_in(directory: impl AsRef<std::path::Path>) -> Result<Self, VecDbError> {
        let directory = directory.as_ref();
        let location = directory.display().to_string();
        if !directory.is_dir() {
            return Err(VecDbError::NoDatabase { location });
        }
        Self::open_at(storage_fs::FileBackend::open(directory)?, None, &location)
    }

    /// Like [`Db::open_in`], checking that the database was created with exactly `config`.
    ///
    /// # Errors
    /// As [`Db::open_with_config`].
    pub fn open_in_with_config(directory: impl AsRef<std::path::Path>, config: &DbConfig) -> Result<Self, VecDbError> {
        let directory = directory.as_ref();
        let location = directory.display().to_string();
        if !directory.is_dir() {
            return Err(VecDbError::NoDatabase { location });
        }
        Self::open_at(storage_fs::FileBackend::open(directory)?, Some(config), &location)
    }
}

impl Db<storage_mem::MemoryBackend> {
    /// A database in memory (gone when dropped; clone the backend first to reopen it): for tests, examples and
    /// caches.
    ///
    /// # Errors
    /// The configuration's errors.
    pub fn in_memory(config: DbConfig) -> Result<Self, VecDbError> {
        Self::create(storage_mem::MemoryBackend::new(), config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_handle_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Db<storage_mem::MemoryBackend>>();
        assert_send_sync::<Db<storage_mem::SimulatedDisk>>();
        #[cfg(not(target_arch = "wasm32"))]
        assert_send_sync::<Db<storage_fs::FileBackend>>();
    }
}
