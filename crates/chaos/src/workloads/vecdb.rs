//! The vector database workload: `vecdb::Db` with inserts (and upserts of live ids), atomic batches, deletes,
//! checkpoints and compactions, checked against a brute-force model of ids, vectors and metadata.

use std::collections::BTreeMap;
use std::ops::Range;

use storage_core::StorageBackend;
use vecdb::{Db, DbConfig, Metadata, Metric, Record, Value, VecDbError};

use crate::checker::{Journal, PrefixViolation};
use crate::random::derive;
use crate::workload::{FailureClass, Recovered, RunFailure, Workload, classify_snapshot, recovery_violation};

/// Floats per vector.
pub const DIMENSION: usize = 8;
/// Ids are drawn from `0..ID_RANGE`, so inserts often replace a live id (upserts).
const ID_RANGE: u64 = 24;
/// Units planned past [`Workload::unit_count`], for runs that continue after a restart.
const EXTRA_UNITS: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
enum VecdbUnit {
    Insert(u64),
    Batch(Vec<u64>),
    Delete(u64),
    Checkpoint,
    Compact,
}

impl VecdbUnit {
    fn operations(&self) -> u64 {
        match self {
            Self::Insert(_) | Self::Delete(_) | Self::Compact => 1,
            Self::Batch(ids) => ids.len() as u64,
            Self::Checkpoint => 0,
        }
    }
}

/// What the database holds: ids to (vector, metadata).
pub type VecdbState = BTreeMap<u64, (Vec<f32>, Metadata)>;

fn vector(seed: u64, id: u64, lsn: u64) -> Vec<f32> {
    (0..DIMENSION as u64).map(|d| (derive(seed ^ id, lsn * 16 + d) % 2001) as f32 / 1000.0 - 1.0).collect()
}

fn metadata(lsn: u64) -> Metadata {
    Metadata::from([("lsn".to_owned(), Value::Number(lsn as f64))])
}

fn config() -> DbConfig {
    let mut config = DbConfig::new(DIMENSION, Metric::L2);
    config.index.m = 4;
    config.index.ef_construction = 16;
    config
}

fn classify(error: &VecDbError) -> FailureClass {
    match error {
        VecDbError::Durability(inner) => classify_snapshot(inner),
        VecDbError::Storage(inner) => crate::workload::classify_persistence(inner),
        _ => FailureClass::Other,
    }
}

/// A vector database and a deterministic mix of writes, batches, deletes, checkpoints and compactions.
#[derive(Clone, Debug)]
pub struct VecdbWorkload {
    seed: u64,
    unit_count: usize,
    units: Vec<VecdbUnit>,
    /// `operations_before[i]`: operations in units `0..i`.
    operations_before: Vec<u64>,
}

impl VecdbWorkload {
    /// A workload of `unit_count` units seeded with `seed`. Deletes target ids the plan knows are live.
    pub fn new(seed: u64, unit_count: usize) -> Self {
        let mut units = Vec::with_capacity(unit_count + EXTRA_UNITS);
        let mut operations_before = vec![0];
        let mut live: Vec<u64> = Vec::new();
        let mut lsn = 0u64;
        for index in 0..unit_count + EXTRA_UNITS {
            let hash = derive(seed ^ 0x07ec_70db, index as u64);
            let unit = match hash % 16 {
                0 | 1 => VecdbUnit::Checkpoint,
                2 => VecdbUnit::Compact,
                3..=5 if !live.is_empty() => {
                    VecdbUnit::Delete(live.get((hash >> 8) as usize % live.len()).copied().unwrap_or_default())
                }
                6..=8 => {
                    let count = 2 + (hash >> 8) % 3;
                    let mut ids: Vec<u64> = (0..count).map(|offset| derive(hash, offset) % ID_RANGE).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    VecdbUnit::Batch(ids)
                }
                _ => VecdbUnit::Insert((hash >> 8) % ID_RANGE),
            };
            match &unit {
                VecdbUnit::Insert(id) => live.push(*id),
                VecdbUnit::Batch(ids) => live.extend(ids),
                VecdbUnit::Delete(id) => live.retain(|live_id| live_id != id),
                VecdbUnit::Checkpoint | VecdbUnit::Compact => {}
            }
            live.sort_unstable();
            live.dedup();
            lsn += unit.operations();
            units.push(unit);
            operations_before.push(lsn);
        }
        Self { seed, unit_count, units, operations_before }
    }

    fn before(&self, units: usize) -> u64 {
        self.operations_before.get(units).copied().unwrap_or(u64::MAX)
    }

    /// The model after the first `units` units.
    fn model(&self, units: usize) -> VecdbState {
        let mut state = VecdbState::new();
        for (index, unit) in self.units.iter().take(units).enumerate() {
            let first_lsn = self.before(index) + 1;
            match unit {
                VecdbUnit::Insert(id) => {
                    state.insert(*id, (vector(self.seed, *id, first_lsn), metadata(first_lsn)));
                }
                VecdbUnit::Batch(ids) => {
                    for (offset, id) in ids.iter().enumerate() {
                        let lsn = first_lsn + offset as u64;
                        state.insert(*id, (vector(self.seed, *id, lsn), metadata(lsn)));
                    }
                }
                VecdbUnit::Delete(id) => {
                    state.remove(id);
                }
                VecdbUnit::Checkpoint | VecdbUnit::Compact => {}
            }
        }
        state
    }
}

impl Workload for VecdbWorkload {
    type State = VecdbState;

    fn name(&self) -> String {
        "vecdb (inserts, batches, deletes, checkpoints, compaction)".to_owned()
    }

    fn unit_count(&self) -> usize {
        self.unit_count
    }

    fn operations_in(&self, unit: usize) -> u64 {
        self.units.get(unit).map_or(0, VecdbUnit::operations)
    }

    fn run<B: StorageBackend + 'static>(
        &self,
        backend: B,
        units: Range<usize>,
        journal: &mut Journal,
    ) -> Result<(), RunFailure> {
        let failure = |error: VecDbError| RunFailure::new(classify(&error), error);
        RunFailure::unless_journal_at(journal, units.start)?;
        let db = Db::open_or_create(backend, config()).map_err(failure)?;
        let expected = self.before(units.start);
        if db.applied_lsn() != expected {
            let message = format!("the database holds {} operations, the plan {expected}", db.applied_lsn());
            return Err(RunFailure::new(FailureClass::Other, message));
        }
        for index in units {
            let unit = self
                .units
                .get(index)
                .ok_or_else(|| RunFailure::new(FailureClass::Other, format!("unit {index} is past the plan")))?;
            let first_lsn = self.before(index) + 1;
            journal.issue(unit.operations());
            let result = match unit {
                VecdbUnit::Insert(id) => {
                    db.insert(*id, &vector(self.seed, *id, first_lsn), metadata(first_lsn)).map(drop)
                }
                VecdbUnit::Batch(ids) => {
                    let records = ids
                        .iter()
                        .enumerate()
                        .map(|(offset, id)| {
                            let lsn = first_lsn + offset as u64;
                            Record::new(*id, vector(self.seed, *id, lsn), metadata(lsn))
                        })
                        .collect();
                    db.insert_batch(records).map(drop)
                }
                VecdbUnit::Delete(id) => db.delete(*id).map(drop),
                VecdbUnit::Checkpoint => db.checkpoint().map(drop),
                VecdbUnit::Compact => db.compact().map(drop),
            };
            result.map_err(failure)?;
            journal.acknowledge_through(index + 1);
        }
        db.close().map_err(failure)
    }

    fn recover<B: StorageBackend + 'static>(&self, backend: B) -> Result<Recovered<VecdbState>, PrefixViolation> {
        let db = match Db::open(backend) {
            Ok(db) => db,
            // A crash before the configuration was durable: no database yet, which is the empty state.
            Err(VecDbError::NoDatabase { .. }) => return Ok(Recovered { operations: 0, state: VecdbState::new() }),
            Err(error) => return Err(recovery_violation(classify(&error), error)),
        };
        let reported = db.recovery_report().state_digest;
        let guard = db.read();
        let computed = snapshot::Snapshot::digest(&*guard);
        if reported != computed {
            let error = format!("the recovery report's digest {reported} is not the recovered database's {computed}");
            return Err(PrefixViolation::Corrupted { error });
        }
        let mut state = VecdbState::new();
        for id in guard.index().ids() {
            let vector = guard.index().vector(id).map(<[f32]>::to_vec).unwrap_or_default();
            let metadata = guard.metadata(id).cloned().unwrap_or_default();
            state.insert(id, (vector, metadata));
        }
        drop(guard);
        Ok(Recovered { operations: db.applied_lsn(), state })
    }

    fn matches(&self, state: &VecdbState, units: usize, _journal: &Journal) -> Result<(), String> {
        let model = self.model(units);
        if &model == state {
            return Ok(());
        }
        let missing: Vec<&u64> = model.keys().filter(|id| !state.contains_key(id)).collect();
        let extra: Vec<&u64> = state.keys().filter(|id| !model.contains_key(id)).collect();
        let changed: Vec<&u64> = model
            .iter()
            .filter(|(id, value)| state.get(id).is_some_and(|other| other != *value))
            .map(|(id, _)| id)
            .collect();
        Err(format!("after {units} units: ids missing {missing:?}, unexpected {extra:?}, different {changed:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::verify;
    use storage_mem::SimulatedDisk;

    #[test]
    fn a_full_run_verifies_after_losing_everything_unsynced() {
        let workload = VecdbWorkload::new(3, 40);
        let disk = SimulatedDisk::new();
        let mut journal = Journal::new();
        assert_eq!(workload.run(disk.clone(), 0..40, &mut journal), Ok(()));
        assert_eq!(verify(&workload, &journal, disk.crash_losing_everything_unsynced()), Ok(40));
    }

    #[test]
    fn the_model_rejects_a_state_missing_a_write() {
        let workload = VecdbWorkload::new(3, 40);
        let mut state = workload.model(20);
        assert!(workload.matches(&state, 20, &Journal::new()).is_ok());
        let first = state.keys().next().copied();
        if let Some(id) = first {
            state.remove(&id);
        }
        assert!(workload.matches(&state, 20, &Journal::new()).is_err());
    }
}
