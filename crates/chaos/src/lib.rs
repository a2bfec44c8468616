//! Chaos campaigns that prove, in figures, that the storage stack keeps its durability promise: after a crash,
//! a kill, a power cut or an I/O error, recovery returns exactly the state after a prefix of the issued operations,
//! and that prefix holds every acknowledged one.
//!
//! `cargo xtask chaos [--quick | --long] [--seed N]` runs the `chaos` binary, which runs every scenario and prints a
//! Markdown table (`docs/testing.md` explains the fault models and shows the latest run):
//!
//! | scenario | fault model | module |
//! |---|---|---|
//! | crash points | power loss at every I/O point of a workload on `storage_mem::SimulatedDisk`, any-subset and in-order tear models, several seeds and sector sizes, a second crash during recovery | [`crash_points`] |
//! | process kills | SIGKILL of a writer process on the real file system, at seeded moments (some during recovery) | [`kill`], [`writer`] |
//! | power loss | a FUSE file system that keeps un-fsynced data and un-synced directory changes pending and drops or tears them at a power cut (LazyFS-style) | [`power_loss`] |
//! | I/O errors | EIO and ENOSPC at every I/O point, once and from then on | [`io_errors`] |
//!
//! Every scenario checks recovered states with one checker ([`Journal`]): a failing check is counted, never
//! panicked on, and the binary exits non-zero when anything acknowledged was lost or corrupted. A workload is a
//! [`Workload`]; adding one (vecdb's) is one file in [`workloads`] and one line in [`campaign::scenarios`].
//!
//! ```
//! use chaos::{Journal, PrefixViolation};
//!
//! // A single operation (acknowledged), then a batch of three whose call was cut short by a crash.
//! let mut journal = Journal::new();
//! journal.issue(1);
//! journal.acknowledge_through(1);
//! journal.issue(3);
//!
//! assert!(journal.check_operations(1).is_ok()); // the batch was lost: allowed, it was never acknowledged
//! assert!(journal.check_operations(4).is_ok()); // the batch survived whole: allowed
//! assert!(matches!(journal.check_operations(0), Err(PrefixViolation::AcknowledgedLost { .. })));
//! assert!(matches!(journal.check_operations(2), Err(PrefixViolation::SplitUnit { .. })));
//! assert!(matches!(journal.check_operations(5), Err(PrefixViolation::NeverIssued { .. })));
//! ```
#![deny(missing_docs)]

pub mod campaign;
mod checker;
pub mod crash_points;
mod error;
pub mod io_errors;
pub mod kill;
pub mod power_loss;
pub mod random;
mod summary;
pub mod vector_model;
mod workload;
pub mod workloads;
pub mod writer;

pub use checker::{Journal, PrefixViolation};
pub use error::ChaosError;
pub use summary::{ScenarioSummary, VIOLATION_EXAMPLES_MAX, render_table, thousands};
pub use workload::{
    FailureClass, Recovered, RunFailure, Workload, classify_persistence, classify_snapshot, classify_wal,
    recovery_violation, verify,
};
