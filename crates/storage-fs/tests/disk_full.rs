//! A real ENOSPC, from a size-limited tmpfs mounted for the test.
//!
//! Needs the right to mount (root, as on our test machines). There is no skip: without it the test fails and says
//! so. The switch-driven tests in `src/backend/tests.rs` cover the same paths without a mount.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::path::Path;

use common::{TestDirectory, key};
use rustix::mount::{MountFlags, UnmountFlags};
use storage_core::{Operation, PersistenceError, StorageBackend};
use storage_fs::FileBackend;

const TMPFS_BYTES: usize = 256 * 1024;

/// A tmpfs of [`TMPFS_BYTES`] mounted on a fresh directory, unmounted on drop.
struct SmallTmpfs {
    mount_point: TestDirectory,
}

impl SmallTmpfs {
    fn mount() -> Self {
        let mount_point = TestDirectory::new("tmpfs");
        std::fs::create_dir_all(mount_point.path()).unwrap();
        let options = std::ffi::CString::new(format!("size={TMPFS_BYTES},mode=0700")).unwrap();
        if let Err(errno) = rustix::mount::mount(
            "storage-fs-test",
            mount_point.path(),
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV,
            options.as_c_str(),
        ) {
            panic!(
                "mounting a {TMPFS_BYTES}-byte tmpfs on {} failed ({errno}); this test needs the right to mount \
                 (run as root) to get a real ENOSPC",
                mount_point.path().display()
            );
        }
        Self { mount_point }
    }

    fn path(&self) -> &Path {
        self.mount_point.path()
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(self.mount_point.path(), UnmountFlags::DETACH);
    }
}

fn temp_files(directory: &Path) -> usize {
    std::fs::read_dir(directory)
        .unwrap()
        .filter(|item| item.as_ref().unwrap().file_name().to_string_lossy().starts_with(".tmp-"))
        .count()
}

#[test]
fn disk_full_is_a_typed_error() {
    let tmpfs = SmallTmpfs::mount();
    let store = tmpfs.path().join("store");
    let blob = key("blob");
    let log = key("wal/0001");
    let too_big = vec![0x5A; 4 * TMPFS_BYTES];

    // An atomic write that does not fit: DiskFull, no temp file left, the old value intact, and the handle usable
    // (the target was never touched, so nothing is in doubt: the trait's contract).
    {
        let backend = FileBackend::open(&store).unwrap();
        backend.atomic_write(&blob, b"old").unwrap();
        let full = backend.atomic_write(&blob, &too_big);
        assert!(
            matches!(&full, Err(PersistenceError::DiskFull { operation: Operation::AtomicWrite, key }) if key == "blob"),
            "{full:?}"
        );
        assert_eq!(temp_files(&store), 0, "the temp file is removed");
        assert!(!backend.is_poisoned());
        assert_eq!(backend.read(&blob).unwrap().as_deref(), Some(&b"old"[..]));
        assert!(backend.delete(&blob).unwrap());
    }

    // An append that fits in part: DiskFull, and poisoned because part of it reached the file.
    let torn_bytes = {
        let backend = FileBackend::open(&store).unwrap();
        assert_eq!(backend.read(&blob).unwrap(), None, "the failed atomic write left nothing");
        backend.append(&log, b"first;").unwrap();
        backend.sync(&log).unwrap();
        let full = backend.append(&log, &too_big);
        assert!(matches!(&full, Err(PersistenceError::DiskFull { operation: Operation::Append, .. })), "{full:?}");
        assert!(backend.is_poisoned());
        drop(backend);
        let reopened = FileBackend::open(&store).unwrap();
        let length = reopened.len(&log).unwrap().unwrap();
        assert!(length > 6 && length < too_big.len() as u64, "a torn tail of {length} bytes");
        length
    };

    // The disk is now full to the page: an append of which nothing fits is DiskFull and does not poison.
    let backend = FileBackend::open(&store).unwrap();
    let full = backend.append(&log, &[1; 8192]);
    assert!(matches!(&full, Err(PersistenceError::DiskFull { operation: Operation::Append, .. })), "{full:?}");
    assert!(!backend.is_poisoned(), "nothing of the failed append reached the file");
    assert_eq!(backend.len(&log).unwrap(), Some(torn_bytes), "the value is unchanged");
    // Freeing space lets the same handle go on.
    backend.truncate(&log, 6).unwrap();
    backend.sync(&log).unwrap();
    backend.append(&log, b"second;").unwrap();
    backend.sync(&log).unwrap();
    backend.atomic_write(&blob, b"fits now").unwrap();
    drop(backend);
    let reopened = FileBackend::open(&store).unwrap();
    assert_eq!(reopened.read(&log).unwrap().as_deref(), Some(&b"first;second;"[..]));
    assert_eq!(reopened.read(&blob).unwrap().as_deref(), Some(&b"fits now"[..]));
}
