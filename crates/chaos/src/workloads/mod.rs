//! The workloads the simulated-disk scenarios run.
//!
//! - [`wal::WalWorkload`]: the write-ahead log alone (appends, batches, transactions, rotations, checkpoints).
//! - [`durable::DurableWorkload`]: `snapshot::Durable<VectorState, _>` (operations, batches, snapshots, retention,
//!   log truncation).
//!
//! - [`vecdb::VecdbWorkload`]: the vector database (inserts and upserts, atomic batches, deletes, checkpoints,
//!   compaction), checked against a brute-force model of ids, vectors and metadata.
//!
//! A new store joins every scenario (crash points with both tear models, the I/O error sweep) with one file
//! implementing [`crate::Workload`] and a line in [`crate::campaign::scenarios`].

pub mod durable;
pub mod vecdb;
pub mod wal;
