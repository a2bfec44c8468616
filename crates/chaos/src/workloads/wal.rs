//! The WAL workload: appends, batches, transactions, checkpoints (and syncs, under the manual policy) over small
//! segments, so rotations happen every few records.

use std::ops::Range;

use storage_core::StorageBackend;
use wal::{Lsn, SyncPolicy, Wal, WalOptions};

use crate::checker::{Journal, PrefixViolation};
use crate::random::derive;
use crate::workload::{FailureClass, Recovered, RunFailure, Workload, classify_wal, recovery_violation};

/// Segments this small rotate every few records.
pub const SEGMENT_BYTES: u64 = 384;

/// Units planned past [`Workload::unit_count`], for runs that continue after a restart.
const EXTRA_UNITS: usize = 64;

/// The longest filler in a payload.
const FILLER_BYTES_MAX: u64 = 90;

/// A checkpoint keeps this many operations before it.
const CHECKPOINT_KEEPS_OPERATIONS: u64 = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WalUnit {
    Append,
    Batch(u64),
    Transaction(u64),
    /// `checkpoint(applied)`.
    Checkpoint {
        applied: u64,
    },
    Sync,
}

impl WalUnit {
    fn operations(self) -> u64 {
        match self {
            Self::Append => 1,
            Self::Batch(count) | Self::Transaction(count) => count,
            Self::Checkpoint { .. } | Self::Sync => 0,
        }
    }
}

/// The payload of operation `lsn`: `lsn` and the LSN (u64 LE), then a filler derived from the seed and the LSN.
pub fn payload(seed: u64, lsn: u64) -> Vec<u8> {
    let hash = derive(seed, lsn);
    let mut bytes = b"lsn".to_vec();
    bytes.extend_from_slice(&lsn.to_le_bytes());
    bytes.extend((0..hash % FILLER_BYTES_MAX).map(|index| (hash >> (index % 56)) as u8));
    bytes
}

/// A write-ahead log and a deterministic mix of every kind of call.
#[derive(Clone, Debug)]
pub struct WalWorkload {
    seed: u64,
    policy: SyncPolicy,
    unit_count: usize,
    units: Vec<WalUnit>,
    /// `operations_before[i]`: operations in units `0..i`.
    operations_before: Vec<u64>,
}

impl WalWorkload {
    /// A workload of `unit_count` units under `policy` (`EveryCommit` or `Manual`), seeded with `seed`.
    pub fn new(seed: u64, policy: SyncPolicy, unit_count: usize) -> Self {
        let mut units = Vec::with_capacity(unit_count + EXTRA_UNITS);
        let mut operations_before = vec![0];
        let mut lsn = 0u64;
        for index in 0..unit_count + EXTRA_UNITS {
            let hash = derive(seed ^ 0x57A1, index as u64);
            let unit = if policy == SyncPolicy::Manual && index % 4 == 3 {
                WalUnit::Sync
            } else {
                match hash % 10 {
                    0..=4 => WalUnit::Append,
                    5 | 6 => WalUnit::Batch(2 + (hash >> 8) % 3),
                    7 => WalUnit::Transaction(1 + (hash >> 8) % 3),
                    _ => WalUnit::Checkpoint { applied: lsn.saturating_sub(CHECKPOINT_KEEPS_OPERATIONS) },
                }
            };
            lsn += unit.operations();
            units.push(unit);
            operations_before.push(lsn);
        }
        Self { seed, policy, unit_count, units, operations_before }
    }

    /// The log's options (small segments, a seeded salt).
    pub fn options(&self) -> WalOptions {
        WalOptions {
            segment_bytes_max: SEGMENT_BYTES,
            sync_policy: self.policy,
            salt_seed: Some(self.seed),
            ..WalOptions::default()
        }
    }

    fn unit(&self, index: usize) -> Result<WalUnit, RunFailure> {
        self.units
            .get(index)
            .copied()
            .ok_or_else(|| RunFailure::new(FailureClass::Other, format!("unit {index} is past the plan")))
    }

    fn before(&self, units: usize) -> u64 {
        self.operations_before.get(units).copied().unwrap_or(u64::MAX)
    }

    fn issue<B: StorageBackend>(&self, wal: &Wal<B>, unit: WalUnit, first_lsn: u64) -> Result<(), wal::WalError> {
        let payloads: Vec<Vec<u8>> =
            (first_lsn..first_lsn + unit.operations()).map(|lsn| payload(self.seed, lsn)).collect();
        let borrowed: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        match unit {
            WalUnit::Append => wal.append(borrowed.first().copied().unwrap_or_default()).map(drop),
            WalUnit::Batch(_) => wal.append_batch(&borrowed).map(drop),
            WalUnit::Transaction(_) => {
                let mut transaction = wal.transaction();
                for operation in borrowed {
                    transaction.stage(operation)?;
                }
                transaction.commit().map(drop)
            }
            WalUnit::Checkpoint { applied } => wal.checkpoint(Lsn(applied)).map(drop),
            WalUnit::Sync => wal.sync().map(drop),
        }
    }
}

/// What a recovered log holds: the first LSN it keeps and every operation from there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalImage {
    /// The first LSN the log holds (above 1 after checkpoints).
    pub first_lsn: u64,
    /// Every operation from `first_lsn`, with its LSN.
    pub records: Vec<(u64, Vec<u8>)>,
}

impl Workload for WalWorkload {
    type State = WalImage;

    fn name(&self) -> String {
        match self.policy {
            SyncPolicy::Manual => "wal (manual sync)".to_owned(),
            _ => "wal".to_owned(),
        }
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
        let failure = |error: wal::WalError| RunFailure::new(classify_wal(&error), error);
        RunFailure::unless_journal_at(journal, units.start)?;
        let wal = Wal::open(backend, self.options()).map_err(failure)?;
        let expected_next = self.before(units.start) + 1;
        if wal.next_lsn().get() != expected_next {
            let message = format!("the log continues at LSN {}, the plan at {expected_next}", wal.next_lsn());
            return Err(RunFailure::new(FailureClass::Other, message));
        }
        for index in units {
            let unit = self.unit(index)?;
            journal.issue(unit.operations());
            self.issue(&wal, unit, self.before(index) + 1).map_err(failure)?;
            if self.policy == SyncPolicy::EveryCommit || unit == WalUnit::Sync {
                journal.acknowledge_through(index + 1);
            }
        }
        wal.close().map_err(failure)?;
        journal.acknowledge_all();
        Ok(())
    }

    fn recover<B: StorageBackend + 'static>(&self, backend: B) -> Result<Recovered<WalImage>, PrefixViolation> {
        let violation = |error: wal::WalError| recovery_violation(classify_wal(&error), error);
        let wal = Wal::open(backend, self.options()).map_err(violation)?;
        let first_lsn = wal.first_lsn().get();
        let mut records = Vec::new();
        for entry in wal.replay(Lsn(first_lsn)).map_err(violation)? {
            let entry = entry.map_err(violation)?;
            records.extend(entry.operations().map(|(lsn, bytes)| (lsn.get(), bytes.to_vec())));
        }
        let operations = wal.next_lsn().get().saturating_sub(1);
        Ok(Recovered { operations, state: WalImage { first_lsn, records } })
    }

    fn matches(&self, state: &WalImage, units: usize, journal: &Journal) -> Result<(), String> {
        let last = self.before(units);
        // A checkpoint that was issued (acknowledged or not, even one a restart forgot) may have dropped the records
        // at or below its LSN.
        let first_allowed = (0..journal.units_ever_issued())
            .filter_map(|index| match self.units.get(index) {
                Some(WalUnit::Checkpoint { applied }) => Some(applied + 1),
                _ => None,
            })
            .fold(1, u64::max);
        if state.first_lsn > first_allowed.min(last + 1) {
            return Err(format!(
                "the log starts at LSN {}; LSN {first_allowed} was never checkpointed",
                state.first_lsn
            ));
        }
        let expected_lsns: Vec<u64> = (state.first_lsn..=last).collect();
        let found_lsns: Vec<u64> = state.records.iter().map(|(lsn, _)| *lsn).collect();
        if expected_lsns != found_lsns {
            return Err(format!("LSNs {found_lsns:?} replayed, {}..={last} expected", state.first_lsn));
        }
        match state.records.iter().find(|(lsn, bytes)| *bytes != payload(self.seed, *lsn)) {
            Some((lsn, _)) => Err(format!("the payload of LSN {lsn} differs from the one written")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::verify;
    use storage_mem::SimulatedDisk;

    #[test]
    fn a_full_run_acknowledges_every_unit_and_verifies() {
        for policy in [SyncPolicy::EveryCommit, SyncPolicy::Manual] {
            let workload = WalWorkload::new(5, policy, 30);
            let disk = SimulatedDisk::new();
            let mut journal = Journal::new();
            assert_eq!(workload.run(disk.clone(), 0..30, &mut journal), Ok(()));
            assert_eq!(journal.acknowledged_units(), 30);
            let image = disk.crash_losing_everything_unsynced();
            assert_eq!(verify(&workload, &journal, image), Ok(30), "{policy:?}");
            assert!(disk.list("wal/").map(|segments| segments.len()).unwrap_or(0) >= 1);
        }
    }

    #[test]
    fn the_model_rejects_a_log_with_a_changed_payload_or_a_missing_record() {
        let workload = WalWorkload::new(5, SyncPolicy::EveryCommit, 20);
        let disk = SimulatedDisk::new();
        let mut journal = Journal::new();
        assert_eq!(workload.run(disk.clone(), 0..20, &mut journal), Ok(()));
        let recovered = workload.recover(disk.reopen()).unwrap();
        assert_eq!(workload.matches(&recovered.state, 20, &journal), Ok(()));
        let mut changed = recovered.state.clone();
        if let Some((_, bytes)) = changed.records.last_mut() {
            bytes.push(0);
        }
        assert!(workload.matches(&changed, 20, &journal).is_err_and(|text| text.contains("differs")));
        let mut missing = recovered.state.clone();
        missing.records.pop();
        assert!(workload.matches(&missing, 20, &journal).is_err());
        let late_start = WalImage { first_lsn: recovered.operations + 1, records: Vec::new() };
        assert!(workload.matches(&late_start, 20, &journal).is_err());
    }
}
