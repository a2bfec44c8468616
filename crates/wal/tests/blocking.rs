//! The blocking `Wal`: group commit across threads, sync policies, the torn-tail rule at the API level, and the
//! behaviours the async suite covers, over both memory and files (one macro, two backends).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use storage_core::{Key, StorageBackend};
use storage_mem::{Fault, FaultError, MemoryBackend, OperationKind, SimulatedDisk};
use wal::{CorruptionReason, Lsn, RecoveryMode, SyncPolicy, Wal, WalError, WalOptions, format};

fn replay_payloads<B: StorageBackend>(wal: &Wal<B>, from: u64) -> Vec<Vec<u8>> {
    wal.replay(Lsn(from)).unwrap().map(|entry| entry.unwrap().into_payload()).collect()
}

#[test]
fn sixteen_threads_two_thousand_appends_each_group_commit() {
    const THREADS: u64 = 16;
    const APPENDS: u64 = 2_000;
    let backend = MemoryBackend::new();
    let wal = Arc::new(Wal::open(backend.clone(), WalOptions::default()).unwrap());
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                let mut previous = Lsn::ZERO;
                let mut lsns = Vec::with_capacity(APPENDS as usize);
                for index in 0..APPENDS {
                    let lsn = wal.append(format!("{thread}:{index}").as_bytes()).unwrap();
                    assert!(lsn > previous, "a thread's LSNs increase");
                    assert!(wal.durable_lsn() >= lsn, "EveryCommit returns only once durable");
                    previous = lsn;
                    lsns.push(lsn);
                }
                lsns
            })
        })
        .collect();
    let mut acknowledged: Vec<Lsn> = handles.into_iter().flat_map(|handle| handle.join().unwrap()).collect();
    acknowledged.sort_unstable();
    acknowledged.dedup();
    assert_eq!(acknowledged.len() as u64, THREADS * APPENDS, "no LSN handed out twice");
    drop(Arc::into_inner(wal).unwrap());
    let wal = Wal::open(backend, WalOptions::default()).unwrap();
    let mut next_index = vec![0u64; THREADS as usize];
    let mut count = 0u64;
    let mut previous = Lsn::ZERO;
    for entry in wal.replay(Lsn(1)).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(entry.lsn().get(), previous.get() + 1, "strictly increasing in file order, no gap");
        previous = entry.lsn();
        let text = String::from_utf8(entry.into_payload()).unwrap();
        let (thread, index) = text.split_once(':').unwrap();
        let (thread, index): (usize, u64) = (thread.parse().unwrap(), index.parse().unwrap());
        assert_eq!(index, next_index[thread], "each thread's records appear once, in its order");
        next_index[thread] += 1;
        count += 1;
    }
    assert_eq!(count, THREADS * APPENDS);
    assert!(next_index.iter().all(|&appended| appended == APPENDS));
}

#[test]
fn a_failed_sync_under_sixteen_appenders_fails_every_waiter_and_loses_nothing_acknowledged() {
    const THREADS: u64 = 16;
    for failing_sync in [3, 10, 40] {
        let disk = SimulatedDisk::new();
        let wal = Arc::new(Wal::open(disk.clone(), WalOptions::default()).unwrap());
        let syncs = disk.operation_count_of(OperationKind::Sync);
        disk.inject(Fault::once_of_kind(OperationKind::Sync, syncs + failing_sync, FaultError::Eio).from_then_on());
        let handles: Vec<_> = (0..THREADS)
            .map(|thread| {
                let wal = Arc::clone(&wal);
                std::thread::spawn(move || {
                    let mut acknowledged = Vec::new();
                    for index in 0..1_000u64 {
                        match wal.append(format!("{thread}:{index}").as_bytes()) {
                            Ok(lsn) => acknowledged.push((lsn, format!("{thread}:{index}"))),
                            // Every waiter returns: the leader with the storage error, the others Poisoned.
                            Err(WalError::Storage(_) | WalError::Poisoned { .. }) => return acknowledged,
                            Err(other) => panic!("unexpected error {other}"),
                        }
                    }
                    panic!("the log never failed");
                })
            })
            .collect();
        let acknowledged: Vec<(Lsn, String)> = handles.into_iter().flat_map(|handle| handle.join().unwrap()).collect();
        drop(Arc::into_inner(wal).unwrap());
        let disk = disk.crash(failing_sync);
        assert_every_acknowledged_record_recovers(disk, WalOptions::default(), &acknowledged, "");
    }
}

/// Opens the log on `disk` and checks that every `acknowledged` (LSN, payload) is there.
fn assert_every_acknowledged_record_recovers(
    disk: SimulatedDisk,
    options: WalOptions,
    acknowledged: &[(Lsn, String)],
    context: &str,
) {
    let wal = Wal::open(disk, options).unwrap();
    let recovered: std::collections::HashMap<Lsn, Vec<u8>> = wal
        .replay(Lsn(1))
        .unwrap()
        .map(|entry| entry.unwrap())
        .map(|entry| (entry.lsn(), entry.into_payload()))
        .collect();
    for (lsn, payload) in acknowledged {
        assert_eq!(
            recovered.get(lsn).map(Vec::as_slice),
            Some(payload.as_bytes()),
            "{context}acknowledged {lsn:?} lost"
        );
    }
}

/// A simulated disk whose syncs take [`SlowSyncs::SYNC_DELAY`]: gathering leaders wait about as long (the gather
/// window is the last sync's duration), so appenders park behind them, as on a real disk.
#[derive(Clone)]
struct SlowSyncs(SimulatedDisk);

impl SlowSyncs {
    const SYNC_DELAY: std::time::Duration = std::time::Duration::from_micros(400);
}

impl StorageBackend for SlowSyncs {
    fn name(&self) -> &'static str {
        "slow-syncs"
    }
    fn read(&self, key: &Key) -> storage_core::Result<Option<Vec<u8>>> {
        self.0.read(key)
    }
    fn read_range(&self, key: &Key, offset: u64, length: u64) -> storage_core::Result<Vec<u8>> {
        self.0.read_range(key, offset, length)
    }
    fn len(&self, key: &Key) -> storage_core::Result<Option<u64>> {
        self.0.len(key)
    }
    fn append(&self, key: &Key, data: &[u8]) -> storage_core::Result<()> {
        self.0.append(key, data)
    }
    fn sync(&self, key: &Key) -> storage_core::Result<()> {
        std::thread::sleep(Self::SYNC_DELAY);
        self.0.sync(key)
    }
    fn atomic_write(&self, key: &Key, data: &[u8]) -> storage_core::Result<()> {
        self.0.atomic_write(key, data)
    }
    fn truncate(&self, key: &Key, length: u64) -> storage_core::Result<()> {
        self.0.truncate(key, length)
    }
    fn delete(&self, key: &Key) -> storage_core::Result<bool> {
        self.0.delete(key)
    }
    fn list(&self, prefix: &str) -> storage_core::Result<Vec<Key>> {
        self.0.list(prefix)
    }
}

/// A checkpoint whose segment delete fails poisons the log while appenders are parked (behind a flush, or behind a
/// leader gathering its group): every one of them must wake with an error, none may hang, and nothing acknowledged
/// may be lost. Syncs are slow so that leaders gather and appenders park; the checkpoint lands at a different
/// moment in each round. A waiter left asleep fails the round at the watchdog's deadline instead of hanging.
#[test]
fn a_failed_checkpoint_delete_wakes_every_parked_appender_and_loses_nothing_acknowledged() {
    const THREADS: u64 = 16;
    const DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
    for round in 0..8u64 {
        let disk = SimulatedDisk::new();
        let options = WalOptions { segment_bytes_max: 1024, salt_seed: Some(round), ..WalOptions::default() };
        let wal = Arc::new(Wal::open(SlowSyncs(disk.clone()), options.clone()).unwrap());
        for index in 0..100u64 {
            wal.append(format!("before:{index}").as_bytes()).unwrap();
        }
        wal.rotate().unwrap();
        let unlinks = disk.operation_count_of(OperationKind::Unlink);
        disk.inject(Fault::once_of_kind(OperationKind::Unlink, unlinks, FaultError::Eio).from_then_on());
        let (done, finished) = std::sync::mpsc::channel();
        for thread in 0..THREADS {
            let (wal, done) = (Arc::clone(&wal), done.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                let outcome = loop {
                    let payload = format!("{thread}:{}", acknowledged.len());
                    match wal.append(payload.as_bytes()) {
                        Ok(lsn) => acknowledged.push((lsn, payload)),
                        Err(WalError::Poisoned { .. } | WalError::Storage(_)) => break Ok(acknowledged),
                        Err(other) => break Err(format!("unexpected error {other}")),
                    }
                    if acknowledged.len() > 100_000 {
                        break Err("the log never failed".to_owned());
                    }
                };
                drop(wal);
                let _ = done.send(outcome);
            });
        }
        drop(done);
        // Let the appenders get going (and park), then fail the checkpoint's first delete.
        std::thread::sleep(std::time::Duration::from_millis(3 + round * 4));
        let checkpoint = wal.checkpoint(Lsn(50));
        assert!(matches!(&checkpoint, Err(WalError::Storage(_))), "round {round}: {checkpoint:?}");
        let started = std::time::Instant::now();
        let mut acknowledged = Vec::new();
        for _ in 0..THREADS {
            let remaining = DEADLINE.saturating_sub(started.elapsed());
            let outcome = finished.recv_timeout(remaining).unwrap_or_else(|_| {
                panic!("round {round}: an appender was never woken after the checkpoint poisoned the log")
            });
            acknowledged.extend(outcome.unwrap_or_else(|error| panic!("round {round}: {error}")));
        }
        drop(wal);
        assert_every_acknowledged_record_recovers(disk.reopen(), options, &acknowledged, &format!("round {round}: "));
    }
}

#[test]
fn appends_racing_rotations_flushes_and_checkpoints_all_survive_in_order() {
    const THREADS: u64 = 8;
    const APPENDS: u64 = 500;
    let backend = MemoryBackend::new();
    let options = WalOptions { segment_bytes_max: 4096, ..WalOptions::default() };
    let wal = Arc::new(Wal::open(backend.clone(), options.clone()).unwrap());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let maintenance = {
        let (wal, stop) = (Arc::clone(&wal), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut rounds = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                wal.rotate().unwrap();
                wal.flush().unwrap();
                let durable = wal.sync().unwrap();
                // Nothing is applied elsewhere here, so checkpoint below LSN 1 only: deletes nothing, but runs the
                // checkpoint path alongside the appenders.
                wal.checkpoint(Lsn::ZERO).unwrap();
                assert!(wal.durable_lsn() >= durable);
                rounds += 1;
            }
            rounds
        })
    };
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                for index in 0..APPENDS {
                    let lsn = wal.append(format!("{thread}:{index}").as_bytes()).unwrap();
                    assert!(wal.durable_lsn() >= lsn);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(maintenance.join().unwrap() > 0);
    drop(Arc::into_inner(wal).unwrap());
    let wal = Wal::open(backend, options).unwrap();
    let mut next_index = vec![0u64; THREADS as usize];
    for (position, entry) in wal.replay(Lsn(1)).unwrap().enumerate() {
        let entry = entry.unwrap();
        assert_eq!(entry.lsn().get(), position as u64 + 1);
        let text = String::from_utf8(entry.into_payload()).unwrap();
        let (thread, index) = text.split_once(':').unwrap();
        let (thread, index): (usize, u64) = (thread.parse().unwrap(), index.parse().unwrap());
        assert_eq!(index, next_index[thread]);
        next_index[thread] += 1;
    }
    assert!(next_index.iter().all(|&appended| appended == APPENDS));
    assert!(wal.segment_count() > 10, "the rotations made many segments");
}

#[test]
fn concurrent_appenders_share_syncs() {
    let disk = SimulatedDisk::new();
    let wal = Arc::new(Wal::open(disk.clone(), WalOptions::default()).unwrap());
    let syncs_before = disk.operation_count_of(OperationKind::Sync);
    let handles: Vec<_> = (0..8)
        .map(|thread| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                for index in 0..200 {
                    wal.append(format!("{thread}:{index}").as_bytes()).unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let syncs = disk.operation_count_of(OperationKind::Sync) - syncs_before;
    // One sync per group; never more than one per append (no sync is wasted on an empty group).
    assert!(syncs <= 1_600, "{syncs} syncs for 1600 appends");
    assert_eq!(wal.durable_lsn(), Lsn(1_600));
}

#[test]
fn manual_policy_buffers_until_sync_and_acknowledges_nothing_before() {
    let disk = SimulatedDisk::new();
    let options = WalOptions { sync_policy: SyncPolicy::Manual, salt_seed: Some(1), ..WalOptions::default() };
    let wal = Wal::open(disk.clone(), options.clone()).unwrap();
    let writes_before = disk.operation_count_of(OperationKind::Write);
    for index in 0..100u32 {
        wal.append(&index.to_le_bytes()).unwrap();
    }
    assert_eq!(disk.operation_count_of(OperationKind::Write), writes_before, "buffered in memory");
    assert_eq!(wal.durable_lsn(), Lsn::ZERO);
    assert_eq!(wal.sync().unwrap(), Lsn(100));
    assert_eq!(disk.operation_count_of(OperationKind::Write), writes_before + 1, "one write for the whole buffer");
    for index in 100..110u32 {
        wal.append(&index.to_le_bytes()).unwrap();
    }
    disk.halt_at(disk.operation_count());
    drop(wal);
    let crashed = disk.crash_losing_everything_unsynced();
    let wal = Wal::open(crashed, options).unwrap();
    assert_eq!(replay_payloads(&wal, 1).len(), 100, "exactly the synced records survive");
}

#[test]
fn manual_policy_writes_full_buffers_without_syncing() {
    let disk = SimulatedDisk::new();
    let options =
        WalOptions { sync_policy: SyncPolicy::Manual, write_buffer_bytes_max: 1_000, ..WalOptions::default() };
    let wal = Wal::open(disk.clone(), options).unwrap();
    let writes_before = disk.operation_count_of(OperationKind::Write);
    let syncs_before = disk.operation_count_of(OperationKind::Sync);
    for _ in 0..30 {
        wal.append(&[5; 68]).unwrap(); // 100 bytes framed
    }
    assert_eq!(disk.operation_count_of(OperationKind::Write) - writes_before, 3, "a write per 1000 bytes");
    assert_eq!(disk.operation_count_of(OperationKind::Sync), syncs_before, "no sync");
    assert_eq!(replay_payloads(&wal, 1).len(), 30, "replay writes the rest first and sees everything");
}

#[test]
fn grouped_policy_syncs_once_the_size_bound_is_passed() {
    let disk = SimulatedDisk::new();
    let policy = SyncPolicy::Grouped { max_delay_ms: u64::MAX, max_bytes: 500 };
    let wal = Wal::open(disk.clone(), WalOptions { sync_policy: policy, ..WalOptions::default() }).unwrap();
    let syncs_before = disk.operation_count_of(OperationKind::Sync);
    for index in 0..4 {
        wal.append(&[index; 68]).unwrap(); // 100 bytes each: under the bound
    }
    assert_eq!(wal.durable_lsn(), Lsn::ZERO, "not yet");
    assert_eq!(disk.operation_count_of(OperationKind::Sync), syncs_before);
    let fifth = wal.append(&[4; 68]).unwrap();
    assert_eq!(wal.durable_lsn(), fifth, "the append that reached 500 bytes synced everything");
    assert_eq!(disk.operation_count_of(OperationKind::Sync), syncs_before + 1);
    wal.append(&[5; 10]).unwrap();
    assert_eq!(wal.sync().unwrap(), Lsn(6), "sync covers the rest");
}

#[test]
fn grouped_policy_syncs_once_the_delay_bound_is_passed() {
    let policy = SyncPolicy::Grouped { max_delay_ms: 0, max_bytes: u64::MAX };
    let wal = Wal::open(MemoryBackend::new(), WalOptions { sync_policy: policy, ..WalOptions::default() }).unwrap();
    let lsn = wal.append(b"due at once").unwrap();
    assert_eq!(wal.durable_lsn(), lsn, "a zero delay syncs on the same call");
}

/// A crash may keep a later unsynced write and lose an earlier one: that is a torn tail, not corruption.
#[test]
fn a_lost_earlier_write_with_a_surviving_later_one_is_a_torn_tail() {
    let backend = MemoryBackend::new();
    let options = WalOptions { sync_policy: SyncPolicy::Manual, salt_seed: Some(5), ..WalOptions::default() };
    let wal = Wal::open(backend.clone(), options.clone()).unwrap();
    wal.append(b"synced").unwrap();
    wal.sync().unwrap();
    wal.append(b"lost in the crash").unwrap();
    wal.append(b"survived the crash").unwrap();
    drop(wal); // Manual: written, not synced
    let key = backend.list("wal/").unwrap().pop().unwrap();
    let mut bytes = backend.read(&key).unwrap().unwrap();
    let lost = format::SEGMENT_HEADER_BYTES + format::RECORD_HEADER_BYTES + 6;
    bytes[lost..lost + format::RECORD_HEADER_BYTES].fill(0); // the earlier write's sector never reached the disk
    backend.atomic_write(&key, &bytes).unwrap();
    let wal = Wal::open(backend.clone(), options.clone()).unwrap();
    let report = wal.recovery_report();
    assert_eq!(report.torn_tail.as_ref().map(|torn| torn.offset), Some(lost as u64));
    assert_eq!(replay_payloads(&wal, 1), vec![b"synced".to_vec()]);
    drop(wal);

    // The same damage after the second record had been synced (and a third record says so) is corruption.
    let backend = MemoryBackend::new();
    let wal = Wal::open(backend.clone(), options.clone()).unwrap();
    wal.append(b"synced").unwrap();
    wal.append(b"synced too, then damaged").unwrap();
    wal.sync().unwrap();
    wal.append(b"framed after the sync").unwrap();
    drop(wal);
    let key = backend.list("wal/").unwrap().pop().unwrap();
    let mut bytes = backend.read(&key).unwrap().unwrap();
    bytes[lost..lost + format::RECORD_HEADER_BYTES].fill(0);
    backend.atomic_write(&key, &bytes).unwrap();
    let error = Wal::open(backend, options).unwrap_err();
    assert!(
        matches!(&error, WalError::Corrupted { reason: CorruptionReason::AcknowledgedRecordDamaged { .. }, offset, .. } if *offset == lost as u64),
        "{error:?}"
    );
}

#[test]
fn a_corrupted_length_never_causes_a_huge_allocation() {
    let backend = MemoryBackend::new();
    let wal = Wal::open(backend.clone(), WalOptions::default()).unwrap();
    wal.append(b"x").unwrap();
    drop(wal);
    let key = backend.list("wal/").unwrap().pop().unwrap();
    let mut bytes = backend.read(&key).unwrap().unwrap();
    bytes[32..36].copy_from_slice(&u32::MAX.to_le_bytes()); // the length field of the only record
    backend.atomic_write(&key, &bytes).unwrap();
    // The header checksum catches the length before it is used; the seal written by the clean close proves the
    // record was durable, so this is damage, not a torn write.
    let error = Wal::open(backend, WalOptions::default()).unwrap_err();
    assert!(
        matches!(&error, WalError::Corrupted { offset: 32, reason: CorruptionReason::AcknowledgedRecordDamaged { damage, .. }, .. } if **damage == CorruptionReason::RecordHeaderChecksum),
        "{error:?}"
    );
}

#[test]
fn replay_streams_a_log_larger_than_one_read_chunk() {
    let backend = MemoryBackend::new();
    let wal = Wal::open(backend, WalOptions::default()).unwrap();
    let record = vec![3u8; 100_000];
    for _ in 0..30 {
        wal.append_batch(&[&record, b"tail"]).unwrap(); // 3 MB in all, several 1 MiB chunks
    }
    let mut operations = 0;
    for entry in wal.replay(Lsn(1)).unwrap() {
        let entry = entry.unwrap();
        assert!(entry.is_batch());
        let parts: Vec<&[u8]> = entry.operations().map(|(_, bytes)| bytes).collect();
        assert_eq!(parts, vec![&record[..], b"tail"]);
        operations += parts.len();
    }
    assert_eq!(operations, 60);
    let big = vec![1u8; 3 << 20];
    assert_eq!(wal.append(&big).unwrap(), Lsn(61), "a record larger than a read chunk");
    let last = wal.replay(Lsn(61)).unwrap().next().unwrap().unwrap();
    assert_eq!(last.payload(), &big[..]);
}

#[test]
fn a_checkpoint_never_deletes_the_segment_holding_unapplied_records() {
    let backend = MemoryBackend::new();
    let options = WalOptions { segment_bytes_max: 200, ..WalOptions::default() };
    let wal = Wal::open(backend.clone(), options.clone()).unwrap();
    for index in 0..20u8 {
        wal.append(&[index; 50]).unwrap(); // 82 bytes: two records per segment
    }
    assert_eq!(wal.segment_count(), 10);
    assert_eq!(wal.checkpoint(Lsn(4)).unwrap(), 2, "segments [1,2] and [3,4]");
    assert_eq!(wal.first_lsn(), Lsn(5));
    assert_eq!(wal.checkpoint(Lsn(5)).unwrap(), 0, "segment [5,6] still holds 6");
    assert_eq!(wal.truncate_before(Lsn(7)).unwrap(), 1);
    let payloads = replay_payloads(&wal, 1);
    assert_eq!(payloads.len(), 14);
    assert_eq!(payloads[0], vec![6u8; 50]);
    let keys: Vec<Key> = backend.list("wal/").unwrap();
    assert_eq!(keys.first().map(Key::as_str), Some("wal/00000000000000000007"));
}

/// A store the blocking behaviours run on: memory (shared by clones) or a directory (opened again each time).
trait Store {
    type Backend: StorageBackend + 'static;
    fn fresh() -> Self;
    /// A handle on the store (for files: the previous handle must be dropped first, the backend is exclusive).
    fn open(&self) -> Self::Backend;
}

struct Memory(MemoryBackend);

impl Store for Memory {
    type Backend = MemoryBackend;
    fn fresh() -> Self {
        Self(MemoryBackend::new())
    }
    fn open(&self) -> MemoryBackend {
        self.0.clone()
    }
}

struct Files(common::TempDirectory);

impl Store for Files {
    type Backend = storage_fs::FileBackend;
    fn fresh() -> Self {
        Self(common::TempDirectory::new("blocking"))
    }
    fn open(&self) -> storage_fs::FileBackend {
        storage_fs::FileBackend::open(self.0.path()).unwrap()
    }
}

fn appends_batches_and_transactions_survive_reopen<S: Store>() {
    let store = S::fresh();
    let wal = Wal::open(store.open(), WalOptions::default()).unwrap();
    assert_eq!(wal.append(b"a").unwrap(), Lsn(1));
    let batch = wal.append_batch(&[b"b", b"c"]).unwrap();
    assert_eq!((batch.first, batch.last), (Lsn(2), Lsn(3)));
    let mut transaction = wal.transaction();
    transaction.stage(b"d").unwrap();
    assert_eq!(transaction.commit().unwrap().first, Lsn(4));
    {
        let mut dropped = wal.transaction();
        dropped.stage(b"never").unwrap();
    }
    wal.close().unwrap();
    let wal = Wal::open(store.open(), WalOptions::default()).unwrap();
    assert_eq!(wal.next_lsn(), Lsn(5));
    let operations: Vec<(u64, Vec<u8>)> = wal
        .replay(Lsn(1))
        .unwrap()
        .flat_map(|entry| {
            let entry = entry.unwrap();
            entry.operations().map(|(lsn, bytes)| (lsn.get(), bytes.to_vec())).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(operations, vec![(1, b"a".to_vec()), (2, b"b".to_vec()), (3, b"c".to_vec()), (4, b"d".to_vec())]);
}

fn the_record_limit_is_exact_and_a_rejected_record_writes_nothing<S: Store>() {
    let store = S::fresh();
    let options = WalOptions { record_bytes_max: 4096, ..WalOptions::default() };
    let wal = Wal::open(store.open(), options.clone()).unwrap();
    assert_eq!(wal.append(&[1; 4096]).unwrap(), Lsn(1));
    assert!(matches!(wal.append(&[2; 4097]), Err(WalError::RecordTooLarge { length_bytes: 4097, limit_bytes: 4096 })));
    assert_eq!(wal.next_lsn(), Lsn(2));
    wal.close().unwrap();
    let wal = Wal::open(store.open(), options).unwrap();
    assert_eq!(replay_payloads(&wal, 1), vec![vec![1; 4096]]);
}

fn mid_log_corruption_is_a_typed_error_and_salvage_keeps_the_prefix<S: Store>() {
    let store = S::fresh();
    let options = WalOptions { segment_bytes_max: 200, salt_seed: Some(8), ..WalOptions::default() };
    let wal = Wal::open(store.open(), options.clone()).unwrap();
    for index in 0..8u8 {
        wal.append(&[index; 50]).unwrap(); // 82-byte records: two per segment
    }
    wal.close().unwrap();
    let second = Key::new("wal/00000000000000000003").unwrap();
    {
        let backend = store.open();
        let mut bytes = backend.read(&second).unwrap().unwrap();
        bytes[40] ^= 1;
        backend.atomic_write(&second, &bytes).unwrap();
    }
    let error = Wal::open(store.open(), options.clone()).unwrap_err();
    assert!(
        matches!(&error, WalError::Corrupted { segment, offset: 32, reason: CorruptionReason::DamageInClosedSegment { .. } } if segment == second.as_str()),
        "{error:?}"
    );
    let salvage = WalOptions { recovery_mode: RecoveryMode::SalvagePrefix, ..options.clone() };
    let wal = Wal::open(store.open(), salvage).unwrap();
    let report = wal.recovery_report().salvage.clone().unwrap();
    assert_eq!((report.segment.as_str(), report.offset), (second.as_str(), 32));
    assert_eq!(report.segments_dropped.len(), 2, "{report:?}");
    assert_eq!(replay_payloads(&wal, 1), vec![vec![0; 50], vec![1; 50]]);
    assert_eq!(wal.append(b"again").unwrap(), Lsn(3));
    wal.close().unwrap();
    let wal = Wal::open(store.open(), options).unwrap();
    assert_eq!(replay_payloads(&wal, 1).len(), 3, "strict mode opens the salvaged log");
}

fn concurrent_appends_are_durable_and_ordered<S: Store>() {
    let store = S::fresh();
    let wal = Arc::new(Wal::open(store.open(), WalOptions::default()).unwrap());
    let handles: Vec<_> = (0..4u8)
        .map(|thread| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || (0..25u8).map(|index| wal.append(&[thread, index]).unwrap()).collect::<Vec<_>>())
        })
        .collect();
    let mut lsns: Vec<Lsn> = handles.into_iter().flat_map(|handle| handle.join().unwrap()).collect();
    lsns.sort_unstable();
    assert_eq!(lsns, (1..=100).map(Lsn).collect::<Vec<_>>());
    Arc::into_inner(wal).unwrap().close().unwrap();
    let wal = Wal::open(store.open(), WalOptions::default()).unwrap();
    assert_eq!(replay_payloads(&wal, 1).len(), 100);
}

/// The blocking API's behaviours, instantiated for each backend.
macro_rules! blocking_behaviour {
    ($module:ident, $store:ty) => {
        mod $module {
            #[test]
            fn appends_batches_and_transactions_survive_reopen() {
                super::appends_batches_and_transactions_survive_reopen::<$store>();
            }

            #[test]
            fn the_record_limit_is_exact_and_a_rejected_record_writes_nothing() {
                super::the_record_limit_is_exact_and_a_rejected_record_writes_nothing::<$store>();
            }

            #[test]
            fn mid_log_corruption_is_a_typed_error_and_salvage_keeps_the_prefix() {
                super::mid_log_corruption_is_a_typed_error_and_salvage_keeps_the_prefix::<$store>();
            }

            #[test]
            fn concurrent_appends_are_durable_and_ordered() {
                super::concurrent_appends_are_durable_and_ordered::<$store>();
            }
        }
    };
}

blocking_behaviour!(over_memory, super::Memory);
blocking_behaviour!(over_files, super::Files);
