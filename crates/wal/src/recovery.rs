//! Recovery's decisions, with no I/O: given the listed segments and their bytes (fed chunk by chunk), find the
//! durable end, tell a torn tail from corruption, and plan the intents that make the log appendable again.
//!
//! Protocol: [`Recovery::poll`] answers [`RecoveryAction::Len`] (pass the segment's length to
//! [`Recovery::handle_len`]), [`RecoveryAction::Read`] (pass the bytes to [`Recovery::handle_read`]) or
//! [`RecoveryAction::Done`]; then [`Recovery::finish`] gives the outcome: the intents to execute before any append,
//! the state the writer continues from, and the report.
//!
//! The torn-tail rule (see `docs/wal.md`): a crash may keep a later un-synced write and lose an earlier one, so
//! "valid records after a bad one" alone does not prove corruption. Every record carries `synced_lsn`, the highest
//! LSN durable when it was framed. A bad record with expected LSN `e` in the last segment is damage when some valid
//! record after it has `synced_lsn >= e` (the bad bytes had been made durable), and a torn tail otherwise.

use storage_core::Key;

use crate::entry::Lsn;
use crate::error::WalError;
use crate::format::{self, CorruptionReason, RECORD_BYTES_MAX, RECORD_HEADER_BYTES, SEGMENTS_MAX};
use crate::options::RecoveryMode;
use crate::reader::{DecodeStep, SegmentDecoder, SegmentRef};
use crate::writer_core::{Intent, RecoveredLog};

/// What `open` found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Segments read (including a damaged one).
    pub segments_scanned: usize,
    /// Valid records found before the durable end (a batch counts once).
    pub records_found: u64,
    /// The first LSN the log holds (the oldest segment's first LSN).
    pub first_lsn: Lsn,
    /// The last LSN recovered, or `None` when the log holds no record.
    pub last_lsn: Option<Lsn>,
    /// The LSN the next append gets.
    pub next_lsn: Lsn,
    /// Bytes of a torn tail cut from the last segment (0 when the log ended cleanly).
    pub torn_bytes_truncated: u64,
    /// Where the torn tail began, and why its first record was invalid.
    pub torn_tail: Option<TornTail>,
    /// Bytes of the last segment rewritten (atomically) because no seal or later record proved its last records
    /// durable; 0 when the log was sealed by a clean close. See `docs/wal.md`, "Unproven tails".
    pub unproven_bytes_rewritten: u64,
    /// Bytes of the last segment whose rewrite could not run at open because the storage was full
    /// (`PersistenceError::DiskFull`): the log opened anyway, its records replay, and the first flush that writes or
    /// syncs rewrites them first (failing with `DiskFull` again while there is no room). 0 otherwise.
    pub unproven_bytes_pending: u64,
    /// What [`RecoveryMode::SalvagePrefix`] dropped, when it dropped anything.
    pub salvage: Option<SalvageReport>,
}

/// A torn tail that recovery truncated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment's key.
    pub segment: String,
    /// The offset the segment was cut at.
    pub offset: u64,
    /// What was wrong with the bytes there.
    pub reason: CorruptionReason,
}

/// What a salvaging open dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SalvageReport {
    /// The segment holding the first damage.
    pub segment: String,
    /// The offset of the first damage (0 for a bad header or a missing or misnamed segment).
    pub offset: u64,
    /// The damage.
    pub reason: CorruptionReason,
    /// Segments deleted whole, oldest first.
    pub segments_dropped: Vec<String>,
    /// Bytes dropped in all (the damaged segment's tail and the deleted segments).
    pub bytes_dropped: u64,
}

/// What the driver does next for a [`Recovery`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RecoveryAction {
    /// Pass this segment's length to [`Recovery::handle_len`].
    Len(Key),
    /// Read this range and pass it to [`Recovery::handle_read`].
    Read { key: Key, offset: u64, length: u64 },
    /// Call [`Recovery::finish`].
    Done,
}

/// The result of recovery.
#[derive(Debug)]
pub(crate) struct RecoveryOutcome {
    /// Execute these, in order, before any append: truncation of a torn tail, salvage deletions, a final sync.
    pub(crate) intents: Vec<Intent>,
    pub(crate) log: RecoveredLog,
    pub(crate) report: RecoveryReport,
    /// The last LSN a record's `synced_lsn` (or a later segment) proves durable: what stays durable when the
    /// unproven tail's rewrite cannot run yet (see [`crate::RecoveryReport::unproven_bytes_pending`]).
    pub(crate) proven_lsn: u64,
}

/// A fully or partly validated segment.
#[derive(Clone, Copy, Debug)]
struct ValidSegment {
    salt: u64,
    /// The end of the last valid record (seals included).
    valid_length: u64,
    /// The end of the last valid record that carries LSNs (the header's end when there is none).
    records_end: u64,
    next_lsn: u64,
}

#[derive(Debug)]
struct Damage {
    index: usize,
    offset: u64,
    reason: CorruptionReason,
    /// The damaged segment's valid prefix, when its header is valid.
    partial: Option<ValidSegment>,
}

#[derive(Debug)]
enum State {
    Measure,
    Decode(SegmentDecoder),
    Scan { scanner: TailScanner, bad_offset: u64, damage: CorruptionReason, prefix: ValidSegment },
    MeasureDropped { damage: Damage, next: usize, bytes_dropped: u64 },
    Finished,
}

/// The recovery state machine (see the module docs).
#[derive(Debug)]
pub(crate) struct Recovery {
    mode: RecoveryMode,
    segments: Vec<SegmentRef>,
    lengths: Vec<u64>,
    index: usize,
    state: State,
    expected_lsn: Option<u64>,
    valid: Vec<ValidSegment>,
    records_found: u64,
    /// The highest LSN some valid record (or a segment's start) proves durable.
    proven_lsn: u64,
    /// In the segment being decoded: the end of the last record carrying LSNs.
    records_end: u64,
    requested_length: u64,
    chunk_bytes: u64,
    outcome: Option<Result<RecoveryOutcome, WalError>>,
}

impl Recovery {
    /// Starts recovering the log whose listing under `<prefix>/` is `keys` (keys that are not segment keys are
    /// ignored). `chunk_bytes` is the read size (tests use small ones to cross chunk boundaries).
    pub(crate) fn new(prefix: &str, mode: RecoveryMode, keys: Vec<Key>, chunk_bytes: u64) -> Result<Self, WalError> {
        let mut segments: Vec<SegmentRef> = keys
            .into_iter()
            .filter_map(|key| {
                format::parse_segment_key(prefix, key.as_str()).map(|first_lsn| SegmentRef { key, first_lsn })
            })
            .collect();
        if segments.len() > SEGMENTS_MAX {
            return Err(WalError::TooManySegments { count: segments.len(), limit: SEGMENTS_MAX });
        }
        // By LSN, then by key: the order a stable sort by LSN gives on the bytewise-sorted listing, without the
        // stable sort's code (the browser module is smaller).
        segments.sort_unstable_by(|a, b| a.first_lsn.cmp(&b.first_lsn).then_with(|| a.key.cmp(&b.key)));
        Ok(Self {
            mode,
            lengths: vec![0; segments.len()],
            segments,
            index: 0,
            state: State::Measure,
            expected_lsn: None,
            valid: Vec::new(),
            records_found: 0,
            proven_lsn: 0,
            records_end: 0,
            requested_length: 0,
            chunk_bytes,
            outcome: None,
        })
    }

    fn key(&self, index: usize) -> Option<Key> {
        self.segments.get(index).map(|segment| segment.key.clone())
    }

    fn key_text(&self, index: usize) -> String {
        self.segments.get(index).map(|segment| segment.key.to_string()).unwrap_or_default()
    }

    /// The next action (see the module docs).
    pub(crate) fn poll(&mut self) -> RecoveryAction {
        loop {
            match std::mem::replace(&mut self.state, State::Finished) {
                State::Finished => return RecoveryAction::Done,
                State::Measure => {
                    let Some(key) = self.key(self.index) else {
                        self.finish_clean(None);
                        return RecoveryAction::Done;
                    };
                    self.state = State::Measure;
                    return RecoveryAction::Len(key);
                }
                State::Decode(mut decoder) => match decoder.step() {
                    DecodeStep::Record(record) => {
                        if record.operation_count > 0 {
                            self.records_found += 1;
                            self.records_end = record.offset + record.header.total_bytes();
                        }
                        self.proven_lsn = self.proven_lsn.max(record.header.synced_lsn);
                        self.state = State::Decode(decoder);
                    }
                    DecodeStep::NeedRead { offset, length } => {
                        let Some(key) = self.key(self.index) else { continue };
                        self.requested_length = length;
                        self.state = State::Decode(decoder);
                        return RecoveryAction::Read { key, offset, length };
                    }
                    DecodeStep::End => {
                        let Some(salt) = decoder.salt() else {
                            // End only comes after a valid header.
                            self.damage(0, CorruptionReason::SegmentVanished, None);
                            continue;
                        };
                        let segment = ValidSegment {
                            salt,
                            valid_length: decoder.offset(),
                            records_end: self.records_end,
                            next_lsn: decoder.next_lsn(),
                        };
                        self.valid.push(segment);
                        self.expected_lsn = Some(segment.next_lsn);
                        self.index += 1;
                        self.state = State::Measure;
                    }
                    DecodeStep::Bad { offset, reason } => {
                        let is_last = self.index + 1 == self.segments.len();
                        let prefix = decoder.salt().map(|salt| ValidSegment {
                            salt,
                            valid_length: offset,
                            records_end: self.records_end,
                            next_lsn: decoder.next_lsn(),
                        });
                        match prefix {
                            Some(prefix) if is_last && reason.could_be_torn() => {
                                let scanner = TailScanner::new(
                                    prefix.salt,
                                    offset,
                                    prefix.next_lsn,
                                    decoder.segment_length(),
                                    self.chunk_bytes,
                                );
                                self.state = State::Scan { scanner, bad_offset: offset, damage: reason, prefix };
                            }
                            _ => {
                                let reason = if !is_last && reason.could_be_torn() {
                                    CorruptionReason::DamageInClosedSegment { damage: Box::new(reason) }
                                } else {
                                    reason
                                };
                                self.damage(offset, reason, prefix);
                            }
                        }
                    }
                },
                State::Scan { mut scanner, bad_offset, damage, prefix } => match scanner.step() {
                    ScanStep::NeedRead { offset, length } => {
                        let Some(key) = self.key(self.index) else { continue };
                        self.requested_length = length;
                        self.state = State::Scan { scanner, bad_offset, damage, prefix };
                        return RecoveryAction::Read { key, offset, length };
                    }
                    ScanStep::Witness { offset, synced_lsn } => {
                        let reason = CorruptionReason::AcknowledgedRecordDamaged {
                            damage: Box::new(damage),
                            witness_offset: offset,
                            witness_synced_lsn: synced_lsn,
                        };
                        self.damage(bad_offset, reason, Some(prefix));
                    }
                    ScanStep::Clean => {
                        let torn = TornTail { segment: self.key_text(self.index), offset: bad_offset, reason: damage };
                        self.valid.push(prefix);
                        self.index += 1;
                        self.finish_clean(Some(torn));
                        return RecoveryAction::Done;
                    }
                },
                State::MeasureDropped { damage, next, bytes_dropped } => {
                    if let Some(key) = self.key(next) {
                        self.state = State::MeasureDropped { damage, next, bytes_dropped };
                        return RecoveryAction::Len(key);
                    }
                    self.finish_salvage(damage, bytes_dropped);
                    return RecoveryAction::Done;
                }
            }
        }
    }

    /// The answer to [`RecoveryAction::Len`].
    pub(crate) fn handle_len(&mut self, length: Option<u64>) {
        match &mut self.state {
            State::Measure => {
                let Some(length) = length else {
                    self.damage(0, CorruptionReason::SegmentVanished, None);
                    return;
                };
                if let Some(slot) = self.lengths.get_mut(self.index) {
                    *slot = length;
                }
                let first_lsn = self.segments.get(self.index).map_or(0, |segment| segment.first_lsn);
                if let Some(expected) = self.expected_lsn.filter(|expected| *expected != first_lsn) {
                    self.damage(0, CorruptionReason::SegmentFirstLsn { expected, found: first_lsn }, None);
                    return;
                }
                // A segment is created only after the previous one was synced: everything before it is durable.
                self.proven_lsn = self.proven_lsn.max(first_lsn.saturating_sub(1));
                self.records_end = format::SEGMENT_HEADER_BYTES as u64;
                self.state = State::Decode(SegmentDecoder::new(first_lsn, length, None, self.chunk_bytes));
            }
            State::MeasureDropped { next, bytes_dropped, .. } => {
                *bytes_dropped += length.unwrap_or(0);
                *next += 1;
            }
            State::Decode(_) | State::Scan { .. } | State::Finished => {}
        }
    }

    /// The answer to [`RecoveryAction::Read`].
    pub(crate) fn handle_read(&mut self, offset: u64, bytes: Vec<u8>) {
        match &mut self.state {
            State::Decode(decoder) => decoder.handle_read(offset, bytes, self.requested_length),
            State::Scan { scanner, .. } => scanner.handle_read(offset, bytes, self.requested_length),
            State::Measure | State::MeasureDropped { .. } | State::Finished => {}
        }
    }

    /// The outcome, once [`Self::poll`] answered [`RecoveryAction::Done`].
    pub(crate) fn finish(mut self) -> Result<RecoveryOutcome, WalError> {
        self.outcome.take().unwrap_or_else(|| {
            Err(WalError::Corrupted { segment: String::new(), offset: 0, reason: CorruptionReason::SegmentVanished })
        })
    }

    fn damage(&mut self, offset: u64, reason: CorruptionReason, partial: Option<ValidSegment>) {
        let index = self.index;
        match self.mode {
            RecoveryMode::Strict => {
                self.outcome = Some(Err(WalError::Corrupted { segment: self.key_text(index), offset, reason }));
                self.state = State::Finished;
            }
            RecoveryMode::SalvagePrefix => {
                let length = self.lengths.get(index).copied().unwrap_or(0);
                let bytes_dropped = length.saturating_sub(if partial.is_some() { offset } else { 0 });
                let damage = Damage { index, offset, reason, partial };
                self.state = State::MeasureDropped { damage, next: index + 1, bytes_dropped };
            }
        }
    }

    fn report(&self, kept: &[SegmentRef], next_lsn: u64) -> RecoveryReport {
        let first_lsn = kept.first().map_or(next_lsn, |segment| segment.first_lsn);
        RecoveryReport {
            segments_scanned: (self.index + 1).min(self.segments.len()),
            records_found: self.records_found,
            first_lsn: Lsn(first_lsn),
            last_lsn: (next_lsn > first_lsn).then_some(Lsn(next_lsn - 1)),
            next_lsn: Lsn(next_lsn),
            torn_bytes_truncated: 0,
            torn_tail: None,
            unproven_bytes_rewritten: 0,
            unproven_bytes_pending: 0,
            salvage: None,
        }
    }

    /// The intents that make the last kept segment end durably after its valid records, before any append.
    ///
    /// A record proves the LSNs up to its `synced_lsn` durable, but not its own bytes: after a failed fsync
    /// ("fsyncgate") the bytes read back may live only in the page cache, where no later fsync writes them, and
    /// an append after them would leave a hole on disk. So: when every recovered LSN is proven, the segment is
    /// cut right after the last record carrying LSNs (dropping a seal and any torn bytes) and synced; when some
    /// are not, the valid bytes are rewritten atomically (which makes them durable whatever the page cache holds).
    /// Returns the intents and the segment's length once they are carried out.
    fn settle_last_segment(
        &self,
        key: &Key,
        segment: ValidSegment,
        length: u64,
        report: &mut RecoveryReport,
    ) -> (Vec<Intent>, u64) {
        let proven = self.proven_lsn + 1 >= segment.next_lsn;
        if !proven {
            report.unproven_bytes_rewritten = segment.valid_length;
            return (
                vec![Intent::Rewrite { key: key.clone(), length_bytes: segment.valid_length }],
                segment.valid_length,
            );
        }
        let mut intents = Vec::new();
        if length > segment.records_end {
            intents.push(Intent::Truncate { key: key.clone(), length_bytes: segment.records_end });
        }
        // Records recovered from the page cache of a killed process may not be durable yet.
        intents.push(Intent::Sync { key: key.clone() });
        (intents, segment.records_end)
    }

    fn finish_clean(&mut self, torn: Option<TornTail>) {
        let kept: Vec<SegmentRef> = self.segments.iter().take(self.valid.len()).cloned().collect();
        let last = self.valid.last().copied();
        let next_lsn = last.map_or(1, |segment| segment.next_lsn);
        let mut report = self.report(&kept, next_lsn);
        report.segments_scanned = self.valid.len();
        let mut intents = Vec::new();
        let mut active = None;
        if let (Some(segment), Some(last)) = (kept.last(), last) {
            let length = self.lengths.get(kept.len() - 1).copied().unwrap_or(0);
            if let Some(torn) = &torn {
                report.torn_bytes_truncated = length.saturating_sub(torn.offset);
            }
            let (settle, settled_length) = self.settle_last_segment(&segment.key, last, length, &mut report);
            intents = settle;
            active = Some((last.salt, settled_length));
            report.torn_tail = torn;
        }
        let log = RecoveredLog { active, last_salt: last.map_or(0, |segment| segment.salt), segments: kept, next_lsn };
        self.outcome = Some(Ok(RecoveryOutcome { intents, log, report, proven_lsn: self.proven_lsn }));
        self.state = State::Finished;
    }

    fn finish_salvage(&mut self, damage: Damage, bytes_dropped: u64) {
        let mut kept: Vec<SegmentRef> = self.segments.iter().take(damage.index).cloned().collect();
        let mut valid: Vec<ValidSegment> = self.valid.iter().take(damage.index).copied().collect();
        let dropped_from = if damage.partial.is_some() { damage.index + 1 } else { damage.index };
        let dropped: Vec<SegmentRef> = self.segments.iter().skip(dropped_from).cloned().collect();
        let mut intents: Vec<Intent> =
            dropped.iter().rev().map(|segment| Intent::Delete { key: segment.key.clone() }).collect();
        let damaged = self.segments.get(damage.index).cloned();
        if let (Some(partial), Some(segment)) = (damage.partial, damaged.clone()) {
            kept.push(segment);
            valid.push(partial);
        }
        let last = valid.last().copied();
        let next_lsn = match last {
            Some(segment) => segment.next_lsn,
            None => damaged.map_or(1, |segment| segment.first_lsn),
        };
        let mut report = self.report(&kept, next_lsn);
        let mut active = None;
        if let (Some(segment), Some(last)) = (kept.last(), last) {
            let length = self.lengths.get(kept.len() - 1).copied().unwrap_or(0);
            let (settle, settled_length) = self.settle_last_segment(&segment.key, last, length, &mut report);
            intents.extend(settle);
            active = Some((last.salt, settled_length));
        }
        report.salvage = Some(SalvageReport {
            segment: self.key_text(damage.index),
            offset: damage.offset,
            reason: damage.reason,
            segments_dropped: dropped.iter().map(|segment| segment.key.to_string()).collect(),
            bytes_dropped,
        });
        let log = RecoveredLog { active, last_salt: last.map_or(0, |segment| segment.salt), segments: kept, next_lsn };
        self.outcome = Some(Ok(RecoveryOutcome { intents, log, report, proven_lsn: self.proven_lsn }));
    }
}

/// What [`TailScanner::step`] found.
#[derive(Debug, PartialEq, Eq)]
enum ScanStep {
    NeedRead {
        offset: u64,
        length: u64,
    },
    /// A valid record whose `synced_lsn` covers the bad record: the damage is corruption.
    Witness {
        offset: u64,
        synced_lsn: u64,
    },
    /// No valid record after the bad one proves it durable: a torn tail.
    Clean,
}

/// Scans the bytes after a bad record, at every offset, for valid records of the same segment (same salt) whose
/// `synced_lsn` reaches the bad record's LSN.
#[derive(Debug)]
struct TailScanner {
    salt: u64,
    bad_lsn: u64,
    position: u64,
    segment_length: u64,
    window: Vec<u8>,
    window_offset: u64,
    chunk_bytes: u64,
}

impl TailScanner {
    fn new(salt: u64, bad_offset: u64, bad_lsn: u64, segment_length: u64, chunk_bytes: u64) -> Self {
        Self {
            salt,
            bad_lsn,
            position: bad_offset + 1,
            segment_length,
            window: Vec::new(),
            window_offset: 0,
            chunk_bytes: chunk_bytes.max(format::SEGMENT_BYTES_MIN),
        }
    }

    fn handle_read(&mut self, offset: u64, bytes: Vec<u8>, requested_length: u64) {
        if (bytes.len() as u64) < requested_length {
            self.segment_length = self.segment_length.min(offset + bytes.len() as u64);
        }
        self.window = bytes;
        self.window_offset = offset;
    }

    fn available(&self, offset: u64, length: u64) -> Option<&[u8]> {
        let start = offset.checked_sub(self.window_offset)?;
        let end = start.checked_add(length)?;
        self.window.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
    }

    fn need(&self, offset: u64, length: u64) -> ScanStep {
        let remaining = self.segment_length.saturating_sub(offset);
        ScanStep::NeedRead { offset, length: length.max(self.chunk_bytes).min(remaining) }
    }

    fn step(&mut self) -> ScanStep {
        let header_bytes = RECORD_HEADER_BYTES as u64;
        loop {
            let position = self.position;
            if position + header_bytes > self.segment_length {
                return ScanStep::Clean;
            }
            let Some(header_bytes_slice) = self.available(position, header_bytes) else {
                return self.need(position, header_bytes);
            };
            // Cheap filters first: a known type and zero reserved bytes, then the header checksum.
            let plausible = matches!(header_bytes_slice.get(4..8), Some([1..=3, 0, 0, 0]));
            let header =
                if plausible { format::decode_record_header(header_bytes_slice, self.salt).ok() } else { None };
            let Some(header) = header.filter(|header| {
                header.lsn >= self.bad_lsn
                    && header.synced_lsn < header.lsn
                    && u64::from(header.payload_bytes) <= RECORD_BYTES_MAX
                    && position + header.total_bytes() <= self.segment_length
            }) else {
                self.position += 1;
                continue;
            };
            let total = header.total_bytes();
            let Some(record) = self.available(position, total) else {
                return self.need(position, total);
            };
            let payload = record.get(RECORD_HEADER_BYTES..).unwrap_or_default();
            if format::record_checksum(self.salt, record, payload) != header.record_checksum {
                self.position += 1;
                continue;
            }
            if header.synced_lsn >= self.bad_lsn {
                return ScanStep::Witness { offset: position, synced_lsn: header.synced_lsn };
            }
            self.position += total;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::format::{RecordType, encode_record, encode_segment_header};

    type Disk = BTreeMap<String, Vec<u8>>;

    fn key_text(first_lsn: u64) -> String {
        format::segment_key_text("wal", first_lsn)
    }

    /// Builds a segment: `(lsn, synced_lsn, payload)` records.
    fn segment(disk: &mut Disk, first_lsn: u64, salt: u64, records: &[(u64, u64, &[u8])]) {
        let mut bytes = encode_segment_header(first_lsn, salt).to_vec();
        for (lsn, synced_lsn, payload) in records {
            encode_record(&mut bytes, salt, RecordType::Single, *lsn, *synced_lsn, &[payload]);
        }
        disk.insert(key_text(first_lsn), bytes);
    }

    /// Appends a seal (what a clean close writes) to a segment: next LSN `lsn`, everything before it durable.
    fn seal(disk: &mut Disk, first_lsn: u64, salt: u64, lsn: u64) {
        let bytes = disk.get_mut(&key_text(first_lsn)).unwrap();
        encode_record(bytes, salt, RecordType::Seal, lsn, lsn - 1, &[]);
    }

    fn recover(disk: &Disk, mode: RecoveryMode, chunk_bytes: u64) -> String {
        let keys = disk.keys().map(|key| Key::new(key.as_str()).unwrap()).collect();
        let mut recovery = Recovery::new("wal", mode, keys, chunk_bytes).unwrap();
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 100_000, "recovery loops");
            match recovery.poll() {
                RecoveryAction::Len(key) => recovery.handle_len(disk.get(key.as_str()).map(|bytes| bytes.len() as u64)),
                RecoveryAction::Read { key, offset, length } => {
                    let bytes = &disk[key.as_str()];
                    let start = (offset as usize).min(bytes.len());
                    let end = (offset + length).min(bytes.len() as u64) as usize;
                    recovery.handle_read(offset, bytes[start..end].to_vec());
                }
                RecoveryAction::Done => break,
            }
        }
        let outcome = match recovery.finish() {
            Ok(outcome) => outcome,
            Err(WalError::Corrupted { segment, offset, reason }) => {
                return format!("corrupted {}@{offset}: {reason}", segment.replace("wal/000000000000000000", ""));
            }
            Err(other) => return format!("error {other}"),
        };
        let report = outcome.report;
        let intents = outcome
            .intents
            .iter()
            .map(|intent| match intent {
                Intent::Truncate { key, length_bytes } => format!("truncate {key}@{length_bytes}"),
                Intent::Sync { key } => format!("sync {key}"),
                Intent::Delete { key } => format!("delete {key}"),
                Intent::Rewrite { key, length_bytes } => format!("rewrite {key}@{length_bytes}"),
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let mut text = format!(
            "ok records={} next={} torn={} [{intents}]",
            report.records_found, report.next_lsn, report.torn_bytes_truncated
        );
        if let Some(salvage) = report.salvage {
            text.push_str(&format!(
                " salvage {}@{} dropped={:?} bytes={}",
                salvage.segment, salvage.offset, salvage.segments_dropped, salvage.bytes_dropped
            ));
        }
        text.replace("wal/000000000000000000", "")
    }

    fn check(disk: &Disk, mode: RecoveryMode, expected: &str) {
        for chunk_bytes in [64, 100, 1 << 20] {
            assert_eq!(recover(disk, mode, chunk_bytes), expected, "chunk {chunk_bytes}");
        }
    }

    fn strict(disk: &Disk, expected: &str) {
        check(disk, RecoveryMode::Strict, expected);
    }

    /// Overwrites bytes at `offset` of a segment with garbage (a torn sector).
    fn tear(disk: &mut Disk, first_lsn: u64, offset: usize, length: usize) {
        let bytes = disk.get_mut(&key_text(first_lsn)).unwrap();
        for (index, byte) in bytes[offset..offset + length].iter_mut().enumerate() {
            *byte = (index as u8).wrapping_mul(31).wrapping_add(7);
        }
    }

    #[test]
    fn an_empty_listing_starts_a_fresh_log() {
        strict(&Disk::new(), "ok records=0 next=1 torn=0 []");
    }

    #[test]
    fn a_sealed_log_recovers_every_record_and_cuts_the_seal_off() {
        let mut disk = Disk::new();
        segment(&mut disk, 1, 11, &[(1, 0, b"a"), (2, 1, b"b")]);
        segment(&mut disk, 3, 12, &[(3, 2, b"c")]);
        seal(&mut disk, 3, 12, 4);
        strict(&disk, "ok records=3 next=4 torn=0 [truncate 03@65, sync 03]");
    }

    #[test]
    fn an_unproven_tail_is_rewritten_atomically() {
        // Nothing proves record 3 durable (it may sit only in the page cache of a failed fsync): rewrite it.
        let mut disk = Disk::new();
        segment(&mut disk, 1, 11, &[(1, 0, b"a"), (2, 1, b"b")]);
        segment(&mut disk, 3, 12, &[(3, 2, b"c")]);
        strict(&disk, "ok records=3 next=4 torn=0 [rewrite 03@65]");
        // A segment without records is proven by its own existence (the previous one was synced first).
        segment(&mut disk, 4, 13, &[]);
        strict(&disk, "ok records=3 next=4 torn=0 [sync 04]");
    }

    #[test]
    fn a_log_may_start_above_one_after_a_checkpoint() {
        let mut disk = Disk::new();
        segment(&mut disk, 40, 11, &[(40, 39, b"a")]);
        seal(&mut disk, 40, 11, 41);
        strict(&disk, "ok records=1 next=41 torn=0 [truncate 40@65, sync 40]");
    }

    #[test]
    fn a_torn_last_record_is_cut_off() {
        let mut disk = Disk::new();
        segment(&mut disk, 1, 11, &[(1, 0, b"a"), (2, 1, b"bb")]);
        let length = disk[&key_text(1)].len();
        disk.get_mut(&key_text(1)).unwrap().truncate(length - 1);
        strict(&disk, "ok records=1 next=2 torn=33 [rewrite 01@65]");
        // After a seal, the records are proven: cutting the seal and the torn bytes, then a sync, suffice.
        let mut sealed = Disk::new();
        segment(&mut sealed, 1, 11, &[(1, 0, b"a")]);
        seal(&mut sealed, 1, 11, 2);
        sealed.get_mut(&key_text(1)).unwrap().extend_from_slice(&[0; 20]);
        strict(&sealed, "ok records=1 next=2 torn=20 [truncate 01@65, sync 01]");
    }

    #[test]
    fn garbage_after_the_last_record_is_a_torn_tail() {
        let mut disk = Disk::new();
        segment(&mut disk, 1, 11, &[(1, 0, b"a")]);
        disk.get_mut(&key_text(1)).unwrap().extend_from_slice(&[0xAB; 100]);
        strict(&disk, "ok records=1 next=2 torn=100 [rewrite 01@65]");
        disk.get_mut(&key_text(1)).unwrap().truncate(65 + 10);
        strict(&disk, "ok records=1 next=2 torn=10 [rewrite 01@65]");
    }

    #[test]
    fn a_later_unsynced_record_surviving_an_earlier_torn_one_is_still_a_torn_tail() {
        // Records 2 and 3 were written after the sync of 1; the crash tore 2 but kept 3 (synced_lsn 1 < 2).
        let mut disk = Disk::new();
        segment(&mut disk, 1, 11, &[(1, 0, b"a"), (2, 1, b"bbbb"), (3, 1, b"c")]);
        tear(&mut disk, 1, 65 + 32, 4);
        strict(&disk, "ok records=1 next=2 torn=69 [rewrite 01@65]");
    }

    #[test]
    fn a_bad_record_followed_by_proof_of_its_durability_is_corruption() {
        // Record 3 was framed after 2 was synced (synced_lsn 2): the damage to 2 is not a torn write.
        let mut disk = Disk::new();
        segment(&mut disk, 1, 11, &[(1, 0, b"a"), (2, 1, b"bbbb"), (3, 2, b"c")]);
        tear(&mut disk, 1, 65 + 32, 4);
        let expected = "corrupted 01@65: record checksum 0x";
        for chunk_bytes in [64, 100, 1 << 20] {
            let text = recover(&disk, RecoveryMode::Strict, chunk_bytes);
            assert!(text.starts_with(expected), "{text}");
            assert!(text.ends_with("the valid record at byte 101 proves LSNs up to 2 were durable"), "{text}");
        }
        check(
            &disk,
            RecoveryMode::SalvagePrefix,
            "ok records=1 next=2 torn=0 [rewrite 01@65] salvage 01@65 dropped=[] bytes=69",
        );
    }

    #[test]
    fn damage_in_an_older_segment_is_corruption() {
        let mut disk = Disk::new();
        segment(&mut disk, 1, 11, &[(1, 0, b"a"), (2, 1, b"b")]);
        segment(&mut disk, 3, 12, &[(3, 2, b"c")]);
        let length = disk[&key_text(1)].len();
        disk.get_mut(&key_text(1)).unwrap().truncate(length - 1);
        strict(&disk, "corrupted 01@65: record length 1 exceeds the 0 bytes left or the cap (in a closed segment)");
        check(
            &disk,
            RecoveryMode::SalvagePrefix,
            "ok records=1 next=2 torn=0 [delete 03, rewrite 01@65] salvage 01@65 dropped=[\"03\"] bytes=97",
        );
    }

    #[test]
    fn lsn_gaps_between_segments_and_records_are_corruption() {
        let mut disk = Disk::new();
        segment(&mut disk, 1, 11, &[(1, 0, b"a")]);
        segment(&mut disk, 3, 12, &[(3, 2, b"c")]);
        strict(&disk, "corrupted 03@0: segment first LSN 3, expected 2");
        check(
            &disk,
            RecoveryMode::SalvagePrefix,
            "ok records=1 next=2 torn=0 [delete 03, rewrite 01@65] salvage 03@0 dropped=[\"03\"] bytes=65",
        );
        let mut records = Disk::new();
        segment(&mut records, 1, 11, &[(1, 0, b"a"), (3, 1, b"c")]);
        strict(&records, "corrupted 01@65: LSN 3, expected 2");
    }

    #[test]
    fn a_bad_segment_header_is_corruption_even_in_the_last_segment() {
        let mut disk = Disk::new();
        segment(&mut disk, 1, 11, &[(1, 0, b"a")]);
        segment(&mut disk, 2, 12, &[(2, 1, b"b")]);
        disk.get_mut(&key_text(2)).unwrap()[13] ^= 1;
        let text = recover(&disk, RecoveryMode::Strict, 64);
        assert!(text.starts_with("corrupted 02@0: segment header checksum"), "{text}");
        check(
            &disk,
            RecoveryMode::SalvagePrefix,
            "ok records=1 next=2 torn=0 [delete 02, sync 01] salvage 02@0 dropped=[\"02\"] bytes=65",
        );
        let mut only = Disk::new();
        segment(&mut only, 5, 11, &[(5, 4, b"a")]);
        only.get_mut(&key_text(5)).unwrap()[0] ^= 1;
        strict(&only, "corrupted 05@0: bad segment magic");
        check(
            &only,
            RecoveryMode::SalvagePrefix,
            "ok records=0 next=5 torn=0 [delete 05] salvage 05@0 dropped=[\"05\"] bytes=65",
        );
    }

    #[test]
    fn stale_records_of_another_salt_never_count_as_witnesses() {
        // A record with synced_lsn 5 from a segment with another salt sits after the torn record: it is ignored.
        let mut disk = Disk::new();
        segment(&mut disk, 1, 11, &[(1, 0, b"a"), (2, 1, b"bbbb")]);
        let mut stale = Vec::new();
        encode_record(&mut stale, 99, RecordType::Single, 6, 5, &[b"old"]);
        disk.get_mut(&key_text(1)).unwrap().extend_from_slice(&stale);
        tear(&mut disk, 1, 65 + 32, 4);
        strict(&disk, "ok records=1 next=2 torn=71 [rewrite 01@65]");
    }

    #[test]
    fn unrelated_keys_under_the_prefix_are_ignored() {
        let mut disk = Disk::new();
        segment(&mut disk, 1, 11, &[(1, 0, b"a")]);
        seal(&mut disk, 1, 11, 2);
        disk.insert("wal/notes".to_owned(), b"hello".to_vec());
        strict(&disk, "ok records=1 next=2 torn=0 [truncate 01@65, sync 01]");
    }
}
