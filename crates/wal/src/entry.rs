//! Log sequence numbers and the entries replay yields.

use std::fmt;

use crate::format::{self, RecordType};

/// A log sequence number: the position of one operation in the log. The first operation of a new log is 1;
/// every operation (each one of a batch too) takes the next number. LSNs strictly increase in file order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl Lsn {
    /// "Nothing": below every real LSN (what [`crate::Wal::durable_lsn`] answers before anything is durable).
    pub const ZERO: Self = Self(0);

    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

impl From<u64> for Lsn {
    fn from(number: u64) -> Self {
        Self(number)
    }
}

/// The LSNs of one batch or transaction, `first..=last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LsnRange {
    /// The first operation's LSN.
    pub first: Lsn,
    /// The last operation's LSN (equal to `first` for one operation).
    pub last: Lsn,
}

impl LsnRange {
    /// How many operations the range covers.
    pub fn count(&self) -> u64 {
        self.last.0 - self.first.0 + 1
    }

    /// True when `lsn` is in the range.
    pub fn contains(&self, lsn: Lsn) -> bool {
        self.first <= lsn && lsn <= self.last
    }
}

/// One record read back from the log: a single operation, or a whole batch (never part of one).
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    lsn: u64,
    record_type: RecordType,
    operation_count: u32,
    payload: Vec<u8>,
}

impl Entry {
    pub(crate) fn new(lsn: u64, record_type: RecordType, operation_count: u32, payload: Vec<u8>) -> Self {
        Self { lsn, record_type, operation_count, payload }
    }

    /// The LSN of the entry's first (for a single record: only) operation.
    pub fn lsn(&self) -> Lsn {
        Lsn(self.lsn)
    }

    /// The LSNs the entry covers.
    pub fn lsn_range(&self) -> LsnRange {
        LsnRange { first: Lsn(self.lsn), last: Lsn(self.lsn + u64::from(self.operation_count) - 1) }
    }

    /// True for a batch (from [`crate::Wal::append_batch`] or a transaction), even one of a single operation.
    pub fn is_batch(&self) -> bool {
        self.record_type == RecordType::Batch
    }

    /// The record type stored on disk.
    pub fn record_type(&self) -> RecordType {
        self.record_type
    }

    /// How many operations the entry holds (1 for a single record).
    pub fn operation_count(&self) -> u32 {
        self.operation_count
    }

    /// The operations with their LSNs, in order. Works for single records (one item) and batches.
    pub fn operations(&self) -> impl Iterator<Item = (Lsn, &[u8])> {
        let single = (!self.is_batch()).then_some(self.payload.as_slice());
        let batch = self.is_batch().then(|| format::batch_operations(&self.payload));
        single
            .into_iter()
            .chain(batch.into_iter().flatten())
            .enumerate()
            .map(|(index, operation)| (Lsn(self.lsn + index as u64), operation))
    }

    /// The stored payload: a single record's bytes as appended, or a batch's encoded payload (count, then
    /// length-prefixed operations; see `docs/wal.md`). Prefer [`Self::operations`], which handles both.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Takes the stored payload (see [`Self::payload`]).
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Entry")
            .field("lsn", &self.lsn)
            .field("record_type", &self.record_type)
            .field("operation_count", &self.operation_count)
            .field("payload_bytes", &self.payload.len())
            .finish()
    }
}
