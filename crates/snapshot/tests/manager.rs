//! SnapshotManager: save, retention, fallback, typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use snapshot::testing::VectorState;
use snapshot::{SnapshotError, SnapshotManager, SnapshotOptions, snapshot_key};
use storage_core::StorageBackend;
use storage_mem::MemoryBackend;

fn state_with(count: u64, dimension: u32) -> VectorState {
    let mut state = VectorState::new(dimension);
    for id in 0..count {
        state.vectors.insert(id * 3, (0..dimension).map(|d| (id * 31 + u64::from(d)) as f32 * 0.25).collect());
    }
    state
}

fn manager(backend: &MemoryBackend) -> SnapshotManager<MemoryBackend> {
    SnapshotManager::new(backend.clone(), SnapshotOptions::default()).unwrap()
}

#[test]
fn save_then_load_latest_round_trips_state_lsn_and_digest() {
    let backend = MemoryBackend::new();
    let manager = manager(&backend);
    assert!(manager.load_latest::<VectorState>().unwrap().is_none(), "an empty store has no snapshot");
    let state = state_with(100, 8);
    let saved = manager.save(&state, 55).unwrap();
    assert_eq!(saved.key.as_str(), "snapshot/00000000000000000055");
    let loaded = manager.load_latest::<VectorState>().unwrap().unwrap();
    assert_eq!(loaded.state, state);
    assert_eq!(loaded.lsn, 55);
    assert_eq!(loaded.digest, snapshot::Snapshot::digest(&state));
    assert!(loaded.skipped.is_empty());
    assert_eq!(loaded.size_bytes, saved.size_bytes);
}

#[test]
fn retention_keeps_the_newest_snapshots_only() {
    let backend = MemoryBackend::new();
    let manager = SnapshotManager::new(backend.clone(), SnapshotOptions { retain_count: 3 }).unwrap();
    for lsn in 1..=6 {
        manager.save(&state_with(lsn, 2), lsn * 10).unwrap();
    }
    let lsns: Vec<u64> = manager.list().unwrap().into_iter().map(|(lsn, _)| lsn).collect();
    assert_eq!(lsns, [40, 50, 60]);
    assert!(matches!(
        SnapshotManager::new(backend.clone(), SnapshotOptions { retain_count: 0 }),
        Err(SnapshotError::InvalidOption { .. })
    ));
    assert!(
        SnapshotManager::new(backend.clone(), SnapshotOptions { retain_count: snapshot::RETAIN_COUNT_MAX }).is_ok()
    );
    assert!(matches!(
        SnapshotManager::new(backend, SnapshotOptions { retain_count: snapshot::RETAIN_COUNT_MAX + 1 }),
        Err(SnapshotError::InvalidOption { .. })
    ));
}

fn corrupt(backend: &MemoryBackend, lsn: u64, mutate: impl FnOnce(&mut Vec<u8>)) {
    let key = snapshot_key(lsn).unwrap();
    let mut bytes = backend.read(&key).unwrap().unwrap();
    mutate(&mut bytes);
    backend.atomic_write(&key, &bytes).unwrap();
}

#[test]
fn a_corrupt_newest_snapshot_falls_back_to_the_previous_one() {
    for (name, mutate) in [
        ("bit flip in a vector", Box::new(|bytes: &mut Vec<u8>| bytes[200] ^= 0x10) as Box<dyn Fn(&mut Vec<u8>)>),
        ("bit flip in the header", Box::new(|bytes: &mut Vec<u8>| bytes[17] ^= 1)),
        ("truncation", Box::new(|bytes: &mut Vec<u8>| bytes.truncate(bytes.len() / 2))),
        ("emptied", Box::new(|bytes: &mut Vec<u8>| bytes.clear())),
    ] {
        let backend = MemoryBackend::new();
        let manager = manager(&backend);
        let older = state_with(20, 4);
        manager.save(&older, 100).unwrap();
        manager.save(&state_with(30, 4), 200).unwrap();
        corrupt(&backend, 200, mutate);
        let loaded = manager.load_latest::<VectorState>().unwrap().unwrap();
        assert_eq!(loaded.lsn, 100, "{name}: falls back to the older snapshot");
        assert_eq!(loaded.state, older, "{name}");
        assert_eq!(loaded.skipped.len(), 1, "{name}: the skipped snapshot is reported");
        assert_eq!(loaded.skipped[0].lsn, 200);
    }
}

#[test]
fn every_snapshot_corrupt_is_a_typed_error_never_an_empty_state() {
    let backend = MemoryBackend::new();
    let manager = manager(&backend);
    manager.save(&state_with(5, 4), 1).unwrap();
    manager.save(&state_with(6, 4), 2).unwrap();
    corrupt(&backend, 1, |bytes| bytes[100] ^= 4);
    corrupt(&backend, 2, |bytes| bytes.truncate(10));
    match manager.load_latest::<VectorState>() {
        Err(SnapshotError::AllCorrupt { skipped }) => {
            assert_eq!(skipped.iter().map(|s| s.lsn).collect::<Vec<_>>(), [2, 1], "newest first");
        }
        other => panic!("expected AllCorrupt, got {other:?}"),
    }
}

#[test]
fn a_snapshot_whose_state_does_not_match_its_digest_is_rejected() {
    // Write a snapshot by hand whose sections are valid but whose stored digest is wrong.
    let backend = MemoryBackend::new();
    let state = state_with(3, 2);
    let mut writer = snapshot::SnapshotWriter::with_capacity(1024);
    let mut producer = Vec::new();
    snapshot::format::encode_producer("snapshot-testing-vectors", &2u32.to_le_bytes(), &mut producer).unwrap();
    writer.section(snapshot::format::PRODUCER_SECTION_TAG, &producer).unwrap();
    snapshot::Snapshot::encode_sections(&state, &mut writer).unwrap();
    let bytes = writer.finish(9, snapshot::StateDigest(12345)).unwrap();
    backend.atomic_write(&snapshot_key(9).unwrap(), &bytes).unwrap();
    let error = manager(&backend).load_latest::<VectorState>().unwrap_err();
    assert!(matches!(&error, SnapshotError::AllCorrupt { skipped } if skipped[0].reason.contains("digest mismatch")));
}

#[test]
fn a_snapshot_from_another_producer_is_rejected() {
    let backend = MemoryBackend::new();
    let mut writer = snapshot::SnapshotWriter::with_capacity(64);
    let mut producer = Vec::new();
    snapshot::format::encode_producer("someone-else", b"", &mut producer).unwrap();
    writer.section(snapshot::format::PRODUCER_SECTION_TAG, &producer).unwrap();
    let bytes = writer.finish(4, snapshot::StateDigest(0)).unwrap();
    backend.atomic_write(&snapshot_key(4).unwrap(), &bytes).unwrap();
    let error = manager(&backend).load_latest::<VectorState>().unwrap_err();
    assert!(matches!(&error, SnapshotError::AllCorrupt { skipped } if skipped[0].reason.contains("someone-else")));
}

#[test]
fn keys_under_the_prefix_that_are_not_snapshots_are_ignored() {
    let backend = MemoryBackend::new();
    backend.atomic_write(&storage_core::Key::new("snapshot/notes").unwrap(), b"x").unwrap();
    backend.atomic_write(&storage_core::Key::new("snapshot/123").unwrap(), b"x").unwrap();
    let manager = manager(&backend);
    assert!(manager.load_latest::<VectorState>().unwrap().is_none());
    manager.save(&state_with(1, 1), 3).unwrap();
    assert_eq!(manager.list().unwrap().len(), 1);
}

#[test]
fn a_state_of_dimension_zero_round_trips() {
    // Found by the snapshot_decode fuzz target: ids used to be paired with zero-length chunks and dropped.
    let backend = MemoryBackend::new();
    let mut state = VectorState::new(0);
    state.vectors.insert(7, Vec::new());
    state.vectors.insert(9, Vec::new());
    manager(&backend).save(&state, 3).unwrap();
    assert_eq!(manager(&backend).load_latest::<VectorState>().unwrap().unwrap().state, state);
}
