//! Snapshot saves on the simulated disk: a crash at every I/O point, and EIO/ENOSPC at every I/O point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use snapshot::testing::VectorState;
use snapshot::{SnapshotManager, SnapshotOptions};
use storage_mem::{Fault, FaultError, SimulatedDisk};

const SEEDS_PER_POINT: u64 = 8;

fn state(count: u64, salt: f32) -> VectorState {
    let mut state = VectorState::new(16);
    for id in 0..count {
        state.vectors.insert(id, (0..16).map(|d| id as f32 + d as f32 * salt).collect());
    }
    state
}

/// A disk holding one durable snapshot (`older`, LSN 10), with retention of one, so saving the next snapshot also
/// deletes the older one: both the write and the retention's delete are crash points.
fn disk_with_older(older: &VectorState) -> SimulatedDisk {
    let disk = SimulatedDisk::new();
    SnapshotManager::new(disk.clone(), SnapshotOptions { retain_count: 1 }).unwrap().save(older, 10).unwrap();
    disk
}

fn load(disk: &SimulatedDisk) -> (VectorState, u64) {
    let manager = SnapshotManager::new(disk.clone(), SnapshotOptions { retain_count: 1 }).unwrap();
    let loaded = manager.load_latest::<VectorState>().unwrap().expect("a snapshot must always survive");
    (loaded.state, loaded.lsn)
}

#[test]
fn a_crash_at_every_point_of_a_save_leaves_the_old_or_the_new_snapshot_whole() {
    let (older, newer) = (state(40, 0.5), state(55, 0.25));
    let probe = disk_with_older(&older);
    let start = probe.operation_count();
    SnapshotManager::new(probe.clone(), SnapshotOptions { retain_count: 1 }).unwrap().save(&newer, 20).unwrap();
    let points = probe.operation_count() - start;
    assert!(points >= 6, "a save is several I/O points ({points})");
    let mut outcomes = [0usize; 2];
    for point in start..=start + points {
        let disk = disk_with_older(&older);
        disk.halt_at(point);
        let acknowledged =
            SnapshotManager::new(disk.clone(), SnapshotOptions { retain_count: 1 }).unwrap().save(&newer, 20).is_ok();
        for seed in 0..SEEDS_PER_POINT {
            let (loaded, lsn) = load(&disk.crash(seed));
            match lsn {
                10 => {
                    assert!(!acknowledged, "point {point} seed {seed}: an acknowledged save was lost");
                    assert_eq!(loaded, older, "point {point} seed {seed}");
                    outcomes[0] += 1;
                }
                20 => {
                    assert_eq!(loaded, newer, "point {point} seed {seed}");
                    outcomes[1] += 1;
                }
                other => panic!("point {point} seed {seed}: loaded LSN {other}"),
            }
        }
    }
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "both outcomes happen: {outcomes:?}");
}

#[test]
fn an_io_error_at_every_point_of_a_save_keeps_the_previous_snapshot_and_the_save_can_be_retried() {
    let (older, newer) = (state(30, 0.5), state(31, 0.75));
    let probe = disk_with_older(&older);
    let start = probe.operation_count();
    SnapshotManager::new(probe.clone(), SnapshotOptions { retain_count: 1 }).unwrap().save(&newer, 20).unwrap();
    let points = probe.operation_count() - start;
    for point in start..start + points {
        for error in [FaultError::Eio, FaultError::Enospc] {
            let disk = disk_with_older(&older);
            disk.inject(Fault::once(point, error));
            let manager = SnapshotManager::new(disk.clone(), SnapshotOptions { retain_count: 1 }).unwrap();
            let context = format!("{error:?} at point {point}");
            match manager.save(&newer, 20) {
                // Every I/O point of a save matters (the retention's list and delete included): a fault that
                // fired must be reported, never swallowed.
                Ok(_) => panic!("{context}: the injected fault was swallowed"),
                Err(failure) => {
                    // After the error: whatever the handle's state, a restart finds a valid snapshot (old or new).
                    let (loaded, lsn) = load(&disk.reopen());
                    assert!(
                        (lsn == 10 && loaded == older) || (lsn == 20 && loaded == newer),
                        "{context}: {failure}: loaded LSN {lsn}"
                    );
                    // The save can be retried: at once when the handle is not poisoned, after a reopen otherwise.
                    let retry_disk = if disk.is_poisoned() { disk.reopen() } else { disk.clone() };
                    let retry = SnapshotManager::new(retry_disk.clone(), SnapshotOptions { retain_count: 1 }).unwrap();
                    retry.save(&newer, 20).unwrap();
                    assert_eq!(load(&retry_disk.crash_losing_everything_unsynced()), (newer.clone(), 20), "{context}");
                }
            }
        }
    }
}
