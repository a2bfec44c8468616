//! Power loss at every I/O point of a workload (appends, batches, transactions, rotations, checkpoints), with
//! several crash images per point: recovery must return exactly a prefix of the issued operations (never a split
//! batch) that holds every acknowledged one, and the recovered log must keep new appends across another crash.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::workload::{append_then_crash_again, run, verify, workload};
use storage_core::StorageBackend;
use storage_mem::SimulatedDisk;
use wal::{Lsn, SyncPolicy, Wal, WalOptions};

fn crash_at_every_point(policy: SyncPolicy, sector_bytes: u64) {
    let steps = workload(policy);
    let probe = SimulatedDisk::with_sector_bytes(sector_bytes);
    let full = run(&probe, policy, &steps);
    assert!(full.acknowledged_lsn >= 30, "the workload completes: {full:?}");
    let points = probe.operation_count();
    let mut runs = 0;
    for point in 0..=points {
        for seed in 0..6u64 {
            let disk = SimulatedDisk::with_sector_bytes(sector_bytes);
            disk.halt_at(point);
            let model = run(&disk, policy, &steps);
            let crashed = match seed {
                4 => disk.crash_losing_everything_unsynced(),
                5 => disk.crash_keeping_everything(),
                _ => disk.crash(point * 31 + seed),
            };
            let context = format!("{policy:?}, {sector_bytes}-byte sectors, halt at {point}/{points}, crash {seed}");
            let recovered = verify(&crashed, &model, &context);
            if seed < 2 {
                let crash_seed = seed + 1000 * point;
                append_then_crash_again(&crashed, &recovered, |disk| disk.crash(crash_seed), &context);
            }
            runs += 1;
        }
    }
    assert!(runs > 100, "{runs} crash runs");
}

#[test]
fn every_crash_point_of_a_durable_workload_recovers_a_prefix_with_every_acknowledged_record() {
    crash_at_every_point(SyncPolicy::EveryCommit, 512);
}

#[test]
fn every_crash_point_recovers_a_prefix_when_sectors_are_smaller_than_records() {
    crash_at_every_point(SyncPolicy::EveryCommit, 16);
}

#[test]
fn every_crash_point_of_a_manually_synced_workload_recovers_a_prefix() {
    crash_at_every_point(SyncPolicy::Manual, 64);
}

#[test]
fn append_after_torn_tail_then_crash_keeps_every_acknowledged_record() {
    // Acknowledged records, then an unsynced append that a crash tears (garbage after the durable end).
    let disk = SimulatedDisk::with_sector_bytes(16);
    let wal = Wal::open(disk.clone(), WalOptions { salt_seed: Some(3), ..WalOptions::default() }).unwrap();
    for index in 0..5u8 {
        wal.append(&[index; 100]).unwrap();
    }
    // An unsynced tail: written through the backend, never synced, torn by the crash.
    let segment = disk.list("wal/").unwrap().pop().unwrap();
    disk.append(&segment, &[0xAB; 300]).unwrap();
    disk.halt_at(disk.operation_count());
    drop(wal);
    let mut torn_seen = false;
    for seed in 0..16 {
        let crashed = disk.crash(seed);
        let wal = Wal::open(crashed.clone(), WalOptions::default()).unwrap();
        torn_seen |= wal.recovery_report().torn_bytes_truncated > 0;
        assert_eq!(wal.append(b"after").unwrap(), Lsn(6), "seed {seed}");
        // Crash again, losing everything unsynced: the append after the torn tail must be found.
        crashed.halt_at(crashed.operation_count());
        drop(wal);
        let again = crashed.crash_losing_everything_unsynced();
        let wal = Wal::open(again, WalOptions::default()).unwrap();
        let replayed: Vec<Vec<u8>> = wal.replay(Lsn(1)).unwrap().map(|entry| entry.unwrap().into_payload()).collect();
        let mut expected: Vec<Vec<u8>> = (0..5u8).map(|index| vec![index; 100]).collect();
        expected.push(b"after".to_vec());
        assert_eq!(replayed, expected, "seed {seed}");
    }
    assert!(torn_seen, "some crash image kept part of the torn tail");
}
