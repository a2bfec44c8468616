//! The snapshot + checkpoint workload: `snapshot::Durable<VectorState, _>` executing single operations and batches,
//! with explicit checkpoints (snapshot save, retention, log truncation) between them, over small log segments.

use std::ops::Range;

use snapshot::testing::VectorState;
use snapshot::{CheckpointPolicy, Durable, DurableOptions, Snapshot};
use storage_core::StorageBackend;
use wal::WalOptions;

use crate::checker::{Journal, PrefixViolation};
use crate::random::derive;
use crate::vector_model::{self, DIMENSION, VectorModel};
use crate::workload::{FailureClass, Recovered, RunFailure, Workload, classify_snapshot, recovery_violation};

/// Log segments this small rotate every few operations.
pub const SEGMENT_BYTES: u64 = 512;

/// Units planned past [`Workload::unit_count`], for runs that continue after a restart.
const EXTRA_UNITS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DurableUnit {
    Single,
    Batch(u64),
    Checkpoint,
}

impl DurableUnit {
    fn operations(self) -> u64 {
        match self {
            Self::Single => 1,
            Self::Batch(count) => count,
            Self::Checkpoint => 0,
        }
    }
}

/// The options every open of the workload's store uses: small segments, a seeded salt, checkpoints only when the
/// workload asks, two snapshots retained.
pub fn durable_options(seed: u64, segment_bytes_max: u64) -> DurableOptions {
    DurableOptions {
        wal: WalOptions { segment_bytes_max, salt_seed: Some(seed), ..WalOptions::default() },
        checkpoint: CheckpointPolicy { operations_max: None, log_bytes_max: None },
        ..DurableOptions::default()
    }
}

/// Opens a `Durable<VectorState>` on `backend` and returns its applied LSN and state once the recovery report's
/// digest is checked against the digest of the recovered state.
pub fn recover_vector_state<B: StorageBackend + 'static>(
    backend: B,
    options: DurableOptions,
) -> Result<(u64, VectorState), PrefixViolation> {
    let durable = Durable::open(backend, || VectorState::new(DIMENSION), options)
        .map_err(|error| recovery_violation(classify_snapshot(&error), error))?;
    let report = durable.recovery_report().clone();
    let state = durable.read().clone();
    let applied_lsn = durable.applied_lsn();
    drop(durable);
    let digest = state.digest();
    if report.state_digest != digest {
        let error =
            format!("the recovery report's digest {} is not the recovered state's {digest}", report.state_digest);
        return Err(PrefixViolation::Corrupted { error });
    }
    if report.last_lsn != applied_lsn {
        let error = format!("the report's last LSN {} is not the applied LSN {applied_lsn}", report.last_lsn);
        return Err(PrefixViolation::Failed { error });
    }
    Ok((applied_lsn, state))
}

/// A durable vector state and a deterministic mix of operations, batches and checkpoints.
#[derive(Clone, Debug)]
pub struct DurableWorkload {
    seed: u64,
    unit_count: usize,
    units: Vec<DurableUnit>,
    /// `operations_before[i]`: operations in units `0..i`.
    operations_before: Vec<u64>,
}

impl DurableWorkload {
    /// A workload of `unit_count` units seeded with `seed`.
    pub fn new(seed: u64, unit_count: usize) -> Self {
        let mut units = Vec::with_capacity(unit_count + EXTRA_UNITS);
        let mut operations_before = vec![0];
        let mut lsn = 0u64;
        for index in 0..unit_count + EXTRA_UNITS {
            let hash = derive(seed ^ 0xD0AB, index as u64);
            let unit = match hash % 12 {
                0 | 1 => DurableUnit::Checkpoint,
                2..=4 => DurableUnit::Batch(2 + (hash >> 8) % 4),
                _ => DurableUnit::Single,
            };
            lsn += unit.operations();
            units.push(unit);
            operations_before.push(lsn);
        }
        Self { seed, unit_count, units, operations_before }
    }

    fn before(&self, units: usize) -> u64 {
        self.operations_before.get(units).copied().unwrap_or(u64::MAX)
    }

    fn options(&self) -> DurableOptions {
        durable_options(self.seed, SEGMENT_BYTES)
    }
}

impl Workload for DurableWorkload {
    type State = VectorState;

    fn name(&self) -> String {
        "snapshot + checkpoint (Durable)".to_owned()
    }

    fn unit_count(&self) -> usize {
        self.unit_count
    }

    fn operations_in(&self, unit: usize) -> u64 {
        self.units.get(unit).map_or(0, |unit| unit.operations())
    }

    fn run<B: StorageBackend + 'static>(
        &self,
        backend: B,
        units: Range<usize>,
        journal: &mut Journal,
    ) -> Result<(), RunFailure> {
        let failure = |error: snapshot::SnapshotError| RunFailure::new(classify_snapshot(&error), error);
        RunFailure::unless_journal_at(journal, units.start)?;
        let durable = Durable::open(backend, || VectorState::new(DIMENSION), self.options()).map_err(failure)?;
        let expected = self.before(units.start);
        if durable.applied_lsn() != expected {
            let message = format!("the store holds {} operations, the plan {expected}", durable.applied_lsn());
            return Err(RunFailure::new(FailureClass::Other, message));
        }
        for index in units {
            let unit = self
                .units
                .get(index)
                .copied()
                .ok_or_else(|| RunFailure::new(FailureClass::Other, format!("unit {index} is past the plan")))?;
            let first_lsn = self.before(index) + 1;
            journal.issue(unit.operations());
            let result = match unit {
                DurableUnit::Single => durable.execute(vector_model::operation_at(self.seed, first_lsn)).map(drop),
                DurableUnit::Batch(count) => {
                    durable.execute_batch(vector_model::operations(self.seed, first_lsn, count)).map(drop)
                }
                DurableUnit::Checkpoint => durable.checkpoint().map(drop),
            };
            result.map_err(failure)?;
            journal.acknowledge_through(index + 1);
        }
        durable.close().map_err(failure)
    }

    fn recover<B: StorageBackend + 'static>(&self, backend: B) -> Result<Recovered<VectorState>, PrefixViolation> {
        let (operations, state) = recover_vector_state(backend, self.options())?;
        Ok(Recovered { operations, state })
    }

    fn matches(&self, state: &VectorState, units: usize, _journal: &Journal) -> Result<(), String> {
        let mut model = VectorModel::new(self.seed);
        match vector_model::difference(model.state_at(self.before(units)), state) {
            Some(difference) => Err(difference),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::verify;
    use storage_core::StorageBackend;
    use storage_mem::SimulatedDisk;

    #[test]
    fn a_full_run_checkpoints_and_verifies_after_losing_everything_unsynced() {
        let workload = DurableWorkload::new(9, 40);
        let disk = SimulatedDisk::new();
        let mut journal = Journal::new();
        assert_eq!(workload.run(disk.clone(), 0..40, &mut journal), Ok(()));
        assert!(!disk.list("snapshot").unwrap().is_empty(), "checkpoints saved snapshots");
        assert_eq!(verify(&workload, &journal, disk.crash_losing_everything_unsynced()), Ok(40));
    }

    #[test]
    fn a_restarted_run_continues_from_the_recovered_unit() {
        let workload = DurableWorkload::new(9, 40);
        let disk = SimulatedDisk::new();
        let mut journal = Journal::new();
        assert_eq!(workload.run(disk.clone(), 0..10, &mut journal), Ok(()));
        assert_eq!(workload.run(disk.reopen(), 10..12, &mut journal), Ok(()));
        assert!(matches!(workload.run(disk.reopen(), 5..6, &mut Journal::new()), Err(RunFailure { .. })));
    }
}
