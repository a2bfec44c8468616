//! The snapshot behaviour suite, run over every backend (feature `testing`).
//!
//! Written once against [`AsyncStorageBackend`] with the asynchronous manager functions and [`AsyncDurable`], over
//! the WAL suite's [`Harness`] (whose backend must be `Clone` here: [`AsyncDurable`] shares it between the log and
//! the snapshots, so clones must be one store, an `Rc` or `Arc` around one connection or directory), so the same
//! checks run natively (through [`run_all_blocking`], over `MemoryBackend` and `FileBackend`) and on
//! IndexedDB in a browser (awaiting [`run_all`] in a `wasm-bindgen-test`). The blocking [`crate::Durable`] runs
//! the same recovery code; its threading, crash and fault tests run natively. A failed check panics with the
//! case's name: this module is test code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use storage_core::{AsyncStorageBackend, Key, block_on};
use wal::WalOptions;

pub use wal::testing::Harness;

use crate::testing::{VectorOperation, VectorState};
use crate::{
    AsyncDurable, AsyncSnapshotManager, CheckpointPolicy, DurableOptions, RETAIN_COUNT_MAX, Snapshot, SnapshotError,
    SnapshotOptions, StateMachine, snapshot_key,
};

/// Runs every case on fresh stores from `harness`.
pub async fn run_all<H: Harness>(harness: &mut H)
where
    H::Backend: Clone,
{
    save_then_load_latest_round_trips_state_lsn_and_digest(harness).await;
    retention_keeps_the_newest_snapshots_only(harness).await;
    a_corrupt_newest_snapshot_falls_back_to_the_previous_one(harness).await;
    every_snapshot_corrupt_is_a_typed_error_never_an_empty_state(harness).await;
    keys_under_the_prefix_that_are_not_snapshots_are_ignored(harness).await;
    writes_survive_a_reopen_and_recovery_reports_what_it_replayed(harness).await;
    a_checkpoint_starts_recovery_from_the_snapshot_and_deletes_the_log_before_it(harness).await;
    a_corrupt_newest_snapshot_falls_back_and_the_log_still_replays_from_the_older_one(harness).await;
    every_snapshot_corrupt_with_the_log_truncated_is_a_typed_error(harness).await;
}

/// [`run_all`] on this thread, for harnesses whose futures need no runtime (every sync backend).
pub fn run_all_blocking<H: Harness>(harness: &mut H)
where
    H::Backend: Clone,
{
    block_on(run_all(harness));
}

const DIMENSION: u32 = 4;

/// A named way to damage a snapshot's bytes.
type Damage = (&'static str, fn(&mut Vec<u8>));

/// `count` vectors of `dimension` floats, ids spaced by 3, values from the id.
pub fn state_with(count: u64, dimension: u32) -> VectorState {
    let mut state = VectorState::new(dimension);
    for id in 0..count {
        state.vectors.insert(id * 3, (0..dimension).map(|d| (id * 31 + u64::from(d)) as f32 * 0.25).collect());
    }
    state
}

fn upsert(id: u64, salt: u64) -> VectorOperation {
    VectorOperation::Upsert { id, vector: (0..DIMENSION).map(|d| (id * 7 + salt * 13 + u64::from(d)) as f32).collect() }
}

/// Small log segments (so checkpoints delete some), a fixed salt, and no automatic checkpoints.
pub fn durable_options() -> DurableOptions {
    DurableOptions {
        wal: WalOptions { segment_bytes_max: 4096, salt_seed: Some(7), ..WalOptions::default() },
        checkpoint: CheckpointPolicy { operations_max: None, log_bytes_max: None },
        ..DurableOptions::default()
    }
}

/// [`durable_options`] keeping one snapshot: a checkpoint deletes the whole log before it.
fn keeping_one_snapshot() -> DurableOptions {
    let mut options = durable_options();
    options.snapshot.retain_count = 1;
    options
}

async fn open<B: AsyncStorageBackend + Clone>(
    backend: B,
    options: DurableOptions,
) -> Result<AsyncDurable<VectorState, B>, SnapshotError> {
    AsyncDurable::open(backend, || VectorState::new(DIMENSION), options).await
}

fn model(operations: &[VectorOperation]) -> VectorState {
    let mut state = VectorState::new(DIMENSION);
    for operation in operations {
        state.apply(operation.clone());
    }
    state
}

/// Upserts ids `ids` in batches of `batch` operations (one log record and one storage write each), recording them.
async fn upsert_batches<B: AsyncStorageBackend + Clone>(
    durable: &mut AsyncDurable<VectorState, B>,
    ids: std::ops::Range<u64>,
    batch: usize,
    issued: &mut Vec<VectorOperation>,
) {
    let operations: Vec<VectorOperation> = ids.map(|id| upsert(id, 0)).collect();
    for chunk in operations.chunks(batch) {
        durable.execute_batch(chunk.to_vec()).await.unwrap();
        issued.extend_from_slice(chunk);
    }
}

/// A fresh store from `harness`, a durable state opened on it under `options`, and ids `ids` upserted into it in
/// batches of `batch`: the backend, the open state, and the operations issued.
async fn filled<H: Harness>(
    harness: &mut H,
    options: &DurableOptions,
    ids: std::ops::Range<u64>,
    batch: usize,
) -> (H::Backend, AsyncDurable<VectorState, H::Backend>, Vec<VectorOperation>)
where
    H::Backend: Clone,
{
    let backend = harness.fresh().await;
    let mut durable = open(backend.clone(), options.clone()).await.unwrap();
    let mut issued = Vec::new();
    upsert_batches(&mut durable, ids, batch, &mut issued).await;
    (backend, durable, issued)
}

async fn corrupt<B: AsyncStorageBackend>(backend: &B, lsn: u64, mutate: fn(&mut Vec<u8>)) {
    let key = snapshot_key(lsn).unwrap();
    let mut bytes = backend.read(&key).await.unwrap().unwrap();
    mutate(&mut bytes);
    backend.atomic_write(&key, &bytes).await.unwrap();
}

async fn log_segments<B: AsyncStorageBackend>(backend: &B) -> Vec<Key> {
    backend.list("wal/").await.unwrap()
}

/// A saved snapshot loads back with its state, LSN, digest and size, also after a reopen of the store.
pub async fn save_then_load_latest_round_trips_state_lsn_and_digest<H: Harness>(harness: &mut H)
where
    H::Backend: Clone,
{
    let backend = harness.fresh().await;
    let manager = AsyncSnapshotManager::new(backend.clone(), SnapshotOptions::default()).unwrap();
    assert!(manager.load_latest::<VectorState>().await.unwrap().is_none(), "an empty store has no snapshot");
    let state = state_with(100, 8);
    let saved = manager.save(&state, 55).await.unwrap();
    assert_eq!(saved.key.as_str(), "snapshot/00000000000000000055");
    drop(manager);
    let backend = harness.reopen(backend).await;
    let manager = AsyncSnapshotManager::new(backend, SnapshotOptions::default()).unwrap();
    let loaded = manager.load_latest::<VectorState>().await.unwrap().unwrap();
    assert_eq!(loaded.state, state);
    assert_eq!(loaded.lsn, 55);
    assert_eq!(loaded.digest, Snapshot::digest(&state));
    assert!(loaded.skipped.is_empty());
    assert_eq!(loaded.size_bytes, saved.size_bytes);
}

/// Saving deletes all but the newest `retain_count` snapshots; the option's limits are typed errors.
pub async fn retention_keeps_the_newest_snapshots_only<H: Harness>(harness: &mut H)
where
    H::Backend: Clone,
{
    let backend = harness.fresh().await;
    let manager = AsyncSnapshotManager::new(backend.clone(), SnapshotOptions { retain_count: 3 }).unwrap();
    for lsn in 1..=6 {
        manager.save(&state_with(lsn, 2), lsn * 10).await.unwrap();
    }
    let lsns: Vec<u64> = manager.list().await.unwrap().into_iter().map(|(lsn, _)| lsn).collect();
    assert_eq!(lsns, [40, 50, 60]);
    assert!(matches!(
        AsyncSnapshotManager::new(backend.clone(), SnapshotOptions { retain_count: 0 }),
        Err(SnapshotError::InvalidOption { .. })
    ));
    assert!(AsyncSnapshotManager::new(backend.clone(), SnapshotOptions { retain_count: RETAIN_COUNT_MAX }).is_ok());
    assert!(matches!(
        AsyncSnapshotManager::new(backend, SnapshotOptions { retain_count: RETAIN_COUNT_MAX + 1 }),
        Err(SnapshotError::InvalidOption { .. })
    ));
}

/// A newest snapshot with a flipped bit, a truncation or no bytes at all is skipped (and reported), and the older
/// one loads.
pub async fn a_corrupt_newest_snapshot_falls_back_to_the_previous_one<H: Harness>(harness: &mut H)
where
    H::Backend: Clone,
{
    let damages: [Damage; 4] = [
        ("bit flip in a vector", |bytes| bytes[200] ^= 0x10),
        ("bit flip in the header", |bytes| bytes[17] ^= 1),
        ("truncation", |bytes| bytes.truncate(bytes.len() / 2)),
        ("emptied", Vec::clear),
    ];
    for (name, damage) in damages {
        let backend = harness.fresh().await;
        let manager = AsyncSnapshotManager::new(backend.clone(), SnapshotOptions::default()).unwrap();
        let older = state_with(20, 4);
        manager.save(&older, 100).await.unwrap();
        manager.save(&state_with(30, 4), 200).await.unwrap();
        corrupt(&backend, 200, damage).await;
        let loaded = manager.load_latest::<VectorState>().await.unwrap().unwrap();
        assert_eq!(loaded.lsn, 100, "{name}: falls back to the older snapshot");
        assert_eq!(loaded.state, older, "{name}");
        assert_eq!(loaded.skipped.len(), 1, "{name}: the skipped snapshot is reported");
        assert_eq!(loaded.skipped[0].lsn, 200, "{name}");
    }
}

/// When every snapshot is damaged, loading is `AllCorrupt` listing them newest first, never an empty state.
pub async fn every_snapshot_corrupt_is_a_typed_error_never_an_empty_state<H: Harness>(harness: &mut H)
where
    H::Backend: Clone,
{
    let backend = harness.fresh().await;
    let manager = AsyncSnapshotManager::new(backend.clone(), SnapshotOptions::default()).unwrap();
    manager.save(&state_with(5, 4), 1).await.unwrap();
    manager.save(&state_with(6, 4), 2).await.unwrap();
    corrupt(&backend, 1, |bytes| bytes[100] ^= 4).await;
    corrupt(&backend, 2, |bytes| bytes.truncate(10)).await;
    match manager.load_latest::<VectorState>().await {
        Err(SnapshotError::AllCorrupt { skipped }) => {
            assert_eq!(skipped.iter().map(|skipped| skipped.lsn).collect::<Vec<_>>(), [2, 1], "newest first");
        }
        other => panic!("expected AllCorrupt, got {other:?}"),
    }
}

/// Other values under `snapshot/` are neither loaded nor counted by retention.
pub async fn keys_under_the_prefix_that_are_not_snapshots_are_ignored<H: Harness>(harness: &mut H)
where
    H::Backend: Clone,
{
    let backend = harness.fresh().await;
    backend.atomic_write(&Key::new("snapshot/notes").unwrap(), b"x").await.unwrap();
    backend.atomic_write(&Key::new("snapshot/123").unwrap(), b"x").await.unwrap();
    let manager = AsyncSnapshotManager::new(backend, SnapshotOptions::default()).unwrap();
    assert!(manager.load_latest::<VectorState>().await.unwrap().is_none());
    manager.save(&state_with(1, 1), 3).await.unwrap();
    assert_eq!(manager.list().await.unwrap().len(), 1);
}

/// Single operations, a delete and a batch survive a reopen; the recovery report counts what was replayed; writes
/// after a recovery survive the next one.
pub async fn writes_survive_a_reopen_and_recovery_reports_what_it_replayed<H: Harness>(harness: &mut H)
where
    H::Backend: Clone,
{
    let backend = harness.fresh().await;
    let mut durable = open(backend.clone(), durable_options()).await.unwrap();
    let mut issued = Vec::new();
    for id in 0..20 {
        durable.execute(upsert(id, 0)).await.unwrap();
        issued.push(upsert(id, 0));
    }
    durable.execute(VectorOperation::Delete { id: 3 }).await.unwrap();
    issued.push(VectorOperation::Delete { id: 3 });
    let batch = vec![upsert(100, 1), upsert(101, 1), VectorOperation::Delete { id: 4 }];
    let range = durable.execute_batch(batch.clone()).await.unwrap();
    assert_eq!(range.count(), 3);
    issued.extend(batch);
    assert_eq!(*durable.state(), model(&issued));
    drop(durable);

    let backend = harness.reopen(backend).await;
    let mut reopened = open(backend.clone(), durable_options()).await.unwrap();
    assert_eq!(*reopened.state(), model(&issued));
    let report = reopened.recovery_report();
    assert_eq!(report.snapshot_lsn, None);
    assert_eq!(report.operations_replayed, issued.len() as u64);
    assert_eq!(report.entries_replayed, 22, "21 single records and one batch record");
    assert_eq!(report.last_lsn, 24);
    assert_eq!(report.state_digest, Snapshot::digest(&model(&issued)));
    reopened.execute(upsert(500, 2)).await.unwrap();
    issued.push(upsert(500, 2));
    drop(reopened);
    let backend = harness.reopen(backend).await;
    assert_eq!(*open(backend, durable_options()).await.unwrap().state(), model(&issued));
}

/// After a checkpoint, recovery loads the snapshot and replays only the operations after it; with one snapshot
/// retained the log segments before it are gone.
pub async fn a_checkpoint_starts_recovery_from_the_snapshot_and_deletes_the_log_before_it<H: Harness>(harness: &mut H)
where
    H::Backend: Clone,
{
    let options = keeping_one_snapshot();
    let (backend, mut durable, mut issued) = filled(harness, &options, 0..500, 50).await;
    let segments_before = log_segments(&backend).await.len();
    assert!(segments_before > 1, "4 KiB segments: the log rotated");
    let checkpoint = durable.checkpoint().await.unwrap();
    assert_eq!(checkpoint.lsn, 500);
    assert!(checkpoint.segments_deleted >= segments_before, "{checkpoint:?}: every segment before it went");
    assert_eq!(log_segments(&backend).await.len(), 1, "only the new, empty active segment is left");
    for id in 500..510 {
        durable.execute(upsert(id, 0)).await.unwrap();
        issued.push(upsert(id, 0));
    }
    drop(durable);
    let backend = harness.reopen(backend).await;
    let reopened = open(backend, options).await.unwrap();
    let report = reopened.recovery_report();
    assert_eq!(report.snapshot_lsn, Some(500));
    assert_eq!(report.operations_replayed, 10);
    assert_eq!(*reopened.state(), model(&issued));
}

/// A damaged newest snapshot falls back to the older one, and the log from the older one on is still there: nothing
/// is lost.
pub async fn a_corrupt_newest_snapshot_falls_back_and_the_log_still_replays_from_the_older_one<H: Harness>(
    harness: &mut H,
) where
    H::Backend: Clone,
{
    let damages: [Damage; 2] =
        [("bit flip", |bytes| bytes[300] ^= 0x40), ("truncation", |bytes| bytes.truncate(bytes.len() - 5))];
    for (name, damage) in damages {
        let (backend, mut durable, mut issued) = filled(harness, &durable_options(), 0..30, 10).await;
        assert_eq!(durable.checkpoint().await.unwrap().lsn, 30);
        upsert_batches(&mut durable, 30..60, 10, &mut issued).await;
        assert_eq!(durable.checkpoint().await.unwrap().lsn, 60);
        upsert_batches(&mut durable, 60..70, 5, &mut issued).await;
        drop(durable);
        corrupt(&backend, 60, damage).await;
        let backend = harness.reopen(backend).await;
        let reopened = open(backend, durable_options()).await.unwrap();
        let report = reopened.recovery_report();
        assert!(report.fell_back(), "{name}");
        assert_eq!(report.snapshot_lsn, Some(30), "{name}");
        assert_eq!(report.operations_replayed, 40, "{name}: the log from the older snapshot on is still there");
        assert_eq!(*reopened.state(), model(&issued), "{name}: nothing lost");
    }
}

/// With one snapshot retained the log before it is gone, so a damaged snapshot is `AllCorrupt`, and a missing one
/// a `LogGap`: never an empty or partial database.
pub async fn every_snapshot_corrupt_with_the_log_truncated_is_a_typed_error<H: Harness>(harness: &mut H)
where
    H::Backend: Clone,
{
    let options = keeping_one_snapshot();
    let (backend, mut durable, _) = filled(harness, &options, 0..600, 100).await;
    let lsn = durable.checkpoint().await.unwrap().lsn;
    drop(durable);
    corrupt(&backend, lsn, |bytes| bytes[100] ^= 1).await;
    let backend = harness.reopen(backend).await;
    let error = open(backend.clone(), options.clone()).await.err().unwrap();
    assert!(matches!(error, SnapshotError::AllCorrupt { .. }), "{error}");
    backend.delete(&snapshot_key(lsn).unwrap()).await.unwrap();
    let backend = harness.reopen(backend).await;
    let error = open(backend, options).await.err().unwrap();
    assert!(matches!(error, SnapshotError::LogGap { snapshot_lsn: None, needed_lsn: 1, .. }), "{error}");
}
