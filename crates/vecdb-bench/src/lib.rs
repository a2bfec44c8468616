//! Benchmarks of vecdb on real data and against its peers, and the report `cargo xtask bench` writes.
//!
//! - [`npy`], [`dataset`], [`truth`]: the GloVe-50 dataset `cargo xtask dataset glove-50` prepares: a `.npy`
//!   reader (Fortran order transposed), a seeded split, exact top-100 cosine ground truth on every core, and a
//!   manifest that makes preparation idempotent;
//! - [`ann`]: build time, memory per vector, recall@10 and QPS over `ef` of vecdb's HNSW index (hnswlib's side is
//!   `scripts/hnswlib_bench.py`, writing the same JSON);
//! - [`recovery`]: recovery time by database size against reading and checksumming the same bytes;
//! - `durable_db` (feature `durable-db`): inserts into a durable vecdb database from 4 writers and its reopen
//!   times;
//! - [`report`], [`plot`], [`machine`]: `report.md`, SVG plots and the machine and load they came from.
//!
//! The WAL peer comparison (okaywal, vecdb's `wal`, a raw `pwrite` + `fdatasync` loop) is the criterion bench
//! `benches/wal_peers.rs`. The binary `vecdb-bench` runs each part (`vecdb-bench help`).
//!
//! # Example
//! ```
//! use vecdb_bench::npy::{Matrix, encode_f32_matrix, parse_f32_matrix};
//! use vecdb_bench::truth::{cosine_top_k, hits_within};
//!
//! // A Fortran-order (column-major) .npy array comes back row-major.
//! let rows = Matrix { rows: 3, columns: 2, values: vec![1.0, 0.0, 0.0, 1.0, 0.7, 0.7] };
//! let parsed = parse_f32_matrix(&encode_f32_matrix(&rows, true))?;
//! assert_eq!(parsed, rows);
//!
//! // Exact nearest neighbors by cosine distance, on 2 threads: the closest first.
//! let truth = cosine_top_k(&parsed.values, &[1.0, 0.1], 2, 2, 2, false)?;
//! assert_eq!(truth.ids, vec![0, 2]);
//!
//! // Recall counted the ann-benchmarks way: within the k-th true distance (+ 1e-3).
//! assert_eq!(hits_within([truth.distances[0], 0.9], truth.distances[1], 2), 1);
//! # Ok::<(), vecdb_bench::BenchError>(())
//! ```
#![deny(missing_docs)]

pub mod ann;
pub mod dataset;
#[cfg(feature = "durable-db")]
pub mod durable_db;
mod error;
pub mod files;
pub mod machine;
pub mod npy;
pub mod plot;
pub mod recovery;
pub mod report;
pub mod rng;
pub mod truth;

pub use error::BenchError;
