//! The vector workload shared by the simulated-disk scenarios, the writer process and its checker: operation `lsn`
//! and the unit boundaries are pure functions of `(seed, lsn)`, so whoever knows the seed knows what any prefix of
//! the log must hold, and a writer restarted at any LSN issues exactly the operations a model expects.

use snapshot::StateMachine;
use snapshot::testing::{VectorOperation, VectorState};

use crate::random::derive;

/// Floats per vector.
pub const DIMENSION: u32 = 4;

/// Ids are drawn from `0..ID_SPACE`, so upserts overwrite and deletes hit: the final state depends on the order of
/// the operations, not only on which survived.
pub const ID_SPACE: u64 = 256;

/// The largest batch the vector workload issues.
pub const BATCH_OPERATIONS_MAX: u64 = 6;

/// One in this many operations is a delete.
const DELETE_ONE_IN: u64 = 8;

/// One in this many units is a batch.
const BATCH_ONE_IN: u64 = 4;

/// Operation number `lsn` (from 1) of the workload seeded with `seed`.
pub fn operation_at(seed: u64, lsn: u64) -> VectorOperation {
    let hash = derive(seed, lsn);
    let id = (hash >> 8) % ID_SPACE;
    if hash % DELETE_ONE_IN == 0 {
        return VectorOperation::Delete { id };
    }
    // The LSN is in the vector, so a replay out of order or of the wrong operation shows in the state. (LSNs of a
    // chaos run stay far below 2^24, so the f32 holds them exactly.)
    let position = lsn as f32;
    let vector = (0..DIMENSION).map(|dimension| position + (((hash >> (16 + dimension * 8)) & 0xFF) as f32) / 256.0);
    VectorOperation::Upsert { id, vector: vector.collect() }
}

/// How many operations the unit starting at `first_lsn` holds: mostly 1, one unit in [`BATCH_ONE_IN`] a batch of
/// 2 to [`BATCH_OPERATIONS_MAX`].
pub fn unit_length_at(seed: u64, first_lsn: u64) -> u64 {
    let hash = derive(seed ^ 0xBA7C_4000_0000_0000, first_lsn);
    if hash % BATCH_ONE_IN == 0 { 2 + (hash >> 8) % (BATCH_OPERATIONS_MAX - 1) } else { 1 }
}

/// The operations `first_lsn..first_lsn + count`.
pub fn operations(seed: u64, first_lsn: u64, count: u64) -> Vec<VectorOperation> {
    (first_lsn..first_lsn + count).map(|lsn| operation_at(seed, lsn)).collect()
}

/// The unit boundaries of a writer that always continues from where it stands: `0`, then each boundary plus the
/// length of the unit that starts after it. A recovered LSN that is not a boundary split a batch.
#[derive(Clone, Debug)]
pub struct UnitChain {
    seed: u64,
    /// Boundaries found so far, increasing, starting at 0.
    boundaries: Vec<u64>,
}

impl UnitChain {
    /// The chain of the workload seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed, boundaries: vec![0] }
    }

    fn extend_to(&mut self, lsn: u64) {
        while let Some(&last) = self.boundaries.last() {
            if last >= lsn {
                break;
            }
            self.boundaries.push(last + unit_length_at(self.seed, last + 1));
        }
    }

    /// True when `lsn` ends a unit (0 counts: the empty prefix).
    pub fn is_boundary(&mut self, lsn: u64) -> bool {
        self.extend_to(lsn);
        self.boundaries.binary_search(&lsn).is_ok()
    }

    /// The number of units whose operations end at or before `lsn`.
    pub fn units_through(&mut self, lsn: u64) -> usize {
        self.extend_to(lsn);
        self.boundaries.partition_point(|&boundary| boundary <= lsn).saturating_sub(1)
    }

    /// The LSN that ends unit number `units` (the first `units` units' operations).
    pub fn boundary(&mut self, units: usize) -> u64 {
        while self.boundaries.len() <= units {
            let last = self.boundaries.last().copied().unwrap_or(0);
            self.boundaries.push(last + unit_length_at(self.seed, last + 1));
        }
        self.boundaries.get(units).copied().unwrap_or(0)
    }
}

/// The model: the state after the first `lsn` operations, advanced incrementally (rebuilt when asked for an
/// earlier LSN).
#[derive(Clone, Debug)]
pub struct VectorModel {
    seed: u64,
    state: VectorState,
    lsn: u64,
}

impl VectorModel {
    /// The empty model of the workload seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { seed, state: VectorState::new(DIMENSION), lsn: 0 }
    }

    /// The state after the first `lsn` operations.
    pub fn state_at(&mut self, lsn: u64) -> &VectorState {
        if lsn < self.lsn {
            *self = Self::new(self.seed);
        }
        while self.lsn < lsn {
            self.lsn += 1;
            self.state.apply(operation_at(self.seed, self.lsn));
        }
        &self.state
    }
}

/// The first difference between two vector states, or `None` when they are equal.
pub fn difference(expected: &VectorState, found: &VectorState) -> Option<String> {
    if expected == found {
        return None;
    }
    if expected.dimension != found.dimension {
        return Some(format!("dimension {} expected, {} found", expected.dimension, found.dimension));
    }
    for (id, vector) in &expected.vectors {
        match found.vectors.get(id) {
            None => return Some(format!("id {id} missing")),
            Some(other) if other != vector => {
                return Some(format!("id {id}: {vector:?} expected, {other:?} found"));
            }
            Some(_) => {}
        }
    }
    let extra = found.vectors.keys().find(|id| !expected.vectors.contains_key(id));
    Some(format!("id {extra:?} present but not expected"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_a_pure_function_of_seed_and_lsn() {
        assert_eq!(operation_at(7, 100), operation_at(7, 100));
        assert_ne!(operation_at(7, 100), operation_at(8, 100));
        let deletes = (1..=800).filter(|&lsn| matches!(operation_at(3, lsn), VectorOperation::Delete { .. })).count();
        assert!((50..=150).contains(&deletes), "{deletes} deletes in 800");
    }

    #[test]
    fn the_unit_chain_finds_boundaries_and_batches_stay_within_the_limit() {
        let mut chain = UnitChain::new(11);
        let mut previous = 0;
        let mut batches = 0;
        for units in 1..=400 {
            let boundary = chain.boundary(units);
            let length = boundary - previous;
            assert!((1..=BATCH_OPERATIONS_MAX).contains(&length));
            batches += usize::from(length > 1);
            assert!(chain.is_boundary(boundary));
            assert_eq!(chain.units_through(boundary), units);
            if length > 1 {
                assert!(!chain.is_boundary(boundary - 1), "inside a batch");
                assert_eq!(chain.units_through(boundary - 1), units - 1);
            }
            previous = boundary;
        }
        assert!(batches > 40, "{batches} batches");
        let limit_seen = (1..=2000).any(|lsn| unit_length_at(5, lsn) == BATCH_OPERATIONS_MAX);
        assert!(limit_seen, "a batch at the limit is issued");
    }

    #[test]
    fn the_model_rewinds_and_reports_differences() {
        let mut model = VectorModel::new(4);
        let later = model.state_at(50).clone();
        let earlier = model.state_at(10).clone();
        assert_eq!(model.state_at(50), &later);
        assert_eq!(difference(&later, &later), None);
        assert!(difference(&later, &earlier).is_some());
        let mut extra = later.clone();
        extra.vectors.insert(ID_SPACE + 1, vec![0.0; DIMENSION as usize]);
        assert!(difference(&later, &extra).is_some_and(|text| text.contains("not expected")));
    }
}
