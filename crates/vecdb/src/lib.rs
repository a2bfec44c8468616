//! vecdb: an embedded vector database that never loses an acknowledged write. HNSW search with stable `u64` ids,
//! per-vector metadata and a small filter language, made durable by a write-ahead log and snapshots over any
//! storage backend (a directory, memory, or IndexedDB in the browser).
//!
//! - [`Db`]: the database (blocking, `Send + Sync`); [`AsyncDb`] the same over an asynchronous backend.
//! - [`DbConfig`]: dimension, metric, HNSW parameters, vector encoding, durability; stored at create and identical
//!   after every open.
//! - [`HnswIndex`], [`Filter`], [`Metadata`]: the in-memory, sans-IO core the database is built on (no I/O, no
//!   clock, no threads; builds for `wasm32-unknown-unknown`).
//!
//! Semantics (upsert, batches, what survives a crash) are in the [`db`] module's docs; the commit protocol and
//! recovery in docs/recovery.md.
//!
//! # Example
//! ```
//! use vecdb::{Db, DbConfig, Metadata, Metric, Record, SearchOptions, Value, VecDbError};
//! use vecdb::storage::MemoryBackend;
//!
//! // A store (use `Db::create_in(directory, config)` for a directory on disk).
//! let store = MemoryBackend::new();
//! let db = Db::create(store.clone(), DbConfig::new(3, Metric::Cosine))?;
//!
//! // Writes return once durable. A batch is one atomic unit.
//! let mut metadata = Metadata::new();
//! metadata.insert("genre".into(), Value::from("jazz"));
//! db.insert(1, &[1.0, 0.0, 0.0], metadata)?;
//! db.insert_batch(
//!     (2..100_u64)
//!         .map(|id| {
//!             let angle = id as f32 / 10.0;
//!             let mut metadata = Metadata::new();
//!             metadata.insert("year".into(), Value::from(1950.0 + id as f64));
//!             Record::new(id, vec![angle.cos(), angle.sin(), 0.5], metadata)
//!         })
//!         .collect(),
//! )?;
//!
//! // The 3 nearest neighbours, closest first; then only those matching a filter.
//! let hits = db.search(&[1.0, 0.0, 0.0], 3, &SearchOptions::default())?;
//! assert_eq!(hits[0].id, 1);
//! let recent = db.search(&[1.0, 0.0, 0.0], 3, &SearchOptions::filtered("year >= 2000")?)?;
//! assert!(recent.iter().all(|hit| hit.id >= 50));
//!
//! // Bad input gets a typed error and changes nothing.
//! assert!(matches!(db.insert(7, &[1.0, 0.0], Metadata::new()), Err(VecDbError::DimensionMismatch { .. })));
//! assert!(matches!(SearchOptions::filtered("year >"), Err(VecDbError::Filter(_))));
//!
//! // Reopening recovers every acknowledged write, with the configuration it was created with.
//! let digest = db.digest();
//! drop(db);
//! let db = Db::open(store)?;
//! assert_eq!((db.len(), db.digest()), (99, digest));
//! assert_eq!(db.recovery_report().operations_replayed, 99);
//! # Ok::<(), VecDbError>(())
//! ```
//!
//! # The in-memory index alone
//! ```
//! use vecdb::index::IndexError;
//! use vecdb::{Filter, HnswConfig, HnswIndex, Metadata, Metric, Value, VecDbError};
//!
//! let mut index = HnswIndex::new(HnswConfig::new(3, Metric::Cosine))?;
//! let mut metadata = Vec::new();
//! for id in 0..100_u64 {
//!     let angle = id as f32 / 10.0;
//!     index.insert(id, &[angle.cos(), angle.sin(), 0.5])?;
//!     let mut item = Metadata::new();
//!     item.insert("even".into(), Value::Bool(id % 2 == 0));
//!     metadata.push(item);
//! }
//!
//! // The 3 nearest neighbors of a query, closest first, as (id, distance).
//! let hits = index.search(&[1.0, 0.0, 0.5], 3, None, None)?;
//! assert_eq!(hits.len(), 3);
//! assert_eq!(hits[0].0, 0);
//!
//! // Deleted ids never come back; a filter is applied during the graph search.
//! index.mark_deleted(0)?;
//! let filter = Filter::parse("even = true")?;
//! let matches = |node: u32| {
//!     index.external_id(node).is_some_and(|id| filter.matches(&metadata[id as usize]))
//! };
//! let hits = index.search(&[1.0, 0.0, 0.5], 3, None, Some(&matches))?;
//! assert!(hits.iter().all(|&(id, _)| id != 0 && id % 2 == 0));
//!
//! // The whole index round-trips through bytes, with the same digest.
//! let mut bytes = Vec::new();
//! index.encode_into(&mut bytes);
//! let decoded = HnswIndex::decode(&bytes)?;
//! assert_eq!(decoded.digest(), index.digest());
//!
//! // Bad input gets a typed error.
//! assert!(matches!(index.search(&[1.0, 0.0], 3, None, None), Err(IndexError::DimensionMismatch { .. })));
//! # Ok::<(), VecDbError>(())
//! ```
#![deny(missing_docs)]

pub mod db;
mod error;
pub mod filter;
mod float_parse;
pub mod metadata;

/// The in-memory HNSW index (the crate `vecdb-index`, re-exported): what a [`Db`] searches.
pub use vecdb_index as index;
use vecdb_index::codec;
/// [`StateDigest`] (from `vecdb-index`).
pub use vecdb_index::digest;

pub use db::{
    AsyncDb, CheckpointPolicy, DatabaseState, Db, DbConfig, Durability, Hit, Record, SearchOptions, Stats, SyncPolicy,
};
pub use digest::StateDigest;
pub use error::VecDbError;
pub use filter::{Filter, FilterError};
pub use index::{HnswConfig, HnswIndex, Metric, QuantizationRange, VectorEncoding};
pub use metadata::{Metadata, Value};

/// The storage backends a database runs on, re-exported so that users depend on `vecdb` alone.
pub mod storage {
    pub use storage_core::{AsyncStorageBackend, Key, PersistenceError, StorageBackend};
    #[cfg(not(target_arch = "wasm32"))]
    pub use storage_fs::FileBackend;
    pub use storage_mem::{MemoryBackend, SimulatedDisk};
}
