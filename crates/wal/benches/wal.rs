//! WAL throughput against the physical limit, measured on the same disk in the same run.
//!
//! Run: `CARGO_TARGET_DIR=/work/main/target-wal cargo bench -p wal --bench wal`. Files live under cargo's
//! per-target temp dir (`target-*/tmp`), on the workspace's disk, not a tmpfs.
//!
//! 1. `raw/pwrite_fdatasync_64b`: a plain file, `pwrite` of 64 bytes then `fdatasync`: the physical limit.
//!    `raw/pwrite_fdatasync_1536b` writes one 16-record group's worth per sync (counted as 16 elements).
//! 2. `durable/append_64b_1_writer`: `Wal::append` under `SyncPolicy::EveryCommit` on `FileBackend`.
//! 3. `durable/append_64b_16_writers`: 16 threads appending at once (group commit), total records/s.
//! 4. `unsynced/append_4kib`: `SyncPolicy::Manual`, 4 KiB records, bytes/s (1 GiB segments, see below).
//! 5. `replay/page_cache_4kib`: replay of a 128 MiB log of 4 KiB records that sits in the page cache, bytes/s.
//! 6. `replay/10k_entries`: replay of 10,000 entries of 100 bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::fs::OpenOptions;
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use storage_fs::FileBackend;
use wal::{Lsn, SyncPolicy, Wal, WalOptions, format};

/// A fresh directory under cargo's per-target temp dir, removed on drop.
struct Directory(PathBuf);

impl Directory {
    fn new(label: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let number = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wal-bench-{label}-{}-{number}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Directory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn durable(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("durable");
    group.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));

    let raw_directory = Directory::new("raw");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(raw_directory.0.join("log"))
        .unwrap();
    let record = [7u8; 64];
    let mut offset = 0u64;
    group.bench_function("raw/pwrite_fdatasync_64b", |bench| {
        bench.iter(|| {
            file.write_all_at(&record, offset).unwrap();
            file.sync_data().unwrap();
            offset += record.len() as u64;
        });
    });
    // The same loop writing what one group of 16 such records weighs (16 x 96 bytes): the device's cost per sync
    // grows with the pages a sync writes, so this bounds what 16 writers can reach.
    let group_record = [7u8; 16 * 96];
    group.throughput(Throughput::Elements(16));
    group.bench_function("raw/pwrite_fdatasync_1536b", |bench| {
        bench.iter(|| {
            file.write_all_at(&group_record, offset).unwrap();
            file.sync_data().unwrap();
            offset += group_record.len() as u64;
        });
    });
    group.throughput(Throughput::Elements(1));
    drop(file);

    let single_directory = Directory::new("single");
    let wal = Wal::open(FileBackend::open(&single_directory.0).unwrap(), WalOptions::default()).unwrap();
    let payload = [9u8; 64];
    group
        .bench_function("durable/append_64b_1_writer", |bench| bench.iter(|| wal.append(black_box(&payload)).unwrap()));
    drop(wal);

    const WRITERS: u64 = 16;
    let group_directory = Directory::new("group");
    let wal = Wal::open(FileBackend::open(&group_directory.0).unwrap(), WalOptions::default()).unwrap();
    group.throughput(Throughput::Elements(WRITERS));
    group.bench_function("durable/append_64b_16_writers", |bench| {
        bench.iter_custom(|iterations| {
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..WRITERS {
                    scope.spawn(|| {
                        for _ in 0..iterations {
                            wal.append(black_box(&payload)).unwrap();
                        }
                    });
                }
            });
            start.elapsed()
        });
    });
    drop(wal);
    group.finish();
}

fn unsynced(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("unsynced");
    group.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    let record = vec![5u8; 4096];
    group.throughput(Throughput::Bytes(record.len() as u64));
    // A rotation syncs the closed segment (only the last segment may hold a torn write), so unsynced throughput
    // is measured with the largest segments: a sync per 1 GiB.
    let options = WalOptions {
        sync_policy: SyncPolicy::Manual,
        segment_bytes_max: format::SEGMENT_BYTES_MAX,
        ..WalOptions::default()
    };
    group.bench_function("unsynced/append_4kib", |bench| {
        bench.iter_custom(|iterations| {
            let directory = Directory::new("unsynced");
            let wal = Wal::open(FileBackend::open(&directory.0).unwrap(), options.clone()).unwrap();
            let start = Instant::now();
            for _ in 0..iterations {
                wal.append(black_box(&record)).unwrap();
            }
            wal.flush().unwrap();
            let elapsed = start.elapsed();
            drop(wal);
            elapsed
        });
    });
    group.finish();
}

fn log_of(directory: &Directory, count: usize, payload_bytes: usize) -> Wal<FileBackend> {
    let options = WalOptions { sync_policy: SyncPolicy::Manual, ..WalOptions::default() };
    let wal = Wal::open(FileBackend::open(&directory.0).unwrap(), options.clone()).unwrap();
    let payload = vec![3u8; payload_bytes];
    for _ in 0..count {
        wal.append(&payload).unwrap();
    }
    wal.close().unwrap();
    Wal::open(FileBackend::open(&directory.0).unwrap(), options).unwrap()
}

fn replay(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("replay");
    group.sample_size(10).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));

    let large_directory = Directory::new("replay-large");
    let count = 32 * 1024;
    let wal = log_of(&large_directory, count, 4096);
    group.throughput(Throughput::Bytes((count * 4096) as u64));
    group.bench_function("replay/page_cache_4kib", |bench| {
        bench.iter(|| {
            let mut bytes = 0usize;
            for entry in wal.replay(Lsn(1)).unwrap() {
                bytes += black_box(entry.unwrap()).payload().len();
            }
            assert_eq!(bytes, count * 4096);
        });
    });
    drop(wal);

    let small_directory = Directory::new("replay-small");
    let wal = log_of(&small_directory, 10_000, 100);
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("replay/10k_entries", |bench| {
        bench.iter(|| {
            let mut entries = 0;
            for entry in wal.replay(Lsn(1)).unwrap() {
                black_box(entry.unwrap());
                entries += 1;
            }
            assert_eq!(entries, 10_000);
        });
    });
    drop(wal);
    group.finish();
}

criterion_group!(benches, durable, unsynced, replay);
criterion_main!(benches);
