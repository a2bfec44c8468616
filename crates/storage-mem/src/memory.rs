//! [`MemoryBackend`]: the simplest correct [`StorageBackend`], for tests and ephemeral stores.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use storage_core::{Key, Operation, PersistenceError, Result, StorageBackend};

/// An in-memory [`StorageBackend`]: one sorted map from key to value behind a mutex.
///
/// Everything it holds counts as durable for as long as the process lives: `sync` has nothing to do and no call
/// ever fails with an I/O error, so it never poisons. [`Clone`] gives another handle to the *same* store, which is
/// how tests "reopen" it.
///
/// ```
/// use storage_core::{Key, StorageBackend};
/// use storage_mem::MemoryBackend;
///
/// let store = MemoryBackend::new();
/// let key = Key::new("wal/1")?;
/// store.append(&key, b"hello")?;
/// let reopened = store.clone();
/// assert_eq!(reopened.read(&key)?.as_deref(), Some(&b"hello"[..]));
/// # Ok::<(), storage_core::PersistenceError>(())
/// ```
#[derive(Clone, Default)]
pub struct MemoryBackend {
    values: Arc<Mutex<BTreeMap<Key, Vec<u8>>>>,
}

impl MemoryBackend {
    /// A new, empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The map, even if another thread panicked while holding the lock.
    ///
    /// Recovering with [`PoisonError::into_inner`] is sound here: every change below is a single `BTreeMap` or
    /// `Vec` call made after all checks, so a panic (which this code never raises itself; allocation failure
    /// aborts) cannot leave a value half-changed.
    fn values(&self) -> MutexGuard<'_, BTreeMap<Key, Vec<u8>>> {
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("MemoryBackend").field("keys", &self.values().len()).finish()
    }
}

/// `offset..offset + length` clipped to a value of `value_length` bytes, as `usize` indices.
pub(crate) fn clipped_range(value_length: usize, offset: u64, length: u64) -> std::ops::Range<usize> {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(value_length);
    let end = usize::try_from(offset.saturating_add(length)).unwrap_or(usize::MAX).min(value_length);
    start..end
}

/// The length of an in-memory value as the trait's `u64`.
pub(crate) fn length_u64(bytes: &[u8]) -> u64 {
    // usize is at most 64 bits on every platform Rust supports.
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

/// The error for truncating a value of `current_bytes` to a longer `length`.
pub(crate) fn truncate_cannot_grow(key: &Key, length: u64, current_bytes: u64) -> PersistenceError {
    PersistenceError::InvalidArgument {
        operation: Operation::Truncate,
        key: key.as_str().to_owned(),
        reason: format!("cannot truncate a value of {current_bytes} bytes to a longer {length} bytes"),
    }
}

fn not_found(operation: Operation, key: &Key) -> PersistenceError {
    PersistenceError::NotFound { operation, key: key.as_str().to_owned() }
}

impl StorageBackend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn read(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        Ok(self.values().get(key).cloned())
    }

    fn read_range(&self, key: &Key, offset: u64, length: u64) -> Result<Vec<u8>> {
        let values = self.values();
        let value = values.get(key).ok_or_else(|| not_found(Operation::ReadRange, key))?;
        Ok(value.get(clipped_range(value.len(), offset, length)).unwrap_or_default().to_vec())
    }

    fn len(&self, key: &Key) -> Result<Option<u64>> {
        Ok(self.values().get(key).map(|value| length_u64(value)))
    }

    fn append(&self, key: &Key, data: &[u8]) -> Result<()> {
        self.values().entry(key.clone()).or_default().extend_from_slice(data);
        Ok(())
    }

    fn sync(&self, _key: &Key) -> Result<()> {
        Ok(())
    }

    fn atomic_write(&self, key: &Key, data: &[u8]) -> Result<()> {
        self.values().insert(key.clone(), data.to_vec());
        Ok(())
    }

    fn truncate(&self, key: &Key, length: u64) -> Result<()> {
        let mut values = self.values();
        let value = values.get_mut(key).ok_or_else(|| not_found(Operation::Truncate, key))?;
        let current_bytes = length_u64(value);
        if length > current_bytes {
            return Err(truncate_cannot_grow(key, length, current_bytes));
        }
        value.truncate(usize::try_from(length).unwrap_or(usize::MAX));
        Ok(())
    }

    fn delete(&self, key: &Key) -> Result<bool> {
        Ok(self.values().remove(key).is_some())
    }

    fn list(&self, prefix: &str) -> Result<Vec<Key>> {
        Ok(self.values().keys().filter(|key| key.has_prefix(prefix)).cloned().collect())
    }
}
