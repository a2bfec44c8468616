//! The simulated disk's crash, fault and counting behaviour, each test pinning one promise of the model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;

use storage_core::{Key, Operation, PersistenceError, StorageBackend};
use storage_mem::{Fault, FaultError, FaultPersistence, OperationKind, SimulatedDisk};

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

/// Bytes that differ from every other pattern used here and span several 512-byte sectors.
fn pattern(length: usize, salt: u8) -> Vec<u8> {
    (0..length).map(|index| (index as u8).wrapping_mul(31).wrapping_add(salt) | 1).collect()
}

/// The disks one failed or halted run can leave, each labelled for messages: a restart, the two deterministic
/// crashes, seeded crashes, and seeded crashes after a restart.
fn survivors(disk: &SimulatedDisk, seeds: u64) -> Vec<(String, SimulatedDisk)> {
    let mut disks = vec![
        ("reopen".to_owned(), disk.reopen()),
        ("losing everything".to_owned(), disk.crash_losing_everything_unsynced()),
        ("keeping everything".to_owned(), disk.crash_keeping_everything()),
    ];
    for seed in 0..seeds {
        disks.push((format!("crash({seed})"), disk.crash(seed)));
        disks.push((format!("reopen, crash({seed})"), disk.reopen().crash(seed)));
    }
    disks
}

fn is_io_error_with_errno(error: &PersistenceError, errno: i32) -> bool {
    matches!(error, PersistenceError::Io { source, .. } if source.raw_os_error() == Some(errno))
}

fn assert_failed_with(result: &Result<(), PersistenceError>, error: FaultError, context: &str) {
    match error {
        FaultError::Eio => assert!(
            matches!(result, Err(failed) if is_io_error_with_errno(failed, 5)),
            "{context}: expected EIO, got {result:?}"
        ),
        FaultError::Enospc => {
            assert!(
                matches!(result, Err(PersistenceError::DiskFull { .. })),
                "{context}: expected DiskFull, got {result:?}"
            )
        }
    }
}

const ATOMIC_WRITE_STEPS: [OperationKind; 5] = [
    OperationKind::Create,
    OperationKind::Write,
    OperationKind::Sync,
    OperationKind::Rename,
    OperationKind::DirectorySync,
];

#[test]
fn atomic_write_failure_preserves_data() {
    let blob = key("manifest");
    let old_value = pattern(1300, 7);
    let new_value = pattern(2100, 101);
    for old in [Some(old_value.as_slice()), None] {
        let fresh = || {
            let disk = SimulatedDisk::new();
            if let Some(old) = old {
                disk.atomic_write(&blob, old).unwrap();
            }
            // Unrelated un-synced activity, so crashes have other pending operations to keep or drop.
            disk.append(&key("other"), &pattern(700, 3)).unwrap();
            disk
        };
        let check = |disk: &SimulatedDisk, context: &str, must_be_new: bool| {
            let value = disk.read(&blob).unwrap();
            if must_be_new {
                assert!(value.as_deref() == Some(&new_value[..]), "{context}: acknowledged write lost");
            } else {
                assert!(
                    value.as_deref() == old || value.as_deref() == Some(&new_value[..]),
                    "{context}: the key holds neither the old nor the new value (length {:?})",
                    value.map(|bytes| bytes.len())
                );
            }
            assert!(disk.list("").unwrap().iter().all(|listed| !listed.as_str().starts_with('.')));
        };

        // (a) An injected error at every step, by global index and by kind.
        for (step, kind) in ATOMIC_WRITE_STEPS.into_iter().enumerate() {
            for error in [FaultError::Eio, FaultError::Enospc] {
                for by_kind in [false, true] {
                    let disk = fresh();
                    let fault = if by_kind {
                        Fault::once_of_kind(kind, disk.operation_count_of(kind), error)
                    } else {
                        Fault::once(disk.operation_count() + step as u64, error)
                    };
                    disk.inject(fault);
                    let context = format!("old {:?}, {error:?} at {kind:?} (by kind: {by_kind})", old.is_some());
                    let result = disk.atomic_write(&blob, &new_value);
                    assert_failed_with(&result, error, &context);
                    assert_eq!(disk.io_log().last().unwrap().kind, kind, "{context}: failed at the wrong step");
                    let retryable =
                        error == FaultError::Enospc && matches!(kind, OperationKind::Create | OperationKind::Write);
                    if retryable {
                        assert!(!disk.is_poisoned(), "{context}: disk full before the sync leaves nothing in doubt");
                        assert_eq!(disk.read(&blob).unwrap().as_deref(), old, "{context}: the old value reads back");
                    } else {
                        assert!(disk.is_poisoned(), "{context}: a failed atomic_write poisons");
                        assert!(matches!(disk.read(&blob), Err(PersistenceError::Poisoned { .. })), "{context}");
                    }
                    for (label, survivor) in survivors(&disk, 8) {
                        check(&survivor, &format!("{context}, {label}"), false);
                    }
                }
            }
        }

        // (b) Power loss at every I/O point, then crashes with several seeds.
        let start = fresh().operation_count();
        for point in start..=start + ATOMIC_WRITE_STEPS.len() as u64 {
            let disk = fresh();
            disk.halt_at(point);
            let result = disk.atomic_write(&blob, &new_value);
            assert_eq!(result.is_ok(), point == start + ATOMIC_WRITE_STEPS.len() as u64);
            for (label, survivor) in survivors(&disk, 12) {
                let context = format!("old {:?}, power loss at point {}, {label}", old.is_some(), point - start);
                check(&survivor, &context, result.is_ok());
            }
        }
    }
}

/// Appends the records in order, syncing after every odd-numbered one; stops at the first error. Returns the length
/// the last successful sync made durable and the length of everything `append` was asked to write.
fn run_log_workload(disk: &SimulatedDisk, log: &Key, records: &[Vec<u8>]) -> (usize, usize) {
    let (mut synced_bytes, mut attempted_bytes) = (0, 0);
    for (index, record) in records.iter().enumerate() {
        attempted_bytes += record.len();
        if disk.append(log, record).is_err() {
            break;
        }
        if index % 2 == 1 {
            if disk.sync(log).is_err() {
                break;
            }
            synced_bytes = attempted_bytes;
        }
    }
    (synced_bytes, attempted_bytes)
}

fn log_records() -> Vec<Vec<u8>> {
    [100, 700, 5, 1500, 300, 64, 513]
        .iter()
        .enumerate()
        .map(|(index, &length)| pattern(length, index as u8 * 40))
        .collect()
}

fn check_synced_prefix(
    disk: &SimulatedDisk,
    log: &Key,
    expected: &[u8],
    synced: usize,
    attempted: usize,
    context: &str,
) {
    let value = disk.read(log).unwrap();
    let Some(value) = value else {
        assert_eq!(synced, 0, "{context}: the log vanished after {synced} bytes were synced");
        return;
    };
    assert!(value.len() >= synced, "{context}: {} bytes left of {synced} synced", value.len());
    assert!(value.len() <= attempted, "{context}: {} bytes after appending {attempted}", value.len());
    assert!(value[..synced] == expected[..synced], "{context}: synced bytes changed");
}

#[test]
fn append_sync_failure_preserves_synced_prefix() {
    let log = key("wal/0001");
    let records = log_records();
    let expected: Vec<u8> = records.concat();
    let probe = SimulatedDisk::new();
    run_log_workload(&probe, &log, &records);
    let points = probe.operation_count();
    assert_eq!(points, 1 + 7 + 2 + 2); // create, 7 writes, the first sync with its directory sync, 2 more syncs

    for sector_bytes in [512, 64] {
        for point in 0..=points {
            let disk = SimulatedDisk::with_sector_bytes(sector_bytes);
            disk.halt_at(point);
            let (synced, attempted) = run_log_workload(&disk, &log, &records);
            for (label, survivor) in survivors(&disk, 6) {
                let context = format!("sector {sector_bytes}, power loss at {point}, {label}");
                check_synced_prefix(&survivor, &log, &expected, synced, attempted, &context);
            }
            // A process kill keeps every appended byte exactly.
            let kept = disk.crash_keeping_everything().read(&log).unwrap().unwrap_or_default();
            assert!(expected.starts_with(&kept), "power loss at {point}: a kept log is not a prefix");
        }
    }
    for point in 0..points {
        for error in [FaultError::Eio, FaultError::Enospc] {
            let disk = SimulatedDisk::new();
            disk.inject(Fault::once(point, error));
            let (synced, attempted) = run_log_workload(&disk, &log, &records);
            for (label, survivor) in survivors(&disk, 6) {
                let context = format!("{error:?} at {point}, {label}");
                check_synced_prefix(&survivor, &log, &expected, synced, attempted, &context);
            }
        }
    }
}

#[test]
fn torn_appends_keep_whole_sectors_and_sometimes_leave_garbage() {
    let log = key("log");
    let synced = pattern(100, 1);
    let appended = pattern(10_000, 2);
    for sector_bytes in [512u64, 4096] {
        let disk = SimulatedDisk::with_sector_bytes(sector_bytes);
        disk.append(&log, &synced).unwrap();
        disk.sync(&log).unwrap();
        disk.append(&log, &appended).unwrap();
        let mut outcomes = BTreeSet::new();
        for seed in 0..200 {
            let value = disk.crash(seed).read(&log).unwrap().unwrap();
            let length = value.len() as u64;
            assert!(value.starts_with(&synced));
            assert!(length == 100 || length == 10_100 || length % sector_bytes == 0, "length {length}");
            let intact = value.len() >= 100 && value[100..] == appended[..value.len() - 100];
            let torn = !intact;
            if torn {
                // The new bytes that survived end at a sector boundary; garbage follows.
                let matching = value[100..].iter().zip(&appended).take_while(|(a, b)| a == b).count() as u64 + 100;
                let kept_end = (100..=matching).rev().find(|&end| end == 100 || end % sector_bytes == 0).unwrap();
                assert!(kept_end < length);
            }
            outcomes.insert(match (length, torn) {
                (100, _) => "dropped",
                (10_100, false) => "kept whole",
                (_, false) => "kept a prefix of whole sectors",
                (_, true) => "torn with garbage",
            });
        }
        assert_eq!(outcomes.len(), 4, "sector {sector_bytes}: {outcomes:?}");
    }
}

#[test]
fn unsynced_create_is_lost_without_directory_sync() {
    let file = key("segment");
    let disk = SimulatedDisk::new();
    disk.append(&file, b"data").unwrap();
    assert_eq!(disk.crash_losing_everything_unsynced().read(&file).unwrap(), None);
    assert!(disk.durable_image().is_empty());

    // fdatasync succeeded but the power went out before the directory sync: the data is durable, its name is not.
    let disk = SimulatedDisk::new();
    disk.append(&file, b"data").unwrap();
    disk.halt_at(disk.operation_count() + 1);
    assert!(disk.sync(&file).is_err());
    let kinds: Vec<OperationKind> = disk.io_log().iter().map(|record| record.kind).collect();
    assert_eq!(kinds, [OperationKind::Create, OperationKind::Write, OperationKind::Sync, OperationKind::DirectorySync]);
    assert_eq!(disk.crash_losing_everything_unsynced().read(&file).unwrap(), None);
    let outcomes: BTreeSet<Option<Vec<u8>>> = (0..32).map(|seed| disk.crash(seed).read(&file).unwrap()).collect();
    assert_eq!(outcomes, BTreeSet::from([None, Some(b"data".to_vec())]), "lost or whole, nothing else");
}

#[test]
fn synced_file_survives() {
    let file = key("segment");
    let disk = SimulatedDisk::new();
    disk.append(&file, b"data").unwrap();
    disk.sync(&file).unwrap();
    disk.append(&key("unsynced"), b"noise").unwrap();
    for (label, survivor) in survivors(&disk, 32) {
        assert_eq!(survivor.read(&file).unwrap().as_deref(), Some(&b"data"[..]), "{label}");
    }
    assert_eq!(disk.durable_image().get("segment").map(Vec::as_slice), Some(&b"data"[..]));
}

#[test]
fn rename_without_directory_sync_may_be_lost() {
    let blob = key("manifest");
    let disk = SimulatedDisk::new();
    disk.atomic_write(&blob, b"old").unwrap();
    // Power loss at atomic_write's directory sync: the temp file is durable and renamed, the rename is not.
    disk.halt_at(disk.operation_count() + 4);
    assert!(disk.atomic_write(&blob, b"new").is_err());
    assert_eq!(disk.live_image().get("manifest").map(Vec::as_slice), Some(&b"new"[..]));
    assert_eq!(disk.durable_image().get("manifest").map(Vec::as_slice), Some(&b"old"[..]));

    let mut outcomes = BTreeSet::new();
    for seed in 0..64 {
        let first = disk.crash(seed);
        let again = disk.crash(seed);
        let value = first.read(&blob).unwrap().unwrap();
        assert_eq!(again.read(&blob).unwrap().unwrap(), value, "seed {seed} is not deterministic");
        assert_eq!(first.orphans_removed_at_open(), again.orphans_removed_at_open());
        outcomes.insert((value, first.orphans_removed_at_open()));
    }
    // Lost with the temp file's create lost too, lost with an orphaned temp file, or kept.
    let expected = BTreeSet::from([(b"old".to_vec(), 0), (b"old".to_vec(), 1), (b"new".to_vec(), 0)]);
    assert_eq!(outcomes, expected);
}

#[test]
fn delete_without_directory_sync_may_be_undone() {
    let doomed = key("doomed");
    let disk = SimulatedDisk::new();
    disk.atomic_write(&doomed, b"bytes").unwrap();
    disk.append(&doomed, b"+unsynced").unwrap();
    disk.halt_at(disk.operation_count() + 1);
    assert!(disk.delete(&doomed).is_err());
    assert_eq!(disk.live_image().get("doomed"), None);
    let outcomes: BTreeSet<Option<Vec<u8>>> = (0..64).map(|seed| disk.crash(seed).read(&doomed).unwrap()).collect();
    assert!(outcomes.contains(&None));
    assert!(outcomes.contains(&Some(b"bytes".to_vec())));
    assert!(outcomes.contains(&Some(b"bytes+unsynced".to_vec())), "an undone unlink keeps the file's pages too");
}

#[test]
fn unsynced_truncate_is_kept_or_dropped() {
    let log = key("log");
    let disk = SimulatedDisk::new();
    disk.append(&log, b"0123456789").unwrap();
    disk.sync(&log).unwrap();
    disk.truncate(&log, 4).unwrap();
    let lengths: BTreeSet<usize> = (0..32).map(|seed| disk.crash(seed).read(&log).unwrap().unwrap().len()).collect();
    assert_eq!(lengths, BTreeSet::from([4, 10]));
    disk.sync(&log).unwrap();
    assert_eq!(disk.crash_losing_everything_unsynced().read(&log).unwrap().as_deref(), Some(&b"0123"[..]));
}

/// Several files with pending appends, truncates, creates and renames, halted in the middle of a sync.
fn busy_disk() -> SimulatedDisk {
    let disk = SimulatedDisk::with_sector_bytes(64);
    disk.atomic_write(&key("blob"), &pattern(200, 77)).unwrap();
    for index in 0..4u8 {
        let name = key(&format!("file-{index}"));
        disk.append(&name, &pattern(150 + usize::from(index) * 70, index)).unwrap();
        if index % 2 == 0 {
            disk.sync(&name).unwrap();
        }
        disk.append(&name, &pattern(300, index + 9)).unwrap();
    }
    disk.truncate(&key("file-0"), 20).unwrap();
    disk.append(&key("file-3"), &pattern(90, 5)).unwrap();
    // Pending now: file-3's create, and appends and a truncate in every file. The halt adds a temp file's create
    // and its rename over "blob", both waiting for the directory sync that never happens.
    disk.halt_at(disk.operation_count() + 4);
    assert!(disk.atomic_write(&key("blob"), &pattern(260, 78)).is_err());
    disk
}

#[test]
fn crash_is_deterministic_from_seed() {
    let disk = busy_disk();
    let twin = busy_disk();
    let mut distinct = BTreeSet::new();
    for seed in 0..32 {
        let image = disk.crash(seed).live_image();
        assert_eq!(disk.crash(seed).live_image(), image, "seed {seed}: the same disk crashed twice");
        assert_eq!(twin.crash(seed).live_image(), image, "seed {seed}: the same history on another disk");
        assert_eq!(disk.crash(seed).durable_image(), image, "a crashed disk has nothing pending");
        distinct.insert(image);
    }
    assert!(distinct.len() > 16, "seeds barely matter: {} distinct images of 32", distinct.len());
    assert_eq!(disk.crash_losing_everything_unsynced().live_image(), disk.durable_image());
    assert_eq!(disk.crash_keeping_everything().live_image(), disk.live_image());
}

#[test]
fn failed_fsync_poisons_until_reopen() {
    let log = key("log");
    let disk = SimulatedDisk::new();
    disk.append(&log, b"synced;").unwrap();
    disk.sync(&log).unwrap();
    disk.append(&log, b"lost;").unwrap();
    disk.inject(Fault::once_of_kind(
        OperationKind::Sync,
        disk.operation_count_of(OperationKind::Sync),
        FaultError::Eio,
    ));
    let failed = disk.sync(&log);
    assert!(matches!(&failed, Err(error) if is_io_error_with_errno(error, 5)), "{failed:?}");
    assert!(disk.is_poisoned());

    let count = disk.operation_count();
    let is_poisoned_by_the_sync = |error: PersistenceError| matches!(error, PersistenceError::Poisoned { operation: Operation::Sync, ref key, .. } if key == "log");
    assert!(is_poisoned_by_the_sync(disk.read(&log).unwrap_err()));
    assert!(is_poisoned_by_the_sync(disk.read_range(&log, 0, 1).unwrap_err()));
    assert!(is_poisoned_by_the_sync(disk.len(&log).unwrap_err()));
    assert!(is_poisoned_by_the_sync(disk.append(&log, b"x").unwrap_err()));
    assert!(is_poisoned_by_the_sync(disk.sync(&log).unwrap_err()), "never retry an fsync");
    assert!(is_poisoned_by_the_sync(disk.atomic_write(&key("other"), b"x").unwrap_err()));
    assert!(is_poisoned_by_the_sync(disk.truncate(&log, 0).unwrap_err()));
    assert!(is_poisoned_by_the_sync(disk.delete(&log).unwrap_err()));
    assert!(is_poisoned_by_the_sync(disk.list("").unwrap_err()));
    assert_eq!(disk.operation_count(), count, "a poisoned handle does no I/O");
    assert!(disk.clone().is_poisoned(), "clones share the handle");

    // fsyncgate: after the restart the dropped pages still read back, a new sync succeeds, and they are still lost.
    let reopened = disk.reopen();
    assert!(!reopened.is_poisoned());
    assert_eq!(reopened.read(&log).unwrap().as_deref(), Some(&b"synced;lost;"[..]));
    reopened.sync(&log).unwrap();
    assert_eq!(reopened.crash_losing_everything_unsynced().read(&log).unwrap().as_deref(), Some(&b"synced;"[..]));
    reopened.append(&log, b"later;").unwrap();
    reopened.sync(&log).unwrap();
    let after = reopened.crash_losing_everything_unsynced().read(&log).unwrap().unwrap();
    assert_eq!(after.len(), b"synced;lost;later;".len());
    assert!(after.starts_with(b"synced;") && after.ends_with(b"later;"));
    assert_ne!(&after[7..12], b"lost;", "the dropped pages never reach the medium");
    for (label, survivor) in survivors(&disk, 8) {
        assert!(!survivor.is_poisoned(), "{label}");
        survivor.append(&log, b"x").unwrap();
    }

    // ENOSPC from fsync poisons as well.
    let disk = SimulatedDisk::new();
    disk.append(&log, b"data").unwrap();
    disk.inject(Fault::once_of_kind(OperationKind::Sync, 0, FaultError::Enospc));
    assert!(matches!(disk.sync(&log), Err(PersistenceError::DiskFull { operation: Operation::Sync, .. })));
    assert!(matches!(disk.read(&log), Err(PersistenceError::Poisoned { .. })));
}

#[test]
fn faults_fire_at_the_chosen_operation_once_or_forever() {
    let file = key("file");
    let setup = || {
        let disk = SimulatedDisk::new();
        disk.atomic_write(&file, b"abc").unwrap();
        disk
    };

    // Once, at a global index: only that read fails, and a failed read does not poison.
    let disk = setup();
    disk.inject(Fault::once(disk.operation_count() + 2, FaultError::Eio));
    let results: Vec<bool> = (0..5).map(|_| disk.read(&file).is_ok()).collect();
    assert_eq!(results, [true, true, false, true, true]);
    assert!(!disk.is_poisoned());

    // From then on, counting only reads: writes go through, every read from the second on fails.
    let disk = setup();
    let fault =
        Fault::once_of_kind(OperationKind::Read, disk.operation_count_of(OperationKind::Read) + 1, FaultError::Eio);
    disk.inject(fault.from_then_on());
    assert_eq!(fault.from_then_on().persistence, FaultPersistence::FromThenOn);
    assert!(disk.read(&file).is_ok());
    disk.append(&file, b"d").unwrap();
    for _ in 0..3 {
        assert!(matches!(disk.len(&file), Err(ref error) if is_io_error_with_errno(error, 5)));
    }
    disk.sync(&file).unwrap();
    assert_eq!(disk.durable_image().get("file").map(Vec::as_slice), Some(&b"abcd"[..]));
    disk.clear_faults();
    assert!(disk.read(&file).is_ok());

    // ENOSPC on a write: DiskFull, nothing written, not poisoned, and the next write succeeds.
    let disk = setup();
    disk.inject(Fault::once_of_kind(
        OperationKind::Write,
        disk.operation_count_of(OperationKind::Write),
        FaultError::Enospc,
    ));
    assert!(matches!(disk.append(&file, b"d"), Err(PersistenceError::DiskFull { operation: Operation::Append, .. })));
    assert!(!disk.is_poisoned());
    assert_eq!(disk.read(&file).unwrap().as_deref(), Some(&b"abc"[..]));
    disk.append(&file, b"e").unwrap();
    assert_eq!(disk.read(&file).unwrap().as_deref(), Some(&b"abce"[..]));

    // EIO on a write: nothing written, and the handle is poisoned.
    let disk = setup();
    disk.inject(Fault::once(disk.operation_count(), FaultError::Eio));
    assert!(matches!(disk.append(&file, b"d"), Err(ref error) if is_io_error_with_errno(error, 5)));
    assert!(matches!(disk.read(&file), Err(PersistenceError::Poisoned { operation: Operation::Append, .. })));
    assert_eq!(disk.live_image().get("file").map(Vec::as_slice), Some(&b"abc"[..]));

    // From then on at a global index: every point fails, whatever its kind.
    let disk = setup();
    let start = disk.operation_count();
    disk.inject(Fault {
        at_operation: start + 1,
        kind: None,
        error: FaultError::Enospc,
        persistence: FaultPersistence::FromThenOn,
    });
    assert!(disk.read(&file).is_ok());
    for _ in 0..3 {
        assert!(matches!(disk.read(&file), Err(PersistenceError::DiskFull { .. })));
        assert!(matches!(disk.append(&file, b"x"), Err(PersistenceError::DiskFull { .. })));
    }
    assert_eq!(disk.operation_count(), start + 7);

    // Kind indices count from 0 over the handle's life: the first unlink fails, whatever came before it. A failed
    // unlink changes nothing and does not poison.
    let disk = setup();
    disk.inject(Fault::once_of_kind(OperationKind::Unlink, 0, FaultError::Eio));
    assert!(matches!(disk.delete(&file), Err(ref error) if is_io_error_with_errno(error, 5)));
    assert!(!disk.is_poisoned());
    assert!(disk.read(&file).unwrap().is_some());
    assert!(disk.delete(&file).unwrap());

    // A failed truncate poisons, even with ENOSPC (as the file-system backend does), and changes nothing.
    let disk = setup();
    disk.inject(Fault::once_of_kind(OperationKind::Truncate, 0, FaultError::Enospc));
    assert!(matches!(disk.truncate(&file, 1), Err(PersistenceError::DiskFull { operation: Operation::Truncate, .. })));
    assert!(matches!(disk.truncate(&file, 1), Err(PersistenceError::Poisoned { operation: Operation::Truncate, .. })));
    assert_eq!(disk.live_image().get("file").map(Vec::as_slice), Some(&b"abc"[..]));

    // A failed create in append (the open failed) changes nothing and does not poison.
    let disk = setup();
    disk.inject(Fault::once_of_kind(
        OperationKind::Create,
        disk.operation_count_of(OperationKind::Create),
        FaultError::Eio,
    ));
    assert!(disk.append(&key("new"), b"x").is_err());
    assert!(!disk.is_poisoned());
    assert_eq!(disk.read(&key("new")).unwrap(), None);
}

#[test]
fn bit_flip_on_read_changes_only_reads() {
    let file = key("file");
    let neighbour = key("neighbour");
    let bytes: Vec<u8> = (0..64).collect();
    let disk = SimulatedDisk::new();
    disk.atomic_write(&file, &bytes).unwrap();
    disk.atomic_write(&neighbour, &bytes).unwrap();
    disk.flip_bit_on_read(&file, 10 * 8 + 3);

    let mut flipped = bytes.clone();
    flipped[10] ^= 0b1000;
    assert_eq!(disk.read(&file).unwrap().unwrap(), flipped);
    assert_eq!(disk.read_range(&file, 8, 4).unwrap(), &flipped[8..12]);
    assert_eq!(disk.read_range(&file, 20, 5).unwrap(), &bytes[20..25]);
    assert_eq!(disk.read(&neighbour).unwrap().unwrap(), bytes, "other keys read clean");
    assert_eq!(disk.live_image()["file"], bytes, "the stored bytes are unchanged");
    assert_eq!(disk.durable_image()["file"], bytes);
    assert_eq!(disk.reopen().read(&file).unwrap().unwrap(), bytes, "a restart clears the flip");

    // Rot on the medium is another matter: it changes what is stored, and survives a crash.
    assert!(disk.corrupt_durable(&neighbour, 5, 0xFF));
    let mut rotten = bytes.clone();
    rotten[5] ^= 0xFF;
    assert_eq!(disk.durable_image()["neighbour"], rotten);
    assert_eq!(disk.read(&neighbour).unwrap().unwrap(), rotten);
    assert_eq!(disk.crash_losing_everything_unsynced().read(&neighbour).unwrap().unwrap(), rotten);
    assert!(!disk.corrupt_durable(&neighbour, 64, 1), "past the end");
    assert!(!disk.corrupt_durable(&key("missing"), 0, 1));
    disk.append(&key("unsynced"), b"x").unwrap();
    assert!(!disk.corrupt_durable(&key("unsynced"), 0, 1), "not durable yet");
}

fn check_points(disk: &SimulatedDisk, call: impl FnOnce(&SimulatedDisk), expected: &[(OperationKind, &str)]) {
    let before = disk.operation_count();
    call(disk);
    let log = disk.io_log();
    let new: Vec<(OperationKind, &str)> = log
        .iter()
        .filter(|record| record.index >= before)
        .map(|record| (record.kind, record.file_name.as_str()))
        .collect();
    assert_eq!(new, expected);
    assert_eq!(disk.operation_count(), before + expected.len() as u64);
    let indices: Vec<u64> = log.iter().filter(|record| record.index >= before).map(|record| record.index).collect();
    assert_eq!(indices, (before..disk.operation_count()).collect::<Vec<_>>(), "indices are consecutive");
}

#[test]
fn operation_count_counts_every_sub_step() {
    use OperationKind::*;
    let file = key("file");
    let blob = key("blob");
    let disk = SimulatedDisk::new();
    check_points(&disk, |disk| disk.append(&file, b"a").unwrap(), &[(Create, "file"), (Write, "file")]);
    check_points(&disk, |disk| disk.append(&file, b"b").unwrap(), &[(Write, "file")]);
    check_points(&disk, |disk| disk.sync(&file).unwrap(), &[(Sync, "file"), (DirectorySync, "file")]);
    check_points(&disk, |disk| disk.sync(&file).unwrap(), &[(Sync, "file")]);
    check_points(&disk, |disk| disk.sync(&key("missing")).unwrap(), &[(Sync, "missing")]);
    check_points(
        &disk,
        |disk| disk.atomic_write(&blob, b"").unwrap(),
        &[
            (Create, ".tmp-blob-0"),
            (Write, ".tmp-blob-0"),
            (Sync, ".tmp-blob-0"),
            (Rename, ".tmp-blob-0"),
            (DirectorySync, "blob"),
        ],
    );
    check_points(&disk, |disk| disk.truncate(&file, 1).unwrap(), &[(Truncate, "file")]);
    check_points(&disk, |disk| assert!(disk.truncate(&file, 2).is_err()), &[(Truncate, "file")]);
    check_points(&disk, |disk| assert!(disk.truncate(&key("missing"), 0).is_err()), &[(Truncate, "missing")]);
    check_points(&disk, |disk| assert!(disk.read(&file).unwrap().is_some()), &[(Read, "file")]);
    check_points(&disk, |disk| assert!(disk.read_range(&file, 0, 1).is_ok()), &[(Read, "file")]);
    check_points(&disk, |disk| assert!(disk.len(&file).unwrap().is_some()), &[(Read, "file")]);
    check_points(&disk, |disk| assert_eq!(disk.list("").unwrap().len(), 2), &[(Read, "")]);
    check_points(&disk, |disk| assert!(disk.delete(&blob).unwrap()), &[(Unlink, "blob"), (DirectorySync, "blob")]);
    check_points(&disk, |disk| assert!(!disk.delete(&blob).unwrap()), &[(Unlink, "blob")]);
    assert_eq!(disk.operation_count_of(DirectorySync), 3);
    assert_eq!(disk.operation_count_of(Rename), 1);

    // After power loss the halted point counts, later calls claim none; a new disk counts from 0.
    disk.halt_at(disk.operation_count() + 1);
    check_points(
        &disk,
        |disk| assert!(disk.atomic_write(&blob, b"x").is_err()),
        &[(Create, ".tmp-blob-1"), (Write, ".tmp-blob-1")],
    );
    check_points(&disk, |disk| assert!(disk.read(&file).is_err()), &[]);
    assert!(disk.is_halted());
    let after = disk.crash_losing_everything_unsynced();
    assert_eq!((after.operation_count(), after.io_log().len(), after.is_halted()), (0, 0, false));
    assert_eq!(after.orphans_removed_at_open(), 0, "the orphan's create was never made durable");
    assert_eq!(disk.crash_keeping_everything().orphans_removed_at_open(), 1);
}

#[test]
fn power_loss_errors_are_io_errors_and_change_nothing() {
    let file = key("file");
    let disk = SimulatedDisk::new();
    disk.append(&file, b"abc").unwrap();
    disk.halt_at(disk.operation_count());
    let before = disk.live_image();
    for result in [disk.append(&file, b"d"), disk.sync(&file), disk.truncate(&file, 0), disk.atomic_write(&file, b"x")]
    {
        assert!(
            matches!(&result, Err(PersistenceError::Io { source, .. }) if source.to_string() == "simulated power loss")
        );
    }
    assert!(matches!(disk.delete(&file), Err(PersistenceError::Io { .. })));
    assert_eq!(disk.live_image(), before);
    assert!(!disk.is_poisoned());
}

#[test]
fn orphaned_temp_files_are_removed_at_open() {
    let blob = key("blob");
    let disk = SimulatedDisk::new();
    disk.atomic_write(&blob, b"old").unwrap();
    disk.halt_at(disk.operation_count() + 3); // the rename
    assert!(disk.atomic_write(&blob, b"new").is_err());
    let kept = disk.crash_keeping_everything();
    assert_eq!(kept.orphans_removed_at_open(), 1);
    assert_eq!(kept.list("").unwrap(), vec![blob.clone()]);
    assert_eq!(kept.read(&blob).unwrap().as_deref(), Some(&b"old"[..]));
    let reopened = disk.reopen();
    assert_eq!(reopened.orphans_removed_at_open(), 1);
    assert_eq!(reopened.list("").unwrap(), vec![blob.clone()]);
    assert_eq!(disk.crash_losing_everything_unsynced().orphans_removed_at_open(), 0);
    let orphan_counts: BTreeSet<u64> = (0..16).map(|seed| disk.crash(seed).orphans_removed_at_open()).collect();
    assert_eq!(orphan_counts, BTreeSet::from([0, 1]));
    assert_eq!(SimulatedDisk::new().orphans_removed_at_open(), 0);
}

#[test]
fn reopen_keeps_unsynced_data_unsynced_and_a_kill_keeps_everything() {
    let log = key("log");
    let disk = SimulatedDisk::new();
    disk.append(&log, b"synced").unwrap();
    disk.sync(&log).unwrap();
    disk.append(&log, b"+unsynced").unwrap();
    let created = key("created");
    disk.append(&created, b"unsynced").unwrap();
    let reopened = disk.reopen();
    assert_eq!(reopened.read(&log).unwrap().as_deref(), Some(&b"synced+unsynced"[..]));
    let worst = reopened.crash_losing_everything_unsynced();
    assert_eq!(worst.read(&log).unwrap().as_deref(), Some(&b"synced"[..]));
    assert_eq!(worst.read(&created).unwrap(), Some(Vec::new()), "the open synced the directory, not the data");
    assert_eq!(disk.crash_losing_everything_unsynced().read(&created).unwrap(), None);
    let killed = disk.crash_keeping_everything();
    assert_eq!(killed.crash_losing_everything_unsynced().read(&log).unwrap().as_deref(), Some(&b"synced+unsynced"[..]));
    // The new disks are independent of the old one and of each other.
    reopened.append(&log, b"!").unwrap();
    assert_eq!(disk.read(&log).unwrap().as_deref(), Some(&b"synced+unsynced"[..]));
    assert_eq!(killed.read(&log).unwrap().as_deref(), Some(&b"synced+unsynced"[..]));
}

#[test]
fn sector_size_is_configurable_and_clamped() {
    assert_eq!(SimulatedDisk::new().sector_bytes(), storage_mem::SECTOR_BYTES_DEFAULT);
    assert_eq!(SimulatedDisk::with_sector_bytes(4096).sector_bytes(), 4096);
    assert_eq!(SimulatedDisk::with_sector_bytes(0).sector_bytes(), 1);
    let max = storage_mem::SECTOR_BYTES_MAX;
    assert_eq!(SimulatedDisk::with_sector_bytes(max).sector_bytes(), max);
    assert_eq!(SimulatedDisk::with_sector_bytes(max + 1).sector_bytes(), max);
    assert_eq!(SimulatedDisk::with_sector_bytes(4096).crash(3).sector_bytes(), 4096, "a crash keeps the geometry");
}

#[test]
fn a_later_unsynced_write_can_survive_an_earlier_lost_one_but_not_in_order() {
    let log = storage_core::Key::new("log").unwrap();
    let first = vec![0x11u8; 1024];
    let second = vec![0x22u8; 1024];
    let mut subset_seen = false;
    for seed in 0..200 {
        let disk = SimulatedDisk::new();
        disk.append(&log, b"synced").unwrap();
        disk.sync(&log).unwrap();
        disk.append(&log, &first).unwrap();
        disk.append(&log, &second).unwrap();
        let image = |crashed: SimulatedDisk| crashed.read(&log).unwrap().unwrap();
        let any_subset = image(disk.crash(seed));
        assert_eq!(&any_subset[..6], b"synced", "seed {seed}: synced bytes are always kept");
        if any_subset.len() == 6 + 2048
            && any_subset[6..6 + 1024] == [0u8; 1024][..]
            && any_subset[6 + 1024..] == second[..]
        {
            subset_seen = true;
        }
        let in_order = image(disk.crash_in_order(seed));
        let second_survived = in_order.len() == 6 + 2048 && in_order[6 + 1024..] == second[..];
        assert!(
            !second_survived || in_order[6..6 + 1024] == first[..],
            "seed {seed}: in order, no hole before a kept write"
        );
    }
    assert!(subset_seen, "some seed keeps the second write and loses the first (a hole of zeros)");
}
