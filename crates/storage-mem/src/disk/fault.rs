//! I/O points, their counting and log, and the faults injected at them: errors, power loss, poisoning, bit flips.

use std::collections::{BTreeMap, VecDeque};
use std::io;

use storage_core::{Operation, PersistenceError, Result};

/// The most entries [`crate::SimulatedDisk::io_log`] keeps; older ones are dropped first.
pub const IO_LOG_ENTRIES_MAX: usize = 65_536;

/// The kind of one I/O point: one system call of the file-system backend the disk models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum OperationKind {
    /// Reading a file's bytes or length, or listing the directory (`read`, `read_range`, `len`, `list`).
    Read,
    /// Creating a file (the first `append` of a key, the temp file of `atomic_write`).
    Create,
    /// Writing bytes into a file's page cache (`append`, the temp file of `atomic_write`).
    Write,
    /// Changing a file's length (`truncate`).
    Truncate,
    /// `fdatasync` of one file (`sync`, the temp file of `atomic_write`).
    Sync,
    /// Renaming a file over another (`atomic_write`).
    Rename,
    /// Removing a name (`delete`).
    Unlink,
    /// `fsync` of the directory, making every earlier create, rename and unlink durable.
    DirectorySync,
}

/// The error an injected [`Fault`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultError {
    /// `EIO`: surfaces as [`PersistenceError::Io`] with raw OS error 5.
    Eio,
    /// `ENOSPC`: surfaces as [`PersistenceError::DiskFull`].
    Enospc,
}

impl FaultError {
    /// The errno this fault stands for.
    pub fn raw_os_error(self) -> i32 {
        match self {
            Self::Eio => 5,
            Self::Enospc => 28,
        }
    }
}

/// How long an injected [`Fault`] lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultPersistence {
    /// Only the chosen I/O point fails.
    Once,
    /// The chosen I/O point and every later one (of the chosen kind, when a kind is set) fail.
    FromThenOn,
}

/// An error to inject at an I/O point (see [`crate::SimulatedDisk::inject`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fault {
    /// The 0-based index of the I/O point that fails: counted over every point when `kind` is `None`, over the
    /// points of that kind only (the Nth `Sync`, from 0) when it is set. Indices count from the disk's creation
    /// (or its last crash or reopen), so add [`crate::SimulatedDisk::operation_count`] (or
    /// [`crate::SimulatedDisk::operation_count_of`]) to aim at a point of a workload that starts later.
    pub at_operation: u64,
    /// Count and fail only points of this kind.
    pub kind: Option<OperationKind>,
    /// What the failing point returns.
    pub error: FaultError,
    /// Whether later points fail too.
    pub persistence: FaultPersistence,
}

impl Fault {
    /// A fault that fails I/O point `at_operation` (global index) once with `error`.
    pub fn once(at_operation: u64, error: FaultError) -> Self {
        Self { at_operation, kind: None, error, persistence: FaultPersistence::Once }
    }

    /// A fault that fails the `at_operation`th point of `kind` (from 0) once with `error`.
    pub fn once_of_kind(kind: OperationKind, at_operation: u64, error: FaultError) -> Self {
        Self { at_operation, kind: Some(kind), error, persistence: FaultPersistence::Once }
    }

    /// The same fault, lasting from its point on.
    pub fn from_then_on(self) -> Self {
        Self { persistence: FaultPersistence::FromThenOn, ..self }
    }
}

/// One entry of [`crate::SimulatedDisk::io_log`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IoRecord {
    /// The point's global 0-based index.
    pub index: u64,
    /// What the point did.
    pub kind: OperationKind,
    /// The file it touched: a key, a temp file name (starting with `.`), or `""` for listing the directory.
    pub file_name: String,
}

/// Why an I/O point did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StepFailure {
    /// The simulated power went out at or before this point.
    PowerLoss,
    /// An injected fault fired.
    Injected(FaultError),
}

/// Whether a failed point of `operation` leaves the handle unsure of what is durable, so that it must poison.
/// The rules are the file-system backend's (`storage-fs`), point for point:
///
/// - A failed `Sync` or `DirectorySync` poisons, whatever the errno: the kernel may have dropped the dirty pages
///   or metadata it was meant to write (fsyncgate).
/// - Any failure inside `atomic_write` or `truncate` poisons, except `ENOSPC` while the temp copy is created or
///   written (before its sync and the rename): the target was never touched, so the caller may free space and retry.
/// - An `append` whose write fails with `EIO` poisons; with `ENOSPC` it does not, because the model's failed write
///   writes nothing, so the value is unchanged and the caller may free space and retry.
/// - A failed read, a failed create in `append` (the open failed, nothing changed) and a failed unlink in `delete`
///   do not poison.
pub(crate) fn poisons(operation: Operation, kind: OperationKind, error: FaultError) -> bool {
    match (operation, kind) {
        (_, OperationKind::Read)
        | (Operation::Append, OperationKind::Create)
        | (Operation::Delete, OperationKind::Unlink) => false,
        (Operation::Append, OperationKind::Write) => error == FaultError::Eio,
        (Operation::AtomicWrite, OperationKind::Create | OperationKind::Write) => error == FaultError::Eio,
        _ => true,
    }
}

/// The error every call returns once the simulated power is out.
pub(crate) fn power_loss(operation: Operation, key: &str) -> PersistenceError {
    PersistenceError::from_io(operation, key, io::Error::other("simulated power loss"))
}

#[derive(Clone, Debug)]
struct Poison {
    operation: Operation,
    key: String,
    cause: String,
}

#[derive(Clone, Debug)]
struct BitFlip {
    file_name: String,
    bit_offset: u64,
}

/// The per-handle side of the disk: counters, the log, armed faults, the halt point, poison and read bit flips.
/// A crash or reopen starts a fresh one.
#[derive(Clone, Debug, Default)]
pub(crate) struct Instruments {
    operation_count: u64,
    kind_counts: BTreeMap<OperationKind, u64>,
    io_log: VecDeque<IoRecord>,
    faults: Vec<Fault>,
    halt_at: Option<u64>,
    halted: bool,
    poison: Option<Poison>,
    bit_flips: Vec<BitFlip>,
}

impl Instruments {
    /// Fails with the power-loss error once halted, or with `Poisoned` once poisoned; a call checks this before
    /// its first point, so calls on a dead handle do no I/O and claim no point.
    pub(crate) fn check_usable(&self, operation: Operation, key: &str) -> Result<()> {
        if self.halted {
            return Err(power_loss(operation, key));
        }
        match &self.poison {
            Some(poison) => Err(PersistenceError::Poisoned {
                operation: poison.operation,
                key: poison.key.clone(),
                cause: poison.cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Claims the next I/O point, logs it, and says whether it fails.
    pub(crate) fn claim(&mut self, kind: OperationKind, file_name: &str) -> Result<(), StepFailure> {
        let index = self.operation_count;
        self.operation_count = index.saturating_add(1);
        let kind_count = self.kind_counts.entry(kind).or_insert(0);
        let kind_index = *kind_count;
        *kind_count = kind_index.saturating_add(1);
        if self.io_log.len() >= IO_LOG_ENTRIES_MAX {
            self.io_log.pop_front();
        }
        self.io_log.push_back(IoRecord { index, kind, file_name: file_name.to_owned() });

        if self.halt_at.is_some_and(|halt_at| index >= halt_at) {
            self.halted = true;
            return Err(StepFailure::PowerLoss);
        }
        // Indices only grow, so a `Once` fault matches exactly one point and needs no "spent" flag.
        let firing = self.faults.iter().find(|fault| {
            let position = match fault.kind {
                Some(fault_kind) if fault_kind != kind => return false,
                Some(_) => kind_index,
                None => index,
            };
            match fault.persistence {
                FaultPersistence::Once => position == fault.at_operation,
                FaultPersistence::FromThenOn => position >= fault.at_operation,
            }
        });
        match firing {
            Some(fault) => Err(StepFailure::Injected(fault.error)),
            None => Ok(()),
        }
    }

    /// The error a failed point of a call returns, poisoning the handle when the failure calls for it.
    pub(crate) fn fail(
        &mut self,
        failure: StepFailure,
        kind: OperationKind,
        operation: Operation,
        key: &str,
    ) -> PersistenceError {
        match failure {
            StepFailure::PowerLoss => power_loss(operation, key),
            StepFailure::Injected(error) => {
                let failed =
                    PersistenceError::from_io(operation, key, io::Error::from_raw_os_error(error.raw_os_error()));
                if poisons(operation, kind, error) && self.poison.is_none() {
                    self.poison = Some(Poison { operation, key: key.to_owned(), cause: failed.to_string() });
                }
                failed
            }
        }
    }

    pub(crate) fn is_halted(&self) -> bool {
        self.halted
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.poison.is_some()
    }

    pub(crate) fn operation_count(&self) -> u64 {
        self.operation_count
    }

    pub(crate) fn operation_count_of(&self, kind: OperationKind) -> u64 {
        self.kind_counts.get(&kind).copied().unwrap_or(0)
    }

    pub(crate) fn io_log(&self) -> Vec<IoRecord> {
        self.io_log.iter().cloned().collect()
    }

    pub(crate) fn inject(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear();
        self.bit_flips.clear();
        self.halt_at = None;
    }

    pub(crate) fn halt_at(&mut self, operation_index: u64) {
        self.halt_at = Some(operation_index);
    }

    pub(crate) fn flip_bit_on_read(&mut self, file_name: &str, bit_offset: u64) {
        self.bit_flips.push(BitFlip { file_name: file_name.to_owned(), bit_offset });
    }

    /// Applies the read bit flips of `file_name` to `bytes`, which were read from byte `start` of the file.
    pub(crate) fn apply_bit_flips(&self, file_name: &str, start: u64, bytes: &mut [u8]) {
        for flip in self.bit_flips.iter().filter(|flip| flip.file_name == file_name) {
            let Some(relative) = (flip.bit_offset / 8).checked_sub(start) else {
                continue;
            };
            if let Some(byte) = usize::try_from(relative).ok().and_then(|index| bytes.get_mut(index)) {
                *byte ^= 1 << (flip.bit_offset % 8);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisoning_follows_the_documented_table() {
        use FaultError::{Eio, Enospc};
        use OperationKind::*;
        let check = |operation: Operation, kind: OperationKind, expected: [bool; 2]| {
            assert_eq!(
                [poisons(operation, kind, Eio), poisons(operation, kind, Enospc)],
                expected,
                "{operation} {kind:?}"
            );
        };
        for operation in [Operation::Read, Operation::ReadRange, Operation::Len, Operation::List] {
            check(operation, Read, [false, false]);
        }
        check(Operation::Append, Create, [false, false]);
        check(Operation::Append, Write, [true, false]);
        check(Operation::Sync, Sync, [true, true]);
        check(Operation::Sync, DirectorySync, [true, true]);
        for kind in [Create, Write] {
            check(Operation::AtomicWrite, kind, [true, false]);
        }
        for kind in [Sync, Rename, DirectorySync] {
            check(Operation::AtomicWrite, kind, [true, true]);
        }
        check(Operation::Truncate, Truncate, [true, true]);
        check(Operation::Delete, Unlink, [false, false]);
        check(Operation::Delete, DirectorySync, [true, true]);
    }

    #[test]
    fn the_io_log_keeps_the_last_entries_at_its_limit() {
        let mut instruments = Instruments::default();
        let total = IO_LOG_ENTRIES_MAX as u64 + 3;
        for _ in 0..total {
            assert!(instruments.claim(OperationKind::Read, "k").is_ok());
        }
        let log = instruments.io_log();
        assert_eq!(log.len(), IO_LOG_ENTRIES_MAX);
        assert_eq!(log.first().map(|record| record.index), Some(3));
        assert_eq!(log.last().map(|record| record.index), Some(total - 1));
        assert_eq!(instruments.operation_count(), total);
    }
}
