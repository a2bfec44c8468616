//! The workloads the simulated-disk scenarios run.
//!
//! - [`wal::WalWorkload`]: the write-ahead log alone (appends, batches, transactions, rotations, checkpoints).
//! - [`durable::DurableWorkload`]: `snapshot::Durable<VectorState, _>` (operations, batches, snapshots, retention,
//!   log truncation).
//!
//! **Adding vecdb** (when its durable layer lands): write `vecdb.rs` here with a `VecdbWorkload` implementing
//! [`crate::Workload`] (units: inserts, deletes, batches, checkpoints; `recover` opens the database and checks its
//! recovery digest; `matches` compares with a brute-force model), add `pub mod vecdb;` below and `vecdb` to this
//! crate's `[dependencies]`, and list it in [`crate::campaign::scenarios`] next to the two above. Every scenario
//! (crash points with both tear models, the I/O error sweep) then covers it.

pub mod durable;
pub mod wal;
