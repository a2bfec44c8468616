//! EIO and ENOSPC injected at every I/O point of the workload, once and from then on: the failing call returns a
//! typed error, the log is poisoned, nothing acknowledged is lost after a reopen, and the reopened log takes
//! appends that survive a power loss (even after a failed fsync dropped dirty pages: "fsyncgate").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::workload::{append_then_crash_again, options, run, verify, workload};
use storage_core::PersistenceError;
use storage_mem::{Fault, FaultError, FaultPersistence, OperationKind, SimulatedDisk};
use wal::{Lsn, SyncPolicy, Wal, WalError};

fn is_injected(error: &PersistenceError, fault: FaultError) -> bool {
    match (error, fault) {
        (PersistenceError::Io { source, .. }, FaultError::Eio) => source.raw_os_error() == Some(5),
        (PersistenceError::DiskFull { .. }, FaultError::Enospc) => true,
        _ => false,
    }
}

fn fault_at_every_point(error: FaultError, persistence: FaultPersistence, policy: SyncPolicy) {
    let steps = workload(policy);
    let probe = SimulatedDisk::new();
    let full = run(&probe, policy, &steps);
    assert!(full.first_error.is_none(), "{full:?}");
    let points = probe.operation_count();
    let mut surfaced = 0;
    for point in 0..points {
        let disk = SimulatedDisk::new();
        disk.inject(Fault { at_operation: point, kind: None, error, persistence });
        let model = run(&disk, policy, &steps);
        let context = format!("{error:?} {persistence:?} at {point}/{points}, {policy:?}");
        match &model.first_error {
            // The fault hit the best-effort close of the dropped log.
            None => {}
            Some(WalError::Storage(storage)) => {
                assert!(is_injected(storage, error), "{context}: the failing call returned {storage:?}");
                surfaced += 1;
            }
            Some(other) => panic!("{context}: the failing call returned {other:?}"),
        }
        let reopened = disk.reopen();
        let recovered = verify(&reopened, &model, &context);
        append_then_crash_again(&reopened, &recovered, SimulatedDisk::crash_losing_everything_unsynced, &context);
    }
    assert!(surfaced * 2 > points as usize, "most faults surface as errors: {surfaced} of {points}");
}

#[test]
fn eio_once_at_every_operation_loses_nothing_acknowledged() {
    fault_at_every_point(FaultError::Eio, FaultPersistence::Once, SyncPolicy::EveryCommit);
}

#[test]
fn eio_from_then_on_at_every_operation_loses_nothing_acknowledged() {
    fault_at_every_point(FaultError::Eio, FaultPersistence::FromThenOn, SyncPolicy::EveryCommit);
}

#[test]
fn enospc_once_at_every_operation_loses_nothing_acknowledged() {
    fault_at_every_point(FaultError::Enospc, FaultPersistence::Once, SyncPolicy::EveryCommit);
}

#[test]
fn enospc_from_then_on_at_every_operation_loses_nothing_acknowledged() {
    fault_at_every_point(FaultError::Enospc, FaultPersistence::FromThenOn, SyncPolicy::EveryCommit);
}

#[test]
fn faults_under_manual_sync_lose_nothing_acknowledged() {
    fault_at_every_point(FaultError::Eio, FaultPersistence::Once, SyncPolicy::Manual);
    fault_at_every_point(FaultError::Enospc, FaultPersistence::FromThenOn, SyncPolicy::Manual);
}

#[test]
fn a_failed_sync_poisons_every_later_call_until_reopened() {
    let disk = SimulatedDisk::new();
    let wal = Wal::open(disk.clone(), options(SyncPolicy::EveryCommit)).unwrap();
    wal.append(b"durable").unwrap();
    let syncs = disk.operation_count_of(OperationKind::Sync);
    disk.inject(Fault {
        at_operation: syncs,
        kind: Some(OperationKind::Sync),
        error: FaultError::Eio,
        persistence: FaultPersistence::Once,
    });
    let failed = wal.append(b"lost");
    assert!(matches!(&failed, Err(WalError::Storage(PersistenceError::Io { .. }))), "{failed:?}");
    assert!(matches!(wal.append(b"refused"), Err(WalError::Poisoned { .. })));
    assert!(matches!(wal.sync(), Err(WalError::Poisoned { .. })));
    assert!(matches!(wal.append_batch(&[b"x"]), Err(WalError::Poisoned { .. })));
    assert!(matches!(wal.replay(Lsn(1)).map(|_| ()), Err(WalError::Poisoned { .. })));
    assert!(matches!(wal.checkpoint(Lsn(1)), Err(WalError::Poisoned { .. })));
    let mut transaction = wal.transaction();
    transaction.stage(b"y").unwrap();
    assert!(matches!(transaction.commit(), Err(WalError::Poisoned { .. })));
    assert!(wal.close().unwrap_err().is_poisoned());
    // Reopen (a process restart): the record whose sync failed may or may not come back; the durable one does,
    // and the log takes appends that survive a power loss although the failed fsync dropped the dirty pages.
    let reopened = disk.reopen();
    let wal = Wal::open(reopened.clone(), options(SyncPolicy::EveryCommit)).unwrap();
    assert!(wal.recovery_report().unproven_bytes_rewritten > 0, "the unproven tail is rewritten");
    let after = wal.append(b"after").unwrap();
    drop(wal);
    let crashed = reopened.crash_losing_everything_unsynced();
    let wal = Wal::open(crashed, options(SyncPolicy::EveryCommit)).unwrap();
    let payloads: Vec<Vec<u8>> = wal.replay(Lsn(1)).unwrap().map(|entry| entry.unwrap().into_payload()).collect();
    assert_eq!(payloads.first().map(Vec::as_slice), Some(&b"durable"[..]));
    assert_eq!(payloads.last().map(Vec::as_slice), Some(&b"after"[..]));
    assert_eq!(after, Lsn(payloads.len() as u64));
}

/// A log whose process died before its tail was proven (no seal: the last record's durability is unproven), on a
/// disk that keeps everything written, with an ENOSPC injected at the first write of the next open (`persistence`).
fn crashed_log_with_a_full_disk(persistence: FaultPersistence) -> SimulatedDisk {
    let disk = SimulatedDisk::new();
    let wal = Wal::open(disk.clone(), options(SyncPolicy::EveryCommit)).unwrap();
    for payload in [&b"a"[..], b"b", b"c"] {
        wal.append(payload).unwrap();
    }
    let image = disk.crash_keeping_everything();
    drop(wal);
    image.inject(Fault { at_operation: 0, kind: Some(OperationKind::Write), error: FaultError::Enospc, persistence });
    image
}

fn replayed(wal: &Wal<SimulatedDisk>) -> Vec<Vec<u8>> {
    wal.replay(Lsn(1)).unwrap().map(|entry| entry.unwrap().into_payload()).collect()
}

#[test]
fn an_open_without_room_to_rewrite_the_unproven_tail_still_reads_and_refuses_writes_with_disk_full() {
    let disk = crashed_log_with_a_full_disk(FaultPersistence::FromThenOn);
    let wal = Wal::open(disk.clone(), options(SyncPolicy::EveryCommit)).unwrap();
    let report = wal.recovery_report().clone();
    assert_eq!(report.unproven_bytes_rewritten, 0, "{report:?}");
    assert!(report.unproven_bytes_pending > 0, "{report:?}");
    assert_eq!(replayed(&wal), [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()], "every record replays");
    assert_eq!(wal.durable_lsn(), Lsn(2), "record 3 is not proven durable until its rewrite ran");
    let failed = wal.append(b"d");
    assert!(matches!(&failed, Err(WalError::Storage(PersistenceError::DiskFull { .. }))), "{failed:?}");
    assert!(matches!(wal.append(b"e"), Err(WalError::Poisoned { .. })));
    drop(wal);
    // With room again, the next open rewrites the tail, and nothing was lost or added.
    let wal = Wal::open(disk.reopen(), options(SyncPolicy::EveryCommit)).unwrap();
    assert!(wal.recovery_report().unproven_bytes_rewritten > 0);
    assert_eq!(replayed(&wal), [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
}

#[test]
fn a_deferred_tail_rewrite_runs_before_the_first_append_and_the_log_survives_a_power_loss() {
    let disk = crashed_log_with_a_full_disk(FaultPersistence::Once);
    let wal = Wal::open(disk.clone(), options(SyncPolicy::EveryCommit)).unwrap();
    assert!(wal.recovery_report().unproven_bytes_pending > 0);
    let writes_before = disk.operation_count_of(OperationKind::Write);
    assert_eq!(replayed(&wal).len(), 3);
    assert_eq!(disk.operation_count_of(OperationKind::Write), writes_before, "a replay writes nothing");
    assert_eq!(wal.append(b"d").unwrap(), Lsn(4));
    assert_eq!(wal.durable_lsn(), Lsn(4));
    drop(wal);
    let crashed = disk.crash_losing_everything_unsynced();
    let wal = Wal::open(crashed, options(SyncPolicy::EveryCommit)).unwrap();
    assert_eq!(replayed(&wal), [b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
}

#[test]
fn a_sync_with_nothing_new_runs_a_deferred_tail_rewrite_first() {
    let disk = crashed_log_with_a_full_disk(FaultPersistence::Once);
    let wal = Wal::open(disk.clone(), options(SyncPolicy::EveryCommit)).unwrap();
    assert_eq!(wal.durable_lsn(), Lsn(2));
    assert_eq!(wal.sync().unwrap(), Lsn(3), "the sync proves the replayed tail durable");
    drop(wal);
    let crashed = disk.crash_losing_everything_unsynced();
    let wal = Wal::open(crashed, options(SyncPolicy::EveryCommit)).unwrap();
    assert_eq!(replayed(&wal).len(), 3);
}
