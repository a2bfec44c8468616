//! [`SharedIndexedDbBackend`]: one IndexedDB connection shared by a write-ahead log and its snapshots (the durable
//! layers above, `snapshot::AsyncDurable` and `vecdb::AsyncDb`, want a `Clone` backend; an [`IndexedDbBackend`] is
//! one connection and is not `Clone`).

use std::rc::Rc;

use storage_core::{AsyncStorageBackend, Key, Result};

use crate::IndexedDbBackend;

/// An [`IndexedDbBackend`] behind an `Rc`: clones share the connection, which closes when the last one is dropped.
#[derive(Clone, Debug)]
pub struct SharedIndexedDbBackend(Rc<IndexedDbBackend>);

impl SharedIndexedDbBackend {
    /// Opens (creating when missing) the IndexedDB database `name` of this origin.
    ///
    /// # Errors
    /// The errors of [`IndexedDbBackend::open`].
    pub async fn open(name: &str) -> Result<Self> {
        Ok(Self(Rc::new(IndexedDbBackend::open(name).await?)))
    }

    /// The name of the IndexedDB database.
    pub fn database_name(&self) -> &str {
        self.0.database_name()
    }
}

impl From<IndexedDbBackend> for SharedIndexedDbBackend {
    fn from(backend: IndexedDbBackend) -> Self {
        Self(Rc::new(backend))
    }
}

impl AsyncStorageBackend for SharedIndexedDbBackend {
    fn backend_name(&self) -> &'static str {
        self.0.backend_name()
    }
    async fn read(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.0.read(key).await
    }
    async fn read_range(&self, key: &Key, offset: u64, length: u64) -> Result<Vec<u8>> {
        self.0.read_range(key, offset, length).await
    }
    async fn len(&self, key: &Key) -> Result<Option<u64>> {
        self.0.len(key).await
    }
    async fn append(&self, key: &Key, data: &[u8]) -> Result<()> {
        self.0.append(key, data).await
    }
    async fn sync(&self, key: &Key) -> Result<()> {
        self.0.sync(key).await
    }
    async fn atomic_write(&self, key: &Key, data: &[u8]) -> Result<()> {
        self.0.atomic_write(key, data).await
    }
    async fn truncate(&self, key: &Key, length: u64) -> Result<()> {
        self.0.truncate(key, length).await
    }
    async fn delete(&self, key: &Key) -> Result<bool> {
        self.0.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<Key>> {
        self.0.list(prefix).await
    }
    fn orphans_removed_at_open(&self) -> Vec<String> {
        self.0.orphans_removed_at_open()
    }
}
