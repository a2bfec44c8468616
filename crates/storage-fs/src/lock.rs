//! The store's exclusive lock: `flock(LOCK_EX | LOCK_NB)` on the `.lock` file in the store's directory.

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{FlockOperation, Mode, OFlags};
use storage_core::{Operation, PersistenceError, Result};

use crate::name::LOCK_FILE_NAME;

/// Holds the exclusive lock on a store directory until dropped.
///
/// `flock` locks belong to an open file description, not to a process, so a second handle on the same directory
/// is refused even inside the same process, and the lock goes away with the last descriptor of that description
/// (on drop, or when the process dies, even by `SIGKILL`). The lock file itself stays; it holds no data.
#[derive(Debug)]
pub(crate) struct DirectoryLock {
    /// Kept open for the lock's lifetime; closing it releases the lock.
    _file: OwnedFd,
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
        Ok(Self { _file: file })
    }
}
