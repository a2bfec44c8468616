//! The commit protocol: a [`StateMachine`] made durable by the WAL and snapshots.
//!
//! Writing: log the operation (durable per the WAL's sync policy), apply it in memory, acknowledge. A failed log
//! write leaves the in-memory state unchanged. Checkpoint: sync the log, save a snapshot of the state at its
//! applied LSN, then drop the log below the oldest retained snapshot. Recovery: the newest valid snapshot (falling
//! back past corrupt ones), then the log after it; see docs/recovery.md.
//!
//! [`Durable`] is the blocking, thread-safe form (concurrent writers share the WAL's group commit and apply in LSN
//! order); [`AsyncDurable`] is the single-threaded async form for the browser. Both use the same recovery rules
//! ([`check_log_covers`], [`replay_entry`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use storage_core::{AsyncStorageBackend, StorageBackend};
use wal::{AsyncWal, Entry, Lsn, Wal, WalError, WalOptions};

use crate::error::{SkippedSnapshot, SnapshotError};
use crate::format::StateDigest;
use crate::manager::{self, LoadedSnapshot, Snapshot, SnapshotManager, SnapshotOptions};

/// A state whose changes are operations that can be logged and replayed.
///
/// `apply` must be deterministic and total: replaying the same operations on the same snapshot gives the same state,
/// and it never fails (check operations before executing them; an operation that no longer fits, say a delete of an
/// id a concurrent writer removed first, is a no-op).
pub trait StateMachine: Snapshot {
    /// One change.
    type Operation;
    /// Appends the operation's bytes to `out`.
    fn encode_operation(operation: &Self::Operation, out: &mut Vec<u8>);
    /// Decodes an operation written by [`Self::encode_operation`].
    fn decode_operation(bytes: &[u8]) -> Result<Self::Operation, String>;
    /// Applies an operation.
    fn apply(&mut self, operation: Self::Operation);
}

/// When to checkpoint by itself (besides explicit [`Durable::checkpoint`] calls).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// After this many operations since the last checkpoint (`None`: never by count).
    pub operations_max: Option<u64>,
    /// After this many bytes of encoded operations since the last checkpoint (`None`: never by size).
    pub log_bytes_max: Option<u64>,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self { operations_max: None, log_bytes_max: Some(64 << 20) }
    }
}

/// Options of a durable state.
#[derive(Clone, Debug, Default)]
pub struct DurableOptions {
    /// The log's options.
    pub wal: WalOptions,
    /// Snapshot retention.
    pub snapshot: SnapshotOptions,
    /// Automatic checkpoints.
    pub checkpoint: CheckpointPolicy,
}

/// What `open` found and did.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveryReport {
    /// The snapshot the state started from (`None`: from the initial state).
    pub snapshot_lsn: Option<u64>,
    /// Its size.
    pub snapshot_bytes: u64,
    /// Its digest, verified against the state decoded from it.
    pub snapshot_digest: Option<StateDigest>,
    /// Newer snapshots that were corrupt and skipped (non-empty: a fallback).
    pub skipped_snapshots: Vec<SkippedSnapshot>,
    /// Log entries (records) replayed on top of the snapshot.
    pub entries_replayed: u64,
    /// Operations replayed (a batch entry holds several).
    pub operations_replayed: u64,
    /// The last LSN in the recovered state.
    pub last_lsn: u64,
    /// The digest of the recovered state.
    pub state_digest: StateDigest,
    /// What the log's own recovery found (torn bytes truncated, salvage).
    pub wal: wal::RecoveryReport,
    /// Leftovers of interrupted atomic writes (temp files) that opening the backend removed.
    pub orphans_removed: Vec<String>,
    /// How long recovery took, in microseconds (0 where there is no clock: `wasm32-unknown-unknown`).
    pub elapsed_us: u64,
}

impl RecoveryReport {
    /// True when a newer snapshot was skipped as corrupt.
    pub fn fell_back(&self) -> bool {
        !self.skipped_snapshots.is_empty()
    }
}

/// What a checkpoint did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointReport {
    /// The snapshot's LSN.
    pub lsn: u64,
    /// Its size.
    pub snapshot_bytes: u64,
    /// Log segments deleted.
    pub segments_deleted: usize,
}

/// The recovery rule both forms share: the log must hold every LSN after the snapshot (or from 1 when there is none),
/// and must not end before the snapshot.
pub fn check_log_covers(snapshot_lsn: Option<u64>, first_log_lsn: u64, next_log_lsn: u64) -> Result<(), SnapshotError> {
    let needed_lsn = snapshot_lsn.unwrap_or(0).saturating_add(1);
    // An empty log (next == first) starting past what we need is fine only when nothing after the snapshot was
    // ever logged: that shows as next_log_lsn == needed_lsn.
    if first_log_lsn > needed_lsn && next_log_lsn != needed_lsn {
        return Err(SnapshotError::LogGap { snapshot_lsn, needed_lsn, first_log_lsn });
    }
    if let Some(snapshot_lsn) = snapshot_lsn {
        if next_log_lsn <= snapshot_lsn {
            return Err(SnapshotError::LogBehindSnapshot { snapshot_lsn, next_log_lsn });
        }
    }
    Ok(())
}

/// Applies the operations of one replayed entry that lie after `applied_lsn`; returns how many it applied and the
/// new applied LSN.
pub fn replay_entry<S: StateMachine>(
    state: &mut S,
    entry: &Entry,
    applied_lsn: u64,
) -> Result<(u64, u64), SnapshotError> {
    let mut applied = 0;
    let mut last = applied_lsn;
    for (lsn, bytes) in entry.operations() {
        if lsn.get() <= applied_lsn {
            continue;
        }
        if lsn.get() != last.saturating_add(1) {
            return Err(SnapshotError::LogGap { snapshot_lsn: None, needed_lsn: last + 1, first_log_lsn: lsn.get() });
        }
        let operation = S::decode_operation(bytes)
            .map_err(|reason| SnapshotError::UndecodableOperation { lsn: lsn.get(), reason })?;
        state.apply(operation);
        applied += 1;
        last = lsn.get();
    }
    Ok((applied, last))
}

struct Stopwatch {
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    started: std::time::Instant,
}

impl Stopwatch {
    fn start() -> Self {
        Self {
            #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
            started: std::time::Instant::now(),
        }
    }
    fn elapsed_us(&self) -> u64 {
        #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
        {
            u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
        }
        #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
        {
            0
        }
    }
}

/// Logs the report as a `tracing` event at info level (feature `tracing`, on by default; the browser package leaves
/// it out, having no subscriber to show it).
#[cfg(feature = "tracing")]
fn log_report(report: &RecoveryReport) {
    tracing::info!(
        snapshot_lsn = ?report.snapshot_lsn,
        fell_back = report.fell_back(),
        entries_replayed = report.entries_replayed,
        operations_replayed = report.operations_replayed,
        last_lsn = report.last_lsn,
        torn_bytes_truncated = report.wal.torn_bytes_truncated,
        orphans_removed = report.orphans_removed.len(),
        state_digest = %report.state_digest,
        elapsed_us = report.elapsed_us,
        "recovered"
    );
}

#[cfg(not(feature = "tracing"))]
fn log_report(_report: &RecoveryReport) {}

/// A recovery in progress, the part both forms share: where it starts (the newest valid snapshot or the initial
/// state), the coverage rule, applying each replayed entry, and the report. The forms differ only in how they open
/// the log and walk its entries.
struct Recovery<S> {
    stopwatch: Stopwatch,
    state: S,
    applied_lsn: u64,
    snapshot_lsn: Option<u64>,
    snapshot_bytes: u64,
    snapshot_digest: Option<StateDigest>,
    skipped_snapshots: Vec<SkippedSnapshot>,
    entries_replayed: u64,
    operations_replayed: u64,
}

impl<S: StateMachine> Recovery<S> {
    /// Starts from `loaded` (or `initial()` when there is no snapshot), once the log is known to cover it.
    fn start(
        stopwatch: Stopwatch,
        loaded: Option<LoadedSnapshot<S>>,
        initial: impl FnOnce() -> S,
        first_log_lsn: u64,
        next_log_lsn: u64,
    ) -> Result<Self, SnapshotError> {
        let (state, snapshot_lsn, snapshot_bytes, snapshot_digest, skipped_snapshots) = match loaded {
            Some(loaded) => (loaded.state, Some(loaded.lsn), loaded.size_bytes, Some(loaded.digest), loaded.skipped),
            None => (initial(), None, 0, None, Vec::new()),
        };
        check_log_covers(snapshot_lsn, first_log_lsn, next_log_lsn)?;
        Ok(Self {
            stopwatch,
            state,
            applied_lsn: snapshot_lsn.unwrap_or(0),
            snapshot_lsn,
            snapshot_bytes,
            snapshot_digest,
            skipped_snapshots,
            entries_replayed: 0,
            operations_replayed: 0,
        })
    }

    /// The first LSN the log must replay.
    fn replay_from(&self) -> Lsn {
        Lsn(self.applied_lsn.saturating_add(1))
    }

    /// Applies one replayed entry.
    fn apply(&mut self, entry: &Entry) -> Result<(), SnapshotError> {
        let (count, last) = replay_entry(&mut self.state, entry, self.applied_lsn)?;
        self.entries_replayed += 1;
        self.operations_replayed += count;
        self.applied_lsn = last;
        Ok(())
    }

    /// The recovered state, its applied LSN and the report (logged).
    fn finish(self, wal: wal::RecoveryReport, orphans_removed: Vec<String>) -> (S, u64, RecoveryReport) {
        let report = RecoveryReport {
            snapshot_lsn: self.snapshot_lsn,
            snapshot_bytes: self.snapshot_bytes,
            snapshot_digest: self.snapshot_digest,
            skipped_snapshots: self.skipped_snapshots,
            entries_replayed: self.entries_replayed,
            operations_replayed: self.operations_replayed,
            last_lsn: self.applied_lsn,
            state_digest: self.state.digest(),
            wal,
            orphans_removed,
            elapsed_us: self.stopwatch.elapsed_us(),
        };
        log_report(&report);
        (self.state, self.applied_lsn, report)
    }
}

/// Each operation's encoding, and their total size.
fn encode_operations<S: StateMachine>(operations: &[S::Operation]) -> (Vec<Vec<u8>>, u64) {
    let encoded: Vec<Vec<u8>> = operations
        .iter()
        .map(|operation| {
            let mut bytes = Vec::new();
            S::encode_operation(operation, &mut bytes);
            bytes
        })
        .collect();
    let log_bytes = encoded.iter().map(|bytes| bytes.len() as u64).sum();
    (encoded, log_bytes)
}

/// The state and the LSN of the last operation applied to it, always read and changed together.
struct Applied<S> {
    state: S,
    lsn: u64,
}

/// Operations logged but not yet applied, waiting for their turn in LSN order.
struct ApplyQueue<O> {
    waiting: BTreeMap<u64, O>,
}

#[derive(Default)]
struct CheckpointProgress {
    operations: u64,
    log_bytes: u64,
}

/// A state machine made durable over a blocking backend. Thread-safe: share it with an `Arc`.
pub struct Durable<S: StateMachine, B: StorageBackend> {
    applied: RwLock<Applied<S>>,
    queue: Mutex<ApplyQueue<S::Operation>>,
    turn: Condvar,
    wal: Wal<Arc<B>>,
    snapshots: SnapshotManager<Arc<B>>,
    checkpoint_lock: Mutex<CheckpointProgress>,
    poison: Mutex<Option<String>>,
    options: DurableOptions,
    report: RecoveryReport,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: StateMachine, B: StorageBackend> Durable<S, B> {
    /// Opens the store, recovering its state: the newest valid snapshot (or `initial` when there is none), then the
    /// log after it. Every later write is logged. Errors are typed: [`SnapshotError::AllCorrupt`] and
    /// [`SnapshotError::LogGap`] rather than a silently emptier state.
    pub fn open(backend: B, initial: impl FnOnce() -> S, options: DurableOptions) -> Result<Self, SnapshotError> {
        let stopwatch = Stopwatch::start();
        let backend = Arc::new(backend);
        let snapshots = SnapshotManager::new(Arc::clone(&backend), options.snapshot.clone())?;
        let loaded = snapshots.load_latest::<S>()?;
        let wal = Wal::open(Arc::clone(&backend), options.wal.clone())?;
        let mut recovery = Recovery::start(stopwatch, loaded, initial, wal.first_lsn().get(), wal.next_lsn().get())?;
        for entry in wal.replay(recovery.replay_from())? {
            recovery.apply(&entry?)?;
        }
        let orphans_removed = StorageBackend::orphans_removed_at_open(&*backend);
        let (state, applied_lsn, report) = recovery.finish(wal.recovery_report().clone(), orphans_removed);
        Ok(Self {
            applied: RwLock::new(Applied { state, lsn: applied_lsn }),
            queue: Mutex::new(ApplyQueue { waiting: BTreeMap::new() }),
            turn: Condvar::new(),
            wal,
            snapshots,
            checkpoint_lock: Mutex::new(CheckpointProgress::default()),
            poison: Mutex::new(None),
            options,
            report,
        })
    }

    /// What `open` found and did.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// Read access to the state (many readers at once; writers wait only while they apply).
    pub fn read(&self) -> StateGuard<'_, S> {
        StateGuard(self.applied.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The LSN of the last operation applied.
    pub fn applied_lsn(&self) -> u64 {
        self.read().0.lsn
    }

    /// The log.
    pub fn wal(&self) -> &Wal<Arc<B>> {
        &self.wal
    }

    /// The snapshots.
    pub fn snapshots(&self) -> &SnapshotManager<Arc<B>> {
        &self.snapshots
    }

    fn check_poisoned(&self) -> Result<(), SnapshotError> {
        match lock(&self.poison).as_ref() {
            Some(cause) => Err(SnapshotError::Poisoned { cause: cause.clone() }),
            None => Ok(()),
        }
    }

    fn poison_with(&self, error: &WalError) {
        let mut poison = lock(&self.poison);
        if poison.is_none() {
            *poison = Some(error.to_string());
        }
        drop(poison);
        self.turn.notify_all();
    }

    /// Logs `operation`, applies it, and returns its LSN once it is durable (per the log's sync policy) and applied.
    /// On `Err` the in-memory state is unchanged by it.
    pub fn execute(&self, operation: S::Operation) -> Result<Lsn, SnapshotError> {
        let mut bytes = Vec::new();
        S::encode_operation(&operation, &mut bytes);
        let log_bytes = bytes.len() as u64;
        self.check_poisoned()?;
        let lsn = self.wal.append(&bytes).map_err(|error| self.fail(error))?;
        self.apply_in_order(lsn.get(), vec![operation])?;
        self.after_write(1, log_bytes)?;
        Ok(lsn)
    }

    /// Logs `operations` as one unit (all replayed or none), applies them, and returns their LSNs.
    pub fn execute_batch(&self, operations: Vec<S::Operation>) -> Result<wal::LsnRange, SnapshotError> {
        let (encoded, log_bytes) = encode_operations::<S>(&operations);
        let slices: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        self.check_poisoned()?;
        let range = self.wal.append_batch(&slices).map_err(|error| self.fail(error))?;
        let count = operations.len() as u64;
        self.apply_in_order(range.first.get(), operations)?;
        self.after_write(count, log_bytes)?;
        Ok(range)
    }

    /// A failed append: errors that leave the log usable (a record too large, an empty batch) pass through; any
    /// other means the log is poisoned, and so is this state.
    fn fail(&self, error: WalError) -> SnapshotError {
        if !matches!(error, WalError::RecordTooLarge { .. } | WalError::EmptyBatch | WalError::BatchTooLarge { .. }) {
            self.poison_with(&error);
        }
        SnapshotError::Wal(error)
    }

    /// Applies the operations logged at `first_lsn..` once every earlier LSN is applied, and returns once they are.
    fn apply_in_order(&self, first_lsn: u64, operations: Vec<S::Operation>) -> Result<(), SnapshotError> {
        let last_lsn = first_lsn + operations.len() as u64 - 1;
        let mut queue = lock(&self.queue);
        for (offset, operation) in operations.into_iter().enumerate() {
            queue.waiting.insert(first_lsn + offset as u64, operation);
        }
        loop {
            // Apply whatever is next in line (another thread's operations too).
            let mut applied = self.applied.write().unwrap_or_else(PoisonError::into_inner);
            let mut progressed = false;
            while let Some(operation) = queue.waiting.remove(&(applied.lsn + 1)) {
                applied.state.apply(operation);
                applied.lsn += 1;
                progressed = true;
            }
            let done = applied.lsn >= last_lsn;
            drop(applied);
            if progressed {
                self.turn.notify_all();
            }
            if done {
                return Ok(());
            }
            self.check_poisoned()?;
            queue = self.turn.wait(queue).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn after_write(&self, operations: u64, log_bytes: u64) -> Result<(), SnapshotError> {
        let due = {
            let mut progress = lock(&self.checkpoint_lock);
            progress.operations += operations;
            progress.log_bytes += log_bytes;
            let policy = &self.options.checkpoint;
            policy.operations_max.is_some_and(|max| progress.operations >= max)
                || policy.log_bytes_max.is_some_and(|max| progress.log_bytes >= max)
        };
        if due {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Saves a snapshot of the state at its applied LSN (after syncing the log, so a snapshot is never ahead of
    /// the durable log, and starting a fresh log segment), then deletes the log segments at or below the oldest
    /// retained snapshot: with one snapshot retained, the log then holds only records after it.
    pub fn checkpoint(&self) -> Result<CheckpointReport, SnapshotError> {
        let mut progress = lock(&self.checkpoint_lock);
        self.check_poisoned()?;
        // Sync (a snapshot is never ahead of the durable log) and start a fresh segment, so the log below the
        // snapshot can be deleted whole once no older snapshot needs it.
        self.wal.rotate().map_err(|error| self.fail(error))?;
        let saved = {
            let applied = self.read();
            self.snapshots.save(&applied.0.state, applied.0.lsn)?
        };
        let oldest_retained = self.snapshots.list()?.first().map_or(saved.lsn, |(lsn, _)| *lsn);
        let segments_deleted = self.wal.checkpoint(Lsn(oldest_retained)).map_err(|error| self.fail(error))?;
        *progress = CheckpointProgress::default();
        Ok(CheckpointReport { lsn: saved.lsn, snapshot_bytes: saved.size_bytes, segments_deleted })
    }

    /// Makes everything logged so far durable (for the `Manual` and `Grouped` sync policies).
    pub fn sync(&self) -> Result<Lsn, SnapshotError> {
        self.wal.sync().map_err(|error| self.fail(error))
    }

    /// Syncs and closes the log.
    pub fn close(self) -> Result<(), SnapshotError> {
        self.wal.close()?;
        Ok(())
    }
}

/// Read access to a [`Durable`]'s state.
pub struct StateGuard<'a, S>(RwLockReadGuard<'a, Applied<S>>);

impl<S> std::ops::Deref for StateGuard<'_, S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.0.state
    }
}

/// A state machine made durable over an asynchronous backend (IndexedDB): single-threaded, the same protocol and
/// recovery rules as [`Durable`].
pub struct AsyncDurable<S: StateMachine, B: AsyncStorageBackend + Clone> {
    state: S,
    applied_lsn: u64,
    wal: AsyncWal<B>,
    backend: B,
    options: DurableOptions,
    progress: CheckpointProgress,
    poison: Option<String>,
    report: RecoveryReport,
}

impl<S: StateMachine, B: AsyncStorageBackend + Clone> AsyncDurable<S, B> {
    /// See [`Durable::open`].
    pub async fn open(backend: B, initial: impl FnOnce() -> S, options: DurableOptions) -> Result<Self, SnapshotError> {
        let stopwatch = Stopwatch::start();
        let loaded = manager::load_latest::<S, B>(&backend).await?;
        let mut wal = AsyncWal::open(backend.clone(), options.wal.clone()).await?;
        let mut recovery = Recovery::start(stopwatch, loaded, initial, wal.first_lsn().get(), wal.next_lsn().get())?;
        {
            let mut replay = wal.replay(recovery.replay_from()).await?;
            while let Some(entry) = replay.next().await? {
                recovery.apply(&entry)?;
            }
        }
        let orphans_removed = AsyncStorageBackend::orphans_removed_at_open(&backend);
        let (state, applied_lsn, report) = recovery.finish(wal.recovery_report().clone(), orphans_removed);
        Ok(Self {
            state,
            applied_lsn,
            wal,
            backend,
            options,
            progress: CheckpointProgress::default(),
            poison: None,
            report,
        })
    }

    /// What `open` found and did.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// The state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The LSN of the last operation applied.
    pub fn applied_lsn(&self) -> u64 {
        self.applied_lsn
    }

    fn fail(&mut self, error: WalError) -> SnapshotError {
        if !matches!(error, WalError::RecordTooLarge { .. } | WalError::EmptyBatch | WalError::BatchTooLarge { .. }) {
            self.poison.get_or_insert_with(|| error.to_string());
        }
        SnapshotError::Wal(error)
    }

    fn check_poisoned(&self) -> Result<(), SnapshotError> {
        match &self.poison {
            Some(cause) => Err(SnapshotError::Poisoned { cause: cause.clone() }),
            None => Ok(()),
        }
    }

    /// See [`Durable::execute`].
    pub async fn execute(&mut self, operation: S::Operation) -> Result<Lsn, SnapshotError> {
        let range = self.execute_batch(vec![operation]).await?;
        Ok(range.first)
    }

    /// See [`Durable::execute_batch`].
    pub async fn execute_batch(&mut self, operations: Vec<S::Operation>) -> Result<wal::LsnRange, SnapshotError> {
        self.check_poisoned()?;
        let (encoded, log_bytes) = encode_operations::<S>(&operations);
        let result = if let [single] = encoded.as_slice() {
            self.wal.append(single).await.map(|lsn| wal::LsnRange { first: lsn, last: lsn })
        } else {
            let slices: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
            self.wal.append_batch(&slices).await
        };
        let range = result.map_err(|error| self.fail(error))?;
        let count = operations.len() as u64;
        for operation in operations {
            self.state.apply(operation);
        }
        self.applied_lsn = range.last.get();
        self.progress.operations += count;
        self.progress.log_bytes += log_bytes;
        let policy = &self.options.checkpoint;
        if policy.operations_max.is_some_and(|max| self.progress.operations >= max)
            || policy.log_bytes_max.is_some_and(|max| self.progress.log_bytes >= max)
        {
            self.checkpoint().await?;
        }
        Ok(range)
    }

    /// See [`Durable::checkpoint`].
    pub async fn checkpoint(&mut self) -> Result<CheckpointReport, SnapshotError> {
        self.check_poisoned()?;
        if let Err(error) = self.wal.rotate().await {
            return Err(self.fail(error));
        }
        let saved = manager::save(&self.backend, &self.state, self.applied_lsn, &self.options.snapshot).await?;
        let oldest = manager::list_snapshots(&self.backend).await?.first().map_or(saved.lsn, |(lsn, _)| *lsn);
        let segments_deleted = match self.wal.checkpoint(Lsn(oldest)).await {
            Ok(count) => count,
            Err(error) => return Err(self.fail(error)),
        };
        self.progress = CheckpointProgress::default();
        Ok(CheckpointReport { lsn: saved.lsn, snapshot_bytes: saved.size_bytes, segments_deleted })
    }

    /// See [`Durable::sync`].
    pub async fn sync(&mut self) -> Result<Lsn, SnapshotError> {
        match self.wal.sync().await {
            Ok(lsn) => Ok(lsn),
            Err(error) => Err(self.fail(error)),
        }
    }
}
