//! The in-memory, sans-IO core of vecdb: an HNSW vector index with stable `u64` ids, tombstones, filtered
//! search, 8-bit scalar quantization with `f32` re-ranking, and a bounded binary encoding of the whole index;
//! per-vector [`Metadata`] with its limits and encoding; and a small [`Filter`] language over metadata.
//!
//! Nothing here does I/O, reads a clock or starts threads, and it builds for `wasm32-unknown-unknown`. The
//! durable layer (WAL, snapshots) sits on top: it logs operations, applies them here, and stores
//! [`HnswIndex::encode_into`]'s bytes so that recovery never rebuilds the graph.
//!
//! # Example
//! ```
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
//! assert!(matches!(index.search(&[1.0, 0.0], 3, None, None), Err(VecDbError::DimensionMismatch { .. })));
//! # Ok::<(), VecDbError>(())
//! ```
#![deny(missing_docs)]

mod codec;
pub mod digest;
mod error;
pub mod filter;
pub mod index;
pub mod metadata;

pub use digest::StateDigest;
pub use error::VecDbError;
pub use filter::{Filter, FilterError};
pub use index::{HnswConfig, HnswIndex, Metric, QuantizationRange, VectorEncoding};
pub use metadata::{Metadata, Value};
