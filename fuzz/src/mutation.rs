//! Byte-level mutations shared by the decode targets. Every mutation is bounded and total: offsets past the end are
//! clipped, so any input maps to some mutation.

use arbitrary::Unstructured;

use crate::SplitMix64;

/// The longest range one mutation zeroes, fills with garbage, splices or appends.
pub const RANGE_BYTES_MAX: usize = 256;

/// A byte-level change to one value.
#[derive(Clone, Debug)]
pub enum ByteMutation {
    /// Flip one bit.
    FlipBit {
        /// Bit index (taken modulo the value's bit length).
        bit: u32,
    },
    /// Overwrite one byte.
    SetByte {
        /// Byte index (modulo the length).
        offset: u32,
        /// The new value.
        value: u8,
    },
    /// Cut the value (length modulo the current length + 1).
    Truncate {
        /// The new length.
        length: u32,
    },
    /// Zero a range (a hole left by a lost write).
    Zero {
        /// Start (modulo the length).
        offset: u32,
        /// Bytes (at most [`RANGE_BYTES_MAX`]).
        length: u16,
    },
    /// Fill a range with seeded garbage (a torn write).
    Garbage {
        /// Start (modulo the length).
        offset: u32,
        /// Bytes (at most [`RANGE_BYTES_MAX`]).
        length: u16,
        /// Seed of the garbage.
        seed: u64,
    },
    /// Append seeded garbage.
    Extend {
        /// Bytes (at most [`RANGE_BYTES_MAX`]).
        length: u16,
        /// Seed of the garbage.
        seed: u64,
    },
}

impl ByteMutation {
    /// Draws one mutation from the input.
    pub fn draw(input: &mut Unstructured<'_>) -> arbitrary::Result<Self> {
        Ok(match input.int_in_range(0u8..=5)? {
            0 => Self::FlipBit { bit: input.arbitrary()? },
            1 => Self::SetByte { offset: input.arbitrary()?, value: input.arbitrary()? },
            2 => Self::Truncate { length: input.arbitrary()? },
            3 => Self::Zero { offset: input.arbitrary()?, length: input.arbitrary()? },
            4 => Self::Garbage { offset: input.arbitrary()?, length: input.arbitrary()?, seed: input.arbitrary()? },
            _ => Self::Extend { length: input.arbitrary()?, seed: input.arbitrary()? },
        })
    }

    /// Applies the mutation; returns the first byte offset it changed (the value's old length for an append, the
    /// new length for a cut), or `None` when it changed nothing.
    pub fn apply(&self, bytes: &mut Vec<u8>) -> Option<usize> {
        let length = bytes.len();
        match *self {
            Self::FlipBit { bit } => {
                if length == 0 {
                    return None;
                }
                let bit = bit as usize % (length * 8);
                let byte = bytes.get_mut(bit / 8)?;
                *byte ^= 1 << (bit % 8);
                Some(bit / 8)
            }
            Self::SetByte { offset, value } => {
                if length == 0 {
                    return None;
                }
                let offset = offset as usize % length;
                let byte = bytes.get_mut(offset)?;
                (*byte != value).then(|| {
                    *byte = value;
                    offset
                })
            }
            Self::Truncate { length: new_length } => {
                let new_length = new_length as usize % (length + 1);
                (new_length < length).then(|| {
                    bytes.truncate(new_length);
                    new_length
                })
            }
            Self::Zero { offset, length: range } => {
                let (start, end) = clip(length, offset, range)?;
                bytes.get_mut(start..end)?.fill(0);
                Some(start)
            }
            Self::Garbage { offset, length: range, seed } => {
                let (start, end) = clip(length, offset, range)?;
                let garbage = SplitMix64::new(seed).bytes(end - start);
                bytes.get_mut(start..end)?.copy_from_slice(&garbage);
                Some(start)
            }
            Self::Extend { length: range, seed } => {
                let range = usize::from(range) % (RANGE_BYTES_MAX + 1);
                if range == 0 {
                    return None;
                }
                bytes.extend_from_slice(&SplitMix64::new(seed).bytes(range));
                Some(length)
            }
        }
    }
}

/// `offset..offset + range` inside a value of `length` bytes (offset modulo the length, range at most
/// [`RANGE_BYTES_MAX`]), or `None` when empty.
fn clip(length: usize, offset: u32, range: u16) -> Option<(usize, usize)> {
    if length == 0 {
        return None;
    }
    let start = offset as usize % length;
    let end = start.saturating_add(usize::from(range) % (RANGE_BYTES_MAX + 1)).min(length);
    (end > start).then_some((start, end))
}

/// Copies `source[source_offset..source_offset + range]` into `target` at `target_offset`, overwriting (`insert`
/// false) or inserting. Returns the first changed offset of `target`.
pub fn splice(
    source: &[u8],
    target: &mut Vec<u8>,
    source_offset: u32,
    range: u16,
    target_offset: u32,
    insert: bool,
) -> Option<usize> {
    let (start, end) = clip(source.len(), source_offset, range)?;
    let piece = source.get(start..end)?.to_vec();
    let at = target_offset as usize % (target.len() + 1);
    if insert {
        target.splice(at..at, piece);
    } else {
        let overlap = piece.len().min(target.len() - at);
        let (inside, outside) = piece.split_at(overlap);
        target.get_mut(at..at + overlap)?.copy_from_slice(inside);
        target.extend_from_slice(outside);
    }
    Some(at)
}

/// A little-endian `u32` at `offset`, or 0 when out of range.
pub fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    bytes.get(offset..offset + 4).and_then(|slice| slice.try_into().ok()).map_or(0, u32::from_le_bytes)
}

/// A little-endian `u64` at `offset`, or 0 when out of range.
pub fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    bytes.get(offset..offset + 8).and_then(|slice| slice.try_into().ok()).map_or(0, u64::from_le_bytes)
}

/// Writes `value` at `offset` when it fits.
pub fn put(bytes: &mut [u8], offset: usize, value: &[u8]) {
    if let Some(slot) = bytes.get_mut(offset..offset + value.len()) {
        slot.copy_from_slice(value);
    }
}
