//! The [`StorageBackend`] trait (blocking) and [`AsyncStorageBackend`] (the same contract, asynchronous).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::error::Result;
use crate::key::Key;

/// A store of named byte values ("blobs"), the one interface the WAL, snapshots and vecdb use for storage.
///
/// # Contract
/// Every backend (file system, memory, IndexedDB) keeps this contract; the conformance suite
/// (`storage_core::conformance`, feature `conformance`) checks it.
///
/// - **Values** are byte strings under validated [`Key`]s. A value exists from its first `append` or
///   `atomic_write` until `delete`. An empty value (length 0) exists and is distinct from a missing one.
/// - **Missing keys**: [`read`](Self::read) and [`len`](Self::len) answer `Ok(None)`; [`read_range`](Self::read_range)
///   and [`truncate`](Self::truncate) fail with [`PersistenceError::NotFound`](crate::PersistenceError::NotFound);
///   [`delete`](Self::delete) of a missing key is `Ok(false)`; [`sync`](Self::sync) of a missing key is `Ok(())`.
/// - **Range reads** return the bytes in `offset..offset + length` that exist: short when the range runs past the end,
///   empty when `offset` is at or past the end. They never pad or zero-fill.
/// - **Durability.** After a crash (power loss), a value holds what its last durable point left, where durable points
///   are: `sync(key)` returning `Ok` (every earlier `append` and `truncate` of that key, and the key's existence),
///   `atomic_write` returning `Ok` (the whole new value), `delete` returning `Ok` (the key is gone).
///   Un-synced appends and truncations may survive a crash in any combination: each may be kept, lost or torn at a
///   sector boundary with garbage after it, and a later one may survive an earlier lost one (the gap reads as
///   zeros). Bytes made durable by an earlier `sync` never change. Readers must validate what lies past the last
///   point they know was synced (checksums, and what was acknowledged); the backend does not.
/// - **Atomicity.** `atomic_write` replaces the whole value or nothing: after `Err`, or a crash at any point during the
///   call, the key holds its entire old value (or stays missing), never a mix or a truncation.
/// - **Poisoning.** After a failed `sync`, a failed `atomic_write` (except a disk-full error while the new copy
///   was being written, before anything was synced or renamed: then the old value is untouched and the call may be
///   retried), and for backends that say so a failed `append`, the backend does not know what is durable. It then fails every call with
///   [`PersistenceError::Poisoned`](crate::PersistenceError::Poisoned) until it is reopened. It never retries a sync.
/// - **Concurrency.** Methods take `&self`; a backend is safe to share between threads. Calls on one key are
///   linearisable; an `append` racing a `sync` of the same key is made durable by that sync or a later one.
pub trait StorageBackend: Send + Sync {
    /// A short name for errors and reports (`"fs"`, `"memory"`).
    fn name(&self) -> &'static str;

    /// The whole value, or `None` when the key is missing.
    fn read(&self, key: &Key) -> Result<Option<Vec<u8>>>;

    /// Up to `length` bytes from `offset` (see the contract for short reads). A missing key is `NotFound`.
    fn read_range(&self, key: &Key, offset: u64, length: u64) -> Result<Vec<u8>>;

    /// The value's length in bytes, or `None` when the key is missing.
    fn len(&self, key: &Key) -> Result<Option<u64>>;

    /// Appends `data` to the value, creating it (empty) first when missing. Not durable until [`Self::sync`].
    fn append(&self, key: &Key, data: &[u8]) -> Result<()>;

    /// Makes every earlier `append` and `truncate` of `key`, and the key's existence, durable.
    fn sync(&self, key: &Key) -> Result<()>;

    /// Replaces the whole value with `data`, durably and atomically (see the contract).
    fn atomic_write(&self, key: &Key, data: &[u8]) -> Result<()>;

    /// Shortens the value to `length` bytes. A `length` beyond the current length is
    /// [`PersistenceError::InvalidArgument`](crate::PersistenceError::InvalidArgument). Not durable until `sync`.
    fn truncate(&self, key: &Key, length: u64) -> Result<()>;

    /// Removes the key durably. `Ok(true)` when it existed, `Ok(false)` when it was already missing.
    fn delete(&self, key: &Key) -> Result<bool>;

    /// Every key that starts with `prefix` (a plain string prefix; `""` lists all), sorted bytewise.
    fn list(&self, prefix: &str) -> Result<Vec<Key>>;

    /// The leftovers of interrupted `atomic_write`s (temp files) that opening this handle removed, by name, for
    /// recovery reports. Backends whose atomic writes leave nothing behind report none.
    fn orphans_removed_at_open(&self) -> Vec<String> {
        Vec::new()
    }
}

macro_rules! forward_storage_backend {
    ($($wrapper:ty),*) => {$(
        impl<B: StorageBackend + ?Sized> StorageBackend for $wrapper {
            fn name(&self) -> &'static str { (**self).name() }
            fn read(&self, key: &Key) -> Result<Option<Vec<u8>>> { (**self).read(key) }
            fn read_range(&self, key: &Key, offset: u64, length: u64) -> Result<Vec<u8>> {
                (**self).read_range(key, offset, length)
            }
            fn len(&self, key: &Key) -> Result<Option<u64>> { (**self).len(key) }
            fn append(&self, key: &Key, data: &[u8]) -> Result<()> { (**self).append(key, data) }
            fn sync(&self, key: &Key) -> Result<()> { (**self).sync(key) }
            fn atomic_write(&self, key: &Key, data: &[u8]) -> Result<()> { (**self).atomic_write(key, data) }
            fn truncate(&self, key: &Key, length: u64) -> Result<()> { (**self).truncate(key, length) }
            fn delete(&self, key: &Key) -> Result<bool> { (**self).delete(key) }
            fn list(&self, prefix: &str) -> Result<Vec<Key>> { (**self).list(prefix) }
            fn orphans_removed_at_open(&self) -> Vec<String> { (**self).orphans_removed_at_open() }
        }
    )*};
}

// A shared backend (one store used by the WAL and the snapshot manager at once) is a backend.
forward_storage_backend!(std::sync::Arc<B>, &B);

/// The [`StorageBackend`] contract with asynchronous calls, for backends that can only answer asynchronously
/// (IndexedDB). Every `StorageBackend` is one through a blanket implementation, so logic written against this trait
/// (the WAL and snapshot drivers, the conformance suite) runs on every backend.
///
/// The futures are not `Send`: the browser is single-threaded, and native callers drive sync-backed futures on the
/// calling thread with [`block_on`].
pub trait AsyncStorageBackend {
    /// See [`StorageBackend::name`].
    fn backend_name(&self) -> &'static str;
    /// See [`StorageBackend::read`].
    fn read(&self, key: &Key) -> impl Future<Output = Result<Option<Vec<u8>>>>;
    /// See [`StorageBackend::read_range`].
    fn read_range(&self, key: &Key, offset: u64, length: u64) -> impl Future<Output = Result<Vec<u8>>>;
    /// See [`StorageBackend::len`].
    fn len(&self, key: &Key) -> impl Future<Output = Result<Option<u64>>>;
    /// See [`StorageBackend::append`].
    fn append(&self, key: &Key, data: &[u8]) -> impl Future<Output = Result<()>>;
    /// See [`StorageBackend::sync`].
    fn sync(&self, key: &Key) -> impl Future<Output = Result<()>>;
    /// See [`StorageBackend::atomic_write`].
    fn atomic_write(&self, key: &Key, data: &[u8]) -> impl Future<Output = Result<()>>;
    /// See [`StorageBackend::truncate`].
    fn truncate(&self, key: &Key, length: u64) -> impl Future<Output = Result<()>>;
    /// See [`StorageBackend::delete`].
    fn delete(&self, key: &Key) -> impl Future<Output = Result<bool>>;
    /// See [`StorageBackend::list`].
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<Key>>>;
    /// See [`StorageBackend::orphans_removed_at_open`].
    fn orphans_removed_at_open(&self) -> Vec<String> {
        Vec::new()
    }
}

impl<B: StorageBackend + ?Sized> AsyncStorageBackend for B {
    fn backend_name(&self) -> &'static str {
        StorageBackend::name(self)
    }
    async fn read(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        StorageBackend::read(self, key)
    }
    async fn read_range(&self, key: &Key, offset: u64, length: u64) -> Result<Vec<u8>> {
        StorageBackend::read_range(self, key, offset, length)
    }
    async fn len(&self, key: &Key) -> Result<Option<u64>> {
        StorageBackend::len(self, key)
    }
    async fn append(&self, key: &Key, data: &[u8]) -> Result<()> {
        StorageBackend::append(self, key, data)
    }
    async fn sync(&self, key: &Key) -> Result<()> {
        StorageBackend::sync(self, key)
    }
    async fn atomic_write(&self, key: &Key, data: &[u8]) -> Result<()> {
        StorageBackend::atomic_write(self, key, data)
    }
    async fn truncate(&self, key: &Key, length: u64) -> Result<()> {
        StorageBackend::truncate(self, key, length)
    }
    async fn delete(&self, key: &Key) -> Result<bool> {
        StorageBackend::delete(self, key)
    }
    async fn list(&self, prefix: &str) -> Result<Vec<Key>> {
        StorageBackend::list(self, prefix)
    }
    fn orphans_removed_at_open(&self) -> Vec<String> {
        StorageBackend::orphans_removed_at_open(self)
    }
}

/// Runs `future` to completion on this thread, with no runtime.
///
/// Meant for futures that never wait on outside events, such as the ones a [`StorageBackend`] yields through the
/// blanket [`AsyncStorageBackend`] implementation: those finish on their first poll. A future that returns
/// `Pending` is polled again after a yield, so this stays correct (if wasteful) for any future whose progress does
/// not depend on a reactor.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::yield_now();
    }
}
