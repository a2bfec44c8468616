//! The behaviour suite (`snapshot::suite`) over the native backends: memory and the file system. The browser runs
//! the same suite on IndexedDB (crates/storage-idb/tests/snapshot.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use snapshot::suite::{self, Harness};
use storage_fs::FileBackend;
use storage_mem::MemoryBackend;

/// The store outlives a "reopen": a memory backend is the same store until dropped.
struct Memory;

impl Harness for Memory {
    type Backend = MemoryBackend;

    async fn fresh(&mut self) -> MemoryBackend {
        MemoryBackend::new()
    }

    async fn reopen(&mut self, backend: MemoryBackend) -> MemoryBackend {
        backend
    }
}

/// Each fresh store is a new directory under cargo's per-target temp directory; a reopen drops the last handle
/// (releasing the lock, which a leaked clone would keep: the open would then fail with `Locked`) and opens the
/// directory again.
struct Files {
    directories: Vec<PathBuf>,
}

impl Files {
    fn new() -> Self {
        Self { directories: Vec::new() }
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        for directory in &self.directories {
            let _ = std::fs::remove_dir_all(directory);
        }
    }
}

impl Harness for Files {
    type Backend = Arc<FileBackend>;

    async fn fresh(&mut self) -> Arc<FileBackend> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let number = COUNTER.fetch_add(1, Ordering::Relaxed);
        let directory =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("snapshot-suite-{}-{number}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        let backend = Arc::new(FileBackend::open(&directory).unwrap());
        self.directories.push(directory);
        backend
    }

    async fn reopen(&mut self, backend: Arc<FileBackend>) -> Arc<FileBackend> {
        let directory = backend.directory().to_path_buf();
        let backend = Arc::into_inner(backend).expect("the suite dropped every other clone before reopening");
        drop(backend);
        Arc::new(FileBackend::open(directory).unwrap())
    }
}

#[test]
fn the_snapshot_suite_passes_on_memory() {
    suite::run_all_blocking(&mut Memory);
}

#[test]
fn the_snapshot_suite_passes_on_the_file_system() {
    suite::run_all_blocking(&mut Files::new());
}
