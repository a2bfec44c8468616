//! [`SimulatedDisk`]: a [`StorageBackend`] that models a disk and file system for crash and fault tests.

mod crash;
mod fault;
mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use storage_core::{Key, Result, StorageBackend};

pub use fault::{Fault, FaultError, FaultPersistence, IO_LOG_ENTRIES_MAX, IoRecord, OperationKind};
pub use state::{SECTOR_BYTES_DEFAULT, SECTOR_BYTES_MAX};

use crash::Survival;
use state::State;

/// A simulated disk and file system: one flat directory of files, with durable and un-synced state tracked apart,
/// power loss, injected errors and bit flips. See the [crate docs](crate) for the model.
///
/// [`Clone`] gives another handle to the same disk. [`Self::crash`], [`Self::reopen`] and their siblings return a
/// *new*, independent disk and leave this one as it is, so one halted run can be crashed with many seeds.
#[derive(Clone)]
pub struct SimulatedDisk {
    state: Arc<Mutex<State>>,
}

impl Default for SimulatedDisk {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SimulatedDisk {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        formatter
            .debug_struct("SimulatedDisk")
            .field("sector_bytes", &state.sector_bytes)
            .field("files", &state.directory.live.len())
            .field("pending_namespace_operations", &state.directory.pending.len())
            .field("operation_count", &state.instruments.operation_count())
            .field("halted", &state.instruments.is_halted())
            .field("poisoned", &state.instruments.is_poisoned())
            .finish()
    }
}

impl SimulatedDisk {
    /// An empty disk with [`SECTOR_BYTES_DEFAULT`]-byte sectors.
    pub fn new() -> Self {
        Self::with_sector_bytes(SECTOR_BYTES_DEFAULT)
    }

    /// An empty disk whose writes tear at `sector_bytes` granularity, clamped to `1..=`[`SECTOR_BYTES_MAX`].
    pub fn with_sector_bytes(sector_bytes: u64) -> Self {
        Self::from_state(State::new(sector_bytes))
    }

    fn from_state(state: State) -> Self {
        Self { state: Arc::new(Mutex::new(state)) }
    }

    /// The state, even if a thread panicked while holding the lock.
    ///
    /// Recovering with [`PoisonError::into_inner`] is sound: nothing under this lock calls user code, and this
    /// crate's code cannot panic there (clippy denies `unwrap`, `expect`, `panic` and indexing; allocation failure
    /// aborts rather than unwinds), so the lock can only be poisoned by a bug, never by a half-applied change this
    /// model must hide. Surfacing a `Backend` error instead would turn one panic into a cascade of unrelated test
    /// failures.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sector size writes tear at.
    pub fn sector_bytes(&self) -> u64 {
        self.lock().sector_bytes
    }

    // ---- Crashes and restarts --------------------------------------------------------------------------------

    /// A new disk holding a state a power loss now could leave, chosen deterministically by `seed`: a prefix of
    /// the pending namespace operations, and for each file, each pending write and truncate independently kept,
    /// dropped or (a write) torn, so a later write can survive an earlier one (holes read as zeros). Everything on it is durable; it has no pending operations, no
    /// faults and fresh counters, and its open removed orphaned temp files ([`Self::orphans_removed_at_open`]).
    pub fn crash(&self, seed: u64) -> SimulatedDisk {
        Self::from_state(crash::after_power_loss(&self.lock(), Survival::Seeded(seed)))
    }

    /// Like [`Self::crash`], but each file keeps a *prefix* of its pending writes and truncates, the next write
    /// possibly torn (ext4 `data=ordered` with in-order writeback): a milder model, for tests that want it.
    pub fn crash_in_order(&self, seed: u64) -> SimulatedDisk {
        Self::from_state(crash::after_power_loss(&self.lock(), Survival::SeededInOrder(seed)))
    }

    /// A new disk after a power loss that lost everything un-synced (the deterministic worst case); its contents
    /// are [`Self::durable_image`].
    pub fn crash_losing_everything_unsynced(&self) -> SimulatedDisk {
        Self::from_state(crash::after_power_loss(&self.lock(), Survival::NothingUnsynced))
    }

    /// A new disk after a process kill whose page cache then reached the medium: everything this disk's reads
    /// see (its [`Self::live_image`]) is on it, durable. Otherwise like [`Self::crash`].
    pub fn crash_keeping_everything(&self) -> SimulatedDisk {
        Self::from_state(crash::after_power_loss(&self.lock(), Survival::Everything))
    }

    /// A new disk as a restarted process finds it without any power loss: reads see everything as before, and file
    /// data that was not durable is still not durable, so a later crash can lose it (including pages a failed
    /// `fsync` dropped: they stay readable but never become durable). Poison, halt, faults, bit flips and counters
    /// are cleared. The open removes orphaned temp files and fsyncs the directory, as the file-system backend's
    /// does, so every pending create, rename and unlink is durable on the new disk.
    pub fn reopen(&self) -> SimulatedDisk {
        Self::from_state(crash::after_restart(&self.lock()))
    }

    /// How many orphaned temp files (names starting with `.`) the open that made this disk removed; 0 for a disk
    /// from [`Self::new`].
    pub fn orphans_removed_at_open(&self) -> u64 {
        u64::try_from(self.lock().orphans_removed_at_open.len()).unwrap_or(u64::MAX)
    }

    // ---- Counting and faults ---------------------------------------------------------------------------------

    /// How many I/O points this handle has claimed (see the crate docs for what one is). Calls refused because the
    /// handle is halted or poisoned claim none.
    pub fn operation_count(&self) -> u64 {
        self.lock().instruments.operation_count()
    }

    /// How many I/O points of `kind` this handle has claimed: the index the next one of that kind gets, for a
    /// [`Fault`] with `kind` set.
    pub fn operation_count_of(&self, kind: OperationKind) -> u64 {
        self.lock().instruments.operation_count_of(kind)
    }

    /// The last (up to [`IO_LOG_ENTRIES_MAX`]) I/O points, oldest first.
    pub fn io_log(&self) -> Vec<IoRecord> {
        self.lock().instruments.io_log()
    }

    /// Arms `fault`. Several faults may be armed; at each point the first one that matches fires.
    pub fn inject(&self, fault: Fault) {
        self.lock().instruments.inject(fault);
    }

    /// Disarms every fault, read bit flip and halt point. A handle already halted or poisoned stays so.
    pub fn clear_faults(&self) {
        self.lock().instruments.clear_faults();
    }

    /// Simulates power loss at I/O point `operation_index`: that point (or the first one claimed after it, when
    /// the count is already past it) and every later call fail with an I/O error ("simulated power loss") and
    /// change nothing. Then call [`Self::crash`] for the disk the power loss leaves.
    pub fn halt_at(&self, operation_index: u64) {
        self.lock().instruments.halt_at(operation_index);
    }

    /// True once a [`Self::halt_at`] point was reached.
    pub fn is_halted(&self) -> bool {
        self.lock().instruments.is_halted()
    }

    /// True once a failed write or sync poisoned the handle.
    pub fn is_poisoned(&self) -> bool {
        self.lock().instruments.is_poisoned()
    }

    /// Makes reads of `key` return bit `bit_offset` (bit `bit_offset % 8` of byte `bit_offset / 8`) flipped. The
    /// stored bytes do not change; the flip lasts until [`Self::clear_faults`], a crash or a reopen.
    pub fn flip_bit_on_read(&self, key: &Key, bit_offset: u64) {
        self.lock().instruments.flip_bit_on_read(key.as_str(), bit_offset);
    }

    /// Xors `xor_mask` into the durable byte `byte_offset` of `key` (and into the byte reads see, when the key
    /// still names the same file and is that long): rot on the medium. Returns false, changing nothing, when `key`
    /// has no durable byte there.
    #[must_use = "false means nothing was corrupted"]
    pub fn corrupt_durable(&self, key: &Key, byte_offset: u64, xor_mask: u8) -> bool {
        self.lock().corrupt_durable(key.as_str(), byte_offset, xor_mask)
    }

    // ---- Introspection ---------------------------------------------------------------------------------------

    /// Every key with its durable bytes: what survives if everything un-synced is lost. Temp files are left out.
    pub fn durable_image(&self) -> BTreeMap<String, Vec<u8>> {
        self.lock().durable_image()
    }

    /// Every key with the bytes reads see now (ignoring read bit flips). Temp files are left out.
    pub fn live_image(&self) -> BTreeMap<String, Vec<u8>> {
        self.lock().live_image()
    }
}

impl StorageBackend for SimulatedDisk {
    fn name(&self) -> &'static str {
        "simulated-disk"
    }

    fn read(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.lock().read(key)
    }

    fn read_range(&self, key: &Key, offset: u64, length: u64) -> Result<Vec<u8>> {
        self.lock().read_range(key, offset, length)
    }

    fn len(&self, key: &Key) -> Result<Option<u64>> {
        self.lock().len(key)
    }

    fn append(&self, key: &Key, data: &[u8]) -> Result<()> {
        self.lock().append(key, data)
    }

    fn sync(&self, key: &Key) -> Result<()> {
        self.lock().sync(key)
    }

    fn atomic_write(&self, key: &Key, data: &[u8]) -> Result<()> {
        self.lock().atomic_write(key, data)
    }

    fn truncate(&self, key: &Key, length: u64) -> Result<()> {
        self.lock().truncate(key, length)
    }

    fn delete(&self, key: &Key) -> Result<bool> {
        self.lock().delete(key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<Key>> {
        self.lock().list(prefix)
    }

    fn orphans_removed_at_open(&self) -> Vec<String> {
        self.lock().orphans_removed_at_open.clone()
    }
}
