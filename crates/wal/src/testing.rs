//! The WAL's behaviour suite, run over every backend (feature `testing`).
//!
//! Written once against [`AsyncStorageBackend`] with [`AsyncWal`], so the same checks run natively (through
//! [`run_all_blocking`], over `MemoryBackend`, `FileBackend`, the simulated disk) and on IndexedDB in a browser
//! (awaiting [`run_all`] in a `wasm-bindgen-test`). The blocking [`crate::Wal`] runs the same driver code; its
//! threading is tested natively. A failed check panics with the case's name: this module is test code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::future::Future;

use storage_core::{AsyncStorageBackend, Key, block_on};

use crate::{AsyncWal, CorruptionReason, Lsn, RecoveryMode, WalError, WalOptions, format};

/// Makes stores for the suite.
pub trait Harness {
    /// The backend under test.
    type Backend: AsyncStorageBackend;
    /// A new, empty store.
    fn fresh(&mut self) -> impl Future<Output = Self::Backend>;
    /// Closes `backend` and opens the same store again (what a process restart sees).
    fn reopen(&mut self, backend: Self::Backend) -> impl Future<Output = Self::Backend>;
}

/// The names of the cases, in the order [`run_all`] runs them.
pub const CASES: &[&str] = &[
    "appends_batches_and_transactions_replay_in_order_after_reopen",
    "a_dropped_transaction_writes_nothing",
    "records_at_the_size_limit_are_accepted_and_one_byte_more_is_rejected",
    "segments_rotate_and_replay_crosses_them_from_any_lsn",
    "checkpoint_deletes_whole_segments_and_the_log_reopens_above_one",
    "append_after_a_torn_tail_keeps_every_acknowledged_record",
    "an_unsealed_tail_is_rewritten_and_a_sealed_one_is_not",
    "mid_log_corruption_is_a_typed_error",
    "salvage_mode_keeps_the_valid_prefix_and_reports_the_rest",
    "empty_batches_and_bad_options_are_rejected",
];

/// Runs every case on fresh stores from `harness`.
pub async fn run_all<H: Harness>(harness: &mut H) {
    appends_batches_and_transactions_replay_in_order_after_reopen(harness).await;
    a_dropped_transaction_writes_nothing(harness).await;
    records_at_the_size_limit_are_accepted_and_one_byte_more_is_rejected(harness).await;
    segments_rotate_and_replay_crosses_them_from_any_lsn(harness).await;
    checkpoint_deletes_whole_segments_and_the_log_reopens_above_one(harness).await;
    append_after_a_torn_tail_keeps_every_acknowledged_record(harness).await;
    an_unsealed_tail_is_rewritten_and_a_sealed_one_is_not(harness).await;
    mid_log_corruption_is_a_typed_error(harness).await;
    salvage_mode_keeps_the_valid_prefix_and_reports_the_rest(harness).await;
    empty_batches_and_bad_options_are_rejected(harness).await;
}

/// [`run_all`] on this thread, for harnesses whose futures need no runtime (every sync backend).
pub fn run_all_blocking<H: Harness>(harness: &mut H) {
    block_on(run_all(harness));
}

/// Small segments and a fixed salt seed: rotations happen within a few records, runs are reproducible.
pub fn small_segments() -> WalOptions {
    WalOptions { segment_bytes_max: 256, salt_seed: Some(0x5EED), ..WalOptions::default() }
}

/// One replayed operation: its LSN, its bytes, and the first LSN of the entry (record) it came in.
pub type Replayed = (u64, Vec<u8>, u64);

/// Every operation from `from`, in order, with the entry each came in.
pub async fn replay_all<B: AsyncStorageBackend>(wal: &mut AsyncWal<B>, from: u64) -> Result<Vec<Replayed>, WalError> {
    let mut replay = wal.replay(Lsn(from)).await?;
    let mut operations = Vec::new();
    while let Some(entry) = replay.next().await? {
        for (lsn, operation) in entry.operations() {
            operations.push((lsn.get(), operation.to_vec(), entry.lsn().get()));
        }
    }
    Ok(operations)
}

fn payloads(replayed: &[Replayed]) -> Vec<Vec<u8>> {
    replayed.iter().map(|(_, payload, _)| payload.clone()).collect()
}

async fn segment_keys<B: AsyncStorageBackend>(backend: &B) -> Vec<Key> {
    backend.list("wal/").await.unwrap()
}

/// Appends, a batch and a transaction come back in order, with batch boundaries, after a close and a reopen.
pub async fn appends_batches_and_transactions_replay_in_order_after_reopen<H: Harness>(harness: &mut H) {
    let backend = harness.fresh().await;
    let mut wal = AsyncWal::open(backend, WalOptions::default()).await.unwrap();
    assert_eq!(wal.recovery_report().next_lsn, Lsn(1));
    assert_eq!(wal.append(b"one").await.unwrap(), Lsn(1));
    let batch = wal.append_batch(&[b"two", b"", b"four"]).await.unwrap();
    assert_eq!((batch.first, batch.last, batch.count()), (Lsn(2), Lsn(4), 3));
    let mut transaction = wal.transaction();
    transaction.stage(b"five").unwrap();
    transaction.stage(b"six").unwrap();
    assert_eq!(transaction.operation_count(), 2);
    let committed = transaction.commit().await.unwrap();
    assert_eq!((committed.first, committed.last), (Lsn(5), Lsn(6)));
    assert_eq!(wal.durable_lsn(), Lsn(6), "EveryCommit: durable on return");
    let before_reopen = replay_all(&mut wal, 1).await.unwrap();
    let backend = harness.reopen(wal.close().await.unwrap()).await;
    let mut wal = AsyncWal::open(backend, WalOptions::default()).await.unwrap();
    let report = wal.recovery_report().clone();
    assert_eq!((report.records_found, report.last_lsn, report.next_lsn), (3, Some(Lsn(6)), Lsn(7)));
    assert_eq!(report.torn_bytes_truncated, 0);
    let replayed = replay_all(&mut wal, 1).await.unwrap();
    assert_eq!(replayed, before_reopen, "the same entries before and after the reopen");
    let expected: Vec<Replayed> = vec![
        (1, b"one".to_vec(), 1),
        (2, b"two".to_vec(), 2),
        (3, b"".to_vec(), 2),
        (4, b"four".to_vec(), 2),
        (5, b"five".to_vec(), 5),
        (6, b"six".to_vec(), 5),
    ];
    assert_eq!(replayed, expected);
    assert_eq!(replay_all(&mut wal, 3).await.unwrap()[0].0, 2, "a batch comes whole even from inside it");
    assert_eq!(wal.append(b"seven").await.unwrap(), Lsn(7), "appends continue after the recovered end");
    wal.close().await.unwrap();
}

/// A transaction dropped without `commit` leaves no trace; the next append takes the next LSN.
pub async fn a_dropped_transaction_writes_nothing<H: Harness>(harness: &mut H) {
    let backend = harness.fresh().await;
    let mut wal = AsyncWal::open(backend, WalOptions::default()).await.unwrap();
    wal.append(b"before").await.unwrap();
    {
        let mut transaction = wal.transaction();
        transaction.stage(b"never").unwrap();
        transaction.stage(b"written").unwrap();
    }
    assert_eq!(wal.next_lsn(), Lsn(2), "a dropped transaction takes no LSN");
    wal.append(b"after").await.unwrap();
    let backend = harness.reopen(wal.close().await.unwrap()).await;
    let mut wal = AsyncWal::open(backend, WalOptions::default()).await.unwrap();
    assert_eq!(payloads(&replay_all(&mut wal, 1).await.unwrap()), vec![b"before".to_vec(), b"after".to_vec()]);
    wal.close().await.unwrap();
}

/// `record_bytes_max` accepts a record of exactly that size and rejects one byte more, writing nothing; the same
/// for a staged transaction and a batch.
pub async fn records_at_the_size_limit_are_accepted_and_one_byte_more_is_rejected<H: Harness>(harness: &mut H) {
    let limit = 1000usize;
    let options = WalOptions { record_bytes_max: limit as u64, ..WalOptions::default() };
    let backend = harness.fresh().await;
    let mut wal = AsyncWal::open(backend, options.clone()).await.unwrap();
    assert_eq!(wal.append(&vec![7; limit]).await.unwrap(), Lsn(1));
    let rejected = wal.append(&vec![8; limit + 1]).await;
    assert!(
        matches!(rejected, Err(WalError::RecordTooLarge { length_bytes: 1001, limit_bytes: 1000 })),
        "{rejected:?}"
    );
    // A batch of one operation has 8 bytes of framing in its payload.
    let fits = vec![9; limit - 8];
    assert_eq!(wal.append_batch(&[&fits]).await.unwrap().first, Lsn(2));
    let over = vec![9; limit - 7];
    assert!(matches!(wal.append_batch(&[&over]).await, Err(WalError::RecordTooLarge { length_bytes: 1001, .. })));
    let mut transaction = wal.transaction();
    transaction.stage(&fits).unwrap();
    assert!(matches!(transaction.stage(b""), Err(WalError::RecordTooLarge { length_bytes: 1004, .. })));
    assert_eq!(transaction.operation_count(), 1, "the rejected operation was not staged");
    assert_eq!(transaction.commit().await.unwrap().first, Lsn(3));
    assert_eq!(wal.next_lsn(), Lsn(4));
    let backend = harness.reopen(wal.close().await.unwrap()).await;
    let mut wal = AsyncWal::open(backend, options).await.unwrap();
    let replayed = replay_all(&mut wal, 1).await.unwrap();
    assert_eq!(
        replayed.iter().map(|(lsn, payload, _)| (*lsn, payload.len())).collect::<Vec<_>>(),
        vec![(1, limit), (2, limit - 8), (3, limit - 8)]
    );
    wal.close().await.unwrap();
    // The hard cap is enforced on the options too.
    let too_big = WalOptions { record_bytes_max: format::RECORD_BYTES_MAX + 1, ..WalOptions::default() };
    assert!(matches!(AsyncWal::open(harness.fresh().await, too_big).await, Err(WalError::InvalidOptions { .. })));
}

/// Small segments rotate; replay from every LSN yields exactly the suffix, across segment boundaries.
pub async fn segments_rotate_and_replay_crosses_them_from_any_lsn<H: Harness>(harness: &mut H) {
    let backend = harness.fresh().await;
    let mut wal = AsyncWal::open(backend, small_segments()).await.unwrap();
    let written: Vec<Vec<u8>> = (0..40u8).map(|index| vec![index; usize::from(index % 7) * 9]).collect();
    for payload in &written {
        wal.append(payload).await.unwrap();
    }
    assert!(wal.segment_count() > 5, "{} segments", wal.segment_count());
    let backend = harness.reopen(wal.close().await.unwrap()).await;
    let mut wal = AsyncWal::open(backend, small_segments()).await.unwrap();
    for from in [1u64, 2, 17, 39, 40] {
        let replayed = replay_all(&mut wal, from).await.unwrap();
        assert_eq!(payloads(&replayed), written[from as usize - 1..].to_vec(), "replay from {from}");
    }
    assert!(replay_all(&mut wal, 41).await.unwrap().is_empty());
    wal.close().await.unwrap();
}

/// A checkpoint deletes only segments wholly below the LSN (never the active one); the log reopens starting above 1
/// and keeps every record at or above the checkpoint.
pub async fn checkpoint_deletes_whole_segments_and_the_log_reopens_above_one<H: Harness>(harness: &mut H) {
    let backend = harness.fresh().await;
    let mut wal = AsyncWal::open(backend, small_segments()).await.unwrap();
    for index in 0..30u8 {
        wal.append(&[index; 40]).await.unwrap();
    }
    let segments_before = wal.segment_count();
    let deleted = wal.checkpoint(Lsn(20)).await.unwrap();
    assert!(deleted > 0 && deleted < segments_before, "{deleted} of {segments_before}");
    assert!(wal.first_lsn() <= Lsn(21) && wal.first_lsn() > Lsn(1), "first LSN {}", wal.first_lsn());
    let first = wal.first_lsn().get();
    let remaining = wal.segment_count();
    assert_eq!(wal.checkpoint(Lsn(1_000)).await.unwrap(), remaining - 1, "all but the active segment");
    assert_eq!(wal.segment_count(), 1, "the active segment stays");
    let last_first = wal.first_lsn().get();
    assert!(last_first >= first);
    let backend = harness.reopen(wal.close().await.unwrap()).await;
    assert_eq!(segment_keys(&backend).await.len(), 1);
    let mut wal = AsyncWal::open(backend, small_segments()).await.unwrap();
    assert_eq!(wal.recovery_report().first_lsn, Lsn(last_first));
    let replayed = replay_all(&mut wal, 1).await.unwrap();
    assert_eq!(replayed.last().map(|(lsn, _, _)| *lsn), Some(30));
    assert_eq!(replayed.first().map(|(lsn, _, _)| *lsn), Some(last_first));
    assert_eq!(wal.append(b"next").await.unwrap(), Lsn(31));
    wal.close().await.unwrap();
}

/// Garbage after the last record (a torn write) is cut off at open, before new appends, so records appended after
/// it are found by the next open, even when that open follows an abandoned (unclosed) log.
pub async fn append_after_a_torn_tail_keeps_every_acknowledged_record<H: Harness>(harness: &mut H) {
    let backend = harness.fresh().await;
    let mut wal = AsyncWal::open(backend, WalOptions::default()).await.unwrap();
    wal.append(b"first").await.unwrap();
    wal.append(b"second").await.unwrap();
    let backend = wal.abandon();
    let segment = segment_keys(&backend).await.pop().unwrap();
    backend.append(&segment, &[0xEE; 77]).await.unwrap();
    backend.sync(&segment).await.unwrap();
    let backend = harness.reopen(backend).await;
    let mut wal = AsyncWal::open(backend, WalOptions::default()).await.unwrap();
    let report = wal.recovery_report().clone();
    assert_eq!(report.torn_bytes_truncated, 77);
    assert_eq!(report.torn_tail.as_ref().map(|torn| torn.segment.clone()), Some(segment.to_string()));
    assert_eq!(wal.append(b"third").await.unwrap(), Lsn(3));
    let backend = harness.reopen(wal.abandon()).await;
    let mut wal = AsyncWal::open(backend, WalOptions::default()).await.unwrap();
    assert_eq!(wal.recovery_report().torn_bytes_truncated, 0);
    assert_eq!(
        payloads(&replay_all(&mut wal, 1).await.unwrap()),
        vec![b"first".to_vec(), b"second".to_vec(), b"third".to_vec()]
    );
    wal.close().await.unwrap();
}

/// After a clean close the tail is sealed and the next open rewrites nothing; after an abandoned log the open
/// rewrites the unproven tail once (atomically), and the records survive both.
pub async fn an_unsealed_tail_is_rewritten_and_a_sealed_one_is_not<H: Harness>(harness: &mut H) {
    let backend = harness.fresh().await;
    let mut wal = AsyncWal::open(backend, WalOptions::default()).await.unwrap();
    wal.append(b"a").await.unwrap();
    let backend = harness.reopen(wal.abandon()).await;
    let wal = AsyncWal::open(backend, WalOptions::default()).await.unwrap();
    assert_eq!(wal.recovery_report().unproven_bytes_rewritten, 32 + 33);
    let backend = harness.reopen(wal.close().await.unwrap()).await;
    let mut wal = AsyncWal::open(backend, WalOptions::default()).await.unwrap();
    assert_eq!(wal.recovery_report().unproven_bytes_rewritten, 0, "sealed by close");
    wal.append(b"b").await.unwrap();
    let backend = harness.reopen(wal.close().await.unwrap()).await;
    let mut wal = AsyncWal::open(backend, WalOptions::default()).await.unwrap();
    assert_eq!(wal.recovery_report().unproven_bytes_rewritten, 0);
    assert_eq!(payloads(&replay_all(&mut wal, 1).await.unwrap()), vec![b"a".to_vec(), b"b".to_vec()]);
    wal.close().await.unwrap();
}

/// Flips one byte of `key` at `offset` through the backend.
pub async fn flip_byte<B: AsyncStorageBackend>(backend: &B, key: &Key, offset: usize) {
    let mut bytes = backend.read(key).await.unwrap().unwrap();
    bytes[offset] ^= 0x40;
    backend.atomic_write(key, &bytes).await.unwrap();
}

async fn log_with_six_segments<H: Harness>(harness: &mut H) -> (H::Backend, Vec<Key>) {
    let backend = harness.fresh().await;
    let mut wal = AsyncWal::open(backend, small_segments()).await.unwrap();
    for index in 0..12u8 {
        wal.append(&[index; 60]).await.unwrap(); // 92-byte records: two per 256-byte segment
    }
    let backend = wal.close().await.unwrap();
    let keys = segment_keys(&backend).await;
    assert_eq!(keys.len(), 6);
    (backend, keys)
}

/// A bad record in an older segment (followed by valid ones) is [`WalError::Corrupted`] naming the segment and
/// offset, never a silent truncation; a bad record in the last segment followed by a record proving it durable too.
pub async fn mid_log_corruption_is_a_typed_error<H: Harness>(harness: &mut H) {
    let (backend, keys) = log_with_six_segments(harness).await;
    let second_record_payload = format::SEGMENT_HEADER_BYTES + 92 + format::RECORD_HEADER_BYTES + 5;
    flip_byte(&backend, &keys[1], second_record_payload).await;
    let backend = harness.reopen(backend).await;
    let error = AsyncWal::open(backend, small_segments()).await.unwrap_err();
    match &error {
        WalError::Corrupted { segment, offset, reason } => {
            assert_eq!(segment, keys[1].as_str());
            assert_eq!(*offset, (format::SEGMENT_HEADER_BYTES + 92) as u64);
            assert!(matches!(reason, CorruptionReason::DamageInClosedSegment { .. }), "{reason:?}");
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
    // In the last segment: the first of its two records is damaged, the second (framed after the first was
    // synced) proves it was durable.
    let (backend, keys) = log_with_six_segments(harness).await;
    flip_byte(&backend, &keys[5], format::SEGMENT_HEADER_BYTES + format::RECORD_HEADER_BYTES + 1).await;
    let backend = harness.reopen(backend).await;
    let error = AsyncWal::open(backend, small_segments()).await.unwrap_err();
    assert!(
        matches!(
            &error,
            WalError::Corrupted { reason: CorruptionReason::AcknowledgedRecordDamaged { .. }, offset: 32, .. }
        ),
        "{error:?}"
    );
}

/// [`RecoveryMode::SalvagePrefix`] opens a damaged log, keeps the records before the damage, drops the rest durably
/// and reports it; the log then accepts appends and reopens cleanly in strict mode.
pub async fn salvage_mode_keeps_the_valid_prefix_and_reports_the_rest<H: Harness>(harness: &mut H) {
    let (backend, keys) = log_with_six_segments(harness).await;
    flip_byte(&backend, &keys[2], format::SEGMENT_HEADER_BYTES + 92 + 40).await;
    let backend = harness.reopen(backend).await;
    let salvage = WalOptions { recovery_mode: RecoveryMode::SalvagePrefix, ..small_segments() };
    let mut wal = AsyncWal::open(backend, salvage).await.unwrap();
    let report = wal.recovery_report().clone();
    let details = report.salvage.clone().expect("a salvage report");
    assert_eq!(details.segment, keys[2].as_str());
    assert_eq!(details.offset, (format::SEGMENT_HEADER_BYTES + 92) as u64);
    assert_eq!(details.segments_dropped, keys[3..].iter().map(|key| key.to_string()).collect::<Vec<_>>());
    assert!(details.bytes_dropped >= 92 * 7, "{} bytes dropped", details.bytes_dropped);
    assert_eq!(report.next_lsn, Lsn(6));
    let replayed = replay_all(&mut wal, 1).await.unwrap();
    assert_eq!(payloads(&replayed), (0..5u8).map(|index| vec![index; 60]).collect::<Vec<_>>());
    assert_eq!(wal.append(b"after salvage").await.unwrap(), Lsn(6));
    let backend = harness.reopen(wal.close().await.unwrap()).await;
    let mut wal = AsyncWal::open(backend, small_segments()).await.unwrap();
    assert!(wal.recovery_report().salvage.is_none());
    assert_eq!(replay_all(&mut wal, 6).await.unwrap(), vec![(6, b"after salvage".to_vec(), 6)]);
    wal.close().await.unwrap();
}

/// Typed errors for an empty batch or transaction, and for out-of-range options.
pub async fn empty_batches_and_bad_options_are_rejected<H: Harness>(harness: &mut H) {
    let backend = harness.fresh().await;
    let mut wal = AsyncWal::open(backend, WalOptions::default()).await.unwrap();
    assert!(matches!(wal.append_batch(&[]).await, Err(WalError::EmptyBatch)));
    assert!(matches!(wal.transaction().commit().await, Err(WalError::EmptyBatch)));
    assert_eq!(wal.next_lsn(), Lsn(1));
    let _backend = wal.close().await.unwrap();
    let tiny = WalOptions { segment_bytes_max: format::SEGMENT_BYTES_MIN - 1, ..WalOptions::default() };
    assert!(matches!(AsyncWal::open(harness.fresh().await, tiny).await, Err(WalError::InvalidOptions { .. })));
    let prefix = WalOptions { key_prefix: "Bad Prefix".to_owned(), ..WalOptions::default() };
    assert!(matches!(AsyncWal::open(harness.fresh().await, prefix).await, Err(WalError::InvalidOptions { .. })));
}
