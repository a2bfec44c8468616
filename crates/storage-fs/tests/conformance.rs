//! The storage-core conformance suite, plus this backend's own limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{TestDirectory, key};
use storage_core::conformance::{Harness, run_all_blocking};
use storage_core::{KEY_BYTES_MAX, PersistenceError, StorageBackend};
use storage_fs::{FileBackend, FileOptions, OPEN_FILES_MAX};

/// Fresh stores in fresh directories; a reopen drops the handle and opens its directory again.
struct FileHarness {
    directories: Vec<TestDirectory>,
}

impl Harness for FileHarness {
    type Backend = FileBackend;

    async fn fresh(&mut self) -> FileBackend {
        let directory = TestDirectory::new("conformance");
        let backend = FileBackend::open(directory.path()).unwrap();
        self.directories.push(directory);
        backend
    }

    async fn reopen(&mut self, backend: FileBackend) -> Option<FileBackend> {
        let directory = backend.directory().to_path_buf();
        drop(backend);
        Some(FileBackend::open(directory).unwrap())
    }
}

#[test]
fn file_backend_passes_conformance() {
    let mut harness = FileHarness { directories: Vec::new() };
    run_all_blocking(&mut harness);
    assert_eq!(harness.directories.len(), storage_core::conformance::CASES.len() - 1, "one store per case");
}

#[test]
fn the_open_file_limit_holds_at_the_limit_and_past_it() {
    let directory = TestDirectory::new("open-files");
    let limit = 4;
    let backend = FileBackend::open_with(directory.path(), FileOptions::default().with_open_files_max(limit)).unwrap();
    let keys: Vec<_> = (0..limit * 3).map(|index| key(&format!("segment/{index:04}"))).collect();
    for (index, segment) in keys.iter().enumerate() {
        backend.append(segment, format!("record {index};").as_bytes()).unwrap();
        assert!(backend.open_files() <= limit, "after {} keys: {} open", index + 1, backend.open_files());
        if index + 1 == limit {
            assert_eq!(backend.open_files(), limit, "at the limit every file stays open");
        }
    }
    // Closed files reopen on use, appends continue at the end, and syncs cover them.
    for (index, segment) in keys.iter().enumerate() {
        backend.append(segment, b"more;").unwrap();
        backend.sync(segment).unwrap();
        assert_eq!(backend.read(segment).unwrap().unwrap(), format!("record {index};more;").into_bytes());
        assert!(backend.open_files() <= limit);
    }
    drop(backend);
    let reopened = FileBackend::open(directory.path()).unwrap();
    assert_eq!(reopened.list("segment/").unwrap(), keys);
}

#[test]
fn open_files_max_is_checked_at_its_bounds() {
    let directory = TestDirectory::new("open-files-bounds");
    let options = FileOptions::default();
    for bad in [0, OPEN_FILES_MAX + 1] {
        let result = FileBackend::open_with(directory.path(), options.clone().with_open_files_max(bad));
        assert!(matches!(result, Err(PersistenceError::InvalidArgument { .. })), "open_files_max {bad}");
    }
    let backend = FileBackend::open_with(directory.path(), options.with_open_files_max(OPEN_FILES_MAX)).unwrap();
    backend.append(&key("a"), b"x").unwrap();
}

#[test]
fn the_longest_key_round_trips_through_append_and_atomic_write() {
    let directory = TestDirectory::new("longest-key");
    let backend = FileBackend::open(directory.path()).unwrap();
    let longest =
        key(&format!("{}/{}", "a".repeat(KEY_BYTES_MAX / 2), "b".repeat(KEY_BYTES_MAX - KEY_BYTES_MAX / 2 - 1)));
    assert_eq!(longest.as_str().len(), KEY_BYTES_MAX);
    backend.atomic_write(&longest, b"replaced").unwrap();
    backend.append(&longest, b" and appended").unwrap();
    backend.sync(&longest).unwrap();
    drop(backend);
    let reopened = FileBackend::open(directory.path()).unwrap();
    assert_eq!(reopened.list("").unwrap(), vec![longest.clone()]);
    assert_eq!(reopened.read(&longest).unwrap().as_deref(), Some(&b"replaced and appended"[..]));
}

#[test]
fn concurrent_appends_to_one_key_never_interleave_and_sync_covers_them() {
    let directory = TestDirectory::new("concurrent");
    let backend = FileBackend::open(directory.path()).unwrap();
    let log = key("log");
    let record_bytes = 64;
    let threads = 4;
    let records_per_thread = 200;
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let backend = &backend;
            let log = &log;
            scope.spawn(move || {
                for index in 0..records_per_thread {
                    let byte = b'a' + u8::try_from(thread).unwrap();
                    backend.append(log, &vec![byte; record_bytes]).unwrap();
                    if index % 50 == 0 {
                        backend.sync(log).unwrap();
                    }
                    let own = key(&format!("own/{thread}"));
                    backend.append(&own, &[byte]).unwrap();
                }
            });
        }
    });
    backend.sync(&log).unwrap();
    let value = backend.read(&log).unwrap().unwrap();
    assert_eq!(value.len(), threads * records_per_thread * record_bytes);
    for record in value.chunks(record_bytes) {
        assert!(record.iter().all(|&byte| byte == record[0]), "an append was interleaved with another");
    }
    for thread in 0..threads {
        assert_eq!(backend.len(&key(&format!("own/{thread}"))).unwrap(), Some(records_per_thread as u64));
    }
}
