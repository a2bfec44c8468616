//! The in-memory, sans-IO vector index: distance kernels, vector storage, the HNSW graph and its encoding.
//!
//! Nothing here does I/O, reads a clock or spawns threads; the durable layer feeds it operations and stores
//! the bytes of [`HnswIndex::encode_into`].

pub mod config;
pub mod distance;
pub mod encoding;
pub mod hnsw;
mod scratch;
pub mod vectors;

pub use config::{DIMENSION_MAX, EF_MAX, HnswConfig, K_MAX, LEVELS_MAX, M_MAX, M_MIN, NODE_COUNT_MAX, VectorEncoding};
pub use distance::Metric;
pub use encoding::{INDEX_MAGIC, IndexFormatVersion};
pub use hnsw::{FILTER_EXACT_PERCENT_MAX, HnswIndex, NodeFilter};
pub use scratch::SCRATCH_POOL_MAX;
pub use vectors::{QuantizationRange, TRAINED_MARGIN_DIVISOR};
