//! Property tests: whatever truncations and bit flips hit the stored log, opening and replaying never panic and
//! never yield a record that was not written. Strict mode answers a prefix of the written records or
//! `Corrupted`; salvage mode always opens, with a prefix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use proptest::prelude::*;
use storage_core::{Key, StorageBackend};
use storage_mem::MemoryBackend;
use wal::{Lsn, RecoveryMode, Wal, WalError, WalOptions, format};

fn options(mode: RecoveryMode) -> WalOptions {
    WalOptions { segment_bytes_max: 400, recovery_mode: mode, salt_seed: Some(17), ..WalOptions::default() }
}

/// Operations written, in LSN order (a batch's operations consecutively).
fn written() -> Vec<Vec<u8>> {
    (0..40u32).map(|index| format!("record {index} {}", "x".repeat((index as usize * 7) % 50)).into_bytes()).collect()
}

/// A log of the written operations (singles and batches of three), closed cleanly or abandoned.
fn build_log(close: bool) -> MemoryBackend {
    let backend = MemoryBackend::new();
    let wal = Wal::open(backend.clone(), options(RecoveryMode::Strict)).unwrap();
    let operations = written();
    let mut index = 0;
    while index < operations.len() {
        if index % 9 == 3 && index + 3 <= operations.len() {
            let batch: Vec<&[u8]> = operations[index..index + 3].iter().map(Vec::as_slice).collect();
            wal.append_batch(&batch).unwrap();
            index += 3;
        } else {
            wal.append(&operations[index]).unwrap();
            index += 1;
        }
    }
    if close {
        wal.close().unwrap();
    } else {
        std::mem::forget(wal); // no close, no drop: what a killed process leaves
    }
    backend
}

#[derive(Clone, Debug)]
enum Damage {
    /// Cut a segment (chosen by index, modulo the count) to a fraction (per mille) of its length.
    Truncate { segment: usize, per_mille: u64 },
    /// Flip one bit of a segment.
    Flip { segment: usize, position: u64, bit: u8 },
    /// Append arbitrary bytes to a segment.
    Garbage { segment: usize, bytes: Vec<u8> },
}

fn damage_strategy() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (0..16usize, 0..1000u64).prop_map(|(segment, per_mille)| Damage::Truncate { segment, per_mille }),
        (0..16usize, any::<u64>(), 0..8u8).prop_map(|(segment, position, bit)| Damage::Flip { segment, position, bit }),
        (0..16usize, proptest::collection::vec(any::<u8>(), 1..200))
            .prop_map(|(segment, bytes)| Damage::Garbage { segment, bytes }),
    ]
}

fn apply(backend: &MemoryBackend, damage: &Damage) {
    let keys: Vec<Key> = backend.list("wal/").unwrap();
    let pick = |segment: usize| keys[segment % keys.len()].clone();
    match damage {
        Damage::Truncate { segment, per_mille } => {
            let key = pick(*segment);
            let length = backend.len(&key).unwrap().unwrap();
            backend.truncate(&key, length * per_mille / 1000).unwrap();
        }
        Damage::Flip { segment, position, bit } => {
            let key = pick(*segment);
            let mut bytes = backend.read(&key).unwrap().unwrap();
            if !bytes.is_empty() {
                let index = (*position % bytes.len() as u64) as usize;
                bytes[index] ^= 1 << bit;
                backend.atomic_write(&key, &bytes).unwrap();
            }
        }
        Damage::Garbage { segment, bytes } => backend.append(&pick(*segment), bytes).unwrap(),
    }
}

/// Opens and replays; checks that whatever comes back is a prefix of what was written, batches whole.
fn check_prefix(backend: MemoryBackend, mode: RecoveryMode) -> Result<usize, WalError> {
    let wal = Wal::open(backend, options(mode))?;
    let expected = written();
    let mut count = 0usize;
    for entry in wal.replay(Lsn(1)).unwrap() {
        let entry = entry.expect("a log that opened replays without error");
        for (lsn, operation) in entry.operations() {
            assert_eq!(lsn.get() as usize, count + 1, "LSNs are contiguous from 1");
            assert_eq!(operation, &expected[count][..], "operation {lsn} is what was written");
            count += 1;
        }
    }
    // The log accepts appends after whatever recovery decided.
    assert_eq!(wal.append(b"after").unwrap().get() as usize, count + 1);
    Ok(count)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn damaged_logs_open_to_a_written_prefix_or_a_typed_error(
        close in any::<bool>(),
        damages in proptest::collection::vec(damage_strategy(), 1..4),
    ) {
        let backend = build_log(close);
        for damage in &damages {
            apply(&backend, damage);
        }
        match check_prefix(backend.clone(), RecoveryMode::Strict) {
            Ok(_) | Err(WalError::Corrupted { .. }) => {}
            Err(other) => prop_assert!(false, "strict open failed with {other:?}"),
        }
    }

    #[test]
    fn salvage_always_opens_to_a_written_prefix(
        close in any::<bool>(),
        damages in proptest::collection::vec(damage_strategy(), 1..4),
    ) {
        let backend = build_log(close);
        for damage in &damages {
            apply(&backend, damage);
        }
        let salvaged = check_prefix(backend, RecoveryMode::SalvagePrefix);
        prop_assert!(salvaged.is_ok(), "{salvaged:?}");
    }

    #[test]
    fn a_torn_tail_alone_never_loses_a_record_before_it(cut in 0..1000u64, close in any::<bool>()) {
        // Truncating only the last segment is what a crash does: strict mode must open, never Corrupted.
        let backend = build_log(close);
        let last = backend.list("wal/").unwrap().pop().unwrap();
        let length = backend.len(&last).unwrap().unwrap();
        let kept = (format::SEGMENT_HEADER_BYTES as u64).max(length * cut / 1000);
        backend.truncate(&last, kept).unwrap();
        let recovered = check_prefix(backend, RecoveryMode::Strict);
        prop_assert!(recovered.is_ok(), "{recovered:?}");
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_yield_a_record(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let backend = MemoryBackend::new();
        Wal::open(backend.clone(), options(RecoveryMode::Strict)).unwrap().close().unwrap();
        let key = backend.list("wal/").unwrap().pop().unwrap();
        let header = backend.read_range(&key, 0, format::SEGMENT_HEADER_BYTES as u64).unwrap();
        backend.atomic_write(&key, &[header, bytes].concat()).unwrap();
        for mode in [RecoveryMode::Strict, RecoveryMode::SalvagePrefix] {
            let wal = Wal::open(backend.clone(), options(mode));
            if let Ok(wal) = wal {
                prop_assert_eq!(wal.replay(Lsn(1)).unwrap().count(), 0);
            }
        }
    }
}
