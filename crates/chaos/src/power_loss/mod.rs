//! Scenario (c): a power-loss file system in the style of LazyFS, built on FUSE.
//!
//! - [`model`]: the file system's state with durable and pending changes, and the crash image (no I/O, unit tested
//!   on its own).
//! - [`filesystem`]: the `fuser` adapter and the mount guard.
//! - [`scenario`]: the campaign step that runs the writer process on a mount and cuts the power.

pub mod filesystem;
pub mod model;
pub mod scenario;
