//! The extension point: a [`Workload`] is a store plus a deterministic sequence of units and a model of the state
//! after any prefix of them. Every simulated-disk scenario ([`crate::crash_points`], [`crate::io_errors`]) runs any
//! workload, so a new store (vecdb's durable layer) joins the campaign with one file implementing this trait and
//! one line in [`crate::campaign::scenarios`].

use std::fmt;
use std::ops::Range;

use storage_core::{PersistenceError, StorageBackend};

use crate::checker::{Journal, PrefixViolation};

/// A store and the units a run issues to it, with the model to check a recovered state against.
///
/// Units are numbered from 0 and are a pure function of the workload's configuration and their index (an infinite
/// sequence: runs continue past [`Self::unit_count`] after a restart). Operations take consecutive LSNs from 1, so
/// the first `n` units hold operations `1..=`[`Journal::operations_through`]`(n)`.
pub trait Workload: Send + Sync {
    /// What recovery returns, compared with the model by [`Self::matches`].
    type State: fmt::Debug;

    /// The name shown in the summary table.
    fn name(&self) -> String;

    /// How many units a full run issues.
    fn unit_count(&self) -> usize;

    /// How many operations (LSNs) unit `unit` holds: 1 for a single operation, the batch size for a batch or
    /// transaction, 0 for a checkpoint or a sync.
    fn operations_in(&self, unit: usize) -> u64;

    /// Opens the store on `backend` (recovering what is there, which must be exactly the first `units.start`
    /// units), issues `units` in order, recording each in `journal` ([`Journal::issue`] before the call,
    /// [`Journal::acknowledge_through`] once it is durable), and closes the store. Stops at the first error, which
    /// it returns classified.
    fn run<B: StorageBackend + 'static>(
        &self,
        backend: B,
        units: Range<usize>,
        journal: &mut Journal,
    ) -> Result<(), RunFailure>;

    /// Opens the store on `backend` after a crash, checks what it can check of itself (a state digest against the
    /// recovered state), and returns how many operations it holds and its state. A typed corruption error is
    /// [`PrefixViolation::Corrupted`]; any other error [`PrefixViolation::Failed`].
    fn recover<B: StorageBackend + 'static>(&self, backend: B) -> Result<Recovered<Self::State>, PrefixViolation>;

    /// Whether `state` is exactly the state after the first `units` units, given what `journal` says was issued
    /// (a checkpoint that was issued may have dropped old log records). Explains the first difference.
    fn matches(&self, state: &Self::State, units: usize, journal: &Journal) -> Result<(), String>;
}

/// What [`Workload::recover`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovered<S> {
    /// How many operations the recovered store holds (its last LSN).
    pub operations: u64,
    /// Its state.
    pub state: S,
}

/// Recovers the store on `backend` and checks it against `journal` (see [`Journal::check_state`]). Returns the
/// number of units the recovered state holds.
pub fn verify<W: Workload, B: StorageBackend + 'static>(
    workload: &W,
    journal: &Journal,
    backend: B,
) -> Result<usize, PrefixViolation> {
    let recovered = workload.recover(backend)?;
    journal.check_state(recovered.operations, |units| workload.matches(&recovered.state, units, journal))
}

/// How a workload call failed, reduced to what the scenarios check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureClass {
    /// A storage I/O error, with its errno when it has one (EIO is 5; a simulated power loss has none).
    Io {
        /// The raw OS error.
        errno: Option<i32>,
    },
    /// The disk was full (ENOSPC, EDQUOT).
    DiskFull,
    /// The store refused the call because an earlier failure poisoned it.
    Poisoned,
    /// Stored bytes failed validation.
    Corrupted,
    /// Anything else (a bad argument, an option).
    Other,
}

/// The first error of a [`Workload::run`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFailure {
    /// Its class.
    pub class: FailureClass,
    /// Its text, for reports.
    pub message: String,
}

impl RunFailure {
    /// A failure of `class` described by `message`.
    pub fn new(class: FailureClass, message: impl fmt::Display) -> Self {
        Self { class, message: message.to_string() }
    }

    /// The check every [`Workload::run`] starts with: `journal` has issued exactly the units before `first_unit`.
    pub fn unless_journal_at(journal: &crate::checker::Journal, first_unit: usize) -> Result<(), Self> {
        if journal.issued_units() == first_unit {
            Ok(())
        } else {
            Err(Self::new(FailureClass::Other, "the journal is not at the run's first unit"))
        }
    }
}

impl fmt::Display for RunFailure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{:?}: {}", self.class, self.message)
    }
}

/// The class of a storage error.
pub fn classify_persistence(error: &PersistenceError) -> FailureClass {
    match error {
        PersistenceError::DiskFull { .. } => FailureClass::DiskFull,
        PersistenceError::Io { source, .. } => FailureClass::Io { errno: source.raw_os_error() },
        PersistenceError::Poisoned { .. } => FailureClass::Poisoned,
        PersistenceError::Corrupted { .. } => FailureClass::Corrupted,
        _ => FailureClass::Other,
    }
}

/// The class of a WAL error.
pub fn classify_wal(error: &wal::WalError) -> FailureClass {
    match error {
        wal::WalError::Storage(storage) => classify_persistence(storage),
        wal::WalError::Poisoned { .. } => FailureClass::Poisoned,
        wal::WalError::Corrupted { .. } => FailureClass::Corrupted,
        _ => FailureClass::Other,
    }
}

/// The class of a snapshot (or durable state) error.
pub fn classify_snapshot(error: &snapshot::SnapshotError) -> FailureClass {
    use snapshot::SnapshotError;
    match error {
        SnapshotError::Storage(storage) => classify_persistence(storage),
        SnapshotError::Wal(log) => classify_wal(log),
        SnapshotError::Poisoned { .. } => FailureClass::Poisoned,
        SnapshotError::AllCorrupt { .. }
        | SnapshotError::LogGap { .. }
        | SnapshotError::LogBehindSnapshot { .. }
        | SnapshotError::UndecodableOperation { .. } => FailureClass::Corrupted,
        other if other.is_bad_snapshot() => FailureClass::Corrupted,
        _ => FailureClass::Other,
    }
}

/// The violation a failed recovery is: corruption when the error says the bytes are bad, a failure otherwise.
pub fn recovery_violation(class: FailureClass, message: impl fmt::Display) -> PrefixViolation {
    match class {
        FailureClass::Corrupted => PrefixViolation::Corrupted { error: message.to_string() },
        FailureClass::DiskFull => PrefixViolation::DiskFull { error: message.to_string() },
        _ => PrefixViolation::Failed { error: message.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage_core::Operation;

    #[test]
    fn errors_are_classified_through_every_layer() {
        let eio = || PersistenceError::Io {
            operation: Operation::Sync,
            key: "wal/1".to_owned(),
            source: std::io::Error::from_raw_os_error(5),
        };
        assert_eq!(classify_persistence(&eio()), FailureClass::Io { errno: Some(5) });
        let full = PersistenceError::DiskFull { operation: Operation::Append, key: String::new() };
        assert_eq!(classify_wal(&wal::WalError::Storage(full)), FailureClass::DiskFull);
        let nested = snapshot::SnapshotError::Wal(wal::WalError::Storage(eio()));
        assert_eq!(classify_snapshot(&nested), FailureClass::Io { errno: Some(5) });
        let gap = snapshot::SnapshotError::LogGap { snapshot_lsn: None, needed_lsn: 1, first_log_lsn: 5 };
        assert_eq!(classify_snapshot(&gap), FailureClass::Corrupted);
        assert!(matches!(
            recovery_violation(FailureClass::Corrupted, "crc"),
            PrefixViolation::Corrupted { error } if error == "crc"
        ));
        assert!(matches!(recovery_violation(FailureClass::Other, "x"), PrefixViolation::Failed { .. }));
    }
}
