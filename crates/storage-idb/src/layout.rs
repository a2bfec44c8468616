//! How values are laid out in IndexedDB, as pure functions on numbers: chunk splitting, read planning with
//! validation, the truncate cut and the `DOMException` mapping. Compiled and unit-tested on every target; the
//! wasm32 driver ([`crate::IndexedDbBackend`]) only moves bytes between these plans and IndexedDB.
#![cfg_attr(
    all(not(target_arch = "wasm32"), not(test)),
    expect(dead_code, reason = "the IndexedDB driver that uses these plans exists on wasm32 only")
)]

use std::ops::Range;

use storage_core::{Operation, PersistenceError};

/// The IndexedDB schema version this crate creates and opens. A database at a higher version (written by a newer
/// release) is refused with a `VersionError`; a lower one is upgraded.
pub const DATABASE_SCHEMA_VERSION: u32 = 1;

/// The object store of chunks: out-of-line keys `[key, offset]` (a string and a number), values `Uint8Array`s of
/// 1 to [`CHUNK_BYTES_MAX`] bytes. The chunks of a key tile `0..length` in key order, without gaps or overlaps.
pub const CHUNKS_STORE: &str = "chunks";

/// The object store of per-key metadata: out-of-line keys (the key as a string), values the value's length in
/// bytes (a number). A key exists exactly when it has an entry here; its chunks add up to that length.
pub const LENGTHS_STORE: &str = "lengths";

/// The largest chunk record, in bytes. Larger appends and atomic writes are split into several chunks (in the same
/// transaction). Bounding chunks bounds a range read: the chunk holding byte `offset` starts after
/// `offset - CHUNK_BYTES_MAX`, so one key-range query finds it without a cursor or an index.
pub const CHUNK_BYTES_MAX: usize = 256 * 1024;

/// The longest value, in bytes: 2^53 - 1, the largest integer a JavaScript number (an IndexedDB key) holds
/// exactly, so every chunk offset is exact.
pub const VALUE_BYTES_MAX: u64 = (1 << 53) - 1;

const _: () = assert!(CHUNK_BYTES_MAX > 0 && (CHUNK_BYTES_MAX as u64) < VALUE_BYTES_MAX);

/// The length after appending `data_bytes` to a value of `length` bytes, or `None` past [`VALUE_BYTES_MAX`].
pub(crate) fn appended_length(length: u64, data_bytes: usize) -> Option<u64> {
    let data_bytes = u64::try_from(data_bytes).ok()?;
    length.checked_add(data_bytes).filter(|&total| total <= VALUE_BYTES_MAX)
}

/// The chunks that hold `data_bytes` bytes written at value offset `start`: for each, its offset in the value and
/// the range of the data it takes. An empty write has no chunks.
pub(crate) fn chunks(start: u64, data_bytes: usize) -> impl Iterator<Item = (u64, Range<usize>)> {
    (0..data_bytes).step_by(CHUNK_BYTES_MAX).map(move |first| {
        let end = first.saturating_add(CHUNK_BYTES_MAX).min(data_bytes);
        (start + first as u64, first..end)
    })
}

/// The lowest offset at which a chunk holding byte `offset` can start.
pub(crate) fn window_start(offset: u64) -> u64 {
    offset.saturating_sub(CHUNK_BYTES_MAX as u64 - 1)
}

/// Part of a read: copy bytes `within` of chunk number `chunk` (in the order the chunks were given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    /// Index of the chunk in the list given to [`plan_read`].
    pub(crate) chunk: usize,
    /// The bytes of that chunk to copy.
    pub(crate) within: Range<usize>,
}

/// Plans a read of bytes `start..end` of the value `key` of `value_length` bytes, from `chunks` (offset and size
/// of each chunk whose offset lies in `window_start(start)..end`, in key order), and checks the chunks against the
/// layout's invariants on the way: contiguous, each of 1 to [`CHUNK_BYTES_MAX`] bytes, covering the range, not
/// running past the length. Any violation is [`PersistenceError::Corrupted`], never a short or padded read.
/// Requires `start <= end <= value_length`.
pub(crate) fn plan_read(
    key: &str,
    start: u64,
    end: u64,
    value_length: u64,
    chunks: &[(u64, usize)],
) -> Result<Vec<Piece>, PersistenceError> {
    let corrupted = |offset: u64, reason: String| PersistenceError::Corrupted { key: key.to_owned(), offset, reason };
    let mut pieces = Vec::new();
    if start >= end {
        return Ok(pieces);
    }
    let Some(&(first_offset, _)) = chunks.first() else {
        return Err(corrupted(start, format!("no chunk holds byte {start} of a {value_length}-byte value")));
    };
    if first_offset > start {
        return Err(corrupted(
            start,
            format!("no chunk holds byte {start}: the first chunk found starts at {first_offset}"),
        ));
    }
    let mut position = first_offset;
    for (index, &(offset, size)) in chunks.iter().enumerate() {
        if offset != position {
            return Err(corrupted(
                position,
                format!("a chunk starts at {offset} where the previous one ended at {position}"),
            ));
        }
        if size == 0 || size > CHUNK_BYTES_MAX {
            return Err(corrupted(offset, format!("a chunk of {size} bytes (allowed: 1 to {CHUNK_BYTES_MAX})")));
        }
        let chunk_end = offset + size as u64;
        if chunk_end > value_length {
            return Err(corrupted(
                offset,
                format!("a chunk ends at {chunk_end}, past the value's length {value_length}"),
            ));
        }
        let from = start.max(offset);
        let to = end.min(chunk_end);
        if from < to {
            // Both differences are below `size`, a usize.
            pieces.push(Piece { chunk: index, within: (from - offset) as usize..(to - offset) as usize });
        }
        position = chunk_end;
    }
    if position < end {
        return Err(corrupted(
            position,
            format!("the chunks end at {position}; the value is {value_length} bytes long"),
        ));
    }
    Ok(pieces)
}

/// How truncating to `length` treats the last chunk that starts below `length` (its offset and size): `Some(keep)`
/// when it runs past `length` and must be rewritten with its first `keep` bytes, `None` when it is kept whole.
/// Every chunk at or above `length` is deleted.
pub(crate) fn truncate_cut(length: u64, last_chunk: (u64, usize)) -> Option<usize> {
    let (offset, size) = last_chunk;
    let chunk_end = offset + size as u64;
    // `length - offset < size` here, so it fits a usize.
    (offset < length && chunk_end > length).then(|| (length - offset) as usize)
}

/// Maps an IndexedDB `DOMException` (its `name` and `message`) to a [`PersistenceError`]:
/// `QuotaExceededError` is [`PersistenceError::DiskFull`], anything else [`PersistenceError::Backend`] with the
/// message `"{name}: {message}"`, so the exception's name survives for callers and logs.
pub(crate) fn dom_exception_error(operation: Operation, key: &str, name: &str, message: &str) -> PersistenceError {
    match name {
        "QuotaExceededError" => PersistenceError::DiskFull { operation, key: key.to_owned() },
        _ => PersistenceError::Backend { operation, key: key.to_owned(), message: format!("{name}: {message}") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_split_into_chunks_of_at_most_the_limit() {
        assert_eq!(chunks(7, 0).count(), 0, "an empty write has no chunk");
        assert_eq!(chunks(7, 5).collect::<Vec<_>>(), [(7, 0..5)]);
        assert_eq!(chunks(0, CHUNK_BYTES_MAX).collect::<Vec<_>>(), [(0, 0..CHUNK_BYTES_MAX)], "at the limit: one");
        let over: Vec<_> = chunks(10, CHUNK_BYTES_MAX + 1).collect();
        assert_eq!(
            over,
            [(10, 0..CHUNK_BYTES_MAX), (10 + CHUNK_BYTES_MAX as u64, CHUNK_BYTES_MAX..CHUNK_BYTES_MAX + 1)]
        );
        let many: Vec<_> = chunks(0, 3 * CHUNK_BYTES_MAX).collect();
        assert_eq!(many.len(), 3);
    }

    #[test]
    fn the_value_length_limit_is_enforced_at_the_limit() {
        assert_eq!(appended_length(VALUE_BYTES_MAX - 3, 3), Some(VALUE_BYTES_MAX));
        assert_eq!(appended_length(VALUE_BYTES_MAX - 3, 4), None);
        assert_eq!(appended_length(u64::MAX, 1), None, "no overflow");
        assert_eq!(appended_length(5, 0), Some(5));
        // Every offset up to the limit is exact as an IndexedDB (f64) key.
        assert_eq!(VALUE_BYTES_MAX as f64 as u64, VALUE_BYTES_MAX);
    }

    #[test]
    fn the_chunk_holding_an_offset_starts_inside_the_window() {
        assert_eq!(window_start(0), 0);
        assert_eq!(window_start(CHUNK_BYTES_MAX as u64 - 1), 0);
        assert_eq!(window_start(CHUNK_BYTES_MAX as u64), 1);
    }

    fn pieces(plan: Vec<Piece>) -> Vec<(usize, Range<usize>)> {
        plan.into_iter().map(|piece| (piece.chunk, piece.within)).collect()
    }

    #[test]
    fn reads_take_exactly_the_requested_bytes_from_contiguous_chunks() {
        let chunks = [(0, 4), (4, 3), (7, 5)];
        assert_eq!(pieces(plan_read("k", 0, 12, 12, &chunks).unwrap()), [(0, 0..4), (1, 0..3), (2, 0..5)]);
        assert_eq!(pieces(plan_read("k", 5, 9, 12, &chunks).unwrap()), [(1, 1..3), (2, 0..2)]);
        // The window may bring chunks that end before the start: they are checked and skipped.
        assert_eq!(pieces(plan_read("k", 8, 12, 12, &chunks).unwrap()), [(2, 1..5)]);
        assert!(plan_read("k", 3, 3, 12, &[]).unwrap().is_empty(), "an empty range needs no chunk");
    }

    fn reason_of(result: Result<Vec<Piece>, PersistenceError>) -> (u64, String) {
        match result {
            Err(PersistenceError::Corrupted { offset, reason, .. }) => (offset, reason),
            other => panic!("expected Corrupted, got {other:?}"),
        }
    }

    #[test]
    fn broken_chunk_layouts_are_corruption_never_a_short_read() {
        assert_eq!(reason_of(plan_read("k", 0, 4, 4, &[])).0, 0, "a missing chunk");
        assert_eq!(reason_of(plan_read("k", 0, 8, 8, &[(0, 4), (5, 3)])).0, 4, "a gap");
        assert_eq!(reason_of(plan_read("k", 0, 8, 8, &[(0, 4), (3, 5)])).0, 4, "an overlap");
        assert_eq!(reason_of(plan_read("k", 2, 4, 8, &[(3, 5)])).0, 2, "the range's first byte is held by no chunk");
        assert_eq!(reason_of(plan_read("k", 0, 8, 8, &[(0, 4)])).0, 4, "chunks shorter than the length");
        assert_eq!(reason_of(plan_read("k", 0, 4, 4, &[(0, 6)])).0, 0, "chunks longer than the length");
        assert_eq!(reason_of(plan_read("k", 0, 4, 4, &[(0, 0), (0, 4)])).0, 0, "an empty chunk");
        let oversize = CHUNK_BYTES_MAX + 1;
        let (offset, reason) = reason_of(plan_read("k", 0, 1, oversize as u64, &[(0, oversize)]));
        assert_eq!(offset, 0);
        assert!(reason.contains("allowed: 1 to"), "{reason}");
        assert!(plan_read("k", 0, CHUNK_BYTES_MAX as u64, CHUNK_BYTES_MAX as u64, &[(0, CHUNK_BYTES_MAX)]).is_ok());
    }

    #[test]
    fn truncate_rewrites_only_a_chunk_that_straddles_the_new_end() {
        assert_eq!(truncate_cut(6, (4, 5)), Some(2), "keeps the chunk's first two bytes");
        assert_eq!(truncate_cut(9, (4, 5)), None, "the chunk ends exactly at the new end");
        assert_eq!(truncate_cut(4, (4, 5)), None, "a chunk at the new end is deleted, not cut");
    }

    #[test]
    fn dom_exceptions_map_to_typed_errors_keeping_their_name() {
        let full = dom_exception_error(Operation::Append, "wal/1", "QuotaExceededError", "quota");
        assert!(matches!(&full, PersistenceError::DiskFull { operation: Operation::Append, key } if key == "wal/1"));
        let other = dom_exception_error(Operation::Sync, "k", "UnknownError", "disk I/O");
        assert!(matches!(
            &other,
            PersistenceError::Backend { operation: Operation::Sync, message, .. } if message == "UnknownError: disk I/O"
        ));
    }
}
