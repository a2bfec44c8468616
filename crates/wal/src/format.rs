//! The on-disk format: magic, version, segment header, record framing, limits. Plain code over bytes.
//!
//! Every integer is fixed-width little-endian. The layout is specified byte by byte in `docs/wal.md`; the constants
//! and the encode/decode functions here are the single source of truth for it.
//!
//! ```text
//! segment header (SEGMENT_HEADER_BYTES = 32)
//!   0..8    magic  b"VECDBWAL"
//!   8..12   format version (u32)
//!   12..20  first LSN of the segment (u64)
//!   20..28  salt (u64), random per segment, mixed into every record checksum
//!   28..32  CRC32 of bytes 0..28
//! record (RECORD_HEADER_BYTES = 32, then the payload)
//!   0..4    payload length (u32)
//!   4       record type (u8): 1 single, 2 batch, 3 seal
//!   5..8    reserved, zero
//!   8..16   LSN (u64) of the record (of its first operation for a batch)
//!   16..24  synced LSN (u64): the highest LSN known durable when the record was framed
//!   24..28  header CRC32 of salt (8 bytes LE) ++ bytes 0..24
//!   28..32  record CRC32 of salt ++ bytes 0..28 ++ payload
//!   32..    payload
//! batch payload
//!   0..4    operation count (u32, >= 1)
//!   then per operation: length (u32) ++ bytes
//! ```

use std::fmt;

/// The first bytes of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"VECDBWAL";

/// Size of the segment header in bytes.
pub const SEGMENT_HEADER_BYTES: usize = 32;

/// Size of a record header in bytes (the payload follows it).
pub const RECORD_HEADER_BYTES: usize = 32;

/// Size of the operation count at the start of a batch payload, and of each operation's length prefix.
pub const BATCH_LENGTH_BYTES: usize = 4;

/// The hard cap on a record's payload, whatever the options say. A stored length above it is corruption.
pub const RECORD_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// The default for [`crate::WalOptions::record_bytes_max`].
pub const RECORD_BYTES_DEFAULT: u64 = 4 * 1024 * 1024;

/// The most operations one batch (or transaction) may hold.
pub const BATCH_OPERATIONS_MAX: u32 = 65_536;

/// The smallest allowed [`crate::WalOptions::segment_bytes_max`]: a header and one empty record.
pub const SEGMENT_BYTES_MIN: u64 = (SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES) as u64;

/// The largest allowed [`crate::WalOptions::segment_bytes_max`].
pub const SEGMENT_BYTES_MAX: u64 = 1024 * 1024 * 1024;

/// The default for [`crate::WalOptions::segment_bytes_max`].
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;

/// The largest allowed [`crate::WalOptions::write_buffer_bytes_max`].
pub const WRITE_BUFFER_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// The default for [`crate::WalOptions::write_buffer_bytes_max`].
pub const WRITE_BUFFER_BYTES_DEFAULT: u64 = 1024 * 1024;

/// How many bytes replay and recovery read per `read_range` call (more when one record is larger).
pub const READ_CHUNK_BYTES: u64 = 1024 * 1024;

/// The most segments a log may hold; recovery refuses a listing with more.
pub const SEGMENTS_MAX: usize = 1 << 20;

/// Digits of the zero-padded first LSN in a segment key (`u64::MAX` has 20).
pub const SEGMENT_KEY_DIGITS: usize = 20;

/// The largest LSN; appends past it fail with [`crate::WalError::LsnExhausted`].
pub const LSN_MAX: u64 = u64::MAX - 1;

const _: () = assert!(RECORD_BYTES_MAX + RECORD_HEADER_BYTES as u64 <= u32::MAX as u64, "lengths are u32");
const _: () = assert!(RECORD_BYTES_DEFAULT <= RECORD_BYTES_MAX);
const _: () = assert!(SEGMENT_BYTES_MIN <= SEGMENT_BYTES_DEFAULT && SEGMENT_BYTES_DEFAULT <= SEGMENT_BYTES_MAX);
const _: () = assert!(WRITE_BUFFER_BYTES_DEFAULT <= WRITE_BUFFER_BYTES_MAX);
const _: () = assert!(READ_CHUNK_BYTES >= (SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES) as u64);
const _: () = assert!(SEGMENT_KEY_DIGITS + 2 <= storage_core::KEY_BYTES_MAX, "room for a prefix and the '/'");
const _: () = assert!((BATCH_OPERATIONS_MAX as u64) * (BATCH_LENGTH_BYTES as u64) < RECORD_BYTES_MAX);

/// The format versions this crate reads. Writers always write [`FormatVersion::CURRENT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FormatVersion {
    /// The first format: 32-byte segment header, 32-byte record header with `synced_lsn`, salted CRC32.
    V1 = 1,
}

impl FormatVersion {
    /// The version new segments are written with.
    pub const CURRENT: Self = Self::V1;

    /// The version stored as `number`, if this crate knows it.
    pub fn from_number(number: u32) -> Option<Self> {
        match number {
            1 => Some(Self::V1),
            _ => None,
        }
    }

    /// The number stored on disk.
    pub fn number(self) -> u32 {
        self as u32
    }
}

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordType {
    /// One operation: the payload is the caller's bytes. Takes one LSN.
    Single = 1,
    /// Several operations committed as one unit (see the module docs for the payload). Takes one LSN per operation.
    Batch = 2,
    /// No operation and no LSN (it carries the next LSN, which the following record carries too): written by a
    /// clean close after the final sync, its `synced_lsn` proves every earlier record durable, so the next open
    /// need not rewrite the segment's tail (see `docs/wal.md`, "Unproven tails").
    Seal = 3,
}

impl RecordType {
    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Single),
            2 => Some(Self::Batch),
            3 => Some(Self::Seal),
            _ => None,
        }
    }
}

/// Why bytes failed validation. Carried by [`crate::WalError::Corrupted`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptionReason {
    /// The segment is shorter than its header.
    TruncatedSegmentHeader {
        /// The segment's length.
        length_bytes: u64,
    },
    /// The segment does not start with [`SEGMENT_MAGIC`].
    BadMagic,
    /// The segment header's checksum does not match.
    SegmentHeaderChecksum {
        /// The stored checksum.
        stored: u32,
        /// The checksum of the stored bytes.
        computed: u32,
    },
    /// The segment was written by a format version this crate does not know.
    UnknownFormatVersion {
        /// The stored version number.
        version: u32,
    },
    /// The first LSN in the header differs from the one in the key, or from the one the log expects there.
    SegmentFirstLsn {
        /// The LSN the key or the previous segment implies.
        expected: u64,
        /// The LSN in the header.
        found: u64,
    },
    /// Fewer bytes remain than a record header needs.
    TruncatedRecordHeader {
        /// The bytes that remain.
        remaining_bytes: u64,
    },
    /// The record header's checksum does not match (or its reserved bytes or type are invalid).
    RecordHeaderChecksum,
    /// The record's length is above [`RECORD_BYTES_MAX`] or past the end of the segment.
    RecordLength {
        /// The stored payload length.
        length_bytes: u64,
        /// The bytes that remain after the header.
        remaining_bytes: u64,
    },
    /// The record's checksum (over salt, header and payload) does not match.
    RecordChecksum {
        /// The stored checksum.
        stored: u32,
        /// The checksum of the stored bytes.
        computed: u32,
    },
    /// A valid record carries an LSN other than the next one expected (a gap or a repeat).
    LsnGap {
        /// The LSN expected.
        expected: u64,
        /// The LSN found.
        found: u64,
    },
    /// A valid record's `synced_lsn` is not below its own LSN.
    SyncedLsnNotBelowLsn {
        /// The record's LSN.
        lsn: u64,
        /// Its `synced_lsn`.
        synced_lsn: u64,
    },
    /// A valid batch record's payload is malformed (count 0, or lengths that do not add up).
    MalformedBatch,
    /// A bad record in the last segment is followed by a valid record whose `synced_lsn` shows that the bad
    /// record had been made durable: it is damage, not a torn write.
    AcknowledgedRecordDamaged {
        /// What was wrong with the bad record.
        damage: Box<CorruptionReason>,
        /// Offset of the later valid record that proves it.
        witness_offset: u64,
        /// That record's `synced_lsn`.
        witness_synced_lsn: u64,
    },
    /// A segment other than the last ends with a bad record or bytes past the last valid one (segments are synced
    /// before the next one is created, so nothing in them may be torn).
    DamageInClosedSegment {
        /// What was wrong.
        damage: Box<CorruptionReason>,
    },
    /// A segment expected from the listing vanished while it was being read.
    SegmentVanished,
}

impl fmt::Display for CorruptionReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TruncatedSegmentHeader { length_bytes } => {
                write!(
                    formatter,
                    "segment is {length_bytes} bytes, shorter than its {SEGMENT_HEADER_BYTES}-byte header"
                )
            }
            Self::BadMagic => formatter.write_str("bad segment magic"),
            Self::SegmentHeaderChecksum { stored, computed } => {
                write!(formatter, "segment header checksum {stored:#010x} != computed {computed:#010x}")
            }
            Self::UnknownFormatVersion { version } => write!(formatter, "unknown format version {version}"),
            Self::SegmentFirstLsn { expected, found } => {
                write!(formatter, "segment first LSN {found}, expected {expected}")
            }
            Self::TruncatedRecordHeader { remaining_bytes } => {
                write!(formatter, "only {remaining_bytes} bytes left for a {RECORD_HEADER_BYTES}-byte record header")
            }
            Self::RecordHeaderChecksum => formatter.write_str("record header checksum mismatch"),
            Self::RecordLength { length_bytes, remaining_bytes } => {
                write!(formatter, "record length {length_bytes} exceeds the {remaining_bytes} bytes left or the cap")
            }
            Self::RecordChecksum { stored, computed } => {
                write!(formatter, "record checksum {stored:#010x} != computed {computed:#010x}")
            }
            Self::LsnGap { expected, found } => write!(formatter, "LSN {found}, expected {expected}"),
            Self::SyncedLsnNotBelowLsn { lsn, synced_lsn } => {
                write!(formatter, "record {lsn} claims synced LSN {synced_lsn}")
            }
            Self::MalformedBatch => formatter.write_str("malformed batch payload"),
            Self::AcknowledgedRecordDamaged { damage, witness_offset, witness_synced_lsn } => write!(
                formatter,
                "{damage}; the valid record at byte {witness_offset} proves LSNs up to {witness_synced_lsn} were durable"
            ),
            Self::DamageInClosedSegment { damage } => write!(formatter, "{damage} (in a closed segment)"),
            Self::SegmentVanished => formatter.write_str("the segment vanished while being read"),
        }
    }
}

impl CorruptionReason {
    /// True when the damage could be a torn write (bytes that never became valid): a bad checksum, length or a
    /// short header. False for a valid record that breaks an invariant (an LSN gap, a bad batch): those are never
    /// torn writes.
    pub(crate) fn could_be_torn(&self) -> bool {
        matches!(
            self,
            Self::TruncatedRecordHeader { .. }
                | Self::RecordHeaderChecksum
                | Self::RecordLength { .. }
                | Self::RecordChecksum { .. }
        )
    }
}

/// A decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub(crate) version: FormatVersion,
    pub(crate) first_lsn: u64,
    pub(crate) salt: u64,
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    let mut array = [0u8; 4];
    if let Some(source) = bytes.get(offset..offset + 4) {
        array.copy_from_slice(source);
    }
    u32::from_le_bytes(array)
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut array = [0u8; 8];
    if let Some(source) = bytes.get(offset..offset + 8) {
        array.copy_from_slice(source);
    }
    u64::from_le_bytes(array)
}

/// The 32-byte header of a new segment.
pub(crate) fn encode_segment_header(first_lsn: u64, salt: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    let (magic, rest) = header.split_at_mut(8);
    magic.copy_from_slice(&SEGMENT_MAGIC);
    let (version, rest) = rest.split_at_mut(4);
    version.copy_from_slice(&FormatVersion::CURRENT.number().to_le_bytes());
    let (first, rest) = rest.split_at_mut(8);
    first.copy_from_slice(&first_lsn.to_le_bytes());
    let (salt_bytes, _) = rest.split_at_mut(8);
    salt_bytes.copy_from_slice(&salt.to_le_bytes());
    let checksum = storage_core::crc32::hash(header.get(..28).unwrap_or_default());
    if let Some(slot) = header.get_mut(28..32) {
        slot.copy_from_slice(&checksum.to_le_bytes());
    }
    header
}

/// Decodes and validates a segment header from the first bytes of a segment.
pub(crate) fn decode_segment_header(bytes: &[u8]) -> Result<SegmentHeader, CorruptionReason> {
    let Some(header) = bytes.get(..SEGMENT_HEADER_BYTES) else {
        return Err(CorruptionReason::TruncatedSegmentHeader { length_bytes: bytes.len() as u64 });
    };
    if header.get(..8) != Some(&SEGMENT_MAGIC[..]) {
        return Err(CorruptionReason::BadMagic);
    }
    let stored = u32_at(header, 28);
    let computed = storage_core::crc32::hash(header.get(..28).unwrap_or_default());
    if stored != computed {
        return Err(CorruptionReason::SegmentHeaderChecksum { stored, computed });
    }
    let number = u32_at(header, 8);
    let version =
        FormatVersion::from_number(number).ok_or(CorruptionReason::UnknownFormatVersion { version: number })?;
    Ok(SegmentHeader { version, first_lsn: u64_at(header, 12), salt: u64_at(header, 20) })
}

/// A record header whose own checksum, type and reserved bytes are valid (the payload is not checked yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    pub(crate) payload_bytes: u32,
    pub(crate) record_type: RecordType,
    pub(crate) lsn: u64,
    pub(crate) synced_lsn: u64,
    pub(crate) record_checksum: u32,
}

impl RecordHeader {
    /// Header plus payload, in bytes.
    pub(crate) fn total_bytes(&self) -> u64 {
        RECORD_HEADER_BYTES as u64 + u64::from(self.payload_bytes)
    }
}

fn header_checksum(salt: u64, header: &[u8]) -> u32 {
    let mut hasher = storage_core::crc32::Hasher::new();
    hasher.update(&salt.to_le_bytes());
    hasher.update(header.get(..24).unwrap_or_default());
    hasher.finalize()
}

/// Decodes a record header and checks its own checksum. `bytes` must hold at least [`RECORD_HEADER_BYTES`].
/// The length is only bounded by [`RECORD_BYTES_MAX`] here; the caller bounds it by the bytes left.
pub(crate) fn decode_record_header(bytes: &[u8], salt: u64) -> Result<RecordHeader, CorruptionReason> {
    let Some(header) = bytes.get(..RECORD_HEADER_BYTES) else {
        return Err(CorruptionReason::TruncatedRecordHeader { remaining_bytes: bytes.len() as u64 });
    };
    let record_type = header.get(4).copied().and_then(RecordType::from_byte);
    let reserved_zero = header.get(5..8) == Some(&[0, 0, 0][..]);
    let (Some(record_type), true) = (record_type, reserved_zero) else {
        return Err(CorruptionReason::RecordHeaderChecksum);
    };
    if u32_at(header, 24) != header_checksum(salt, header) {
        return Err(CorruptionReason::RecordHeaderChecksum);
    }
    Ok(RecordHeader {
        payload_bytes: u32_at(header, 0),
        record_type,
        lsn: u64_at(header, 8),
        synced_lsn: u64_at(header, 16),
        record_checksum: u32_at(header, 28),
    })
}

/// The record checksum of `header_bytes` (the first 28 bytes are used) and `payload`.
pub(crate) fn record_checksum(salt: u64, header_bytes: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = storage_core::crc32::Hasher::new();
    hasher.update(&salt.to_le_bytes());
    hasher.update(header_bytes.get(..28).unwrap_or_default());
    hasher.update(payload);
    hasher.finalize()
}

/// Appends one framed record to `out`. `payload_parts` are concatenated to form the payload (a batch passes its
/// count and operations without building the payload first). The caller has checked the length limits.
pub(crate) fn encode_record(
    out: &mut Vec<u8>,
    salt: u64,
    record_type: RecordType,
    lsn: u64,
    synced_lsn: u64,
    payload_parts: &[&[u8]],
) {
    let payload_bytes: usize = payload_parts.iter().map(|part| part.len()).sum();
    debug_assert!(payload_bytes as u64 <= RECORD_BYTES_MAX, "caller checks the record limit");
    let mut header = [0u8; RECORD_HEADER_BYTES];
    let (length, rest) = header.split_at_mut(4);
    length.copy_from_slice(&(payload_bytes as u32).to_le_bytes());
    let (kind, rest) = rest.split_at_mut(4);
    kind.copy_from_slice(&[record_type as u8, 0, 0, 0]);
    let (lsn_bytes, rest) = rest.split_at_mut(8);
    lsn_bytes.copy_from_slice(&lsn.to_le_bytes());
    let (synced, _) = rest.split_at_mut(8);
    synced.copy_from_slice(&synced_lsn.to_le_bytes());
    let checksum = header_checksum(salt, &header);
    if let Some(slot) = header.get_mut(24..28) {
        slot.copy_from_slice(&checksum.to_le_bytes());
    }
    let mut hasher = storage_core::crc32::Hasher::new();
    hasher.update(&salt.to_le_bytes());
    hasher.update(header.get(..28).unwrap_or_default());
    for part in payload_parts {
        hasher.update(part);
    }
    if let Some(slot) = header.get_mut(28..32) {
        slot.copy_from_slice(&hasher.finalize().to_le_bytes());
    }
    out.reserve(RECORD_HEADER_BYTES + payload_bytes);
    out.extend_from_slice(&header);
    for part in payload_parts {
        out.extend_from_slice(part);
    }
}

/// Checks a batch payload and returns its operation count, or `None` when it is malformed.
pub(crate) fn batch_operation_count(payload: &[u8]) -> Option<u32> {
    let count = u32_at(payload, 0);
    if payload.len() < BATCH_LENGTH_BYTES || count == 0 || count > BATCH_OPERATIONS_MAX {
        return None;
    }
    let mut offset = BATCH_LENGTH_BYTES;
    for _ in 0..count {
        let length = payload.get(offset..offset + BATCH_LENGTH_BYTES).map(|bytes| u32_at(bytes, 0))? as usize;
        offset = offset.checked_add(BATCH_LENGTH_BYTES)?.checked_add(length)?;
        if offset > payload.len() {
            return None;
        }
    }
    (offset == payload.len()).then_some(count)
}

/// Iterates the operations of a batch payload already checked by [`batch_operation_count`].
pub(crate) fn batch_operations(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut offset = BATCH_LENGTH_BYTES;
    std::iter::from_fn(move || {
        let length = payload.get(offset..offset + BATCH_LENGTH_BYTES).map(|bytes| u32_at(bytes, 0))? as usize;
        let start = offset + BATCH_LENGTH_BYTES;
        let operation = payload.get(start..start.checked_add(length)?)?;
        offset = start + length;
        Some(operation)
    })
}

/// The segment key for a segment whose first LSN is `first_lsn`: `<prefix>/<20 digits>`.
pub(crate) fn segment_key_text(prefix: &str, first_lsn: u64) -> String {
    format!("{prefix}/{first_lsn:0width$}", width = SEGMENT_KEY_DIGITS)
}

/// The first LSN named by a segment key, or `None` when the key is not `<prefix>/<20 digits>`.
pub(crate) fn parse_segment_key(prefix: &str, key: &str) -> Option<u64> {
    let digits = key.strip_prefix(prefix)?.strip_prefix('/')?;
    if digits.len() != SEGMENT_KEY_DIGITS || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Builds the payload of a batch record operation by operation. Used by transactions to stage operations without
/// keeping one allocation per operation.
#[derive(Clone, Debug, Default)]
pub(crate) struct BatchBuilder {
    payload: Vec<u8>,
    count: u32,
}

impl BatchBuilder {
    pub(crate) fn push(&mut self, operation: &[u8]) {
        if self.payload.is_empty() {
            self.payload.extend_from_slice(&0u32.to_le_bytes());
        }
        self.payload.extend_from_slice(&(operation.len() as u32).to_le_bytes());
        self.payload.extend_from_slice(operation);
        self.count += 1;
        if let Some(slot) = self.payload.get_mut(..BATCH_LENGTH_BYTES) {
            slot.copy_from_slice(&self.count.to_le_bytes());
        }
    }

    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    /// The payload so far (empty when no operation was pushed).
    pub(crate) fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The payload size a batch of these operations has.
    pub(crate) fn payload_bytes_of(operations: &[&[u8]]) -> u64 {
        BATCH_LENGTH_BYTES as u64
            + operations.iter().map(|operation| (BATCH_LENGTH_BYTES + operation.len()) as u64).sum::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(salt: u64, record_type: RecordType, lsn: u64, synced_lsn: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_record(&mut out, salt, record_type, lsn, synced_lsn, &[payload]);
        out
    }

    fn describe_header(bytes: &[u8], salt: u64) -> String {
        match decode_record_header(bytes, salt) {
            Ok(header) => {
                let payload = bytes.get(RECORD_HEADER_BYTES..).unwrap_or_default();
                let computed = record_checksum(salt, bytes, payload);
                format!(
                    "{:?} lsn={} synced={} payload={} crc_ok={}",
                    header.record_type,
                    header.lsn,
                    header.synced_lsn,
                    header.payload_bytes,
                    computed == header.record_checksum
                )
            }
            Err(reason) => format!("error: {reason}"),
        }
    }

    fn check(bytes: &[u8], salt: u64, expected: &str) {
        assert_eq!(describe_header(bytes, salt), expected);
    }

    #[test]
    fn segment_header_round_trips_and_is_fixed_bytes() {
        let header = encode_segment_header(7, 0x0102_0304_0506_0708);
        assert_eq!(&header[..8], b"VECDBWAL");
        assert_eq!(&header[8..12], &[1, 0, 0, 0]);
        assert_eq!(&header[12..20], &[7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&header[20..28], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(
            decode_segment_header(&header),
            Ok(SegmentHeader { version: FormatVersion::V1, first_lsn: 7, salt: 0x0102_0304_0506_0708 })
        );
    }

    #[test]
    fn segment_header_damage_is_named() {
        let header = encode_segment_header(1, 42);
        assert_eq!(
            decode_segment_header(&header[..31]),
            Err(CorruptionReason::TruncatedSegmentHeader { length_bytes: 31 })
        );
        let mut bad_magic = header;
        bad_magic[0] ^= 1;
        assert_eq!(decode_segment_header(&bad_magic), Err(CorruptionReason::BadMagic));
        let mut flipped = header;
        flipped[13] ^= 0x10;
        assert!(matches!(decode_segment_header(&flipped), Err(CorruptionReason::SegmentHeaderChecksum { .. })));
        let mut future = header;
        future[8] = 9;
        let checksum = crc32fast::hash(&future[..28]);
        future[28..32].copy_from_slice(&checksum.to_le_bytes());
        assert_eq!(decode_segment_header(&future), Err(CorruptionReason::UnknownFormatVersion { version: 9 }));
    }

    #[test]
    fn record_layout_is_little_endian_at_fixed_offsets() {
        let bytes = record(5, RecordType::Single, 0x1122, 0x11, b"abc");
        assert_eq!(bytes.len(), RECORD_HEADER_BYTES + 3);
        assert_eq!(&bytes[0..4], &[3, 0, 0, 0]);
        assert_eq!(&bytes[4..8], &[1, 0, 0, 0]);
        assert_eq!(&bytes[8..16], &[0x22, 0x11, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[16..24], &[0x11, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[32..], b"abc");
        check(&bytes, 5, "Single lsn=4386 synced=17 payload=3 crc_ok=true");
    }

    #[test]
    fn record_decoding_decisions() {
        let good = record(5, RecordType::Batch, 9, 3, b"xyz");
        check(&good, 5, "Batch lsn=9 synced=3 payload=3 crc_ok=true");
        check(&good, 6, "error: record header checksum mismatch");
        check(&good[..31], 5, "error: only 31 bytes left for a 32-byte record header");
        let mut length_flipped = good.clone();
        length_flipped[2] ^= 0x80;
        check(&length_flipped, 5, "error: record header checksum mismatch");
        let mut payload_flipped = good.clone();
        payload_flipped[33] ^= 1;
        check(&payload_flipped, 5, "Batch lsn=9 synced=3 payload=3 crc_ok=false");
        let mut reserved = good.clone();
        reserved[6] = 1;
        check(&reserved, 5, "error: record header checksum mismatch");
        let zeros = [0u8; 40];
        check(&zeros, 5, "error: record header checksum mismatch");
    }

    #[test]
    fn batch_payloads_are_validated_exactly() {
        let mut builder = BatchBuilder::default();
        builder.push(b"a");
        builder.push(b"");
        builder.push(b"ccc");
        let payload = builder.payload().to_vec();
        assert_eq!(payload.len() as u64, BatchBuilder::payload_bytes_of(&[b"a", b"", b"ccc"]));
        assert_eq!(batch_operation_count(&payload), Some(3));
        assert_eq!(batch_operations(&payload).collect::<Vec<_>>(), vec![&b"a"[..], b"", b"ccc"]);
        assert_eq!(batch_operation_count(&payload[..payload.len() - 1]), None, "short");
        let mut longer = payload.clone();
        longer.push(0);
        assert_eq!(batch_operation_count(&longer), None, "trailing bytes");
        assert_eq!(batch_operation_count(&0u32.to_le_bytes()), None, "empty batch");
        assert_eq!(batch_operation_count(&[1, 0]), None, "no count");
        let mut huge = 1u32.to_le_bytes().to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(batch_operation_count(&huge), None, "length past the end");
    }

    #[test]
    fn segment_keys_are_zero_padded_and_parsed_strictly() {
        assert_eq!(segment_key_text("wal", 1), "wal/00000000000000000001");
        assert_eq!(segment_key_text("wal", u64::MAX), "wal/18446744073709551615");
        assert_eq!(parse_segment_key("wal", "wal/00000000000000000042"), Some(42));
        assert_eq!(parse_segment_key("wal", "wal/42"), None);
        assert_eq!(parse_segment_key("wal", "wal/0000000000000000004x"), None);
        assert_eq!(parse_segment_key("wal", "walx/00000000000000000042"), None);
        assert_eq!(parse_segment_key("wal", "wal/99999999999999999999"), None, "overflow");
    }
}
