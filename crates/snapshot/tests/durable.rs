//! The durable state machine: commit protocol, checkpoints, recovery, fallback, typed errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use snapshot::testing::{VectorOperation, VectorState};
use snapshot::{CheckpointPolicy, Durable, DurableOptions, SnapshotError, StateMachine, snapshot_key};
use storage_core::StorageBackend;
use storage_mem::{Fault, FaultError, MemoryBackend, SimulatedDisk};
use wal::WalOptions;

const DIMENSION: u32 = 4;

fn vector(id: u64, salt: u64) -> Vec<f32> {
    (0..DIMENSION).map(|d| (id * 7 + salt * 13 + u64::from(d)) as f32).collect()
}

fn upsert(id: u64, salt: u64) -> VectorOperation {
    VectorOperation::Upsert { id, vector: vector(id, salt) }
}

fn options() -> DurableOptions {
    DurableOptions {
        wal: WalOptions { segment_bytes_max: 4096, salt_seed: Some(7), ..WalOptions::default() },
        checkpoint: CheckpointPolicy { operations_max: None, log_bytes_max: None },
        ..DurableOptions::default()
    }
}

fn open<B: StorageBackend>(backend: B) -> Result<Durable<VectorState, B>, SnapshotError> {
    Durable::open(backend, || VectorState::new(DIMENSION), options())
}

fn model(operations: &[VectorOperation]) -> VectorState {
    let mut state = VectorState::new(DIMENSION);
    for operation in operations {
        state.apply(operation.clone());
    }
    state
}

#[test]
fn writes_survive_a_reopen_and_recovery_reports_what_it_replayed() {
    let backend = MemoryBackend::new();
    let durable = open(backend.clone()).unwrap();
    let mut issued = Vec::new();
    for id in 0..20 {
        durable.execute(upsert(id, 0)).unwrap();
        issued.push(upsert(id, 0));
    }
    durable.execute(VectorOperation::Delete { id: 3 }).unwrap();
    issued.push(VectorOperation::Delete { id: 3 });
    let batch = vec![upsert(100, 1), upsert(101, 1), VectorOperation::Delete { id: 4 }];
    let range = durable.execute_batch(batch.clone()).unwrap();
    assert_eq!(range.count(), 3);
    issued.extend(batch);
    assert_eq!(*durable.read(), model(&issued));
    drop(durable);

    let reopened = open(backend.clone()).unwrap();
    assert_eq!(*reopened.read(), model(&issued));
    let report = reopened.recovery_report();
    assert_eq!(report.snapshot_lsn, None);
    assert_eq!(report.operations_replayed, issued.len() as u64);
    assert_eq!(report.entries_replayed, 22, "21 single records and one batch record");
    assert_eq!(report.last_lsn, 24);
    assert_eq!(report.state_digest, snapshot::Snapshot::digest(&model(&issued)));
    // Recovery keeps logging: new writes after a recovery survive the next one.
    reopened.execute(upsert(500, 2)).unwrap();
    issued.push(upsert(500, 2));
    drop(reopened);
    assert_eq!(*open(backend).unwrap().read(), model(&issued));
}

#[test]
fn a_checkpoint_starts_recovery_from_the_snapshot_and_replays_only_the_tail() {
    let backend = MemoryBackend::new();
    let durable = open(backend.clone()).unwrap();
    let mut issued = Vec::new();
    for id in 0..50 {
        durable.execute(upsert(id, 0)).unwrap();
        issued.push(upsert(id, 0));
    }
    let checkpoint = durable.checkpoint().unwrap();
    assert_eq!(checkpoint.lsn, 50);
    for id in 50..60 {
        durable.execute(upsert(id, 0)).unwrap();
        issued.push(upsert(id, 0));
    }
    drop(durable);
    let reopened = open(backend).unwrap();
    let report = reopened.recovery_report();
    assert_eq!(report.snapshot_lsn, Some(50));
    assert_eq!(report.operations_replayed, 10);
    assert_eq!(*reopened.read(), model(&issued));
}

/// Sums the bytes of every log segment.
fn log_bytes(backend: &MemoryBackend) -> u64 {
    backend.list("wal/").unwrap().iter().map(|key| backend.len(key).unwrap().unwrap_or(0)).sum()
}

#[test]
fn a_checkpoint_compacts_the_log_by_more_than_ninety_percent() {
    let backend = MemoryBackend::new();
    let durable = open(backend.clone()).unwrap();
    // Retention 2 (the default) keeps the log from the older of the two newest snapshots, so a fallback can
    // replay forward: the second checkpoint can drop nothing, the third drops the first round's tail.
    for round in 0..3 {
        for id in 0..2_000 {
            durable.execute(upsert(id, round)).unwrap();
        }
        let before = log_bytes(&backend);
        durable.checkpoint().unwrap();
        let after = log_bytes(&backend);
        let compaction = 1.0 - after as f64 / before as f64;
        println!("round {round}: log {before} bytes before the checkpoint, {after} after: compacted {compaction:.3}");
        match round {
            0 => assert!(compaction >= 0.90, "the first checkpoint drops the whole log before it"),
            1 => assert!(after >= before, "the log after the older retained snapshot stays"),
            _ => assert!(compaction >= 0.45, "the third checkpoint drops the log below the second snapshot"),
        }
    }
    // Retention 1 keeps the log only after the newest snapshot: over 90% of it goes.
    let backend = MemoryBackend::new();
    let mut single = options();
    single.snapshot.retain_count = 1;
    let durable: Durable<VectorState, _> =
        Durable::open(backend.clone(), || VectorState::new(DIMENSION), single).unwrap();
    for id in 0..10_000 {
        durable.execute(upsert(id % 1000, id)).unwrap();
    }
    let before = log_bytes(&backend);
    durable.checkpoint().unwrap();
    let after = log_bytes(&backend);
    let compaction = 1.0 - after as f64 / before as f64;
    println!("retain 1: log {before} bytes before, {after} after: compacted by {:.1}%", compaction * 100.0);
    assert!(compaction >= 0.90, "compacted by {compaction}");
    drop(durable);
    let reopened = open(backend).unwrap();
    assert!(reopened.recovery_report().operations_replayed < 100, "{:?}", reopened.recovery_report());
}

#[test]
fn a_corrupt_newest_snapshot_falls_back_and_the_log_still_replays_from_the_older_one() {
    let backend = MemoryBackend::new();
    let durable = open(backend.clone()).unwrap();
    let mut issued = Vec::new();
    for id in 0..30 {
        durable.execute(upsert(id, 0)).unwrap();
        issued.push(upsert(id, 0));
    }
    assert_eq!(durable.checkpoint().unwrap().lsn, 30);
    for id in 30..60 {
        durable.execute(upsert(id, 0)).unwrap();
        issued.push(upsert(id, 0));
    }
    assert_eq!(durable.checkpoint().unwrap().lsn, 60);
    for id in 60..70 {
        durable.execute(upsert(id, 0)).unwrap();
        issued.push(upsert(id, 0));
    }
    drop(durable);
    for (name, corrupt) in [
        ("bit flip", Box::new(|bytes: &mut Vec<u8>| bytes[300] ^= 0x40) as Box<dyn Fn(&mut Vec<u8>)>),
        ("truncation", Box::new(|bytes: &mut Vec<u8>| bytes.truncate(bytes.len() - 5))),
    ] {
        let copy = MemoryBackend::new();
        for key in backend.list("").unwrap() {
            copy.atomic_write(&key, &backend.read(&key).unwrap().unwrap()).unwrap();
        }
        let key = snapshot_key(60).unwrap();
        let mut bytes = copy.read(&key).unwrap().unwrap();
        corrupt(&mut bytes);
        copy.atomic_write(&key, &bytes).unwrap();
        let reopened = open(copy).unwrap();
        let report = reopened.recovery_report();
        assert!(report.fell_back(), "{name}");
        assert_eq!(report.snapshot_lsn, Some(30), "{name}");
        assert_eq!(report.operations_replayed, 40, "{name}: the log from the older snapshot on is still there");
        assert_eq!(*reopened.read(), model(&issued), "{name}: nothing lost");
    }
}

#[test]
fn every_snapshot_corrupt_with_the_log_truncated_is_a_typed_error() {
    let backend = MemoryBackend::new();
    let mut retain_one = options();
    retain_one.snapshot.retain_count = 1;
    let durable: Durable<VectorState, _> =
        Durable::open(backend.clone(), || VectorState::new(DIMENSION), retain_one.clone()).unwrap();
    for id in 0..3_000 {
        durable.execute(upsert(id, 0)).unwrap();
    }
    let lsn = durable.checkpoint().unwrap().lsn;
    drop(durable);
    let key = snapshot_key(lsn).unwrap();
    let mut bytes = backend.read(&key).unwrap().unwrap();
    bytes[100] ^= 1;
    backend.atomic_write(&key, &bytes).unwrap();
    let error = Durable::open(backend.clone(), || VectorState::new(DIMENSION), retain_one.clone()).err().unwrap();
    assert!(matches!(error, SnapshotError::AllCorrupt { .. }), "{error}");
    // And with the snapshot gone altogether, the truncated log is a gap, not an empty database.
    backend.delete(&key).unwrap();
    let error = Durable::open(backend, || VectorState::new(DIMENSION), retain_one).err().unwrap();
    assert!(matches!(error, SnapshotError::LogGap { snapshot_lsn: None, needed_lsn: 1, .. }), "{error}");
}

#[test]
fn a_failed_log_write_leaves_the_state_unchanged_poisons_and_a_reopen_recovers() {
    let disk = SimulatedDisk::new();
    let durable = open(disk.clone()).unwrap();
    durable.execute(upsert(1, 0)).unwrap();
    let before = durable.read().clone();
    disk.inject(Fault::once(disk.operation_count(), FaultError::Eio).from_then_on());
    assert!(durable.execute(upsert(2, 0)).is_err());
    assert_eq!(*durable.read(), before, "rolled back: the failed operation is not applied");
    assert!(matches!(durable.execute(upsert(3, 0)), Err(SnapshotError::Poisoned { .. })));
    assert!(matches!(durable.checkpoint(), Err(SnapshotError::Poisoned { .. })));
    drop(durable);
    let reopened = open(disk.reopen()).unwrap();
    assert!(reopened.read().vectors.contains_key(&1));
    assert!(!reopened.read().vectors.contains_key(&3));
    reopened.execute(upsert(4, 0)).unwrap();
}

#[test]
fn concurrent_writers_all_land_in_log_order() {
    let backend = MemoryBackend::new();
    let durable = Arc::new(open(backend.clone()).unwrap());
    let threads: Vec<_> = (0..8u64)
        .map(|thread| {
            let durable = Arc::clone(&durable);
            std::thread::spawn(move || {
                for index in 0..100u64 {
                    let id = thread * 1000 + index;
                    let lsn = durable.execute(upsert(id, thread)).unwrap();
                    assert!(durable.applied_lsn() >= lsn.get(), "acknowledged means applied");
                    assert!(durable.read().vectors.contains_key(&id), "a writer reads its own write");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(durable.read().vectors.len(), 800);
    let expected = durable.read().clone();
    drop(durable);
    assert_eq!(*open(backend).unwrap().read(), expected);
}

/// A workload mixing writes, batches, checkpoints (with retention) and deletes. Returns the operations in the
/// order issued, and how many of them were acknowledged (acknowledgements come in order: one thread).
fn workload(durable: &Durable<VectorState, SimulatedDisk>) -> (Vec<Vec<VectorOperation>>, usize) {
    let mut units: Vec<Vec<VectorOperation>> = Vec::new();
    let mut acknowledged = 0;
    let run = |unit: Vec<VectorOperation>, units: &mut Vec<Vec<VectorOperation>>| -> bool {
        units.push(unit.clone());
        let result = if unit.len() == 1 {
            durable.execute(unit.into_iter().next().unwrap()).map(|_| ())
        } else {
            durable.execute_batch(unit).map(|_| ())
        };
        result.is_ok()
    };
    let plan: Vec<Option<Vec<VectorOperation>>> = (0..6u64)
        .flat_map(|round| {
            vec![
                Some(vec![upsert(round, round)]),
                Some(vec![upsert(round + 10, round), upsert(round + 20, round), VectorOperation::Delete { id: round }]),
                Some(vec![upsert(round + 30, round)]),
                if round % 2 == 1 { None } else { Some(vec![VectorOperation::Delete { id: round + 10 }]) },
            ]
        })
        .collect();
    for (index, step) in plan.into_iter().enumerate() {
        match step {
            Some(unit) => {
                if !run(unit, &mut units) {
                    return (units, acknowledged);
                }
                acknowledged = units.len();
            }
            None => {
                if durable.checkpoint().is_err() {
                    return (units, acknowledged);
                }
            }
        }
        if index == 9 && durable.checkpoint().is_err() {
            return (units, acknowledged);
        }
    }
    (units, acknowledged)
}

#[test]
fn a_crash_at_every_io_point_recovers_a_prefix_with_every_acknowledged_operation() {
    let probe = SimulatedDisk::new();
    let durable = open(probe.clone()).unwrap();
    let start = probe.operation_count();
    let (units, acknowledged) = workload(&durable);
    assert_eq!(acknowledged, units.len());
    let points = probe.operation_count() - start;
    drop(durable);
    let prefixes: Vec<VectorState> = (0..=units.len()).map(|count| model(&units[..count].concat())).collect();
    let mut states_verified = 0;
    for point in start..=start + points {
        let disk = SimulatedDisk::new();
        let durable = open(disk.clone()).unwrap();
        disk.halt_at(point);
        let (issued, acknowledged) = workload(&durable);
        drop(durable);
        for seed in 0..4 {
            let crashed = disk.crash(seed);
            let recovered = open(crashed.clone()).unwrap_or_else(|error| panic!("point {point} seed {seed}: {error}"));
            let state = recovered.read().clone();
            let matching = (acknowledged..=issued.len()).find(|&count| prefixes[count] == state);
            assert!(
                matching.is_some(),
                "point {point} seed {seed}: the recovered state ({} vectors) is not a prefix of {} issued units \
                 containing the {acknowledged} acknowledged",
                state.vectors.len(),
                issued.len()
            );
            assert_eq!(recovered.recovery_report().state_digest, snapshot::Snapshot::digest(&state));
            // Recovery is idempotent: recovering the recovered disk again gives the same state.
            drop(recovered);
            assert_eq!(*open(crashed.reopen()).unwrap().read(), state, "point {point} seed {seed}: second recovery");
            states_verified += 1;
        }
    }
    println!("{points} I/O points, {states_verified} crash states verified");
    assert!(points > 50, "the workload covers many I/O points ({points})");
}

#[test]
fn a_crash_during_recovery_then_recovering_again_gives_the_same_state() {
    // A torn tail for recovery to truncate, so recovery itself does I/O.
    let disk = SimulatedDisk::new();
    let durable = open(disk.clone()).unwrap();
    for id in 0..10 {
        durable.execute(upsert(id, 0)).unwrap();
    }
    durable.checkpoint().unwrap();
    for id in 10..14 {
        durable.execute(upsert(id, 0)).unwrap();
    }
    drop(durable);
    let crashed = disk.crash(3);
    let expected = open(crashed.crash_keeping_everything()).unwrap().read().clone();
    let probe = crashed.crash_keeping_everything();
    let start = probe.operation_count();
    drop(open(probe.clone()).unwrap());
    for point in start..probe.operation_count() {
        let attempt = crashed.crash_keeping_everything();
        attempt.halt_at(point);
        let _ = open(attempt.clone());
        for seed in 0..4 {
            let state = open(attempt.crash(seed)).unwrap().read().clone();
            assert_eq!(state, expected, "a crash at recovery point {point}, seed {seed}");
        }
    }
}

#[test]
fn with_one_snapshot_retained_the_log_after_a_checkpoint_holds_only_records_after_it() {
    let backend = MemoryBackend::new();
    let mut retain_one = options();
    retain_one.snapshot.retain_count = 1;
    let durable: Durable<VectorState, _> =
        Durable::open(backend.clone(), || VectorState::new(DIMENSION), retain_one).unwrap();
    for id in 0..500 {
        durable.execute(upsert(id, 0)).unwrap();
    }
    let checkpoint = durable.checkpoint().unwrap();
    assert!(checkpoint.segments_deleted > 0);
    assert_eq!(durable.wal().first_lsn().get(), checkpoint.lsn + 1, "no record at or below the snapshot remains");
    assert_eq!(durable.wal().segment_count(), 1);
}

#[test]
fn recovery_reports_the_temp_files_of_an_interrupted_snapshot_save() {
    let setup = || {
        let disk = SimulatedDisk::new();
        let durable = open(disk.clone()).unwrap();
        for id in 0..20 {
            durable.execute(upsert(id, 0)).unwrap();
        }
        (disk, durable)
    };
    let (probe, probe_durable) = setup();
    let start = probe.operation_count();
    probe_durable.checkpoint().unwrap();
    let end = probe.operation_count();
    let mut reported = 0;
    for point in start..end {
        let (disk, durable) = setup();
        disk.halt_at(point);
        assert!(durable.checkpoint().is_err());
        drop(durable);
        let recovered = open(disk.crash_keeping_everything()).unwrap();
        let orphans = &recovered.recovery_report().orphans_removed;
        assert!(orphans.iter().all(|name| name.starts_with(".tmp-")), "point {point}: {orphans:?}");
        reported += usize::from(!orphans.is_empty());
        assert_eq!(recovered.read().vectors.len(), 20, "point {point}: nothing lost");
    }
    assert!(reported > 0, "a power cut between the temp file's creation and its rename leaves an orphan to report");
}

#[test]
fn checkpoints_happen_by_themselves_by_operation_count_and_by_logged_bytes() {
    let backend = MemoryBackend::new();
    let mut by_count = options();
    by_count.checkpoint = CheckpointPolicy { operations_max: Some(10), log_bytes_max: None };
    let durable: Durable<VectorState, _> =
        Durable::open(backend.clone(), || VectorState::new(DIMENSION), by_count).unwrap();
    for id in 0..25 {
        durable.execute(upsert(id, 0)).unwrap();
    }
    let lsns: Vec<u64> = durable.snapshots().list().unwrap().into_iter().map(|(lsn, _)| lsn).collect();
    assert_eq!(lsns, [10, 20], "one checkpoint every 10 operations, two retained");

    let backend = MemoryBackend::new();
    let mut by_bytes = options();
    // An upsert of a 4-float vector encodes to 1 + 8 + 16 = 25 bytes: 100 bytes is every 4th operation.
    by_bytes.checkpoint = CheckpointPolicy { operations_max: None, log_bytes_max: Some(100) };
    let durable: Durable<VectorState, _> =
        Durable::open(backend.clone(), || VectorState::new(DIMENSION), by_bytes).unwrap();
    for id in 0..9 {
        durable.execute(upsert(id, 0)).unwrap();
    }
    let lsns: Vec<u64> = durable.snapshots().list().unwrap().into_iter().map(|(lsn, _)| lsn).collect();
    assert_eq!(lsns, [4, 8]);
}
