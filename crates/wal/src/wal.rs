//! [`Wal`]: the blocking log for native callers, shared between threads, with group commit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::{self, Thread};
use std::time::Duration;

use storage_core::{StorageBackend, block_on};

use crate::clock::{self, Clock};
use crate::driver;
use crate::entry::{Entry, Lsn, LsnRange};
use crate::error::WalError;
use crate::format::{BatchBuilder, READ_CHUNK_BYTES};
use crate::options::{SyncPolicy, WalOptions};
use crate::reader::ReplayCursor;
use crate::recovery::RecoveryReport;
use crate::writer_core::{Flush, WriterCore, stage_check};

/// The longest a group-commit leader waits for the appenders of its previous group to join (see `Wal::wait_for`).
pub const GATHER_WINDOW_MAX_US: u64 = 1_000;

struct WriterState {
    core: WriterCore,
    /// True while one caller (the leader) carries out a flush without holding the lock.
    flushing: bool,
    /// True while a leader waits for its group to fill (see `Wal::wait_for`).
    gathering: bool,
    /// Records framed when the last flush was taken, and how many that flush took.
    records_at_last_take: u64,
    last_group_records: u64,
    /// How long a leader may wait for its group to fill: the last sync's duration.
    gather_window_us: u64,
    /// Threads parked until the running (or gathering) flush completes; the leader unparks them one by one.
    waiters: Vec<Thread>,
    /// The leader parked while its group fills; the appender that completes the group unparks it.
    gatherer: Option<Thread>,
}

/// A write-ahead log over a [`StorageBackend`], for native callers: every call blocks until done, and the log is
/// `Send + Sync`, to be shared (`&Wal`, `Arc<Wal>`) by many appending threads.
///
/// **Group commit.** An appender frames its record into a shared buffer under a lock (which assigns its LSN, so
/// LSNs increase in file order), then waits. One waiter becomes the leader: it takes the whole buffer, releases
/// the lock, appends and syncs once, publishes the new durable point and wakes the others; each returns once its
/// own record is covered. Records framed while a leader syncs form the next group, whose leader first lets the
/// appenders just released join it (see `wait_for`). Only one flush runs at a time: concurrent `fdatasync`s of
/// one file could each return success while the other consumed a writeback error.
///
/// The I/O is the same code as [`crate::AsyncWal`]'s (`driver`), run with [`block_on`].
pub struct Wal<B: StorageBackend> {
    backend: B,
    state: Mutex<WriterState>,
    /// Flushes completed so far: a parked waiter sleeps until this moves. Changed only under the lock.
    flushes_completed: AtomicU64,
    /// The core's written and durable positions as of the last completed flush, published so that a woken waiter
    /// whose record is covered returns without taking the lock.
    written_position: AtomicU64,
    durable_position: AtomicU64,
    checkpoint: Mutex<()>,
    policy: SyncPolicy,
    record_bytes_max: u64,
    report: RecoveryReport,
    clock: Clock,
}

impl<B: StorageBackend> Wal<B> {
    /// Opens (recovering) or creates the log under `options.key_prefix` on `backend`. A torn tail is truncated
    /// durably before this returns; damage is [`WalError::Corrupted`] unless `options.recovery_mode` salvages.
    /// What recovery found is [`Self::recovery_report`].
    pub fn open(backend: B, options: WalOptions) -> Result<Self, WalError> {
        let salt_seed = options.salt_seed.unwrap_or_else(clock::random_seed);
        let (core, report) = block_on(driver::open(&backend, &options, salt_seed))?;
        Ok(Self {
            backend,
            state: Mutex::new(WriterState {
                core,
                flushing: false,
                gathering: false,
                records_at_last_take: 0,
                last_group_records: 0,
                gather_window_us: 0,
                waiters: Vec::new(),
                gatherer: None,
            }),
            flushes_completed: AtomicU64::new(0),
            written_position: AtomicU64::new(0),
            durable_position: AtomicU64::new(0),
            checkpoint: Mutex::new(()),
            policy: options.sync_policy,
            record_bytes_max: options.record_bytes_max,
            report,
            clock: Clock::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, WriterState> {
        // The core never panics while the lock is held; a poisoned mutex only means another thread panicked in
        // its own code, and the state is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now_ms(&self) -> u64 {
        if matches!(self.policy, SyncPolicy::Grouped { .. }) { self.clock.now_ms() } else { 0 }
    }

    /// Appends one operation. See [`SyncPolicy`] for what `Ok` means (by default: durable).
    pub fn append(&self, payload: &[u8]) -> Result<Lsn, WalError> {
        let now_ms = self.now_ms();
        let mut state = self.lock();
        let (range, position) = state.core.frame_single(payload, now_ms)?;
        self.after_frame(state, position, now_ms)?;
        Ok(range.first)
    }

    /// Appends several operations as one record: after a crash all of them are replayed or none. Each takes an
    /// LSN. An empty batch is [`WalError::EmptyBatch`].
    pub fn append_batch(&self, operations: &[&[u8]]) -> Result<LsnRange, WalError> {
        let now_ms = self.now_ms();
        let mut state = self.lock();
        let (range, position) = state.core.frame_batch(operations, now_ms)?;
        self.after_frame(state, position, now_ms)?;
        Ok(range)
    }

    /// Starts a transaction: operations staged in memory, written as one batch by [`Transaction::commit`];
    /// dropping it without committing writes nothing.
    pub fn transaction(&self) -> Transaction<'_, B> {
        Transaction { wal: self, batch: BatchBuilder::default() }
    }

    fn commit_staged(&self, batch: &BatchBuilder) -> Result<LsnRange, WalError> {
        let now_ms = self.now_ms();
        let mut state = self.lock();
        let (range, position) = state.core.frame_staged(batch, now_ms)?;
        self.after_frame(state, position, now_ms)?;
        Ok(range)
    }

    fn after_frame<'a>(
        &'a self,
        state: MutexGuard<'a, WriterState>,
        position: u64,
        now_ms: u64,
    ) -> Result<(), WalError> {
        match state.core.flush_need(self.policy, position, now_ms) {
            Some((target, sync)) => self.wait_for(state, target, sync),
            None => Ok(()),
        }
    }

    /// Waits until everything up to `target` is written (and durable when `sync`), leading a flush when no one is.
    ///
    /// **Gathering.** Many threads that each append, wait and append again form a closed loop in which plain group
    /// commit puts only about half of them in each group: those released by one sync frame their next records
    /// while the next sync runs, without the others. So a leader whose group is smaller than the previous one
    /// first waits (parked; the appender that completes the group unparks it) until it is as large, or for as long
    /// as the last sync took (at most [`GATHER_WINDOW_MAX_US`]). A lone writer never waits, and only
    /// [`SyncPolicy::EveryCommit`] gathers (under the other policies appenders do not wait for syncs).
    ///
    /// **Waking.** Followers park one by one and the leader unparks each after its flush: a woken follower whose
    /// record is covered returns without taking the lock. (A `Condvar::notify_all` wakes every waiter into a
    /// fight for the mutex; on two cores that herd cost about as much as a fast `fdatasync`.)
    fn wait_for<'a>(&'a self, mut state: MutexGuard<'a, WriterState>, target: u64, sync: bool) -> Result<(), WalError> {
        let mut gather_deadline_us: Option<u64> = None;
        loop {
            state = self.unless_poisoned(state)?;
            if state.core.reached(target, sync) {
                return Ok(());
            }
            let group_records = state.core.records_framed() - state.records_at_last_take;
            if state.flushing || state.gathering {
                if state.gathering
                    && group_records >= state.last_group_records
                    && let Some(gatherer) = state.gatherer.take()
                {
                    gatherer.unpark();
                }
                self.park_until_flushed(state);
                if self.published_reached(target, sync) {
                    return Ok(());
                }
                state = self.lock();
                continue;
            }
            let gathers = sync && self.policy == SyncPolicy::EveryCommit;
            if gathers && group_records < state.last_group_records {
                let now_us = self.clock.now_us();
                let deadline_us = *gather_deadline_us.get_or_insert(now_us.saturating_add(state.gather_window_us));
                let remaining = Duration::from_micros(deadline_us.saturating_sub(now_us));
                if !remaining.is_zero() {
                    state.gathering = true;
                    state.gatherer = Some(thread::current());
                    drop(state);
                    // Returns when unparked (the group is complete), at the deadline, or spuriously: the loop
                    // decides again either way.
                    thread::park_timeout(remaining);
                    state = self.lock();
                    state.gathering = false;
                    state.gatherer = None;
                    continue;
                }
            }
            gather_deadline_us = None;
            let Some(flush) = state.core.take_flush(sync, self.now_ms()) else {
                // Nothing left to write or sync: `reached` holds (the core keeps the two consistent).
                self.complete_and_wake(state);
                return Ok(());
            };
            if gathers {
                state.last_group_records = group_records;
                state.records_at_last_take = state.core.records_framed();
            }
            self.lead_flush(state, flush, gathers)?;
            if self.published_reached(target, sync) {
                return Ok(());
            }
            state = self.lock();
        }
    }

    /// Carries out `flush` as the leader: marks a flush running, executes its intents without the lock, records
    /// the outcome in the core (and, when the flush `gathers`, its duration as the next gather window), then
    /// publishes and wakes every waiter. A failed flush poisons the log and is returned.
    fn lead_flush(&self, mut state: MutexGuard<'_, WriterState>, flush: Flush, gathers: bool) -> Result<(), WalError> {
        state.flushing = true;
        drop(state);
        let started_us = self.clock.now_us();
        let result = block_on(driver::execute(&self.backend, &flush.intents));
        let elapsed_us = self.clock.now_us().saturating_sub(started_us);
        let mut state = self.lock();
        state.flushing = false;
        if gathers {
            state.gather_window_us = elapsed_us.min(GATHER_WINDOW_MAX_US);
        }
        let outcome = state.core.complete_flush(flush, result);
        self.complete_and_wake(state);
        outcome
    }

    /// The lock back when the log is not poisoned; otherwise wakes every parked thread (they must see the error
    /// too, even when no flush of theirs will ever complete: a checkpoint's failed delete poisons while a leader
    /// gathers) and returns the error.
    fn unless_poisoned<'a>(
        &'a self,
        state: MutexGuard<'a, WriterState>,
    ) -> Result<MutexGuard<'a, WriterState>, WalError> {
        match state.core.check_poisoned() {
            Ok(()) => Ok(state),
            Err(error) => {
                self.complete_and_wake(state);
                Err(error)
            }
        }
    }

    /// Parks the calling thread, without the lock, until the running (or gathering) flush completes. The caller
    /// then checks the published positions ([`Self::published_reached`]) or takes the lock to decide anew.
    fn park_until_flushed(&self, mut state: MutexGuard<'_, WriterState>) {
        // Read under the lock, where completions count: the flush that moves it takes `waiters` after us.
        let completed = self.flushes_completed.load(Ordering::Relaxed);
        state.waiters.push(thread::current());
        drop(state);
        // `park` may return spuriously or on a stale unpark: only a completed flush ends the wait.
        while self.flushes_completed.load(Ordering::Acquire) == completed {
            thread::park();
        }
    }

    /// After a flush (or the finding that none is needed): publishes the core's positions, counts the completion
    /// and unparks every waiter, after releasing the lock so that they do not wake into it.
    fn complete_and_wake(&self, mut state: MutexGuard<'_, WriterState>) {
        self.written_position.store(state.core.written_position(), Ordering::Relaxed);
        self.durable_position.store(state.core.durable_position(), Ordering::Relaxed);
        self.flushes_completed.fetch_add(1, Ordering::Release);
        let waiters = std::mem::take(&mut state.waiters);
        drop(state);
        for waiter in waiters {
            waiter.unpark();
        }
    }

    /// [`WriterCore::reached`] on the positions the last completed flush published (a poisoned log publishes no
    /// progress, so its waiters take the lock and see the error).
    fn published_reached(&self, position: u64, sync: bool) -> bool {
        let reached = if sync { &self.durable_position } else { &self.written_position };
        reached.load(Ordering::Acquire) >= position
    }

    /// Syncs everything, then closes the active segment and durably starts a new, empty one, so that every record
    /// appended so far lies in segments a checkpoint can delete whole (a checkpoint never deletes the active
    /// segment). Does nothing more than `sync` when the active segment holds no records.
    pub fn rotate(&self) -> Result<(), WalError> {
        self.sync()?;
        let mut state = self.lock();
        if !state.core.rotate_now()? {
            return Ok(());
        }
        loop {
            state = self.unless_poisoned(state)?;
            if state.flushing || state.gathering {
                self.park_until_flushed(state);
                state = self.lock();
                continue;
            }
            // `None` once a flush (ours, or another thread's that took our intents) carried the rotation out.
            let Some(flush) = state.core.take_flush(true, self.now_ms()) else {
                return Ok(());
            };
            self.lead_flush(state, flush, false)?;
            state = self.lock();
        }
    }

    /// Writes and syncs everything appended so far; returns the durable LSN.
    pub fn sync(&self) -> Result<Lsn, WalError> {
        let state = self.lock();
        let target = state.core.framed_position();
        self.wait_for(state, target, true)?;
        Ok(self.durable_lsn())
    }

    /// Writes every buffered record to the backend without syncing: they then survive a crash of this process
    /// (and are visible to other readers of the backend), not a power loss.
    pub fn flush(&self) -> Result<(), WalError> {
        let state = self.lock();
        let target = state.core.framed_position();
        self.wait_for(state, target, false)
    }

    /// Every LSN up to this one is durable ([`Lsn::ZERO`] when none is).
    pub fn durable_lsn(&self) -> Lsn {
        Lsn(self.lock().core.durable_lsn())
    }

    /// The LSN the next append gets.
    pub fn next_lsn(&self) -> Lsn {
        Lsn(self.lock().core.next_lsn())
    }

    /// The first LSN the log still holds (checkpoints remove older ones).
    pub fn first_lsn(&self) -> Lsn {
        Lsn(self.lock().core.first_lsn())
    }

    /// How many segments the log has.
    pub fn segment_count(&self) -> usize {
        self.lock().core.segment_count()
    }

    /// What `open` found and did.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Streams the entries whose last LSN is at least `from`, in LSN order, up to the last record appended before
    /// this call (which writes buffered records first, without syncing). Reads about 1 MiB at a time: the log is
    /// never loaded whole. A batch comes whole, even when `from` falls inside it.
    ///
    /// A checkpoint running at the same time may delete a segment the replay still needs: the replay then fails
    /// with [`WalError::Corrupted`] ([`crate::CorruptionReason::SegmentVanished`]).
    pub fn replay(&self, from: Lsn) -> Result<Replay<'_, B>, WalError> {
        self.flush()?;
        let cursor = self.lock().core.replay_cursor(from.0, READ_CHUNK_BYTES);
        Ok(Replay { backend: &self.backend, cursor, finished: false })
    }

    /// Deletes the segments whose records all have LSNs below `before`, oldest first, so that a crash midway
    /// leaves a valid log (a contiguous suffix). Never deletes the active segment: records below `before` may
    /// remain. Returns how many segments were deleted. A failed delete poisons the log.
    pub fn truncate_before(&self, before: Lsn) -> Result<usize, WalError> {
        let _one_at_a_time = self.checkpoint.lock().unwrap_or_else(PoisonError::into_inner);
        let keys = {
            let state = self.lock();
            state.core.check_poisoned()?;
            state.core.segments_before(before.0)
        };
        if keys.is_empty() {
            return Ok(0);
        }
        let (deleted, result) = block_on(driver::delete_segments(&self.backend, &keys));
        self.lock().core.complete_deletes(&keys, deleted, result)
    }

    /// Declares every operation up to and including `applied` applied elsewhere (say, in a snapshot), so the
    /// segments holding only such operations can go: [`Self::truncate_before`] `applied + 1`.
    pub fn checkpoint(&self, applied: Lsn) -> Result<usize, WalError> {
        self.truncate_before(Lsn(applied.0.saturating_add(1)))
    }

    /// Writes and syncs everything, then seals the log (one small record proving the tail durable, so the next
    /// open has nothing to rewrite) and closes it.
    pub fn close(self) -> Result<(), WalError> {
        self.shut_down()
    }

    fn shut_down(&self) -> Result<(), WalError> {
        let state = self.lock();
        let target = state.core.framed_position();
        self.wait_for(state, target, true)?;
        let mut state = self.lock();
        match state.core.frame_seal()? {
            Some(position) => self.wait_for(state, position, true),
            None => Ok(()),
        }
    }
}

impl<B: StorageBackend> Drop for Wal<B> {
    /// Best effort, errors ignored (call [`Wal::close`] to see them): under [`SyncPolicy::Manual`], writes the
    /// buffered records without syncing; under the other policies, syncs and seals like `close`.
    fn drop(&mut self) {
        if self.lock().core.check_poisoned().is_err() {
            return;
        }
        if self.policy == SyncPolicy::Manual {
            let _ignored = self.flush();
        } else {
            let _ignored = self.shut_down();
        }
    }
}

impl<B: StorageBackend> std::fmt::Debug for Wal<B> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        formatter
            .debug_struct("Wal")
            .field("backend", &self.backend.name())
            .field("next_lsn", &state.core.next_lsn())
            .field("durable_lsn", &state.core.durable_lsn())
            .field("policy", &self.policy)
            .finish()
    }
}

/// Operations staged for one atomic commit (see [`Wal::transaction`]). Nothing reaches the log before
/// [`Self::commit`]; dropping the transaction discards the operations.
#[derive(Debug)]
pub struct Transaction<'w, B: StorageBackend> {
    wal: &'w Wal<B>,
    batch: BatchBuilder,
}

impl<B: StorageBackend> Transaction<'_, B> {
    /// Stages one operation. Fails, staging nothing, when the batch would pass the record or operation limit.
    pub fn stage(&mut self, operation: &[u8]) -> Result<(), WalError> {
        stage_check(&self.batch, operation, self.wal.record_bytes_max)?;
        self.batch.push(operation);
        Ok(())
    }

    /// How many operations are staged.
    pub fn operation_count(&self) -> u32 {
        self.batch.count()
    }

    /// Writes the staged operations as one batch record (durable under the default policy) and returns their
    /// LSNs. An empty transaction is [`WalError::EmptyBatch`].
    pub fn commit(self) -> Result<LsnRange, WalError> {
        self.wal.commit_staged(&self.batch)
    }
}

/// The entries of a [`Wal::replay`], read chunk by chunk.
pub struct Replay<'w, B: StorageBackend> {
    backend: &'w B,
    cursor: ReplayCursor,
    finished: bool,
}

impl<B: StorageBackend> Iterator for Replay<'_, B> {
    type Item = Result<Entry, WalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match block_on(driver::replay_next(self.backend, &mut self.cursor)) {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(error) => {
                self.finished = true;
                Some(Err(error))
            }
        }
    }
}

impl<B: StorageBackend> std::fmt::Debug for Replay<'_, B> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Replay").field("finished", &self.finished).finish_non_exhaustive()
    }
}
