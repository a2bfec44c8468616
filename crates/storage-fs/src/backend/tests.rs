//! Tests of the failure paths, driven by the `#[cfg(test)]` fault switches in [`super::Faults`]: a real file
//! system rarely fails an `fdatasync` on demand. The switches sit right at the syscalls (`fdatasync`, directory
//! `fsync`, `write`), so everything above them runs as in production. A real ENOSPC is tested in
//! `tests/disk_full.rs` on a size-limited tmpfs.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::io::Errno;
use storage_core::{Key, Operation, PersistenceError, StorageBackend};

use super::{FileBackend, lock};

/// A unique directory under the system temp directory, removed on drop.
struct TestDirectory(PathBuf);

impl TestDirectory {
    fn new(label: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("storage-fs-unit-{label}-{}-{counter}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }
}

impl Drop for TestDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

fn temp_files(directory: &TestDirectory) -> Vec<String> {
    std::fs::read_dir(&directory.0)
        .unwrap()
        .map(|item| item.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with(".tmp-"))
        .collect()
}

/// Every call of the trait on a poisoned backend, each of which must fail with `Poisoned`.
fn assert_every_call_is_poisoned(backend: &FileBackend, first_operation: Operation) {
    let log = key("log");
    let results = [
        backend.read(&log).map(|_| ()),
        backend.read_range(&log, 0, 1).map(|_| ()),
        backend.len(&log).map(|_| ()),
        backend.append(&log, b"x"),
        backend.sync(&log),
        backend.atomic_write(&log, b"x"),
        backend.truncate(&log, 0),
        backend.delete(&log).map(|_| ()),
        backend.list("").map(|_| ()),
    ];
    for result in results {
        assert!(
            matches!(&result, Err(PersistenceError::Poisoned { operation, .. }) if *operation == first_operation),
            "{result:?}"
        );
    }
    assert!(backend.is_poisoned());
}

#[test]
fn failed_sync_poisons_the_backend() {
    let directory = TestDirectory::new("failed-sync");
    let backend = FileBackend::open(&directory.0).unwrap();
    let log = key("log");
    backend.append(&log, b"record").unwrap();
    *lock(&backend.faults.next_file_sync) = Some(Errno::IO);
    let failed = backend.sync(&log);
    assert!(matches!(failed, Err(PersistenceError::Io { operation: Operation::Sync, ref key, .. }) if key == "log"));
    // The switch is spent: a retried sync would now succeed, but the handle must not trust it.
    assert_every_call_is_poisoned(&backend, Operation::Sync);
    assert!(matches!(backend.sync(&log), Err(PersistenceError::Poisoned { .. })));
}

#[test]
fn failed_directory_sync_poisons_the_backend() {
    let directory = TestDirectory::new("failed-directory-sync");
    let backend = FileBackend::open(&directory.0).unwrap();
    let log = key("log");
    backend.append(&log, b"record").unwrap();
    // The file was created since the last directory fsync, so this sync fsyncs the directory too.
    *lock(&backend.faults.next_directory_sync) = Some(Errno::IO);
    assert!(matches!(backend.sync(&log), Err(PersistenceError::Io { operation: Operation::Sync, .. })));
    assert_every_call_is_poisoned(&backend, Operation::Sync);
}

#[test]
fn the_directory_is_fsynced_once_per_created_file_not_per_sync() {
    let directory = TestDirectory::new("directory-sync-once");
    let backend = FileBackend::open(&directory.0).unwrap();
    let log = key("log");
    backend.append(&log, b"a").unwrap();
    backend.sync(&log).unwrap();
    // A failing directory fsync that is never attempted leaves the handle healthy.
    *lock(&backend.faults.next_directory_sync) = Some(Errno::IO);
    backend.append(&log, b"b").unwrap();
    backend.sync(&log).unwrap();
    assert!(!backend.is_poisoned());
    // A new file needs the directory fsync, which now fails.
    let other = key("other");
    backend.append(&other, b"c").unwrap();
    assert!(backend.sync(&other).is_err());
    assert!(backend.is_poisoned());
}

#[test]
fn failed_atomic_write_poisons_and_leaves_the_old_value_and_no_temp_file() {
    let directory = TestDirectory::new("failed-atomic-write");
    let blob = key("manifest");
    {
        let backend = FileBackend::open(&directory.0).unwrap();
        backend.atomic_write(&blob, b"version 1").unwrap();
        *lock(&backend.faults.next_file_sync) = Some(Errno::IO);
        let failed = backend.atomic_write(&blob, b"version 2");
        assert!(matches!(failed, Err(PersistenceError::Io { operation: Operation::AtomicWrite, .. })));
        assert!(temp_files(&directory).is_empty(), "the temp file is removed on failure");
        assert_every_call_is_poisoned(&backend, Operation::AtomicWrite);
    }
    let reopened = FileBackend::open(&directory.0).unwrap();
    assert_eq!(reopened.read(&blob).unwrap().as_deref(), Some(&b"version 1"[..]));
    assert!(reopened.orphans_removed_at_open().is_empty());
}

#[test]
fn poisoned_backend_recovers_on_reopen() {
    let directory = TestDirectory::new("recovers");
    let log = key("log");
    {
        let backend = FileBackend::open(&directory.0).unwrap();
        backend.append(&log, b"durable;").unwrap();
        backend.sync(&log).unwrap();
        backend.append(&log, b"unknown;").unwrap();
        *lock(&backend.faults.next_file_sync) = Some(Errno::IO);
        assert!(backend.sync(&log).is_err());
        assert!(matches!(backend.read(&log), Err(PersistenceError::Poisoned { .. })));
    }
    let reopened = FileBackend::open(&directory.0).unwrap();
    assert!(!reopened.is_poisoned());
    // The kernel kept the page here, so both records read back; after a real fsync failure the tail may be gone,
    // which is what the caller's recovery (checksums, torn-tail truncation) is for.
    let value = reopened.read(&log).unwrap().unwrap();
    assert!(value.starts_with(b"durable;"));
    reopened.append(&log, b"after;").unwrap();
    reopened.sync(&log).unwrap();
    assert!(reopened.read(&log).unwrap().unwrap().ends_with(b"after;"));
}

#[test]
fn disk_full_before_any_byte_is_written_leaves_the_value_unchanged_and_the_handle_usable() {
    let directory = TestDirectory::new("disk-full-clean");
    let backend = FileBackend::open(&directory.0).unwrap();
    let log = key("log");
    backend.append(&log, b"0123").unwrap();
    *lock(&backend.faults.next_write) = Some((0, Errno::NOSPC));
    let full = backend.append(&log, b"4567");
    assert!(matches!(full, Err(PersistenceError::DiskFull { operation: Operation::Append, ref key }) if key == "log"));
    assert!(!backend.is_poisoned());
    assert_eq!(backend.read(&log).unwrap().as_deref(), Some(&b"0123"[..]));
    backend.append(&log, b"4567").unwrap();
    backend.sync(&log).unwrap();
    assert_eq!(backend.read(&log).unwrap().as_deref(), Some(&b"01234567"[..]));
}

#[test]
fn disk_full_after_a_partial_write_is_typed_and_poisons() {
    let directory = TestDirectory::new("disk-full-partial");
    let backend = FileBackend::open(&directory.0).unwrap();
    let log = key("log");
    *lock(&backend.faults.next_write) = Some((3, Errno::NOSPC));
    let full = backend.append(&log, b"abcdef");
    assert!(matches!(full, Err(PersistenceError::DiskFull { operation: Operation::Append, .. })));
    assert_every_call_is_poisoned(&backend, Operation::Append);
    drop(backend);
    let reopened = FileBackend::open(&directory.0).unwrap();
    assert_eq!(reopened.read(&log).unwrap().as_deref(), Some(&b"abc"[..]), "the torn tail the caller must handle");
}

#[test]
fn any_other_failed_write_poisons() {
    let directory = TestDirectory::new("failed-write");
    let backend = FileBackend::open(&directory.0).unwrap();
    let log = key("log");
    *lock(&backend.faults.next_write) = Some((0, Errno::IO));
    assert!(matches!(backend.append(&log, b"x"), Err(PersistenceError::Io { operation: Operation::Append, .. })));
    assert_every_call_is_poisoned(&backend, Operation::Append);
}

#[test]
fn disk_full_while_writing_the_temp_copy_keeps_the_old_value_and_the_handle_usable() {
    let directory = TestDirectory::new("disk-full-atomic");
    let backend = FileBackend::open(&directory.0).unwrap();
    let blob = key("blob");
    backend.atomic_write(&blob, b"old value").unwrap();
    *lock(&backend.faults.next_write) = Some((10, Errno::NOSPC));
    let full = backend.atomic_write(&blob, &[1; 100]);
    assert!(matches!(full, Err(PersistenceError::DiskFull { operation: Operation::AtomicWrite, .. })));
    assert!(temp_files(&directory).is_empty());
    assert!(!backend.is_poisoned(), "nothing is in doubt: the target was never touched");
    assert_eq!(backend.read(&blob).unwrap().as_deref(), Some(&b"old value"[..]));
    backend.atomic_write(&blob, &[2; 100]).unwrap();
    assert_eq!(backend.read(&blob).unwrap().unwrap(), vec![2; 100], "the write can be retried");
}

#[test]
fn a_real_enospc_errno_maps_to_disk_full() {
    let error = super::errno_error(Operation::Append, "wal/1", Errno::NOSPC);
    assert!(matches!(error, PersistenceError::DiskFull { operation: Operation::Append, ref key } if key == "wal/1"));
    assert!(super::errno_error(Operation::Sync, "k", Errno::DQUOT).is_disk_full());
    assert!(super::errno_error(Operation::Read, "k", Errno::NOENT).is_not_found());
    assert!(matches!(
        super::errno_error(Operation::Lock, "/db", Errno::WOULDBLOCK),
        PersistenceError::Locked { ref location } if location == "/db"
    ));
}
