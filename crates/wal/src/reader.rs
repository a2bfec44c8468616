//! Incremental decoding of segments, fed with chunks: no I/O of its own.
//!
//! [`SegmentDecoder`] validates one segment record by record. Call [`SegmentDecoder::step`] until it answers
//! [`DecodeStep::End`] or [`DecodeStep::Bad`]; when it answers [`DecodeStep::NeedRead`], read that range of the
//! segment and pass the bytes to [`SegmentDecoder::handle_read`], then step again. The decoder keeps only the last
//! chunk: a record cut by a chunk boundary is read again from its start, so bytes are never copied between chunks.
//!
//! [`ReplayCursor`] walks the segments of a log the same way (its actions are "read this length", "read this range",
//! "here is an entry") and is driven by `driver::replay_next`.

use storage_core::Key;

use crate::entry::Entry;
use crate::error::WalError;
use crate::format::{self, CorruptionReason, RECORD_BYTES_MAX, RECORD_HEADER_BYTES, RecordHeader, RecordType};

/// What [`SegmentDecoder::step`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecodeStep {
    /// A valid record; its payload is [`SegmentDecoder::payload`].
    Record(DecodedRecord),
    /// Read `length` bytes at `offset` (fewer may come back at the end of the segment) and call `handle_read`.
    NeedRead { offset: u64, length: u64 },
    /// The segment (or the requested LSN range) ends cleanly here.
    End,
    /// The bytes at `offset` are not a valid next record (or header, at offset 0).
    Bad { offset: u64, reason: CorruptionReason },
}

/// A valid record found by the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DecodedRecord {
    pub(crate) offset: u64,
    pub(crate) header: RecordHeader,
    pub(crate) operation_count: u32,
}

impl DecodedRecord {
    /// The last LSN the record takes (one below its own for a seal, which takes none).
    pub(crate) fn last_lsn(&self) -> u64 {
        self.header.lsn + u64::from(self.operation_count) - 1
    }
}

/// Validates one segment: its header, then every record in order.
#[derive(Debug)]
pub(crate) struct SegmentDecoder {
    expected_first_lsn: u64,
    segment_length: u64,
    salt: Option<u64>,
    offset: u64,
    next_lsn: u64,
    last_lsn: Option<u64>,
    window: Vec<u8>,
    window_offset: u64,
    chunk_bytes: u64,
    payload_range: (usize, usize),
}

/// Where a window holds `offset..offset + length`, or `None` when it does not hold all of it.
fn window_range(window: &[u8], window_offset: u64, offset: u64, length: u64) -> Option<(usize, usize)> {
    let start = offset.checked_sub(window_offset)?;
    let end = start.checked_add(length)?;
    (end <= window.len() as u64).then_some((start as usize, end as usize))
}

impl SegmentDecoder {
    /// A decoder for a segment of `segment_length` bytes whose header must name `expected_first_lsn`.
    /// `last_lsn` stops decoding (with `End`) once the next record would start after it.
    pub(crate) fn new(expected_first_lsn: u64, segment_length: u64, last_lsn: Option<u64>, chunk_bytes: u64) -> Self {
        Self {
            expected_first_lsn,
            segment_length,
            salt: None,
            offset: 0,
            next_lsn: expected_first_lsn,
            last_lsn,
            window: Vec::new(),
            window_offset: 0,
            chunk_bytes: chunk_bytes.max(format::SEGMENT_BYTES_MIN),
            payload_range: (0, 0),
        }
    }

    /// The segment's salt, once its header was decoded.
    pub(crate) fn salt(&self) -> Option<u64> {
        self.salt
    }

    /// The LSN the next record must carry.
    pub(crate) fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// The offset just past the last valid record (the header's end once it is decoded).
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The segment length, lowered when a read came back short.
    pub(crate) fn segment_length(&self) -> u64 {
        self.segment_length
    }

    /// The payload of the record last returned by [`Self::step`].
    pub(crate) fn payload(&self) -> &[u8] {
        self.window.get(self.payload_range.0..self.payload_range.1).unwrap_or_default()
    }

    /// Feeds the bytes read for the last [`DecodeStep::NeedRead`] (`bytes` starts at `offset`).
    pub(crate) fn handle_read(&mut self, offset: u64, bytes: Vec<u8>, requested_length: u64) {
        if (bytes.len() as u64) < requested_length {
            // The value is shorter than its length said (it changed under us): its end is where the bytes end.
            self.segment_length = self.segment_length.min(offset + bytes.len() as u64);
        }
        self.window = bytes;
        self.window_offset = offset;
    }

    fn need(&self, offset: u64, length: u64) -> DecodeStep {
        let remaining = self.segment_length.saturating_sub(offset);
        DecodeStep::NeedRead { offset, length: length.max(self.chunk_bytes).min(remaining) }
    }

    /// Decodes the next record (see the module docs for the protocol).
    pub(crate) fn step(&mut self) -> DecodeStep {
        let Some(salt) = self.salt else {
            return self.step_header();
        };
        if self.last_lsn.is_some_and(|last| self.next_lsn > last) {
            return DecodeStep::End;
        }
        let offset = self.offset;
        let remaining = self.segment_length.saturating_sub(offset);
        if remaining == 0 {
            return DecodeStep::End;
        }
        if remaining < RECORD_HEADER_BYTES as u64 {
            return DecodeStep::Bad {
                offset,
                reason: CorruptionReason::TruncatedRecordHeader { remaining_bytes: remaining },
            };
        }
        let Some((header_start, header_end)) =
            window_range(&self.window, self.window_offset, offset, RECORD_HEADER_BYTES as u64)
        else {
            return self.need(offset, RECORD_HEADER_BYTES as u64);
        };
        let header_bytes = self.window.get(header_start..header_end).unwrap_or_default();
        let header = match format::decode_record_header(header_bytes, salt) {
            Ok(header) => header,
            Err(reason) => return DecodeStep::Bad { offset, reason },
        };
        let payload_bytes = u64::from(header.payload_bytes);
        let payload_room = remaining - RECORD_HEADER_BYTES as u64;
        if payload_bytes > RECORD_BYTES_MAX || payload_bytes > payload_room {
            return DecodeStep::Bad {
                offset,
                reason: CorruptionReason::RecordLength { length_bytes: payload_bytes, remaining_bytes: payload_room },
            };
        }
        let total = header.total_bytes();
        let Some((record_start, record_end)) = window_range(&self.window, self.window_offset, offset, total) else {
            return self.need(offset, total);
        };
        let record = self.window.get(record_start..record_end).unwrap_or_default();
        let payload = record.get(RECORD_HEADER_BYTES..).unwrap_or_default();
        let computed = format::record_checksum(salt, record, payload);
        if computed != header.record_checksum {
            return DecodeStep::Bad {
                offset,
                reason: CorruptionReason::RecordChecksum { stored: header.record_checksum, computed },
            };
        }
        if header.lsn != self.next_lsn {
            return DecodeStep::Bad {
                offset,
                reason: CorruptionReason::LsnGap { expected: self.next_lsn, found: header.lsn },
            };
        }
        if header.synced_lsn >= header.lsn {
            return DecodeStep::Bad {
                offset,
                reason: CorruptionReason::SyncedLsnNotBelowLsn { lsn: header.lsn, synced_lsn: header.synced_lsn },
            };
        }
        let operation_count = match header.record_type {
            RecordType::Single => Some(1),
            RecordType::Batch => format::batch_operation_count(payload),
            RecordType::Seal => payload.is_empty().then_some(0),
        };
        let Some(operation_count) = operation_count else {
            return DecodeStep::Bad { offset, reason: CorruptionReason::MalformedBatch };
        };
        // `checked_add` keeps `next_lsn` at most `u64::MAX`, which is `LSN_MAX + 1`: one past the largest LSN.
        let Some(next_lsn) = header.lsn.checked_add(u64::from(operation_count)) else {
            return DecodeStep::Bad { offset, reason: CorruptionReason::MalformedBatch };
        };
        self.payload_range = (record_start + RECORD_HEADER_BYTES, record_end);
        self.offset = offset + total;
        self.next_lsn = next_lsn;
        DecodeStep::Record(DecodedRecord { offset, header, operation_count })
    }

    fn step_header(&mut self) -> DecodeStep {
        let header_bytes = format::SEGMENT_HEADER_BYTES as u64;
        if self.segment_length < header_bytes {
            return DecodeStep::Bad {
                offset: 0,
                reason: CorruptionReason::TruncatedSegmentHeader { length_bytes: self.segment_length },
            };
        }
        let Some((start, end)) = window_range(&self.window, self.window_offset, 0, header_bytes) else {
            return self.need(0, header_bytes);
        };
        let header = match format::decode_segment_header(self.window.get(start..end).unwrap_or_default()) {
            Ok(header) => header,
            Err(reason) => return DecodeStep::Bad { offset: 0, reason },
        };
        if header.first_lsn != self.expected_first_lsn {
            return DecodeStep::Bad {
                offset: 0,
                reason: CorruptionReason::SegmentFirstLsn {
                    expected: self.expected_first_lsn,
                    found: header.first_lsn,
                },
            };
        }
        self.salt = Some(header.salt);
        self.offset = header_bytes;
        self.step()
    }
}

/// One segment of a log, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentRef {
    pub(crate) key: Key,
    pub(crate) first_lsn: u64,
}

/// What the driver does next for a [`ReplayCursor`].
#[derive(Debug)]
pub(crate) enum ReplayAction {
    /// Ask the backend for this segment's length and pass it to [`ReplayCursor::handle_len`].
    Len(Key),
    /// Read this range and pass it to [`ReplayCursor::handle_read`].
    Read { key: Key, offset: u64, length: u64 },
    /// The next entry.
    Entry(Entry),
    /// Replay is over.
    Done,
}

/// Streams the entries of a log from an LSN, segment by segment, chunk by chunk.
#[derive(Debug)]
pub(crate) struct ReplayCursor {
    segments: Vec<SegmentRef>,
    index: usize,
    from_lsn: u64,
    last_lsn: u64,
    next_lsn: u64,
    decoder: Option<SegmentDecoder>,
    requested_length: u64,
    chunk_bytes: u64,
    finished: bool,
}

impl ReplayCursor {
    /// Replays entries whose last LSN is at least `from_lsn`, up to `last_lsn`, from `segments` (oldest first).
    pub(crate) fn new(segments: Vec<SegmentRef>, from_lsn: u64, last_lsn: u64, chunk_bytes: u64) -> Self {
        // Start at the last segment that begins at or before `from_lsn`.
        let index = segments.iter().rposition(|segment| segment.first_lsn <= from_lsn).unwrap_or(0);
        let next_lsn = segments.get(index).map_or(0, |segment| segment.first_lsn);
        let finished = segments.is_empty() || from_lsn > last_lsn;
        Self {
            segments,
            index,
            from_lsn,
            last_lsn,
            next_lsn,
            decoder: None,
            requested_length: 0,
            chunk_bytes,
            finished,
        }
    }

    fn segment_key(&self) -> String {
        self.segments.get(self.index).map(|segment| segment.key.as_str().to_owned()).unwrap_or_default()
    }

    fn corrupted(&mut self, offset: u64, reason: CorruptionReason) -> WalError {
        self.finished = true;
        WalError::Corrupted { segment: self.segment_key(), offset, reason }
    }

    /// The next action (see [`ReplayAction`]).
    pub(crate) fn poll(&mut self) -> Result<ReplayAction, WalError> {
        loop {
            if self.finished {
                return Ok(ReplayAction::Done);
            }
            let Some(segment) = self.segments.get(self.index) else {
                self.finished = true;
                return Ok(ReplayAction::Done);
            };
            let Some(decoder) = self.decoder.as_mut() else {
                if segment.first_lsn != self.next_lsn {
                    let reason =
                        CorruptionReason::SegmentFirstLsn { expected: self.next_lsn, found: segment.first_lsn };
                    return Err(self.corrupted(0, reason));
                }
                return Ok(ReplayAction::Len(segment.key.clone()));
            };
            match decoder.step() {
                DecodeStep::Record(record) => {
                    if record.operation_count == 0 || record.last_lsn() < self.from_lsn {
                        continue;
                    }
                    let payload = decoder.payload().to_vec();
                    let entry =
                        Entry::new(record.header.lsn, record.header.record_type, record.operation_count, payload);
                    return Ok(ReplayAction::Entry(entry));
                }
                DecodeStep::NeedRead { offset, length } => {
                    self.requested_length = length;
                    return Ok(ReplayAction::Read { key: segment.key.clone(), offset, length });
                }
                DecodeStep::End => {
                    self.next_lsn = decoder.next_lsn();
                    self.decoder = None;
                    self.index += 1;
                    if self.next_lsn > self.last_lsn {
                        self.finished = true;
                    }
                }
                DecodeStep::Bad { offset, reason } => return Err(self.corrupted(offset, reason)),
            }
        }
    }

    /// The answer to [`ReplayAction::Len`].
    pub(crate) fn handle_len(&mut self, length: Option<u64>) -> Result<(), WalError> {
        let Some(length) = length else {
            return Err(self.corrupted(0, CorruptionReason::SegmentVanished));
        };
        self.decoder = Some(SegmentDecoder::new(self.next_lsn, length, Some(self.last_lsn), self.chunk_bytes));
        Ok(())
    }

    /// The answer to [`ReplayAction::Read`].
    pub(crate) fn handle_read(&mut self, offset: u64, bytes: Vec<u8>) {
        if let Some(decoder) = self.decoder.as_mut() {
            decoder.handle_read(offset, bytes, self.requested_length);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_record, encode_segment_header};

    /// A segment with records of the given payloads, LSNs from `first_lsn`.
    fn segment(first_lsn: u64, salt: u64, payloads: &[&[u8]]) -> Vec<u8> {
        let mut bytes = encode_segment_header(first_lsn, salt).to_vec();
        for (index, payload) in payloads.iter().enumerate() {
            let lsn = first_lsn + index as u64;
            encode_record(&mut bytes, salt, RecordType::Single, lsn, lsn - 1, &[payload]);
        }
        bytes
    }

    /// Decodes `bytes` with the given chunk size and describes every step.
    fn decode(bytes: &[u8], first_lsn: u64, chunk_bytes: u64) -> String {
        let mut decoder = SegmentDecoder::new(first_lsn, bytes.len() as u64, None, chunk_bytes);
        let mut out = Vec::new();
        let mut reads = 0;
        loop {
            match decoder.step() {
                DecodeStep::Record(record) => out.push(format!(
                    "{}@{}:{}",
                    record.header.lsn,
                    record.offset,
                    String::from_utf8_lossy(decoder.payload())
                )),
                DecodeStep::NeedRead { offset, length } => {
                    reads += 1;
                    assert!(reads < 10_000, "decoder loops");
                    let start = offset as usize;
                    let end = (start + length as usize).min(bytes.len());
                    decoder.handle_read(offset, bytes[start..end].to_vec(), length);
                }
                DecodeStep::End => {
                    out.push("end".to_owned());
                    break;
                }
                DecodeStep::Bad { offset, reason } => {
                    out.push(format!("bad@{offset}: {reason}"));
                    break;
                }
            }
        }
        out.join(" ")
    }

    fn check(bytes: &[u8], first_lsn: u64, expected: &str) {
        for chunk_bytes in [64, 65, 100, 4096] {
            assert_eq!(decode(bytes, first_lsn, chunk_bytes), expected, "chunk {chunk_bytes}");
        }
    }

    #[test]
    fn records_decode_across_every_chunk_boundary() {
        let bytes = segment(5, 77, &[b"alpha", b"", &[b'x'; 200], b"omega"]);
        let expected = format!("5@32:alpha 6@69: 7@101:{} 8@333:omega end", "x".repeat(200));
        check(&bytes, 5, &expected);
    }

    #[test]
    fn segment_level_damage_is_reported_at_offset_zero() {
        let bytes = segment(5, 77, &[b"a"]);
        check(&bytes, 6, "bad@0: segment first LSN 5, expected 6");
        check(&bytes[..20], 5, "bad@0: segment is 20 bytes, shorter than its 32-byte header");
        check(&[], 5, "bad@0: segment is 0 bytes, shorter than its 32-byte header");
        check(&segment(5, 77, &[]), 5, "end");
    }

    #[test]
    fn record_level_damage_is_reported_at_the_record() {
        let bytes = segment(1, 9, &[b"one", b"two"]);
        check(&bytes[..bytes.len() - 1], 1, "1@32:one bad@67: record length 3 exceeds the 2 bytes left or the cap");
        check(&bytes[..bytes.len() - 30], 1, "1@32:one bad@67: only 5 bytes left for a 32-byte record header");
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let description = decode(&flipped, 1, 64);
        assert!(description.starts_with("1@32:one bad@67: record checksum"), "{description}");
        let mut gap = segment(1, 9, &[b"one"]);
        encode_record(&mut gap, 9, RecordType::Single, 3, 1, &[b"three"]);
        check(&gap, 1, "1@32:one bad@67: LSN 3, expected 2");
        let mut claims = segment(1, 9, &[b"one"]);
        encode_record(&mut claims, 9, RecordType::Single, 2, 2, &[b"two"]);
        check(&claims, 1, "1@32:one bad@67: record 2 claims synced LSN 2");
        let mut batch = segment(1, 9, &[]);
        encode_record(&mut batch, 9, RecordType::Batch, 1, 0, &[&[0, 0, 0, 0]]);
        check(&batch, 1, "bad@32: malformed batch payload");
        let other_salt = segment(1, 10, &[b"one"]);
        let mut mixed = segment(1, 9, &[]);
        mixed.extend_from_slice(&other_salt[32..]);
        check(&mixed, 1, "bad@32: record header checksum mismatch");
    }

    #[test]
    fn a_huge_stored_length_is_rejected_before_any_allocation() {
        let mut bytes = segment(1, 9, &[]);
        // A header with a valid checksum but a length far past the end.
        let mut header = Vec::new();
        encode_record(&mut header, 9, RecordType::Single, 1, 0, &[&[]]);
        header[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&9u64.to_le_bytes());
        hasher.update(&header[..24]);
        header[24..28].copy_from_slice(&hasher.finalize().to_le_bytes());
        bytes.extend_from_slice(&header);
        check(&bytes, 1, "bad@32: record length 4294967295 exceeds the 0 bytes left or the cap");
    }

    #[test]
    fn replay_cursor_walks_segments_from_an_lsn() {
        let first = segment(1, 1, &[b"a", b"b"]);
        let second = segment(3, 2, &[b"c", b"d", b"e"]);
        let keys = [Key::new("wal/00000000000000000001").unwrap(), Key::new("wal/00000000000000000003").unwrap()];
        let segments =
            vec![SegmentRef { key: keys[0].clone(), first_lsn: 1 }, SegmentRef { key: keys[1].clone(), first_lsn: 3 }];
        let run = |from_lsn: u64, last_lsn: u64| {
            let mut cursor = ReplayCursor::new(segments.clone(), from_lsn, last_lsn, 64);
            let mut seen = Vec::new();
            loop {
                match cursor.poll().unwrap() {
                    ReplayAction::Len(key) => {
                        let bytes = if key == keys[0] { &first } else { &second };
                        cursor.handle_len(Some(bytes.len() as u64)).unwrap();
                    }
                    ReplayAction::Read { key, offset, length } => {
                        let bytes = if key == keys[0] { &first } else { &second };
                        let end = (offset + length).min(bytes.len() as u64) as usize;
                        cursor.handle_read(offset, bytes[offset as usize..end].to_vec());
                    }
                    ReplayAction::Entry(entry) => {
                        seen.push(format!("{}={}", entry.lsn(), String::from_utf8_lossy(entry.payload())))
                    }
                    ReplayAction::Done => return seen.join(","),
                }
            }
        };
        assert_eq!(run(1, 5), "1=a,2=b,3=c,4=d,5=e");
        assert_eq!(run(2, 5), "2=b,3=c,4=d,5=e");
        assert_eq!(run(4, 5), "4=d,5=e");
        assert_eq!(run(1, 3), "1=a,2=b,3=c");
        assert_eq!(run(6, 5), "");
    }
}
