//! [`AsyncDb`]: the database over an asynchronous backend (IndexedDB in the browser). Single-threaded: writes take
//! `&mut self`. The same state, the same checks and the same recovery as [`crate::Db`]; only the driver differs.

use std::ops::RangeInclusive;

use snapshot::{AsyncDurable, CheckpointReport, RecoveryReport, Snapshot, StateDigest};
use storage_core::AsyncStorageBackend;

use super::config::DbConfig;
use super::operation::Operation;
use super::state::{DatabaseState, Hit, Record, SearchOptions};
use super::storage::{self, Stats};
use crate::error::VecDbError;
use crate::filter::Filter;
use crate::metadata::Metadata;

/// A durable vector database over an [`AsyncStorageBackend`]. See [`crate::Db`] for the semantics, which are the
/// same.
pub struct AsyncDb<B: AsyncStorageBackend + Clone> {
    durable: AsyncDurable<DatabaseState, B>,
    backend: B,
    config: DbConfig,
}

impl<B: AsyncStorageBackend + Clone> std::fmt::Debug for AsyncDb<B> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AsyncDb")
            .field("config", &self.config)
            .field("applied_lsn", &self.durable.applied_lsn())
            .finish_non_exhaustive()
    }
}

impl<B: AsyncStorageBackend + Clone> AsyncDb<B> {
    /// See [`crate::Db::create`].
    ///
    /// # Errors
    /// As [`crate::Db::create`].
    pub async fn create(backend: B, config: DbConfig) -> Result<Self, VecDbError> {
        let location = backend.backend_name().to_owned();
        storage::store_new_config(&backend, &config, &location).await?;
        Self::open_at(backend, Some(&config), &location).await
    }

    /// See [`crate::Db::open`].
    ///
    /// # Errors
    /// As [`crate::Db::open`].
    pub async fn open(backend: B) -> Result<Self, VecDbError> {
        let location = backend.backend_name().to_owned();
        Self::open_at(backend, None, &location).await
    }

    /// See [`crate::Db::open_with_config`].
    ///
    /// # Errors
    /// As [`crate::Db::open_with_config`].
    pub async fn open_with_config(backend: B, config: &DbConfig) -> Result<Self, VecDbError> {
        let location = backend.backend_name().to_owned();
        Self::open_at(backend, Some(config), &location).await
    }

    async fn open_at(backend: B, expected: Option<&DbConfig>, location: &str) -> Result<Self, VecDbError> {
        let config = storage::config_to_open(&backend, expected, location).await?;
        let initial = DatabaseState::new(config)?;
        let durable = AsyncDurable::open(backend.clone(), move || initial, config.durable_options()).await?;
        storage::check_recovered(durable.state(), &config)?;
        Ok(Self { durable, backend, config })
    }

    /// The configuration (as stored).
    pub fn config(&self) -> &DbConfig {
        &self.config
    }

    /// What `open` found and did.
    pub fn recovery_report(&self) -> &RecoveryReport {
        self.durable.recovery_report()
    }

    /// The whole state, read-only.
    pub fn state(&self) -> &DatabaseState {
        self.durable.state()
    }

    /// See [`crate::Db::insert`].
    ///
    /// # Errors
    /// As [`crate::Db::insert`].
    pub async fn insert(&mut self, id: u64, vector: &[f32], metadata: Metadata) -> Result<u64, VecDbError> {
        let operation = self.durable.state().prepare_upsert(Record::new(id, vector.to_vec(), metadata))?;
        Ok(self.durable.execute(operation).await?.get())
    }

    /// See [`crate::Db::insert_batch`].
    ///
    /// # Errors
    /// As [`crate::Db::insert_batch`].
    pub async fn insert_batch(&mut self, records: Vec<Record>) -> Result<RangeInclusive<u64>, VecDbError> {
        let operations = self.durable.state().prepare_batch(records)?;
        let range = self.durable.execute_batch(operations).await?;
        Ok(range.first.get()..=range.last.get())
    }

    /// See [`crate::Db::delete`].
    ///
    /// # Errors
    /// As [`crate::Db::delete`].
    pub async fn delete(&mut self, id: u64) -> Result<u64, VecDbError> {
        let operation = self.durable.state().prepare_delete(id)?;
        Ok(self.durable.execute(operation).await?.get())
    }

    /// See [`crate::Db::update_metadata`].
    ///
    /// # Errors
    /// As [`crate::Db::update_metadata`].
    pub async fn update_metadata(&mut self, id: u64, metadata: Metadata) -> Result<u64, VecDbError> {
        let operation = self.durable.state().prepare_update_metadata(id, metadata)?;
        Ok(self.durable.execute(operation).await?.get())
    }

    /// See [`crate::Db::get`].
    ///
    /// # Errors
    /// As [`crate::Db::get`].
    pub fn get(&self, id: u64) -> Result<Record, VecDbError> {
        self.durable.state().get(id)
    }

    /// Live vectors.
    pub fn len(&self) -> usize {
        self.durable.state().len()
    }

    /// Whether there is no live vector.
    pub fn is_empty(&self) -> bool {
        self.durable.state().is_empty()
    }

    /// See [`crate::Db::search`].
    ///
    /// # Errors
    /// As [`crate::Db::search`].
    pub fn search(&self, query: &[f32], k: usize, options: &SearchOptions) -> Result<Vec<Hit>, VecDbError> {
        self.durable.state().search(query, k, options)
    }

    /// See [`crate::Db::exact_search`].
    ///
    /// # Errors
    /// As [`crate::Db::exact_search`].
    pub fn exact_search(&self, query: &[f32], k: usize, filter: Option<&Filter>) -> Result<Vec<Hit>, VecDbError> {
        self.durable.state().exact_search(query, k, filter)
    }

    /// See [`crate::Db::compact`].
    ///
    /// # Errors
    /// As [`crate::Db::compact`].
    pub async fn compact(&mut self) -> Result<CheckpointReport, VecDbError> {
        self.durable.execute(Operation::compact()).await?;
        self.checkpoint().await
    }

    /// See [`crate::Db::checkpoint`].
    ///
    /// # Errors
    /// As [`crate::Db::checkpoint`].
    pub async fn checkpoint(&mut self) -> Result<CheckpointReport, VecDbError> {
        Ok(self.durable.checkpoint().await?)
    }

    /// See [`crate::Db::sync`].
    ///
    /// # Errors
    /// As [`crate::Db::sync`].
    pub async fn sync(&mut self) -> Result<u64, VecDbError> {
        Ok(self.durable.sync().await?.get())
    }

    /// See [`crate::Db::stats`] (the log's length is counted from its oldest segment).
    ///
    /// # Errors
    /// As [`crate::Db::stats`].
    pub async fn stats(&self) -> Result<Stats, VecDbError> {
        let mut stats = storage::storage_stats(&self.backend, self.durable.applied_lsn()).await?;
        storage::fill_state_stats(&mut stats, self.durable.state());
        Ok(stats)
    }

    /// See [`crate::Db::digest`].
    pub fn digest(&self) -> StateDigest {
        self.durable.state().digest()
    }

    /// The LSN of the last write applied.
    pub fn applied_lsn(&self) -> u64 {
        self.durable.applied_lsn()
    }
}
