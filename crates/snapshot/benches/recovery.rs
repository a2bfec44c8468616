//! Recovery time of a 100,000 x 128-float state (a snapshot plus a 10,000-record WAL tail) on the file backend,
//! against the physical floor measured in the same run: reading and checksumming the same bytes.
//!
//! `cargo bench -p snapshot --bench recovery`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use snapshot::testing::{VectorOperation, VectorState};
use snapshot::{CheckpointPolicy, Durable, DurableOptions};
use storage_core::StorageBackend;
use storage_fs::FileBackend;
use wal::{SyncPolicy, WalOptions};

const VECTORS: u64 = 100_000;
const DIMENSION: u32 = 128;
const TAIL_RECORDS: u64 = 10_000;

fn options() -> DurableOptions {
    DurableOptions {
        wal: WalOptions { sync_policy: SyncPolicy::Manual, ..WalOptions::default() },
        checkpoint: CheckpointPolicy { operations_max: None, log_bytes_max: None },
        ..DurableOptions::default()
    }
}

fn vector(id: u64) -> Vec<f32> {
    (0..DIMENSION).map(|d| ((id * 31 + u64::from(d)) % 1000) as f32 / 1000.0).collect()
}

/// Builds the store once: 100k vectors in batches, a checkpoint, then 10k single-record writes.
fn build(directory: &PathBuf) {
    let _ = std::fs::remove_dir_all(directory);
    let durable: Durable<VectorState, _> =
        Durable::open(FileBackend::open(directory).unwrap(), || VectorState::new(DIMENSION), options()).unwrap();
    for chunk in 0..VECTORS / 1000 {
        let batch =
            (chunk * 1000..(chunk + 1) * 1000).map(|id| VectorOperation::Upsert { id, vector: vector(id) }).collect();
        durable.execute_batch(batch).unwrap();
    }
    durable.checkpoint().unwrap();
    for index in 0..TAIL_RECORDS {
        let id = (index * 7919) % VECTORS;
        durable.execute(VectorOperation::Upsert { id, vector: vector(id + 1) }).unwrap();
    }
    durable.close().unwrap();
}

fn bench_recovery(criterion: &mut Criterion) {
    let directory = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("recovery-bench");
    build(&directory);
    let backend = FileBackend::open(&directory).unwrap();
    let total_bytes: u64 = backend.list("").unwrap().iter().map(|key| backend.len(key).unwrap().unwrap()).sum();
    drop(backend);
    let report = {
        let durable: Durable<VectorState, _> =
            Durable::open(FileBackend::open(&directory).unwrap(), || VectorState::new(DIMENSION), options()).unwrap();
        durable.recovery_report().clone()
    };
    eprintln!(
        "store: {total_bytes} bytes; snapshot {} bytes at LSN {:?}; {} operations replayed",
        report.snapshot_bytes, report.snapshot_lsn, report.operations_replayed
    );
    assert_eq!(report.operations_replayed, TAIL_RECORDS);

    let mut group = criterion.benchmark_group("recovery_100k_x_128");
    group.sample_size(20);
    group.measurement_time(std::time::Duration::from_secs(8));
    group.throughput(Throughput::Bytes(total_bytes));
    // Both measure only the work: dropping what was read or recovered (freeing 100k vectors) happens outside
    // the timed region, and before the next iteration (the store's lock is exclusive).
    group.bench_function("read_and_checksum_every_byte", |bencher| {
        bencher.iter_custom(|iterations| {
            timed(iterations, || {
                let backend = FileBackend::open(&directory).unwrap();
                let mut hasher = crc32fast::Hasher::new();
                let mut values = Vec::new();
                for key in backend.list("").unwrap() {
                    let bytes = backend.read(&key).unwrap().unwrap();
                    hasher.update(&bytes);
                    values.push(bytes);
                }
                (hasher.finalize(), values, backend)
            })
        });
    });
    group.bench_function("open_and_recover", |bencher| {
        bencher.iter_custom(|iterations| {
            timed(iterations, || {
                let durable: Durable<VectorState, _> =
                    Durable::open(FileBackend::open(&directory).unwrap(), || VectorState::new(DIMENSION), options())
                        .unwrap();
                assert_eq!(durable.applied_lsn(), VECTORS + TAIL_RECORDS);
                durable
            })
        });
    });
    group.finish();
}

/// Runs `work` `iterations` times and returns the time spent inside it; its result is dropped untimed.
fn timed<T>(iterations: u64, mut work: impl FnMut() -> T) -> std::time::Duration {
    let mut total = std::time::Duration::ZERO;
    for _ in 0..iterations {
        let started = std::time::Instant::now();
        let output = std::hint::black_box(work());
        total += started.elapsed();
        drop(output);
    }
    total
}

criterion_group!(benches, bench_recovery);
criterion_main!(benches);
