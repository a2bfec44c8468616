//! The prefix checker: the one invariant every chaos scenario verifies.
//!
//! A workload issues *units* in order: a single operation, a batch or transaction (all or nothing), or a step that
//! holds no operation (a checkpoint, a sync). Each operation takes the next LSN, so the operations of the first `n`
//! units are exactly the LSNs `1..=operations_through(n)`. After a crash, recovery returns some number of
//! operations and a state. It is correct when
//!
//! 1. the operations are those of a whole number `n` of units (no batch split: [`PrefixViolation::SplitUnit`]),
//! 2. `n` is at least the number of units acknowledged ([`PrefixViolation::AcknowledgedLost`]),
//! 3. `n` is at most the number of units issued ([`PrefixViolation::NeverIssued`]),
//! 4. and the state equals the state after exactly those `n` units ([`PrefixViolation::StateMismatch`]: damage
//!    recovery did not detect, or operations applied out of order).

use std::fmt;
use std::ops::RangeInclusive;

/// What a run issued and what it was told was durable, unit by unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Journal {
    /// The operations of each issued unit, by unit index.
    unit_operations: Vec<u64>,
    /// `operations_before[i]`: the operations of units `0..i` (one longer than `unit_operations`).
    operations_before: Vec<u64>,
    /// Units `0..acknowledged_units` were acknowledged (durable).
    acknowledged_units: usize,
    /// Units `0..units_ever_issued` were issued at some time, including ones a restart forgot.
    units_ever_issued: usize,
}

impl Default for Journal {
    fn default() -> Self {
        Self::new()
    }
}

impl Journal {
    /// An empty journal: nothing issued, nothing acknowledged.
    pub fn new() -> Self {
        Self { unit_operations: Vec::new(), operations_before: vec![0], acknowledged_units: 0, units_ever_issued: 0 }
    }

    /// Records that the next unit, holding `operations` operations, was issued (its call started: it may or may
    /// not be durable until acknowledged). Returns its index.
    pub fn issue(&mut self, operations: u64) -> usize {
        let before = self.operations_before.last().copied().unwrap_or(0);
        self.unit_operations.push(operations);
        self.operations_before.push(before + operations);
        self.units_ever_issued = self.units_ever_issued.max(self.unit_operations.len());
        self.unit_operations.len() - 1
    }

    /// Records that units `0..units` are durable (a call returned `Ok` under a durable policy, or a sync returned).
    /// Never moves backwards; clamped to what was issued.
    pub fn acknowledge_through(&mut self, units: usize) {
        self.acknowledged_units = self.acknowledged_units.max(units.min(self.issued_units()));
    }

    /// Records that every issued unit is durable.
    pub fn acknowledge_all(&mut self) {
        self.acknowledge_through(self.issued_units());
    }

    /// How many units were issued.
    pub fn issued_units(&self) -> usize {
        self.unit_operations.len()
    }

    /// How many units were issued at any time, including units a [`Self::restart_at`] forgot. A forgotten unit's
    /// operations are gone, but its side effects on the store may not be (a checkpoint that deleted old log
    /// segments), so a model that bounds such effects reads this.
    pub fn units_ever_issued(&self) -> usize {
        self.units_ever_issued
    }

    /// How many units were acknowledged.
    pub fn acknowledged_units(&self) -> usize {
        self.acknowledged_units
    }

    /// The operations in the first `units` units (saturating at what was issued).
    pub fn operations_through(&self, units: usize) -> u64 {
        let index = units.min(self.issued_units());
        self.operations_before.get(index).copied().unwrap_or(0)
    }

    /// The operations acknowledged.
    pub fn acknowledged_operations(&self) -> u64 {
        self.operations_through(self.acknowledged_units)
    }

    /// The operations issued.
    pub fn issued_operations(&self) -> u64 {
        self.operations_through(self.issued_units())
    }

    /// After a crash whose recovery kept exactly `units` units: forgets the issued units past them (they are lost
    /// for good, and a restarted workload issues the next units again) and marks the kept ones durable, since a
    /// recovered state is what the disk now holds.
    pub fn restart_at(&mut self, units: usize) {
        let units = units.min(self.issued_units());
        self.unit_operations.truncate(units);
        self.operations_before.truncate(units + 1);
        self.acknowledged_units = units;
    }

    /// Checks that `recovered_operations` operations are a whole prefix of units between the acknowledged and the
    /// issued ones. Returns the unit counts that hold exactly that many operations (several when units with no
    /// operation, such as checkpoints, sit at that point).
    pub fn check_operations(&self, recovered_operations: u64) -> Result<RangeInclusive<usize>, PrefixViolation> {
        let acknowledged_operations = self.acknowledged_operations();
        if recovered_operations < acknowledged_operations {
            return Err(PrefixViolation::AcknowledgedLost { acknowledged_operations, recovered_operations });
        }
        let issued_operations = self.issued_operations();
        if recovered_operations > issued_operations {
            return Err(PrefixViolation::NeverIssued { issued_operations, recovered_operations });
        }
        let candidates: Vec<usize> = (self.acknowledged_units..=self.issued_units())
            .filter(|&units| self.operations_through(units) == recovered_operations)
            .collect();
        match (candidates.first(), candidates.last()) {
            (Some(&first), Some(&last)) => Ok(first..=last),
            _ => {
                // Some unit starts at or before the recovered end and ends after it: it was split.
                let unit = (self.acknowledged_units..self.issued_units())
                    .find(|&unit| self.operations_through(unit + 1) > recovered_operations)
                    .unwrap_or(self.acknowledged_units);
                Err(PrefixViolation::SplitUnit {
                    unit,
                    unit_operations: self.unit_operations.get(unit).copied().unwrap_or(0),
                    recovered_operations,
                })
            }
        }
    }

    /// The full check: [`Self::check_operations`], then `matches(units)` for each candidate unit count, newest
    /// first, until one matches. `matches` compares the recovered state with the model's state after that many
    /// units and explains a difference. Returns the unit count the state matched.
    pub fn check_state(
        &self,
        recovered_operations: u64,
        mut matches: impl FnMut(usize) -> Result<(), String>,
    ) -> Result<usize, PrefixViolation> {
        let candidates = self.check_operations(recovered_operations)?;
        let mut first_difference = None;
        for units in candidates.rev() {
            match matches(units) {
                Ok(()) => return Ok(units),
                Err(difference) => {
                    first_difference.get_or_insert((units, difference));
                }
            }
        }
        let (units, difference) = first_difference.unwrap_or((0, "no candidate".to_owned()));
        Err(PrefixViolation::StateMismatch { units, difference })
    }
}

/// A recovered state that breaks the prefix invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrefixViolation {
    /// Recovery returned fewer operations than were acknowledged: acknowledged writes were lost.
    AcknowledgedLost {
        /// Operations acknowledged before the crash.
        acknowledged_operations: u64,
        /// Operations recovered.
        recovered_operations: u64,
    },
    /// Recovery returned more operations than were ever issued.
    NeverIssued {
        /// Operations issued before the crash.
        issued_operations: u64,
        /// Operations recovered.
        recovered_operations: u64,
    },
    /// Recovery ended inside a unit: part of a batch or transaction survived without the rest.
    SplitUnit {
        /// The unit split.
        unit: usize,
        /// Its operations.
        unit_operations: u64,
        /// Operations recovered.
        recovered_operations: u64,
    },
    /// The recovered operations are a valid prefix, but the state is not the one those operations produce: damage
    /// that recovery did not detect, or operations applied out of order.
    StateMismatch {
        /// The unit count compared with.
        units: usize,
        /// The difference found.
        difference: String,
    },
    /// Recovery failed with a typed corruption error (or a state digest that does not verify) on an image the
    /// fault model can produce: damage the store should have prevented.
    Corrupted {
        /// The error.
        error: String,
    },
    /// Recovery failed because the disk was full (`PersistenceError::DiskFull` through any layer): a violation
    /// wherever the disk had room; the I/O error sweep tolerates it on a store with nothing to read yet.
    DiskFull {
        /// The error.
        error: String,
    },
    /// Recovery, or a workload that had to succeed, failed for another reason.
    Failed {
        /// The error.
        error: String,
    },
}

impl PrefixViolation {
    /// How many acknowledged operations this violation loses (0 unless [`Self::AcknowledgedLost`]).
    pub fn operations_lost(&self) -> u64 {
        match self {
            Self::AcknowledgedLost { acknowledged_operations, recovered_operations } => {
                acknowledged_operations - recovered_operations
            }
            _ => 0,
        }
    }

    /// True for the violations counted as corruption (everything but lost acknowledged operations).
    pub fn is_corruption(&self) -> bool {
        !matches!(self, Self::AcknowledgedLost { .. })
    }
}

impl fmt::Display for PrefixViolation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AcknowledgedLost { acknowledged_operations, recovered_operations } => write!(
                formatter,
                "acknowledged operations lost: {acknowledged_operations} acknowledged, {recovered_operations} recovered"
            ),
            Self::NeverIssued { issued_operations, recovered_operations } => write!(
                formatter,
                "operations that were never issued recovered: {issued_operations} issued, {recovered_operations} recovered"
            ),
            Self::SplitUnit { unit, unit_operations, recovered_operations } => write!(
                formatter,
                "unit {unit} ({unit_operations} operations, all or nothing) split: recovery ends at operation \
                 {recovered_operations}"
            ),
            Self::StateMismatch { units, difference } => {
                write!(formatter, "state differs from the model after {units} units: {difference}")
            }
            Self::Corrupted { error } => write!(formatter, "recovery reported corruption: {error}"),
            Self::DiskFull { error } => write!(formatter, "recovery refused, the disk is full: {error}"),
            Self::Failed { error } => write!(formatter, "failed: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Units: a single operation, a batch of three, a checkpoint (no operation), a single operation.
    fn journal(acknowledged_units: usize) -> Journal {
        let mut journal = Journal::new();
        for operations in [1, 3, 0, 1] {
            journal.issue(operations);
        }
        journal.acknowledge_through(acknowledged_units);
        journal
    }

    #[test]
    fn a_prefix_holding_every_acknowledged_unit_is_accepted() {
        let journal = journal(2);
        assert_eq!(journal.check_operations(4), Ok(2..=3), "before and after the checkpoint");
        assert_eq!(journal.check_operations(5), Ok(4..=4), "the unacknowledged last unit survived");
        assert_eq!(journal.check_state(4, |units| if units == 2 { Ok(()) } else { Err("no".into()) }), Ok(2));
    }

    #[test]
    fn the_checker_rejects_a_state_missing_an_acknowledged_operation() {
        let journal = journal(2);
        let verdict = journal.check_operations(1);
        assert!(matches!(
            verdict,
            Err(PrefixViolation::AcknowledgedLost { acknowledged_operations: 4, recovered_operations: 1 })
        ));
        assert_eq!(verdict.err().map(|violation| violation.operations_lost()), Some(3));
        assert!(matches!(journal.check_operations(0), Err(PrefixViolation::AcknowledgedLost { .. })));
    }

    #[test]
    fn the_checker_rejects_a_state_with_an_operation_that_was_never_issued() {
        let journal = journal(4);
        assert!(matches!(
            journal.check_operations(6),
            Err(PrefixViolation::NeverIssued { issued_operations: 5, recovered_operations: 6 })
        ));
        assert!(matches!(Journal::new().check_operations(1), Err(PrefixViolation::NeverIssued { .. })));
    }

    #[test]
    fn the_checker_rejects_a_split_batch() {
        let journal = journal(1);
        for recovered in [2, 3] {
            assert!(
                matches!(
                    journal.check_operations(recovered),
                    Err(PrefixViolation::SplitUnit { unit: 1, unit_operations: 3, .. })
                ),
                "{recovered} operations"
            );
        }
    }

    #[test]
    fn the_checker_rejects_a_state_that_differs_from_the_model() {
        let journal = journal(1);
        let verdict = journal.check_state(4, |units| Err(format!("vector 7 differs after {units} units")));
        assert!(matches!(&verdict, Err(PrefixViolation::StateMismatch { units: 3, difference })
            if difference == "vector 7 differs after 3 units"));
        assert!(verdict.err().is_some_and(|violation| violation.is_corruption()));
    }

    #[test]
    fn a_restart_forgets_lost_units_and_makes_kept_ones_durable() {
        let mut journal = journal(1);
        journal.restart_at(2);
        assert_eq!((journal.issued_units(), journal.acknowledged_units(), journal.issued_operations()), (2, 2, 4));
        assert_eq!(journal.units_ever_issued(), 4, "the forgotten units' side effects may remain");
        assert!(matches!(journal.check_operations(1), Err(PrefixViolation::AcknowledgedLost { .. })));
        assert_eq!(journal.issue(2), 2);
        assert_eq!(journal.check_operations(6), Ok(3..=3));
    }

    #[test]
    fn acknowledgements_never_move_backwards_or_past_what_was_issued() {
        let mut journal = journal(3);
        journal.acknowledge_through(1);
        assert_eq!(journal.acknowledged_units(), 3);
        journal.acknowledge_through(99);
        assert_eq!(journal.acknowledged_units(), 4);
    }
}
