//! The store's exclusive lock: `flock(LOCK_EX | LOCK_NB)` on the `.lock` file in the store's directory.

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{FlockOperation, Mode, OFlags};
use storage_core::{Operation, PersistenceError, Result};

use crate::name::LOCK_FILE_NAME;

/// Holds the exclusive lock on a store directory until dropped.
///
/// `flock` locks belong to an open file description, not to a process, so a second handle on the same directory
/// is refused even inside the same process, and the lock goes away when the process dies, even by `SIGKILL`. The
/// lock file itself stays; it holds no data.
///
/// Drop unlocks explicitly (`LOCK_UN`) before closing: a child forked by another thread shares the description
/// until it execs (every descriptor here is `O_CLOEXEC`), and closing alone would leave the lock held by the
/// child's copy in that window, so a reopen right after a drop could fail with `Locked`.
#[derive(Debug)]
pub(crate) struct DirectoryLock {
    /// Kept open for the lock's lifetime; unlocked and closed on drop.
    file: OwnedFd,
}

impl DirectoryLock {
    /// Takes the lock on the directory open as `directory`, or fails with [`PersistenceError::Locked`] (naming
    /// `location`) when another handle holds it.
    pub(crate) fn acquire(directory: impl AsFd, location: &str) -> Result<Self> {
        let file = rustix::fs::openat(
            directory,
            LOCK_FILE_NAME,
            OFlags::CREATE | OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o644),
        )
        .map_err(|errno| PersistenceError::from_io(Operation::Open, location, errno.into()))?;
        rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive)
            .map_err(|errno| PersistenceError::from_io(Operation::Lock, location, errno.into()))?;
        Ok(Self { file })
    }
}

impl Drop for DirectoryLock {
    fn drop(&mut self) {
        // Nothing to do on failure: closing the descriptor next releases the lock once no copy of it remains.
        let _ = rustix::fs::flock(&self.file, FlockOperation::Unlock);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn dropping_the_lock_releases_it_even_while_a_copy_of_its_descriptor_lives() {
        let directory = std::env::temp_dir().join(format!("storage-fs-lock-copy-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let handle = std::fs::File::open(&directory).unwrap();
        let lock = DirectoryLock::acquire(&handle, "test").unwrap();
        // What a fork by another thread holds until it execs: a second descriptor of the same description.
        let copy = rustix::io::dup(&lock.file).unwrap();
        assert!(matches!(DirectoryLock::acquire(&handle, "test"), Err(PersistenceError::Locked { .. })));
        drop(lock);
        let again = DirectoryLock::acquire(&handle, "test");
        assert!(again.is_ok(), "{again:?}");
        drop((again, copy));
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
