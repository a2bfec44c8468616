//! The sticky poison flag (fsyncgate): once a write or sync fails, the handle refuses every later call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use storage_core::{Operation, PersistenceError, Result};

/// Records the first fatal failure of a handle.
///
/// The hot path pays one atomic load ([`Self::check`]); the first failure is kept as a
/// [`PersistenceError::Poisoned`] that every later call gets a copy of. There is no way to clear it: the durable
/// state is known again only after a reopen, which builds a new, clean flag.
#[derive(Debug, Default)]
pub(crate) struct Poison {
    poisoned: AtomicBool,
    first: Mutex<Option<PersistenceError>>,
}

impl Poison {
    /// `Ok` while healthy, else the `Poisoned` error naming the first failure.
    #[inline]
    pub(crate) fn check(&self, operation: Operation, key: &str) -> Result<()> {
        if !self.poisoned.load(Ordering::Acquire) {
            return Ok(());
        }
        let first = self.first.lock().unwrap_or_else(PoisonError::into_inner);
        Err(match first.as_ref() {
            Some(poisoned) => poisoned.poisoned_by(operation, key),
            // Unreachable: `first` is set before the flag. Still an error, never a pass.
            None => PersistenceError::Poisoned { operation, key: key.to_owned(), cause: String::from("unknown") },
        })
    }

    /// Poisons the handle with `error` (the first poisoning wins) and hands `error` back for the failed call.
    pub(crate) fn poison(&self, error: PersistenceError, operation: Operation, key: &str) -> PersistenceError {
        let mut first = self.first.lock().unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            *first = Some(error.poisoned_by(operation, key));
        }
        self.poisoned.store(true, Ordering::Release);
        error
    }

    /// True once poisoned.
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_is_returned_as_is_then_reported_by_every_later_call() {
        let poison = Poison::default();
        assert!(poison.check(Operation::Append, "a").is_ok());
        let failure = PersistenceError::from_io(Operation::Sync, "wal/1", std::io::Error::from(rustix::io::Errno::IO));
        let returned = poison.poison(failure, Operation::Sync, "wal/1");
        assert!(matches!(returned, PersistenceError::Io { operation: Operation::Sync, .. }));
        let second = PersistenceError::from_io(Operation::Append, "b", std::io::Error::from(rustix::io::Errno::IO));
        let _ = poison.poison(second, Operation::Append, "b");
        assert!(poison.is_poisoned());
        let later = poison.check(Operation::Read, "c");
        assert!(matches!(
            later,
            Err(PersistenceError::Poisoned { operation: Operation::Sync, ref key, .. }) if key == "wal/1"
        ));
    }
}
