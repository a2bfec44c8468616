//! `wal_decode`: build a valid log through the public WAL API, damage its bytes, open and replay it in both modes.
//!
//! The input first drives a real [`Wal`] over a [`MemoryBackend`]: up to [`STEPS_MAX`] appends, batches,
//! transactions, syncs and checkpoints, with a small input-chosen segment size (so there are several segments),
//! either sync policy, a seeded salt, and a clean close or a plain drop (a `Manual` drop leaves no seal). The
//! resulting image is parsed (the layout of `docs/wal.md`) and then damaged by up to [`MUTATIONS_MAX`] mutations:
//!
//! - byte mutations in any segment: bit flips, byte writes, truncations, zeroed ranges (holes), garbage ranges
//!   (torn writes), appended garbage, splices from any segment (overwriting or inserting), a copy of a record
//!   appended to a segment, a dropped seal;
//! - key mutations: a segment deleted, renamed to another LSN, or a junk key added;
//! - forgeries that recompute the checksums so the mutation gets past them: a record's payload, LSN, `synced_lsn`,
//!   type, length or batch count changed and its header and record CRCs recomputed with the segment's salt; a
//!   segment header's first LSN, version or salt changed and its CRC recomputed; or the CRCs of whatever bytes lie
//!   at an offset recomputed.
//!
//! The wal crate keeps its encoders private (`pub(crate)`), so the CRCs are recomputed here from the documented
//! layout with `crc32fast`; a drift between the two shows up as forged records that never validate.
//!
//! Invariants, for the image opened in [`RecoveryMode::Strict`] and, on a fresh copy, in
//! [`RecoveryMode::SalvagePrefix`]:
//! - nothing panics; a strict open either succeeds or fails with `WalError::Corrupted`, never at a position
//!   before the first damage; a salvaging open always succeeds;
//! - after an open succeeds, replay from the first LSN yields no error, contiguous LSNs from `first_lsn` to
//!   `next_lsn - 1`, and every entry below the lowest LSN a forgery could claim is exactly a record that was written
//!   (same LSN, kind and operations): the log never yields a record that was not written;
//! - every record that lies wholly before the first damage is yielded (damage cuts a suffix, never a record
//!   before it); with no damage at all, the strict open yields exactly what was written;
//! - when strict succeeds, salvage yields the same and reports no salvage; when strict fails, salvage reports it;
//! - after a successful open, the log reopens (strict) to the same entries, takes an append, and after a clean
//!   close that append is replayed after them: new records are never hidden behind bad bytes.

use std::collections::BTreeMap;

use arbitrary::Unstructured;
use storage_core::{Key, StorageBackend};
use storage_mem::MemoryBackend;
use wal::format::{RECORD_HEADER_BYTES, SEGMENT_BYTES_MIN, SEGMENT_HEADER_BYTES};
use wal::{Lsn, RecoveryMode, SyncPolicy, Wal, WalError, WalOptions};

use crate::mutation::{ByteMutation, put, splice, u32_at, u64_at};

/// The most steps (appends, batches, ...) that build the log.
pub const STEPS_MAX: usize = 24;
/// The longest operation payload.
pub const PAYLOAD_BYTES_MAX: usize = 64;
/// The most operations in one batch or transaction.
pub const BATCH_OPERATIONS_MAX: usize = 6;
/// The most mutations applied to the image.
pub const MUTATIONS_MAX: usize = 8;
/// The largest `segment_bytes_max` drawn (small, so logs have several segments).
pub const SEGMENT_BYTES_MAX: u64 = 1024;

const PREFIX: &str = "wal";
const SEGMENT_KEY_DIGITS: usize = 20;

/// One written record: its operations and whether it is a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Written {
    batch: bool,
    operations: Vec<Vec<u8>>,
}

/// One record replayed, as comparable data.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Replayed {
    lsn: u64,
    batch: bool,
    operations: Vec<Vec<u8>>,
}

/// A record's place in the pristine image.
#[derive(Clone, Copy, Debug)]
struct RecordPlace {
    offset: usize,
    total_bytes: usize,
    record_type: u8,
    lsn: u64,
}

/// A segment of the pristine image, parsed with the documented layout.
#[derive(Clone, Debug)]
struct SegmentPlace {
    key: String,
    salt: u64,
    records: Vec<RecordPlace>,
}

fn segment_key(first_lsn: u64) -> String {
    format!("{PREFIX}/{first_lsn:0width$}", width = SEGMENT_KEY_DIGITS)
}

fn header_crc(salt: u64, header: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&salt.to_le_bytes());
    hasher.update(header.get(..24).unwrap_or_default());
    hasher.finalize()
}

fn parse_segment(key: &str, bytes: &[u8]) -> SegmentPlace {
    let salt = u64_at(bytes, 20);
    let mut records = Vec::new();
    let mut offset = SEGMENT_HEADER_BYTES;
    while let Some(header) = bytes.get(offset..offset + RECORD_HEADER_BYTES) {
        let payload_bytes = u32_at(header, 0) as usize;
        let total_bytes = RECORD_HEADER_BYTES + payload_bytes;
        assert_eq!(u32_at(header, 24), header_crc(salt, header), "the layout in docs/wal.md drifted (header CRC)");
        let record_type = header.get(4).copied().unwrap_or(0);
        records.push(RecordPlace { offset, total_bytes, record_type, lsn: u64_at(header, 8) });
        offset += total_bytes;
    }
    assert_eq!(offset, bytes.len(), "a written segment ends after its last record");
    SegmentPlace { key: key.to_owned(), salt, records }
}

/// Recomputes the header and record CRCs of the record at `offset`, with its stored length (clipped to the bytes
/// there). Returns the record's LSN field, which the forged record may now carry validly.
fn recompute_record(bytes: &mut [u8], offset: usize, salt: u64) -> Option<u64> {
    let header = bytes.get(offset..offset + RECORD_HEADER_BYTES)?.to_vec();
    let crc = header_crc(salt, &header);
    put(bytes, offset + 24, &crc.to_le_bytes());
    let payload_end = (offset + RECORD_HEADER_BYTES).saturating_add(u32_at(&header, 0) as usize).min(bytes.len());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&salt.to_le_bytes());
    hasher.update(bytes.get(offset..offset + 28).unwrap_or_default());
    hasher.update(bytes.get(offset + RECORD_HEADER_BYTES..payload_end).unwrap_or_default());
    let record_crc = hasher.finalize();
    put(bytes, offset + 28, &record_crc.to_le_bytes());
    Some(u64_at(&header, 8))
}

fn recompute_segment_header(bytes: &mut [u8]) {
    let crc = crc32fast::hash(bytes.get(..28).unwrap_or_default());
    put(bytes, 28, &crc.to_le_bytes());
}

/// The image: key to bytes.
type Image = BTreeMap<String, Vec<u8>>;

/// Where the first damage lies: (index of the segment in the pristine key order, byte offset).
type Position = (usize, usize);

struct Damage {
    /// The earliest position any mutation touched.
    first: Option<Position>,
    /// The lowest LSN a record made valid by a forgery may carry (`u64::MAX`: nothing forged).
    forged_from: u64,
    /// A segment was deleted or renamed, or a key added: the log may start later than built.
    keys_changed: bool,
}

impl Damage {
    fn touch(&mut self, position: Position) {
        self.first = Some(self.first.map_or(position, |first| first.min(position)));
    }

    fn forge(&mut self, lsn: u64) {
        self.forged_from = self.forged_from.min(lsn);
    }
}

/// What `build` made: the options, the image, and every record written by its first LSN.
type Built = (WalOptions, Image, BTreeMap<u64, Written>);

fn build(input: &mut Unstructured<'_>) -> arbitrary::Result<Option<Built>> {
    let sync_policy = if input.ratio(1u8, 3)? { SyncPolicy::Manual } else { SyncPolicy::EveryCommit };
    let options = WalOptions {
        segment_bytes_max: input.int_in_range(SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX)?,
        sync_policy,
        salt_seed: Some(input.arbitrary()?),
        ..WalOptions::default()
    };
    let backend = MemoryBackend::new();
    let log = Wal::open(backend.clone(), options.clone()).expect("a new log opens");
    let mut written = BTreeMap::new();
    let payload = |input: &mut Unstructured<'_>| -> arbitrary::Result<Vec<u8>> {
        let length = input.int_in_range(0..=PAYLOAD_BYTES_MAX)?;
        Ok(input.bytes(length)?.to_vec())
    };
    let step_count = input.int_in_range(1..=STEPS_MAX)?;
    for _ in 0..step_count {
        match input.int_in_range(0u8..=9)? {
            0..=4 => {
                let operation = payload(input)?;
                let lsn = log.append(&operation).expect("append to a memory log");
                written.insert(lsn.get(), Written { batch: false, operations: vec![operation] });
            }
            kind @ 5..=7 => {
                let count = input.int_in_range(1..=BATCH_OPERATIONS_MAX)?;
                let mut operations = Vec::with_capacity(count);
                for _ in 0..count {
                    operations.push(payload(input)?);
                }
                let range = if kind == 7 {
                    let mut transaction = log.transaction();
                    for operation in &operations {
                        transaction.stage(operation).expect("stage");
                    }
                    transaction.commit().expect("commit a transaction to a memory log")
                } else {
                    let slices: Vec<&[u8]> = operations.iter().map(Vec::as_slice).collect();
                    log.append_batch(&slices).expect("append a batch to a memory log")
                };
                assert_eq!(range.count(), operations.len() as u64);
                written.insert(range.first.get(), Written { batch: true, operations });
            }
            8 => {
                log.sync().expect("sync a memory log");
            }
            _ => {
                let next = log.next_lsn().get();
                let applied = input.int_in_range(0..=next.saturating_sub(1))?;
                log.checkpoint(Lsn(applied)).expect("checkpoint a memory log");
            }
        }
    }
    if input.ratio(1u8, 2)? {
        log.close().expect("close a memory log");
    } else {
        drop(log); // EveryCommit: a best-effort close; Manual: a best-effort flush, no seal.
    }
    let mut image = Image::new();
    for key in backend.list("").expect("list") {
        let value = backend.read(&key).expect("read").expect("listed keys exist");
        image.insert(key.as_str().to_owned(), value);
    }
    if image.is_empty() {
        return Ok(None);
    }
    Ok(Some((options, image, written)))
}

/// Applies one mutation drawn from the input to `image`, recording the damage.
fn mutate(
    input: &mut Unstructured<'_>,
    image: &mut Image,
    pristine: &[SegmentPlace],
    damage: &mut Damage,
) -> arbitrary::Result<()> {
    let index = input.choose_index(pristine.len())?;
    let segment = &pristine[index];
    let key = segment.key.clone();
    let record = if segment.records.is_empty() {
        None
    } else {
        Some(segment.records[input.choose_index(segment.records.len())?])
    };
    let kind = input.int_in_range(0u8..=15)?;
    let Some(bytes) = image.get_mut(&key) else { return Ok(()) }; // deleted or renamed by an earlier mutation
    match kind {
        0..=4 => {
            let mutation = ByteMutation::draw(input)?;
            if let Some(offset) = mutation.apply(bytes) {
                damage.touch((index, offset));
            }
        }
        5 => {
            // A splice from any segment (or this one), overwriting or inserting.
            let source_index = input.choose_index(pristine.len())?;
            let source = image.get(&pristine[source_index].key).cloned().unwrap_or_default();
            let (source_offset, range, target_offset, insert) =
                (input.arbitrary()?, input.arbitrary()?, input.arbitrary()?, input.arbitrary()?);
            let bytes = image.get_mut(&key).expect("present above");
            if let Some(offset) = splice(&source, bytes, source_offset, range, target_offset, insert) {
                damage.touch((index, offset));
            }
        }
        6 => {
            // A copy of one of the segment's records appended (a replayed or duplicated write).
            if let Some(record) = record {
                let copy = bytes.get(record.offset..record.offset + record.total_bytes).map(<[u8]>::to_vec);
                if let Some(copy) = copy {
                    damage.touch((index, bytes.len()));
                    bytes.extend_from_slice(&copy);
                }
            }
        }
        7 => {
            // Drop a trailing seal (as if the log was never closed).
            if let Some(seal) = segment.records.last().filter(|record| record.record_type == 3) {
                if bytes.len() > seal.offset {
                    bytes.truncate(seal.offset);
                    damage.touch((index, seal.offset));
                }
            }
        }
        8 => {
            image.remove(&key);
            damage.touch((index, 0));
            damage.keys_changed = true;
        }
        9 => {
            // Renamed to another first LSN (the key and header disagree, or the order changes).
            let value = image.remove(&key).unwrap_or_default();
            let first_lsn = u64_at(&value, 12);
            let delta: i8 = input.arbitrary()?;
            let renamed = segment_key(first_lsn.saturating_add_signed(i64::from(delta)).max(1));
            image.insert(renamed, value);
            damage.touch((index, 0));
            damage.keys_changed = true;
        }
        10 => {
            let junk = if input.arbitrary()? { format!("{PREFIX}/junk") } else { format!("{PREFIX}/12") };
            let length = input.int_in_range(0..=64)?;
            image.insert(junk, input.bytes(length)?.to_vec());
            damage.keys_changed = true;
        }
        11..=13 => {
            // A forged record: change one field, recompute both CRCs so only deeper checks can catch it.
            let Some(record) = record else { return Ok(()) };
            let offset = record.offset;
            let field: u8 = input.int_in_range(0..=5)?;
            match field {
                0 => {
                    let payload_bytes = record.total_bytes - RECORD_HEADER_BYTES;
                    if payload_bytes > 0 {
                        let at = offset + RECORD_HEADER_BYTES + input.choose_index(payload_bytes)?;
                        let mask: u8 = input.arbitrary()?;
                        if let Some(byte) = bytes.get_mut(at) {
                            *byte ^= mask.max(1);
                        }
                    }
                }
                1 => {
                    let delta: i8 = input.arbitrary()?;
                    let lsn = u64_at(bytes, offset + 8).saturating_add_signed(i64::from(delta));
                    put(bytes, offset + 8, &lsn.to_le_bytes());
                }
                2 => {
                    let synced: u64 = match input.int_in_range(0u8..=2)? {
                        0 => 0,
                        1 => record.lsn.saturating_add(u64::from(input.arbitrary::<u8>()?)),
                        _ => input.arbitrary()?,
                    };
                    put(bytes, offset + 16, &synced.to_le_bytes());
                }
                3 => {
                    let record_type = input.int_in_range(0u8..=4)?;
                    put(bytes, offset + 4, &[record_type]);
                }
                4 => {
                    let length: u32 = match input.int_in_range(0u8..=2)? {
                        0 => input.int_in_range(0..=(record.total_bytes + 64) as u32)?,
                        1 => (wal::format::RECORD_BYTES_MAX as u32).saturating_add(input.arbitrary::<u8>()?.into()),
                        _ => input.arbitrary()?,
                    };
                    put(bytes, offset, &length.to_le_bytes());
                }
                _ => {
                    // A batch's operation count, or one operation's length.
                    let at = offset + RECORD_HEADER_BYTES + 4 * input.int_in_range(0..=2usize)?;
                    let value: u32 = if input.arbitrary()? { input.int_in_range(0..=8)? } else { input.arbitrary()? };
                    if at + 4 <= offset + record.total_bytes {
                        put(bytes, at, &value.to_le_bytes());
                    }
                }
            }
            if let Some(lsn) = recompute_record(bytes, offset, segment.salt) {
                damage.forge(lsn.min(record.lsn));
                damage.touch((index, offset));
            }
        }
        14 => {
            // A forged segment header: first LSN, version, salt or magic, with the header CRC recomputed.
            match input.int_in_range(0u8..=3)? {
                0 => {
                    let delta: i8 = input.arbitrary()?;
                    let first_lsn = u64_at(bytes, 12).saturating_add_signed(i64::from(delta));
                    put(bytes, 12, &first_lsn.to_le_bytes());
                }
                1 => put(bytes, 8, &input.int_in_range(0u32..=3)?.to_le_bytes()),
                2 => {
                    // Another segment's salt, or any.
                    let salt = if input.arbitrary()? {
                        pristine[input.choose_index(pristine.len())?].salt
                    } else {
                        input.arbitrary()?
                    };
                    put(bytes, 20, &salt.to_le_bytes());
                }
                _ => put(bytes, input.int_in_range(0..=7usize)?, &[input.arbitrary()?]),
            }
            recompute_segment_header(bytes);
            let first_lsn = u64_at(bytes, 12);
            damage.forge(first_lsn.min(segment.records.first().map_or(u64::MAX, |record| record.lsn)));
            damage.touch((index, 0));
        }
        _ => {
            // Recompute the CRCs of whatever lies at an offset (after other damage), with this segment's salt.
            if bytes.len() >= SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES {
                let offset = SEGMENT_HEADER_BYTES
                    + input.int_in_range(0..=bytes.len() - SEGMENT_HEADER_BYTES - RECORD_HEADER_BYTES)?;
                let salt = u64_at(bytes, 20);
                if let Some(lsn) = recompute_record(bytes, offset, salt) {
                    let containing = segment
                        .records
                        .iter()
                        .rev()
                        .find(|record| record.offset <= offset)
                        .map_or(u64::MAX, |record| record.lsn);
                    damage.forge(lsn.min(containing));
                    damage.touch((index, offset));
                }
            }
        }
    }
    Ok(())
}

fn load(image: &Image) -> MemoryBackend {
    let backend = MemoryBackend::new();
    for (key, value) in image {
        backend.atomic_write(&Key::new(key.as_str()).expect("image keys are valid"), value).expect("load");
    }
    backend
}

/// Replays the whole log; an error after a successful open is a broken invariant.
fn replay_all(log: &Wal<MemoryBackend>) -> Vec<Replayed> {
    let mut entries = Vec::new();
    let mut expected = log.first_lsn().get();
    for entry in log.replay(log.first_lsn()).expect("replay starts after a successful open") {
        let entry = entry.unwrap_or_else(|error| panic!("replay failed after a successful open: {error}"));
        assert_eq!(entry.lsn().get(), expected, "replayed LSNs are contiguous from first_lsn");
        let operations: Vec<Vec<u8>> = entry.operations().map(|(_, operation)| operation.to_vec()).collect();
        assert_eq!(operations.len() as u64, entry.lsn_range().count(), "an entry yields its whole range");
        expected += operations.len() as u64;
        entries.push(Replayed { lsn: entry.lsn().get(), batch: entry.is_batch(), operations });
    }
    assert_eq!(expected, log.next_lsn().get(), "replay ends at next_lsn");
    let report = log.recovery_report();
    assert_eq!(report.next_lsn, log.next_lsn(), "the report's next LSN");
    entries
}

struct Opened {
    entries: Vec<Replayed>,
    first_lsn: u64,
    salvaged: bool,
    torn_tail: bool,
    rewritten: bool,
}

fn open(image: &Image, options: &WalOptions, mode: RecoveryMode) -> (MemoryBackend, Result<Opened, WalError>) {
    let backend = load(image);
    let options = WalOptions { recovery_mode: mode, ..options.clone() };
    let result = Wal::open(backend.clone(), options).map(|log| {
        let opened = Opened {
            entries: replay_all(&log),
            first_lsn: log.first_lsn().get(),
            salvaged: log.recovery_report().salvage.is_some(),
            torn_tail: log.recovery_report().torn_tail.is_some(),
            rewritten: log.recovery_report().unproven_bytes_rewritten > 0,
        };
        log.close().expect("close a memory log");
        opened
    });
    (backend, result)
}

/// The checks every successful open must pass.
fn check_opened(
    opened: &Opened,
    written: &BTreeMap<u64, Written>,
    pristine: &[SegmentPlace],
    damage: &Damage,
    built_first_lsn: u64,
) {
    for entry in &opened.entries {
        if entry.lsn >= damage.forged_from {
            continue;
        }
        let Some(record) = written.get(&entry.lsn) else {
            panic!("replayed a record at LSN {} that was never written", entry.lsn)
        };
        assert!(
            record.batch == entry.batch && record.operations == entry.operations,
            "the record at LSN {} differs from the one written",
            entry.lsn
        );
    }
    if !damage.keys_changed {
        assert_eq!(opened.first_lsn, built_first_lsn, "the log starts where it was built");
    }
    // Every record wholly before the first damage survives.
    let first_damage = damage.first.unwrap_or((usize::MAX, 0));
    if !damage.keys_changed {
        for (index, segment) in pristine.iter().enumerate() {
            for record in &segment.records {
                let before = (index, record.offset + record.total_bytes) <= first_damage;
                if before && record.record_type != 3 {
                    assert!(
                        opened.entries.iter().any(|entry| entry.lsn == record.lsn),
                        "the record at LSN {} lies before the first damage {first_damage:?} and was lost",
                        record.lsn
                    );
                }
            }
        }
    }
}

/// After a successful open: the image left behind reopens (strict) to the same entries, takes an append, and
/// replays it after them.
fn check_appendable(backend: &MemoryBackend, options: &WalOptions, opened: &Opened) {
    let strict = WalOptions { recovery_mode: RecoveryMode::Strict, ..options.clone() };
    let log = Wal::open(backend.clone(), strict.clone())
        .unwrap_or_else(|error| panic!("a log that opened once does not reopen: {error}"));
    assert_eq!(replay_all(&log), opened.entries, "a reopened log replays the same entries");
    let lsn = log.append(b"fuzz: appended after recovery").expect("append after recovery");
    log.close().expect("close a memory log");
    let log = Wal::open(backend.clone(), strict).unwrap_or_else(|error| panic!("reopen after an append: {error}"));
    let entries = replay_all(&log);
    let (last, earlier) = entries.split_last().expect("the append is there");
    assert_eq!(earlier, opened.entries.as_slice(), "the entries before the append are unchanged");
    assert_eq!((last.lsn, last.operations.as_slice()), (lsn.get(), &[b"fuzz: appended after recovery".to_vec()][..]));
}

/// Runs one input (see the module docs). `None`: too short to build a log.
pub fn run(data: &[u8]) -> Option<String> {
    if data.len() < 4 {
        return None;
    }
    let mut input = Unstructured::new(data);
    let (options, mut image, written) = build(&mut input).ok()??;
    let pristine: Vec<SegmentPlace> = image.iter().map(|(key, bytes)| parse_segment(key, bytes)).collect();
    let built_first_lsn = image.values().next().map_or(1, |bytes| u64_at(bytes, 12));
    let mut damage = Damage { first: None, forged_from: u64::MAX, keys_changed: false };
    let mutation_count = input.int_in_range(0..=MUTATIONS_MAX).unwrap_or(0);
    for _ in 0..mutation_count {
        if mutate(&mut input, &mut image, &pristine, &mut damage).is_err() {
            break;
        }
    }

    let (strict_backend, strict) = open(&image, &options, RecoveryMode::Strict);
    let (salvage_backend, salvage) = open(&image, &options, RecoveryMode::SalvagePrefix);
    let salvage = salvage.unwrap_or_else(|error| panic!("a salvaging open failed: {error}"));
    check_opened(&salvage, &written, &pristine, &damage, built_first_lsn);
    check_appendable(&salvage_backend, &options, &salvage);
    let label = match strict {
        Ok(strict) => {
            check_opened(&strict, &written, &pristine, &damage, built_first_lsn);
            if damage.first.is_none() && !damage.keys_changed {
                let expected: Vec<Replayed> = written
                    .range(built_first_lsn..)
                    .map(|(lsn, record)| Replayed {
                        lsn: *lsn,
                        batch: record.batch,
                        operations: record.operations.clone(),
                    })
                    .collect();
                assert_eq!(strict.entries, expected, "an undamaged log replays exactly what was written");
            }
            assert!(!salvage.salvaged, "salvage found damage that strict accepted");
            assert_eq!(salvage.entries, strict.entries, "strict and salvage disagree on an acceptable log");
            check_appendable(&strict_backend, &options, &strict);
            let damaged = if damage.first.is_none() { "undamaged" } else { "damaged" };
            let torn = if strict.torn_tail { ", torn tail cut" } else { "" };
            let rewritten = if strict.rewritten { ", unproven tail rewritten" } else { "" };
            format!("strict ok, {damaged}{torn}{rewritten}")
        }
        Err(WalError::Corrupted { segment, offset, reason }) => {
            assert!(damage.first.is_some() || damage.keys_changed, "an undamaged log is corrupted: {reason}");
            assert!(salvage.salvaged, "strict found corruption ({reason}) but salvage dropped nothing");
            if let (false, Some(first)) = (damage.keys_changed, damage.first) {
                let index = pristine.iter().position(|place| place.key == segment);
                if let Some(index) = index {
                    // The bad record may start before the first damaged byte (damage inside its payload).
                    let start = pristine[first.0]
                        .records
                        .iter()
                        .rev()
                        .find(|record| record.offset <= first.1)
                        .map_or(0, |record| record.offset);
                    assert!(
                        (index, offset as usize) >= (first.0, start.min(first.1)),
                        "corruption ({reason}) reported at {segment}:{offset}, before the first damage {first:?}"
                    );
                }
            }
            format!("strict corrupted: {}", reason_name(&reason))
        }
        Err(other) => panic!("a strict open failed with an untyped error: {other}"),
    };
    Some(label)
}

fn reason_name(reason: &wal::CorruptionReason) -> String {
    let text = format!("{reason:?}");
    let name: String = text.chars().take_while(|character| character.is_alphanumeric()).collect();
    if let wal::CorruptionReason::DamageInClosedSegment { damage }
    | wal::CorruptionReason::AcknowledgedRecordDamaged { damage, .. } = reason
    {
        format!("{name}({})", reason_name(damage))
    } else {
        name
    }
}
