//! `append` + `sync` of one 1 KiB record through [`FileBackend`], against the floor it is measured by: a raw
//! `pwrite` + `fdatasync` loop on a plain file in the same directory.
//!
//! ```text
//! cargo bench -p storage-fs --bench append_sync
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rustix::fs::{Mode, OFlags};
use storage_core::{Key, StorageBackend};
use storage_fs::FileBackend;

const RECORD_BYTES: usize = 1024;

fn append_sync(criterion: &mut Criterion) {
    let directory = std::env::temp_dir().join(format!("storage-fs-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    let record = vec![0xA5_u8; RECORD_BYTES];
    let mut group = criterion.benchmark_group("append_sync_1kib");
    group.sample_size(30).measurement_time(Duration::from_secs(5));

    let raw = rustix::fs::open(
        directory.join("raw"),
        OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .unwrap();
    let mut offset = 0_u64;
    group.bench_function("raw_pwrite_fdatasync", |bencher| {
        bencher.iter(|| {
            let written = rustix::io::pwrite(&raw, black_box(&record), offset).unwrap();
            assert_eq!(written, RECORD_BYTES);
            offset += RECORD_BYTES as u64;
            rustix::fs::fdatasync(&raw).unwrap();
        });
    });
    drop(raw);

    let backend = FileBackend::open(directory.join("store")).unwrap();
    let log = Key::new("wal/0001").unwrap();
    group.bench_function("file_backend_append_sync", |bencher| {
        bencher.iter(|| {
            backend.append(&log, black_box(&record)).unwrap();
            backend.sync(&log).unwrap();
        });
    });
    group.finish();
    drop(backend);
    let _ = std::fs::remove_dir_all(&directory);
}

criterion_group!(benches, append_sync);
criterion_main!(benches);
