//! `snapshot_decode`: build a valid snapshot of a [`VectorState`], damage it, parse, decode and load it.
//!
//! The input builds a state (dimension 1 to [`DIMENSION_MAX`], up to [`VECTORS_MAX`] vectors of arbitrary f32 bit
//! patterns, NaNs included) and encodes it with `snapshot::encode_snapshot` at an input-chosen LSN. The bytes are
//! parsed with the documented layout (64-byte header, sections, 32-byte table entries) and damaged by up to
//! [`MUTATIONS_MAX`] mutations:
//!
//! - byte mutations anywhere (flips, writes, truncations, holes, garbage, appended bytes);
//! - a section payload byte changed, with the section's CRC and its table entry's CRC recomputed (so the state
//!   decoder sees it, and only the digest can catch it);
//! - a section grown or shrunk by whole entries or odd byte counts, with every later offset, the table offset, the
//!   total length and all checksums fixed up (a well-formed snapshot of another state under the old digest);
//! - a table entry field (tag, offset, length) changed with its CRC recomputed;
//! - a header field (version, section count, LSN, length, table offset, digest) changed with the header CRC
//!   recomputed;
//! - and, last, sometimes "fix every checksum": every section CRC, table entry CRC and the header CRC recomputed,
//!   so whatever the byte mutations did reaches the structural checks, the state decoder and the digest check.
//!
//! Invariants: nothing panics; `decode_snapshot` either fails with an error that `is_bad_snapshot` (so loading
//! falls back to an older snapshot) or returns a state whose recomputed digest equals the stored digest, with the
//! stored LSN; a returned state under the original digest is the original state (bit for bit); the undamaged
//! snapshot decodes to the original state. `load_latest` over a store holding an older valid snapshot and the
//! damaged one returns the damaged one exactly when it decodes (and its LSN matches its key), and otherwise falls
//! back to the older one, naming the damaged one as skipped.

use arbitrary::Unstructured;
use snapshot::format::{HEADER_BYTES, TABLE_ENTRY_BYTES, parse_header};
use snapshot::testing::VectorState;
use snapshot::{Snapshot, SnapshotError, SnapshotManager, SnapshotOptions, SnapshotReader};
use storage_core::StorageBackend;
use storage_mem::MemoryBackend;

use crate::mutation::{ByteMutation, put, u32_at, u64_at};

/// The most vectors in the state.
pub const VECTORS_MAX: usize = 16;
/// The largest dimension. Dimension 0 is left out: a `VectorState` of dimension 0 that holds ids does not survive
/// a round trip (its decoder pairs ids with zero-length vectors by `chunks_exact(1)` over an empty section, so it
/// drops every id and the digest check fails); see docs/fuzzing.md, "Findings".
pub const DIMENSION_MAX: u32 = 8;
/// The most mutations applied.
pub const MUTATIONS_MAX: usize = 8;
/// The most bytes a section grows or shrinks by in one mutation.
pub const RESIZE_BYTES_MAX: usize = 64;

/// Bit patterns of a state, so NaNs compare equal to themselves.
fn bits(state: &VectorState) -> (u32, Vec<(u64, Vec<u32>)>) {
    let vectors =
        state.vectors.iter().map(|(id, vector)| (*id, vector.iter().map(|value| value.to_bits()).collect())).collect();
    (state.dimension, vectors)
}

fn build(input: &mut Unstructured<'_>) -> arbitrary::Result<(VectorState, u64)> {
    let dimension = input.int_in_range(1..=DIMENSION_MAX)?;
    let mut state = VectorState::new(dimension);
    let count = input.int_in_range(0..=VECTORS_MAX)?;
    for _ in 0..count {
        let id = if input.arbitrary()? { input.int_in_range(0..=32u64)? } else { input.arbitrary()? };
        let mut vector = Vec::with_capacity(dimension as usize);
        for _ in 0..dimension {
            vector.push(f32::from_bits(input.arbitrary()?));
        }
        state.vectors.insert(id, vector);
    }
    let lsn = if input.arbitrary()? { input.int_in_range(1..=1000u64)? } else { input.arbitrary::<u64>()?.max(1) };
    Ok((state, lsn))
}

/// One table entry as stored.
#[derive(Clone, Copy, Debug)]
struct Entry {
    at: usize,
    offset: u64,
    length: u64,
}

fn table(bytes: &[u8]) -> Vec<Entry> {
    let table_offset = u64_at(bytes, 32) as usize;
    let count = (u32_at(bytes, 12) as usize).min(snapshot::format::SECTIONS_MAX as usize);
    (0..count)
        .map(|index| table_offset.saturating_add(index * TABLE_ENTRY_BYTES))
        .filter(|at| at.saturating_add(TABLE_ENTRY_BYTES) <= bytes.len())
        .map(|at| Entry { at, offset: u64_at(bytes, at + 8), length: u64_at(bytes, at + 16) })
        .collect()
}

fn fix_entry_crc(bytes: &mut [u8], at: usize) {
    let crc = crc32fast::hash(bytes.get(at..at + 28).unwrap_or_default());
    put(bytes, at + 28, &crc.to_le_bytes());
}

fn fix_header_crc(bytes: &mut [u8]) {
    let crc = crc32fast::hash(bytes.get(..60).unwrap_or_default());
    put(bytes, 60, &crc.to_le_bytes());
}

/// Recomputes every section CRC (where its range lies in the bytes), every table entry CRC and the header CRC.
fn fix_all(bytes: &mut [u8]) {
    for entry in table(bytes) {
        let start = usize::try_from(entry.offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(usize::try_from(entry.length).unwrap_or(usize::MAX));
        if let Some(payload) = bytes.get(start..end) {
            let crc = crc32fast::hash(payload);
            put(bytes, entry.at + 4, &crc.to_le_bytes());
        }
        fix_entry_crc(bytes, entry.at);
    }
    fix_header_crc(bytes);
}

/// Grows (`delta` > 0, with seeded bytes) or shrinks section `index` and fixes every offset and checksum.
fn resize_section(bytes: &mut Vec<u8>, index: usize, delta: i16, fill: u8) {
    let entries = table(bytes);
    let Some(entry) = entries.get(index).copied() else { return };
    let (Ok(start), Ok(length)) = (usize::try_from(entry.offset), usize::try_from(entry.length)) else { return };
    let end = start.saturating_add(length);
    if end > bytes.len() {
        return;
    }
    let change = usize::from(delta.unsigned_abs()) % (RESIZE_BYTES_MAX + 1);
    let (new_length, grown) = if delta >= 0 {
        bytes.splice(end..end, std::iter::repeat_n(fill, change));
        (length + change, true)
    } else {
        let cut = change.min(length);
        bytes.drain(end - cut..end);
        (length - cut, false)
    };
    let shift = |offset: u64| -> u64 {
        if offset >= end as u64 {
            if grown {
                offset.saturating_add(change as u64)
            } else {
                offset.saturating_sub((length - new_length) as u64)
            }
        } else {
            offset
        }
    };
    // The table moved with everything after the section.
    let table_offset = shift(u64_at(bytes, 32));
    put(bytes, 32, &table_offset.to_le_bytes());
    let total_bytes = bytes.len() as u64;
    put(bytes, 24, &total_bytes.to_le_bytes());
    for (position, other) in table(bytes).into_iter().enumerate() {
        if position == index {
            put(bytes, other.at + 16, &(new_length as u64).to_le_bytes());
        } else {
            put(bytes, other.at + 8, &shift(other.offset).to_le_bytes());
        }
    }
    fix_all(bytes);
}

/// Applies one mutation drawn from the input.
fn mutate(input: &mut Unstructured<'_>, bytes: &mut Vec<u8>) -> arbitrary::Result<()> {
    match input.int_in_range(0u8..=9)? {
        0..=3 => {
            ByteMutation::draw(input)?.apply(bytes);
        }
        4..=5 => {
            // A section payload byte, with the section and entry CRCs recomputed.
            let entries = table(bytes);
            if entries.is_empty() {
                return Ok(());
            }
            let entry = entries[input.choose_index(entries.len())?];
            if entry.length > 0 {
                let at = entry.offset.saturating_add(input.int_in_range(0..=entry.length - 1)?);
                let mask: u8 = input.arbitrary()?;
                if let Some(byte) = usize::try_from(at).ok().and_then(|at| bytes.get_mut(at)) {
                    *byte ^= mask.max(1);
                }
            }
            fix_all(bytes);
        }
        6 => {
            let index = input.int_in_range(0..=3usize)?;
            let delta: i16 = match input.int_in_range(0u8..=2)? {
                0 => 8,  // one more id
                1 => -8, // one id fewer
                _ => input.arbitrary()?,
            };
            resize_section(bytes, index, delta, input.arbitrary()?);
        }
        7 => {
            // A table entry field, with the entry CRC recomputed.
            let entries = table(bytes);
            if entries.is_empty() {
                return Ok(());
            }
            let entry = entries[input.choose_index(entries.len())?];
            match input.int_in_range(0u8..=2)? {
                0 => put(bytes, entry.at, &input.int_in_range(0u32..=4)?.to_le_bytes()),
                1 => {
                    let delta: i8 = input.arbitrary()?;
                    put(bytes, entry.at + 8, &entry.offset.saturating_add_signed(i64::from(delta)).to_le_bytes());
                }
                _ => {
                    let length: u64 = if input.arbitrary()? {
                        entry.length.saturating_add_signed(i64::from(input.arbitrary::<i8>()?))
                    } else {
                        input.arbitrary()?
                    };
                    put(bytes, entry.at + 16, &length.to_le_bytes());
                }
            }
            fix_entry_crc(bytes, entry.at);
        }
        8 => {
            // A header field, with the header CRC recomputed.
            if bytes.len() < HEADER_BYTES {
                return Ok(());
            }
            match input.int_in_range(0u8..=5)? {
                0 => put(bytes, 8, &input.int_in_range(0u16..=3)?.to_le_bytes()),
                1 => put(bytes, 12, &input.int_in_range(0u32..=snapshot::format::SECTIONS_MAX + 2)?.to_le_bytes()),
                2 => put(bytes, 16, &input.arbitrary::<u64>()?.to_le_bytes()),
                3 => {
                    let total: u64 = if input.arbitrary()? { input.arbitrary()? } else { bytes.len() as u64 + 1 };
                    put(bytes, 24, &total.to_le_bytes());
                }
                4 => {
                    let delta: i8 = input.arbitrary()?;
                    let table_offset = u64_at(bytes, 32).saturating_add_signed(i64::from(delta));
                    put(bytes, 32, &table_offset.to_le_bytes());
                }
                _ => put(bytes, 40, &input.arbitrary::<u128>()?.to_le_bytes()),
            }
            fix_header_crc(bytes);
        }
        _ => fix_all(bytes),
    }
    Ok(())
}

fn error_name(error: &SnapshotError) -> String {
    let text = format!("{error:?}");
    let name: String = text.chars().take_while(|character| character.is_alphanumeric()).collect();
    match error {
        SnapshotError::Corrupted { offset, .. } if *offset < HEADER_BYTES as u64 => format!("{name}(header)"),
        SnapshotError::Corrupted { .. } => format!("{name}(table or section)"),
        _ => name,
    }
}

/// Runs one input (see the module docs). `None`: too short to build a state.
pub fn run(data: &[u8]) -> Option<String> {
    if data.len() < 4 {
        return None;
    }
    let mut input = Unstructured::new(data);
    let (state, lsn) = build(&mut input).ok()?;
    let original = snapshot::encode_snapshot(&state, lsn).expect("encode a small state");
    let original_digest = state.digest();
    let (decoded, decoded_lsn, digest) =
        snapshot::decode_snapshot::<VectorState>(&original).expect("an undamaged snapshot decodes");
    assert_eq!((bits(&decoded), decoded_lsn, digest), (bits(&state), lsn, original_digest), "round trip");

    let mut bytes = original.clone();
    let mutation_count = input.int_in_range(0..=MUTATIONS_MAX).unwrap_or(0);
    for _ in 0..mutation_count {
        if mutate(&mut input, &mut bytes).is_err() {
            break;
        }
    }
    if input.ratio(1u8, 3).unwrap_or(false) {
        fix_all(&mut bytes);
    }

    let header = parse_header(&bytes);
    let parsed = SnapshotReader::parse(&bytes);
    if let Ok(reader) = &parsed {
        // Every section the table lists is inside the file and readable.
        for section in reader.sections() {
            assert!(reader.section(section.tag).is_ok(), "a listed section cannot be read");
        }
    }
    let decoded = snapshot::decode_snapshot::<VectorState>(&bytes);
    let label = match &decoded {
        Ok((decoded, decoded_lsn, digest)) => {
            let header = header.as_ref().expect("a decoded snapshot has a valid header");
            assert!(parsed.is_ok(), "decoded a snapshot the reader rejects");
            assert_eq!(decoded.digest(), *digest, "returned a state whose digest is not the returned digest");
            assert_eq!(*digest, header.state_digest, "returned a digest other than the stored one");
            assert_eq!(*decoded_lsn, header.lsn, "returned an LSN other than the stored one");
            if *digest == original_digest {
                assert_eq!(bits(decoded), bits(&state), "a state under the original digest is not the original");
            }
            if bytes == original { "ok, undamaged".to_owned() } else { "ok, damaged but equivalent".to_owned() }
        }
        Err(error) => {
            assert!(bytes != original, "the undamaged snapshot failed: {error}");
            assert!(error.is_bad_snapshot(), "a damaged snapshot gave an error that stops fallback: {error}");
            error_name(error)
        }
    };

    // Loading: an older valid snapshot (the state without its first vector) under a lower LSN, then the damaged one.
    let backend = MemoryBackend::new();
    let older_state = {
        let mut older = state.clone();
        if let Some(first) = older.vectors.keys().next().copied() {
            older.vectors.remove(&first);
        }
        older
    };
    let older_lsn = lsn.checked_sub(1);
    let options = SnapshotOptions { retain_count: 2 };
    let manager = SnapshotManager::new(backend.clone(), options).expect("options");
    if let Some(older_lsn) = older_lsn {
        manager.save(&older_state, older_lsn).expect("save to memory");
    }
    let key = snapshot::snapshot_key(lsn).expect("a valid key");
    backend.atomic_write(&key, &bytes).expect("write to memory");
    let loaded = manager.load_latest::<VectorState>();
    let newest_valid = matches!(&decoded, Ok((_, decoded_lsn, _)) if *decoded_lsn == lsn);
    match (loaded, older_lsn) {
        (Ok(Some(loaded)), _) if newest_valid => {
            let (decoded, _, digest) = decoded.as_ref().expect("valid");
            assert_eq!((loaded.lsn, loaded.digest), (lsn, *digest), "loaded another snapshot than the valid newest");
            assert_eq!(bits(&loaded.state), bits(decoded));
            assert!(loaded.skipped.is_empty(), "skipped a valid snapshot");
        }
        (Ok(Some(loaded)), Some(older_lsn)) => {
            assert_eq!(loaded.lsn, older_lsn, "fell back to the wrong snapshot");
            assert_eq!(bits(&loaded.state), bits(&older_state), "the fallback state is not the older state");
            assert_eq!(loaded.skipped.len(), 1, "the damaged snapshot is named as skipped");
            assert_eq!(loaded.digest, older_state.digest());
        }
        (Err(SnapshotError::AllCorrupt { skipped }), None) if !newest_valid => {
            assert_eq!(skipped.len(), 1);
        }
        (other, _) => panic!("load_latest: unexpected {other:?} (newest valid: {newest_valid})"),
    }
    Some(label)
}
