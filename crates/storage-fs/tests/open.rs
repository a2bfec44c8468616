//! Opening a store: the exclusive lock (in this process and across processes), orphaned temp files, the directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::process::Command;

use common::{TestDirectory, key};
use storage_core::{PersistenceError, StorageBackend};
use storage_fs::FileBackend;

/// Set in the child process of `second_process_is_locked`: the directory it must try to open.
const LOCK_CHILD_DIRECTORY: &str = "STORAGE_FS_LOCK_CHILD_DIRECTORY";

#[test]
fn second_open_is_locked() {
    let directory = TestDirectory::new("second-open");
    let log = key("log");
    let first = FileBackend::open(directory.path()).unwrap();
    first.append(&log, b"kept").unwrap();
    first.sync(&log).unwrap();
    let second = FileBackend::open(directory.path());
    assert!(
        matches!(&second, Err(PersistenceError::Locked { location }) if location == &directory.path().display().to_string()),
        "{second:?}"
    );
    assert_eq!(first.read(&log).unwrap().as_deref(), Some(&b"kept"[..]), "the holder goes on unharmed");
    first.append(&log, b"+more").unwrap();
    drop(first);
    let reopened = FileBackend::open(directory.path()).unwrap();
    assert_eq!(reopened.read(&log).unwrap().as_deref(), Some(&b"kept+more"[..]), "the lock is released on drop");
}

#[test]
fn second_process_is_locked() {
    if let Ok(child_directory) = std::env::var(LOCK_CHILD_DIRECTORY) {
        // The child: report what opening the held store gives, touching nothing else.
        let outcome = match FileBackend::open(&child_directory) {
            Err(PersistenceError::Locked { location }) => format!("child: locked at {location}"),
            Err(other) => format!("child: unexpected error {other}"),
            Ok(_) => String::from("child: opened"),
        };
        println!("{outcome}");
        return;
    }
    let directory = TestDirectory::new("second-process");
    let blob = key("manifest");
    let holder = FileBackend::open(directory.path()).unwrap();
    holder.atomic_write(&blob, b"version 1").unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "second_process_is_locked", "--nocapture", "--test-threads=1"])
        .env(LOCK_CHILD_DIRECTORY, directory.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let expected = format!("child: locked at {}", directory.path().display());
    // libtest may print "test second_process_is_locked ... " on the same line first.
    assert!(stdout.lines().any(|line| line.ends_with(&expected)), "child said: {stdout}");
    assert_eq!(holder.read(&blob).unwrap().as_deref(), Some(&b"version 1"[..]));
    assert_eq!(holder.list("").unwrap(), vec![blob.clone()], "the child created nothing");
    drop(holder);
    let reopened = FileBackend::open(directory.path()).unwrap();
    assert_eq!(reopened.read(&blob).unwrap().as_deref(), Some(&b"version 1"[..]));
}

#[test]
fn orphaned_temp_files_are_removed_at_open_and_reported() {
    let directory = TestDirectory::new("orphans");
    let blob = key("manifest");
    {
        let backend = FileBackend::open(directory.path()).unwrap();
        backend.atomic_write(&blob, b"durable").unwrap();
        assert!(backend.orphans_removed_at_open().is_empty());
    }
    // What a crash inside atomic_write leaves: temp files, written in part or whole, never renamed.
    let orphans = [".tmp-manifest-4242-0", ".tmp-wal%0001-4242-7"];
    for orphan in orphans {
        std::fs::write(directory.path().join(orphan), b"half-written new ver").unwrap();
    }
    std::fs::write(directory.path().join("Not-A-Key"), b"foreign").unwrap();
    let backend = FileBackend::open(directory.path()).unwrap();
    assert_eq!(backend.orphans_removed_at_open(), orphans);
    for orphan in orphans {
        assert!(!directory.path().join(orphan).exists(), "{orphan} is removed");
    }
    assert!(directory.path().join("Not-A-Key").exists(), "files that are no key's and no temp file are left alone");
    assert_eq!(backend.read(&blob).unwrap().as_deref(), Some(&b"durable"[..]), "the old value is intact");
    assert_eq!(backend.list("").unwrap(), vec![blob], "orphans, the lock file and foreign files are not listed");
    drop(backend);
    assert!(FileBackend::open(directory.path()).unwrap().orphans_removed_at_open().is_empty(), "reported once");
}

#[test]
fn missing_directories_are_created() {
    let root = TestDirectory::new("nested");
    let nested = root.path().join("a").join("b");
    let log = key("log");
    {
        let backend = FileBackend::open(&nested).unwrap();
        assert_eq!(backend.directory(), nested);
        backend.append(&log, b"x").unwrap();
        backend.sync(&log).unwrap();
    }
    assert!(nested.join("log").is_file());
    assert_eq!(FileBackend::open(&nested).unwrap().read(&log).unwrap().as_deref(), Some(&b"x"[..]));
}

#[test]
fn keys_with_separators_are_stored_flat() {
    let directory = TestDirectory::new("flat");
    let backend = FileBackend::open(directory.path()).unwrap();
    backend.atomic_write(&key("wal/0001"), b"segment").unwrap();
    backend.append(&key("snapshot/v1/data"), b"blob").unwrap();
    let mut names: Vec<_> = std::fs::read_dir(directory.path())
        .unwrap()
        .map(|item| item.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [".lock", "snapshot%v1%data", "wal%0001"]);
}
