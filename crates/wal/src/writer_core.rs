//! The writer's decisions, with no I/O: LSN assignment, framing into a pending buffer, segment rotation, when to
//! write and sync, and which segments a checkpoint may delete. Its outputs are [`Intent`]s that a driver carries out
//! in order (`driver::execute`), then reports back with [`WriterCore::complete_flush`].
//!
//! Call order: `frame_*` (under the writer's lock) → [`WriterCore::flush_need`] → when it answers, and no other
//! flush is running, [`WriterCore::take_flush`] → execute the intents without holding the lock →
//! [`WriterCore::complete_flush`]. Flushes must complete in the order they were taken, one at a time.

use std::collections::VecDeque;
use std::mem;

use storage_core::{Key, PersistenceError};

use crate::entry::{Lsn, LsnRange};
use crate::error::WalError;
use crate::format::{
    self, BATCH_LENGTH_BYTES, BATCH_OPERATIONS_MAX, BatchBuilder, RECORD_HEADER_BYTES, RecordType, SEGMENT_HEADER_BYTES,
};
use crate::options::{SyncPolicy, WalOptions};
use crate::reader::{ReplayCursor, SegmentRef};

/// One I/O step for a driver to carry out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Intent {
    /// Create a segment durably with its header (`atomic_write`).
    CreateSegment { key: Key, header: [u8; SEGMENT_HEADER_BYTES] },
    /// Append framed records to a segment.
    Append { key: Key, bytes: Vec<u8> },
    /// Make a segment's appends durable.
    Sync { key: Key },
    /// Cut a segment at a length (recovery's torn tail, salvage).
    Truncate { key: Key, length_bytes: u64 },
    /// Delete a segment (checkpoint, salvage).
    Delete { key: Key },
    /// Replace a segment by its first `length_bytes` bytes, atomically and durably (recovery of a tail whose
    /// durability no record proves: after a failed fsync, the bytes read back may exist only in the page cache).
    Rewrite { key: Key, length_bytes: u64 },
}

/// The log as recovery left it, from which the writer continues.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RecoveredLog {
    /// The segments kept, oldest first.
    pub(crate) segments: Vec<SegmentRef>,
    /// The last segment's salt and valid length, when there is a segment.
    pub(crate) active: Option<(u64, u64)>,
    /// The LSN the next record gets.
    pub(crate) next_lsn: u64,
    /// The salt of the last segment seen, mixed into the salt seed.
    pub(crate) last_salt: u64,
}

/// A batch of intents taken by one flusher.
#[derive(Debug)]
pub(crate) struct Flush {
    pub(crate) intents: Vec<Intent>,
    framed_lsn: u64,
    durable_lsn_after: u64,
    framed_bytes_total: u64,
    syncs_everything: bool,
    taken_at_ms: u64,
}

#[derive(Debug)]
struct SegmentInfo {
    key: Key,
    first_lsn: u64,
    /// True once the segment's creation is durable (its `CreateSegment` completed, or recovery found it).
    created: bool,
}

/// The writer state machine (see the module docs).
#[derive(Debug)]
pub(crate) struct WriterCore {
    prefix: String,
    segment_bytes_max: u64,
    record_bytes_max: u64,
    write_buffer_bytes_max: u64,
    salt_state: u64,
    next_lsn: u64,
    durable_lsn: u64,
    written_lsn: u64,
    segments: VecDeque<SegmentInfo>,
    active_key: Key,
    active_salt: u64,
    active_length_bytes: u64,
    queue: Vec<Intent>,
    queued_bytes: u64,
    queued_durable_lsn: u64,
    buffer: Vec<u8>,
    spare: Vec<u8>,
    /// Bytes framed since this writer started: the position of the end of the last framed record. Callers wait
    /// for positions, which also covers seals (records without an LSN).
    framed_bytes_total: u64,
    written_bytes_total: u64,
    durable_bytes_total: u64,
    oldest_unsynced_ms: Option<u64>,
    records_framed: u64,
    needs_seal: bool,
    poisoned: Option<String>,
    /// Recovery's intents that could not run at open because the storage was full (from the unproven tail's
    /// rewrite on): they run first in the next flush that writes or syncs, so nothing is appended after an
    /// unproven tail and no sync returns before it is proven. Reads (replay) never run them.
    deferred: Vec<Intent>,
    /// The durable LSN once [`Self::deferred`] has run (the recovered log's last LSN).
    deferred_durable_lsn: u64,
}

/// SplitMix64: the salt generator.
fn split_mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut mixed = *state;
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    mixed ^ (mixed >> 31)
}

fn segment_key(prefix: &str, first_lsn: u64) -> Result<Key, WalError> {
    Ok(Key::new(format::segment_key_text(prefix, first_lsn))?)
}

/// Checks that staging `operation` keeps a transaction's batch within the limits.
pub(crate) fn stage_check(batch: &BatchBuilder, operation: &[u8], record_bytes_max: u64) -> Result<(), WalError> {
    let operation_count = u64::from(batch.count()) + 1;
    if operation_count > u64::from(BATCH_OPERATIONS_MAX) {
        return Err(WalError::BatchTooLarge { operation_count, limit: BATCH_OPERATIONS_MAX });
    }
    let current_bytes = batch.payload().len().max(BATCH_LENGTH_BYTES) as u64;
    let length_bytes = current_bytes + (BATCH_LENGTH_BYTES + operation.len()) as u64;
    if length_bytes > record_bytes_max {
        return Err(WalError::RecordTooLarge { length_bytes, limit_bytes: record_bytes_max });
    }
    Ok(())
}

impl WriterCore {
    /// A writer continuing `log`. When the log has no segment, the first flush creates one.
    pub(crate) fn new(options: &WalOptions, log: RecoveredLog, salt_seed: u64) -> Result<Self, WalError> {
        let mut salt_state = salt_seed ^ log.last_salt.rotate_left(17);
        let segments: VecDeque<SegmentInfo> = log
            .segments
            .into_iter()
            .map(|segment| SegmentInfo { key: segment.key, first_lsn: segment.first_lsn, created: true })
            .collect();
        let mut core = Self {
            prefix: options.key_prefix.clone(),
            segment_bytes_max: options.segment_bytes_max,
            record_bytes_max: options.record_bytes_max,
            write_buffer_bytes_max: options.write_buffer_bytes_max,
            salt_state: 0,
            next_lsn: log.next_lsn,
            durable_lsn: log.next_lsn - 1,
            written_lsn: log.next_lsn - 1,
            segments,
            active_key: segment_key(&options.key_prefix, log.next_lsn)?,
            active_salt: 0,
            active_length_bytes: SEGMENT_HEADER_BYTES as u64,
            queue: Vec::new(),
            queued_bytes: 0,
            queued_durable_lsn: 0,
            buffer: Vec::new(),
            spare: Vec::new(),
            framed_bytes_total: 0,
            written_bytes_total: 0,
            durable_bytes_total: 0,
            oldest_unsynced_ms: None,
            records_framed: 0,
            needs_seal: true,
            poisoned: None,
            deferred: Vec::new(),
            deferred_durable_lsn: 0,
        };
        match (core.segments.back(), log.active) {
            (Some(last), Some((salt, length_bytes))) => {
                core.active_key = last.key.clone();
                core.active_salt = salt;
                core.active_length_bytes = length_bytes;
            }
            _ => {
                let salt = split_mix(&mut salt_state) ^ log.next_lsn;
                let key = core.active_key.clone();
                core.start_segment(key, log.next_lsn, salt);
            }
        }
        core.salt_state = salt_state;
        Ok(core)
    }

    /// Keeps recovery's `intents` (which the storage had no room for at open) for the next flush that writes or
    /// syncs (see [`Self::take_flush`]). Until it has run, only `proven_lsn` counts as durable.
    pub(crate) fn defer(&mut self, intents: Vec<Intent>, proven_lsn: u64) {
        self.deferred = intents;
        self.deferred_durable_lsn = self.durable_lsn;
        self.durable_lsn = self.durable_lsn.min(proven_lsn);
    }

    fn start_segment(&mut self, key: Key, first_lsn: u64, salt: u64) {
        self.queue
            .push(Intent::CreateSegment { key: key.clone(), header: format::encode_segment_header(first_lsn, salt) });
        self.segments.push_back(SegmentInfo { key: key.clone(), first_lsn, created: false });
        self.active_key = key;
        self.active_salt = salt;
        self.active_length_bytes = SEGMENT_HEADER_BYTES as u64;
    }

    /// `Err(Poisoned)` once a flush failed.
    pub(crate) fn check_poisoned(&self) -> Result<(), WalError> {
        match &self.poisoned {
            Some(cause) => Err(WalError::Poisoned { cause: cause.clone() }),
            None => Ok(()),
        }
    }

    /// Poisons the writer with `error` (a failed write the driver did outside a flush, such as a delete).
    pub(crate) fn poison(&mut self, error: &PersistenceError) {
        if self.poisoned.is_none() {
            self.poisoned = Some(error.to_string());
        }
    }

    /// Frames one operation. Returns its LSNs and its end position (see [`Self::flush_need`]).
    pub(crate) fn frame_single(&mut self, payload: &[u8], now_ms: u64) -> Result<(LsnRange, u64), WalError> {
        self.frame(RecordType::Single, &[payload], payload.len() as u64, 1, now_ms)
    }

    /// Frames several operations as one batch record.
    pub(crate) fn frame_batch(&mut self, operations: &[&[u8]], now_ms: u64) -> Result<(LsnRange, u64), WalError> {
        let count = self.check_batch(operations.len() as u64)?;
        let payload_bytes = BatchBuilder::payload_bytes_of(operations);
        self.check_record(payload_bytes)?;
        let count_bytes = count.to_le_bytes();
        let lengths: Vec<[u8; BATCH_LENGTH_BYTES]> =
            operations.iter().map(|operation| (operation.len() as u32).to_le_bytes()).collect();
        let mut parts: Vec<&[u8]> = Vec::with_capacity(1 + 2 * operations.len());
        parts.push(&count_bytes);
        for (length, operation) in lengths.iter().zip(operations) {
            parts.push(length);
            parts.push(operation);
        }
        self.frame(RecordType::Batch, &parts, payload_bytes, count, now_ms)
    }

    /// Frames a batch staged by a transaction.
    pub(crate) fn frame_staged(&mut self, batch: &BatchBuilder, now_ms: u64) -> Result<(LsnRange, u64), WalError> {
        let count = self.check_batch(u64::from(batch.count()))?;
        self.frame(RecordType::Batch, &[batch.payload()], batch.payload().len() as u64, count, now_ms)
    }

    /// Checks a batch's operation count.
    pub(crate) fn check_batch(&self, operation_count: u64) -> Result<u32, WalError> {
        match u32::try_from(operation_count) {
            Ok(0) => Err(WalError::EmptyBatch),
            Ok(count) if count <= BATCH_OPERATIONS_MAX => Ok(count),
            _ => Err(WalError::BatchTooLarge { operation_count, limit: BATCH_OPERATIONS_MAX }),
        }
    }

    /// Checks a record's payload size against the limit.
    pub(crate) fn check_record(&self, payload_bytes: u64) -> Result<(), WalError> {
        if payload_bytes > self.record_bytes_max {
            return Err(WalError::RecordTooLarge { length_bytes: payload_bytes, limit_bytes: self.record_bytes_max });
        }
        Ok(())
    }

    fn frame(
        &mut self,
        record_type: RecordType,
        parts: &[&[u8]],
        payload_bytes: u64,
        operation_count: u32,
        now_ms: u64,
    ) -> Result<(LsnRange, u64), WalError> {
        self.check_poisoned()?;
        self.check_record(payload_bytes)?;
        let first = self.next_lsn;
        let last = first + u64::from(operation_count) - 1;
        if last > format::LSN_MAX {
            return Err(WalError::LsnExhausted);
        }
        let total_bytes = RECORD_HEADER_BYTES as u64 + payload_bytes;
        let has_records = self.active_length_bytes > SEGMENT_HEADER_BYTES as u64;
        if has_records && self.active_length_bytes + total_bytes > self.segment_bytes_max {
            self.rotate(first)?;
        }
        debug_assert!(self.durable_lsn < first, "a record cannot be durable before it is framed");
        format::encode_record(&mut self.buffer, self.active_salt, record_type, first, self.durable_lsn, parts);
        self.active_length_bytes += total_bytes;
        self.framed_bytes_total += total_bytes;
        self.next_lsn = last + 1;
        self.oldest_unsynced_ms.get_or_insert(now_ms);
        self.records_framed += 1;
        self.needs_seal = true;
        Ok((LsnRange { first: Lsn(first), last: Lsn(last) }, self.framed_bytes_total))
    }

    /// Frames a seal (no LSN, `synced_lsn` = the durable LSN), once per writer. Call it when everything framed is
    /// durable, then flush with a sync: the next open then knows every record is durable, cuts the seal off and
    /// needs no rewrite. Returns the seal's end position, or `None` when no seal is needed (or possible yet).
    pub(crate) fn frame_seal(&mut self) -> Result<Option<u64>, WalError> {
        self.check_poisoned()?;
        if !self.needs_seal || self.durable_lsn < self.next_lsn - 1 {
            return Ok(None);
        }
        format::encode_record(
            &mut self.buffer,
            self.active_salt,
            RecordType::Seal,
            self.next_lsn,
            self.durable_lsn,
            &[],
        );
        self.active_length_bytes += RECORD_HEADER_BYTES as u64;
        self.framed_bytes_total += RECORD_HEADER_BYTES as u64;
        self.needs_seal = false;
        Ok(Some(self.framed_bytes_total))
    }

    /// Starts a new segment at the next LSN when the active one holds records, so that every record framed so far
    /// lies in segments a checkpoint can delete whole. Returns whether it rotated (the caller then flushes).
    pub(crate) fn rotate_now(&mut self) -> Result<bool, WalError> {
        self.check_poisoned()?;
        if self.active_length_bytes <= SEGMENT_HEADER_BYTES as u64 {
            return Ok(false);
        }
        self.rotate(self.next_lsn)?;
        Ok(true)
    }

    /// Closes the active segment (its bytes are written and synced before the next segment is created, so only
    /// the last segment can ever hold a torn write) and starts one at `first_lsn`.
    fn rotate(&mut self, first_lsn: u64) -> Result<(), WalError> {
        let key = segment_key(&self.prefix, first_lsn)?;
        self.move_buffer_to_queue();
        self.queue.push(Intent::Sync { key: self.active_key.clone() });
        self.queued_durable_lsn = first_lsn - 1;
        let salt = split_mix(&mut self.salt_state) ^ first_lsn;
        self.start_segment(key, first_lsn, salt);
        Ok(())
    }

    fn move_buffer_to_queue(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let bytes = mem::replace(&mut self.buffer, mem::take(&mut self.spare));
        self.queued_bytes += bytes.len() as u64;
        self.queue.push(Intent::Append { key: self.active_key.clone(), bytes });
    }

    /// Bytes framed but not handed to the backend yet.
    pub(crate) fn buffered_bytes(&self) -> u64 {
        self.queued_bytes + self.buffer.len() as u64
    }

    /// The flush an appender must wait for after framing a record that ends at `position`: the position to reach
    /// and whether it must be durable (`true`) or only written (`false`). `None`: return at once.
    pub(crate) fn flush_need(&self, policy: SyncPolicy, position: u64, now_ms: u64) -> Option<(u64, bool)> {
        let framed = self.framed_bytes_total;
        let buffer_full = self.buffered_bytes() >= self.write_buffer_bytes_max;
        match policy {
            SyncPolicy::EveryCommit => Some((position, true)),
            SyncPolicy::Grouped { max_delay_ms, max_bytes } => {
                let unsynced_bytes = framed - self.durable_bytes_total;
                let waited_ms = self.oldest_unsynced_ms.map_or(0, |oldest| now_ms.saturating_sub(oldest));
                if unsynced_bytes > 0 && (unsynced_bytes >= max_bytes || waited_ms >= max_delay_ms) {
                    Some((framed, true))
                } else if buffer_full {
                    Some((framed, false))
                } else {
                    None
                }
            }
            SyncPolicy::Manual => buffer_full.then_some((framed, false)),
        }
    }

    /// True when everything up to `position` is durable (`sync`) or written.
    pub(crate) fn reached(&self, position: u64, sync: bool) -> bool {
        if sync {
            // A deferred rewrite of the recovered tail must run before a sync can answer.
            self.deferred.is_empty() && self.durable_bytes_total >= position
        } else {
            self.written_bytes_total >= position
        }
    }

    /// The position up to which everything framed is written to the backend.
    pub(crate) fn written_position(&self) -> u64 {
        self.written_bytes_total
    }

    /// The position up to which everything framed is durable.
    pub(crate) fn durable_position(&self) -> u64 {
        self.durable_bytes_total
    }

    /// How many records this writer framed (seals excluded).
    pub(crate) fn records_framed(&self) -> u64 {
        self.records_framed
    }

    /// The position of the end of everything framed so far.
    pub(crate) fn framed_position(&self) -> u64 {
        self.framed_bytes_total
    }

    /// Takes every queued intent and buffered record, plus a sync of the active segment when `sync` is set and
    /// something is not durable yet. `None` when there is nothing to do.
    pub(crate) fn take_flush(&mut self, sync: bool, now_ms: u64) -> Option<Flush> {
        self.move_buffer_to_queue();
        let framed_lsn = self.next_lsn - 1;
        let mut durable_lsn_after = self.durable_lsn.max(self.queued_durable_lsn);
        let syncs_everything = sync && self.durable_bytes_total < self.framed_bytes_total;
        if syncs_everything {
            self.queue.push(Intent::Sync { key: self.active_key.clone() });
            durable_lsn_after = framed_lsn;
        }
        // Deferred recovery intents ride with the next writes, or with a sync even when nothing else is pending
        // (the tail replay returned must be proven before a sync answers).
        let sync_runs_deferred = sync && !self.deferred.is_empty();
        if self.queue.is_empty() && !sync_runs_deferred {
            return None;
        }
        self.queued_bytes = 0;
        self.queued_durable_lsn = 0;
        if !self.deferred.is_empty() {
            durable_lsn_after = durable_lsn_after.max(self.deferred_durable_lsn);
        }
        let mut intents = mem::take(&mut self.deferred);
        intents.append(&mut self.queue);
        Some(Flush {
            intents,
            framed_lsn,
            durable_lsn_after,
            framed_bytes_total: self.framed_bytes_total,
            syncs_everything,
            taken_at_ms: now_ms,
        })
    }

    /// Records the outcome of executing `flush`. A failure poisons the writer and is returned.
    pub(crate) fn complete_flush(
        &mut self,
        flush: Flush,
        result: Result<(), PersistenceError>,
    ) -> Result<(), WalError> {
        if let Err(error) = result {
            self.poison(&error);
            return Err(WalError::Storage(error));
        }
        self.written_lsn = self.written_lsn.max(flush.framed_lsn);
        self.written_bytes_total = self.written_bytes_total.max(flush.framed_bytes_total);
        self.durable_lsn = self.durable_lsn.max(flush.durable_lsn_after);
        if flush.syncs_everything {
            self.durable_bytes_total = self.durable_bytes_total.max(flush.framed_bytes_total);
            let more_framed = self.framed_bytes_total > self.durable_bytes_total;
            self.oldest_unsynced_ms = more_framed.then_some(flush.taken_at_ms);
        }
        for intent in flush.intents {
            match intent {
                Intent::CreateSegment { key, .. } => {
                    if let Some(segment) = self.segments.iter_mut().find(|segment| segment.key == key) {
                        segment.created = true;
                    }
                }
                Intent::Append { mut bytes, .. } => {
                    if bytes.capacity() > self.spare.capacity() {
                        bytes.clear();
                        self.spare = bytes;
                    }
                }
                Intent::Sync { .. } | Intent::Truncate { .. } | Intent::Delete { .. } | Intent::Rewrite { .. } => {}
            }
        }
        Ok(())
    }

    /// The segments a checkpoint at `before_lsn` deletes, oldest first: those whose records are all below
    /// `before_lsn`, never the active one, and only when the next segment's creation is durable (so the log that
    /// remains after a crash between deletions is always a contiguous suffix).
    pub(crate) fn segments_before(&self, before_lsn: u64) -> Vec<Key> {
        self.segments
            .iter()
            .zip(self.segments.iter().skip(1))
            .take_while(|(_, next)| next.first_lsn <= before_lsn && next.created)
            .map(|(segment, _)| segment.key.clone())
            .collect()
    }

    /// Records that the first `deleted` of `keys` (from [`Self::segments_before`]) are gone; a failure poisons.
    pub(crate) fn complete_deletes(
        &mut self,
        keys: &[Key],
        deleted: usize,
        result: Result<(), PersistenceError>,
    ) -> Result<usize, WalError> {
        for key in keys.iter().take(deleted) {
            if self.segments.front().is_some_and(|segment| &segment.key == key) {
                self.segments.pop_front();
            }
        }
        match result {
            Ok(()) => Ok(deleted),
            Err(error) => {
                self.poison(&error);
                Err(WalError::Storage(error))
            }
        }
    }

    /// A cursor replaying entries from `from_lsn` up to the last written LSN.
    pub(crate) fn replay_cursor(&self, from_lsn: u64, chunk_bytes: u64) -> ReplayCursor {
        let segments = self
            .segments
            .iter()
            .map(|segment| SegmentRef { key: segment.key.clone(), first_lsn: segment.first_lsn })
            .collect();
        ReplayCursor::new(segments, from_lsn, self.written_lsn, chunk_bytes)
    }

    /// The LSN the next record gets.
    pub(crate) fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// Every LSN up to this one is durable.
    pub(crate) fn durable_lsn(&self) -> u64 {
        self.durable_lsn
    }

    /// The first LSN the log still holds (the oldest segment's first).
    pub(crate) fn first_lsn(&self) -> u64 {
        self.segments.front().map_or(self.next_lsn, |segment| segment.first_lsn)
    }

    /// How many segments the log has.
    pub(crate) fn segment_count(&self) -> usize {
        self.segments.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(segment_bytes_max: u64) -> WriterCore {
        let options = WalOptions { segment_bytes_max, ..WalOptions::default() };
        let log = RecoveredLog { segments: Vec::new(), active: None, next_lsn: 1, last_salt: 0 };
        WriterCore::new(&options, log, 7).unwrap()
    }

    fn describe(intents: &[Intent]) -> String {
        intents
            .iter()
            .map(|intent| match intent {
                Intent::CreateSegment { key, .. } => format!("create {key}"),
                Intent::Append { key, bytes } => format!("append {key} {}", bytes.len()),
                Intent::Sync { key } => format!("sync {key}"),
                Intent::Truncate { key, length_bytes } => format!("truncate {key} {length_bytes}"),
                Intent::Delete { key } => format!("delete {key}"),
                Intent::Rewrite { key, length_bytes } => format!("rewrite {key} {length_bytes}"),
            })
            .collect::<Vec<_>>()
            .join("; ")
            .replace("wal/000000000000000000", "")
    }

    fn flush(core: &mut WriterCore, sync: bool) -> String {
        let Some(flush) = core.take_flush(sync, 0) else { return "nothing".to_owned() };
        let text = describe(&flush.intents);
        core.complete_flush(flush, Ok(())).unwrap();
        text
    }

    #[test]
    fn a_fresh_log_creates_its_first_segment_then_appends_and_syncs() {
        let mut core = fresh(1024);
        assert_eq!(flush(&mut core, false), "create 01");
        assert_eq!(core.frame_single(b"abc", 0).unwrap(), (LsnRange { first: Lsn(1), last: Lsn(1) }, 35));
        assert_eq!(core.frame_batch(&[b"x", b"yz"], 0).unwrap(), (LsnRange { first: Lsn(2), last: Lsn(3) }, 35 + 47));
        assert_eq!(core.flush_need(SyncPolicy::EveryCommit, 82, 0), Some((82, true)));
        assert_eq!(core.flush_need(SyncPolicy::Manual, 82, 0), None);
        assert_eq!(flush(&mut core, true), format!("append 01 {}; sync 01", 35 + 32 + 4 + 5 + 6));
        assert_eq!(core.durable_lsn(), 3);
        assert_eq!(flush(&mut core, true), "nothing", "everything is durable");
    }

    #[test]
    fn rotation_syncs_the_old_segment_before_creating_the_next() {
        let mut core = fresh(100);
        flush(&mut core, false);
        core.frame_single(&[1; 30], 0).unwrap(); // 32 + 62 = 94 bytes
        core.frame_single(&[2; 30], 0).unwrap(); // would pass 100: rotates
        core.frame_single(&[3; 30], 0).unwrap();
        assert_eq!(
            flush(&mut core, false),
            "append 01 62; sync 01; create 02; append 02 62; sync 02; create 03; append 03 62"
        );
        assert_eq!(core.durable_lsn(), 2, "the rotation syncs made the old segments durable");
        assert_eq!(core.segment_count(), 3);
    }

    #[test]
    fn rotating_now_closes_a_segment_with_records_and_is_a_no_op_on_an_empty_one() {
        let mut core = fresh(1000);
        core.frame_single(&[1; 10], 0).unwrap();
        assert!(core.rotate_now().unwrap(), "the active segment holds a record");
        let described = flush(&mut core, true);
        assert!(described.contains("sync 01"), "{described}");
        assert!(described.contains("create 02"), "{described}");
        assert!(!core.rotate_now().unwrap(), "the new segment is empty: nothing to rotate");
        assert_eq!(core.segments_before(2), vec![segment_key("wal", 1).unwrap()], "the old segment can go");
    }

    #[test]
    fn a_record_larger_than_a_segment_gets_a_segment_of_its_own() {
        let mut core = fresh(64);
        flush(&mut core, false);
        core.frame_single(&[1; 100], 0).unwrap();
        core.frame_single(&[2; 100], 0).unwrap();
        assert_eq!(flush(&mut core, true), "append 01 132; sync 01; create 02; append 02 132; sync 02");
        assert_eq!(core.durable_lsn(), 2);
    }

    #[test]
    fn records_carry_the_durable_lsn_known_when_framed() {
        let mut core = fresh(1 << 20);
        flush(&mut core, false);
        core.frame_single(b"a", 0).unwrap();
        let flush_one = core.take_flush(true, 0).unwrap();
        core.frame_single(b"b", 0).unwrap(); // framed while the first flush runs: synced_lsn 0
        core.complete_flush(flush_one, Ok(())).unwrap();
        core.frame_single(b"c", 0).unwrap(); // framed after: synced_lsn 1
        let flush_two = core.take_flush(true, 0).unwrap();
        let Intent::Append { bytes, .. } = &flush_two.intents[0] else { panic!("{:?}", flush_two.intents) };
        assert_eq!(u64::from_le_bytes(bytes[16..24].try_into().unwrap()), 0);
        assert_eq!(u64::from_le_bytes(bytes[33 + 16..33 + 24].try_into().unwrap()), 1);
    }

    #[test]
    fn limits_are_checked_before_anything_is_framed() {
        let options = WalOptions { record_bytes_max: 10, ..WalOptions::default() };
        let log = RecoveredLog { segments: Vec::new(), active: None, next_lsn: 1, last_salt: 0 };
        let mut core = WriterCore::new(&options, log, 1).unwrap();
        assert!(core.frame_single(&[0; 10], 0).is_ok());
        assert!(matches!(
            core.frame_single(&[0; 11], 0),
            Err(WalError::RecordTooLarge { length_bytes: 11, limit_bytes: 10 })
        ));
        // A batch of one 2-byte operation is 4 + 4 + 2 = 10 bytes.
        assert!(core.frame_batch(&[&[0; 2]], 0).is_ok());
        assert!(matches!(core.frame_batch(&[&[0; 3]], 0), Err(WalError::RecordTooLarge { length_bytes: 11, .. })));
        assert!(matches!(core.frame_batch(&[], 0), Err(WalError::EmptyBatch)));
        assert_eq!(core.next_lsn(), 3, "rejected records take no LSN");
        assert!(matches!(core.check_batch(u64::from(BATCH_OPERATIONS_MAX)), Ok(BATCH_OPERATIONS_MAX)));
        assert!(matches!(core.check_batch(u64::from(BATCH_OPERATIONS_MAX) + 1), Err(WalError::BatchTooLarge { .. })));
    }

    #[test]
    fn a_seal_follows_the_final_sync_once() {
        let mut core = fresh(1 << 20);
        flush(&mut core, false);
        core.frame_single(b"a", 0).unwrap();
        assert_eq!(core.frame_seal().unwrap(), None, "not durable yet");
        flush(&mut core, true);
        assert_eq!(core.frame_seal().unwrap(), Some(33 + 32));
        assert!(!core.reached(65, true));
        assert_eq!(flush(&mut core, true), "append 01 32; sync 01");
        assert!(core.reached(65, true));
        assert_eq!(core.frame_seal().unwrap(), None, "sealed already");
        assert_eq!(core.next_lsn(), 2, "a seal takes no LSN");
    }

    /// A writer continuing a recovered segment `01` holding LSNs 1 to 3 in 200 bytes, whose tail rewrite (from
    /// recovery) could not run at open: only LSN 2 is proven.
    fn with_deferred_rewrite() -> WriterCore {
        let key = Key::new("wal/00000000000000000001").unwrap();
        let log = RecoveredLog {
            segments: vec![SegmentRef { key: key.clone(), first_lsn: 1 }],
            active: Some((5, 200)),
            next_lsn: 4,
            last_salt: 5,
        };
        let mut core = WriterCore::new(&WalOptions::default(), log, 7).unwrap();
        core.defer(vec![Intent::Rewrite { key, length_bytes: 200 }], 2);
        core
    }

    #[test]
    fn a_deferred_rewrite_waits_for_writes_and_runs_before_them() {
        let mut core = with_deferred_rewrite();
        assert_eq!(core.durable_lsn(), 2, "only the proven LSNs count as durable");
        assert_eq!(flush(&mut core, false), "nothing", "a flush with nothing to write (a replay's) writes nothing");
        core.frame_single(b"d", 0).unwrap();
        assert_eq!(flush(&mut core, true), "rewrite 01 200; append 01 33; sync 01", "the rewrite comes first");
        assert_eq!(core.durable_lsn(), 4);
        core.frame_single(b"e", 0).unwrap();
        assert_eq!(flush(&mut core, true), "append 01 33; sync 01", "and runs once");
    }

    #[test]
    fn a_sync_with_nothing_new_runs_a_deferred_rewrite() {
        let mut core = with_deferred_rewrite();
        let position = core.framed_position();
        assert!(core.reached(position, false));
        assert!(!core.reached(position, true), "a sync must not answer before the rewrite ran");
        assert_eq!(flush(&mut core, true), "rewrite 01 200");
        assert!(core.reached(position, true));
        assert_eq!(core.durable_lsn(), 3, "the rewrite proves the recovered records durable");
        assert_eq!(flush(&mut core, true), "nothing");
    }

    #[test]
    fn a_failed_flush_poisons_every_later_call() {
        let mut core = fresh(1 << 20);
        core.frame_single(b"a", 0).unwrap();
        let flush = core.take_flush(true, 0).unwrap();
        let error = PersistenceError::DiskFull { operation: storage_core::Operation::Append, key: "k".to_owned() };
        assert!(matches!(
            core.complete_flush(flush, Err(error)),
            Err(WalError::Storage(PersistenceError::DiskFull { .. }))
        ));
        assert!(matches!(core.frame_single(b"b", 0), Err(WalError::Poisoned { .. })));
        assert!(matches!(core.check_poisoned(), Err(WalError::Poisoned { .. })));
    }

    #[test]
    fn grouped_policy_syncs_past_either_bound() {
        let policy = SyncPolicy::Grouped { max_delay_ms: 10, max_bytes: 100 };
        let mut core = fresh(1 << 20);
        flush(&mut core, false);
        core.frame_single(b"a", 1000).unwrap();
        assert_eq!(core.flush_need(policy, 33, 1005), None);
        assert_eq!(core.flush_need(policy, 33, 1010), Some((33, true)), "the delay bound");
        core.frame_single(&[0; 80], 1001).unwrap();
        assert_eq!(core.flush_need(policy, 145, 1002), Some((145, true)), "the size bound: 33 + 112 bytes");
        flush(&mut core, true);
        core.frame_single(b"b", 2000).unwrap();
        assert_eq!(core.flush_need(policy, 178, 2001), None, "the clock restarts after a sync");
    }

    #[test]
    fn checkpoints_delete_only_whole_segments_with_a_durable_successor() {
        let mut core = fresh(100);
        flush(&mut core, false);
        for byte in 0..4u8 {
            core.frame_single(&[byte; 30], 0).unwrap(); // one record per segment
        }
        assert_eq!(core.segments_before(10), Vec::<Key>::new(), "successors not created yet");
        flush(&mut core, true);
        let keys =
            |core: &WriterCore, lsn| core.segments_before(lsn).iter().map(|key| key.to_string()).collect::<Vec<_>>();
        assert_eq!(keys(&core, 1), Vec::<String>::new());
        assert_eq!(keys(&core, 3), vec!["wal/00000000000000000001", "wal/00000000000000000002"]);
        assert_eq!(keys(&core, 100).len(), 3, "never the active segment");
        let to_delete = core.segments_before(3);
        assert_eq!(core.complete_deletes(&to_delete, 2, Ok(())).unwrap(), 2);
        assert_eq!(core.first_lsn(), 3);
    }
}
