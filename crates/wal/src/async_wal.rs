//! [`AsyncWal`]: the log for backends that answer asynchronously (IndexedDB), and for any backend through
//! [`storage_core::block_on`].

use storage_core::AsyncStorageBackend;

use crate::clock::{self, Clock};
use crate::driver;
use crate::entry::{Entry, Lsn, LsnRange};
use crate::error::WalError;
use crate::format::{BatchBuilder, READ_CHUNK_BYTES};
use crate::options::{SyncPolicy, WalOptions};
use crate::reader::ReplayCursor;
use crate::recovery::RecoveryReport;
use crate::writer_core::{WriterCore, stage_check};

/// A write-ahead log over an [`AsyncStorageBackend`]. The same format, recovery and I/O code as [`crate::Wal`];
/// calls take `&mut self` (one caller at a time, as on the browser's single thread), so there is no group commit:
/// under [`SyncPolicy::EveryCommit`] each append is written and synced before it returns.
///
/// There is no `Drop` work (a destructor cannot await): call [`Self::close`] to sync, seal and get the backend
/// back. A log dropped without `close` is recovered by the next open like after a crash.
pub struct AsyncWal<B: AsyncStorageBackend> {
    backend: B,
    core: WriterCore,
    policy: SyncPolicy,
    record_bytes_max: u64,
    report: RecoveryReport,
    clock: Clock,
}

impl<B: AsyncStorageBackend> AsyncWal<B> {
    /// Opens (recovering) or creates the log; see [`crate::Wal::open`].
    pub async fn open(backend: B, options: WalOptions) -> Result<Self, WalError> {
        let salt_seed = options.salt_seed.unwrap_or_else(clock::random_seed);
        let (core, report) = driver::open(&backend, &options, salt_seed).await?;
        Ok(Self {
            backend,
            core,
            policy: options.sync_policy,
            record_bytes_max: options.record_bytes_max,
            report,
            clock: Clock::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        if matches!(self.policy, SyncPolicy::Grouped { .. }) { self.clock.now_ms() } else { 0 }
    }

    /// Appends one operation; see [`crate::Wal::append`].
    pub async fn append(&mut self, payload: &[u8]) -> Result<Lsn, WalError> {
        let now_ms = self.now_ms();
        let (range, position) = self.core.frame_single(payload, now_ms)?;
        self.after_frame(position, now_ms).await?;
        Ok(range.first)
    }

    /// Appends several operations as one record; see [`crate::Wal::append_batch`].
    pub async fn append_batch(&mut self, operations: &[&[u8]]) -> Result<LsnRange, WalError> {
        let now_ms = self.now_ms();
        let (range, position) = self.core.frame_batch(operations, now_ms)?;
        self.after_frame(position, now_ms).await?;
        Ok(range)
    }

    /// Starts a transaction; see [`crate::Wal::transaction`].
    pub fn transaction(&mut self) -> AsyncTransaction<'_, B> {
        AsyncTransaction { wal: self, batch: BatchBuilder::default() }
    }

    async fn after_frame(&mut self, position: u64, now_ms: u64) -> Result<(), WalError> {
        match self.core.flush_need(self.policy, position, now_ms) {
            Some((target, sync)) => self.flush_to(target, sync).await,
            None => Ok(()),
        }
    }

    /// One flush, led by this (only) caller: the single-threaded form of [`crate::Wal`]'s group commit.
    async fn flush_to(&mut self, target: u64, sync: bool) -> Result<(), WalError> {
        self.core.check_poisoned()?;
        if self.core.reached(target, sync) {
            return Ok(());
        }
        let Some(flush) = self.core.take_flush(sync, self.now_ms()) else {
            return Ok(());
        };
        let result = driver::execute(&self.backend, &flush.intents).await;
        self.core.complete_flush(flush, result)
    }

    /// Writes and syncs everything appended so far; returns the durable LSN.
    pub async fn sync(&mut self) -> Result<Lsn, WalError> {
        let target = self.core.framed_position();
        self.flush_to(target, true).await?;
        Ok(self.durable_lsn())
    }

    /// See [`crate::Wal::rotate`].
    pub async fn rotate(&mut self) -> Result<(), WalError> {
        self.sync().await?;
        if !self.core.rotate_now()? {
            return Ok(());
        }
        if let Some(flush) = self.core.take_flush(true, self.now_ms()) {
            let result = driver::execute(&self.backend, &flush.intents).await;
            self.core.complete_flush(flush, result)?;
        }
        Ok(())
    }

    /// See [`crate::Wal::flush`].
    pub async fn flush(&mut self) -> Result<(), WalError> {
        let target = self.core.framed_position();
        self.flush_to(target, false).await
    }

    /// See [`crate::Wal::durable_lsn`].
    pub fn durable_lsn(&self) -> Lsn {
        Lsn(self.core.durable_lsn())
    }

    /// See [`crate::Wal::next_lsn`].
    pub fn next_lsn(&self) -> Lsn {
        Lsn(self.core.next_lsn())
    }

    /// See [`crate::Wal::first_lsn`].
    pub fn first_lsn(&self) -> Lsn {
        Lsn(self.core.first_lsn())
    }

    /// See [`crate::Wal::segment_count`].
    pub fn segment_count(&self) -> usize {
        self.core.segment_count()
    }

    /// What `open` found and did.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Streams entries from `from`; see [`crate::Wal::replay`]. Call [`AsyncReplay::next`] until it answers
    /// `Ok(None)`.
    pub async fn replay(&mut self, from: Lsn) -> Result<AsyncReplay<'_, B>, WalError> {
        self.flush().await?;
        let cursor = self.core.replay_cursor(from.0, READ_CHUNK_BYTES);
        Ok(AsyncReplay { backend: &self.backend, cursor, finished: false })
    }

    /// See [`crate::Wal::truncate_before`].
    pub async fn truncate_before(&mut self, before: Lsn) -> Result<usize, WalError> {
        self.core.check_poisoned()?;
        let keys = self.core.segments_before(before.0);
        if keys.is_empty() {
            return Ok(0);
        }
        let (deleted, result) = driver::delete_segments(&self.backend, &keys).await;
        self.core.complete_deletes(&keys, deleted, result)
    }

    /// See [`crate::Wal::checkpoint`].
    pub async fn checkpoint(&mut self, applied: Lsn) -> Result<usize, WalError> {
        self.truncate_before(Lsn(applied.0.saturating_add(1))).await
    }

    /// Writes, syncs and seals everything (see [`crate::Wal::close`]) and gives the backend back.
    pub async fn close(mut self) -> Result<B, WalError> {
        let target = self.core.framed_position();
        self.flush_to(target, true).await?;
        if let Some(position) = self.core.frame_seal()? {
            self.flush_to(position, true).await?;
        }
        Ok(self.backend)
    }

    /// Gives the backend back without writing anything more (what a crash would leave, minus the power loss).
    pub fn abandon(self) -> B {
        self.backend
    }
}

impl<B: AsyncStorageBackend> std::fmt::Debug for AsyncWal<B> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AsyncWal")
            .field("backend", &self.backend.backend_name())
            .field("next_lsn", &self.core.next_lsn())
            .field("durable_lsn", &self.core.durable_lsn())
            .field("policy", &self.policy)
            .finish()
    }
}

/// Operations staged for one atomic commit (see [`AsyncWal::transaction`]).
#[derive(Debug)]
pub struct AsyncTransaction<'w, B: AsyncStorageBackend> {
    wal: &'w mut AsyncWal<B>,
    batch: BatchBuilder,
}

impl<B: AsyncStorageBackend> AsyncTransaction<'_, B> {
    /// Stages one operation; see [`crate::Transaction::stage`].
    pub fn stage(&mut self, operation: &[u8]) -> Result<(), WalError> {
        stage_check(&self.batch, operation, self.wal.record_bytes_max)?;
        self.batch.push(operation);
        Ok(())
    }

    /// How many operations are staged.
    pub fn operation_count(&self) -> u32 {
        self.batch.count()
    }

    /// Writes the staged operations as one batch record; see [`crate::Transaction::commit`].
    pub async fn commit(self) -> Result<LsnRange, WalError> {
        let now_ms = self.wal.now_ms();
        let (range, position) = self.wal.core.frame_staged(&self.batch, now_ms)?;
        self.wal.after_frame(position, now_ms).await?;
        Ok(range)
    }
}

/// The entries of an [`AsyncWal::replay`].
pub struct AsyncReplay<'w, B: AsyncStorageBackend> {
    backend: &'w B,
    cursor: ReplayCursor,
    finished: bool,
}

impl<B: AsyncStorageBackend> AsyncReplay<'_, B> {
    /// The next entry, `Ok(None)` at the end. After an error, answers `Ok(None)`.
    pub async fn next(&mut self) -> Result<Option<Entry>, WalError> {
        if self.finished {
            return Ok(None);
        }
        let next = driver::replay_next(self.backend, &mut self.cursor).await;
        if !matches!(next, Ok(Some(_))) {
            self.finished = true;
        }
        next
    }
}

impl<B: AsyncStorageBackend> std::fmt::Debug for AsyncReplay<'_, B> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("AsyncReplay").field("finished", &self.finished).finish_non_exhaustive()
    }
}
