//! The in-memory, sans-IO vector index of `vecdb`: distance kernels, vector storage, the HNSW graph and its
//! encoding.
//!
//! Nothing here does I/O, reads a clock or spawns threads; `vecdb`'s durable layer feeds it operations and stores
//! the bytes of [`HnswIndex::encode_into`]. It is a crate of its own so that it can be used without the database,
//! and so that the browser build can optimize it for speed and the rest for size (docs/browser.md). `vecdb`
//! re-exports it as `vecdb::index`.
//!
//! ```
//! use vecdb_index::{HnswConfig, HnswIndex, Metric};
//!
//! let mut index = HnswIndex::new(HnswConfig::new(2, Metric::L2))?;
//! index.insert(7, &[1.0, 0.0])?;
//! index.insert(8, &[0.0, 1.0])?;
//! let hits = index.search(&[0.9, 0.1], 1, None, None)?;
//! assert_eq!(hits[0].0, 7);
//! # Ok::<(), vecdb_index::IndexError>(())
//! ```
#![deny(missing_docs)]

#[doc(hidden)]
pub mod codec;
pub mod config;
pub mod digest;
pub mod distance;
pub mod encoding;
mod error;
pub mod hnsw;
mod scratch;
pub mod vectors;

pub use config::{DIMENSION_MAX, EF_MAX, HnswConfig, K_MAX, LEVELS_MAX, M_MAX, M_MIN, NODE_COUNT_MAX, VectorEncoding};
pub use digest::StateDigest;
pub use distance::Metric;
pub use encoding::{INDEX_MAGIC, IndexFormatVersion};
pub use error::IndexError;
pub use hnsw::{FILTER_EXACT_PERCENT_MAX, HnswIndex, NodeFilter};
pub use scratch::SCRATCH_POOL_MAX;
pub use vectors::{QuantizationRange, TRAINED_MARGIN_DIVISOR};
