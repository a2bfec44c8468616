//! In-memory [`StorageBackend`](storage_core::StorageBackend)s: [`MemoryBackend`] for tests and ephemeral stores,
//! and [`SimulatedDisk`], a model of a disk and file system for crash and fault-injection tests.
//!
//! Both pass `storage_core::conformance`. This crate depends on `storage-core` only.
//!
//! # Enumerating crash points
//!
//! Run a workload once to count its I/O points, then for every point and a few seeds: a fresh disk, power loss at
//! that point ([`SimulatedDisk::halt_at`]), the workload (it sees errors and stops), [`SimulatedDisk::crash`], and
//! the invariants checked on the disk the crash left.
//!
//! ```
//! use storage_core::{Key, PersistenceError, StorageBackend};
//! use storage_mem::SimulatedDisk;
//!
//! let key = Key::new("manifest")?;
//! let setup = |disk: &SimulatedDisk| disk.atomic_write(&key, b"old");
//! let workload = |disk: &SimulatedDisk| disk.atomic_write(&key, b"new");
//!
//! let probe = SimulatedDisk::new();
//! setup(&probe)?;
//! let start = probe.operation_count();
//! workload(&probe)?;
//! let points = probe.operation_count() - start; // create, write, sync, rename, directory sync
//! assert_eq!(points, 5);
//!
//! for point in start..=start + points {
//!     for seed in 0..8 {
//!         let disk = SimulatedDisk::new();
//!         setup(&disk)?;
//!         disk.halt_at(point);
//!         let result = workload(&disk);
//!         let after = disk.crash(seed);
//!         let value = after.read(&key)?;
//!         match result {
//!             Ok(()) => assert_eq!(value.as_deref(), Some(&b"new"[..])),
//!             Err(_) => assert!(matches!(value.as_deref(), Some(b"old") | Some(b"new"))),
//!         }
//!     }
//! }
//! # Ok::<(), PersistenceError>(())
//! ```
//!
//! # The simulated disk's model
//!
//! Modelled on SQLite's crash VFS (`test6.c`), FoundationDB's `AsyncFileNonDurable` and LazyFS: the disk is one
//! flat directory of files, used the way the file-system backend (`storage-fs`) uses a real one. Each key is one
//! file, named by the key itself (`storage-fs` escapes the `/`; the model need not); names starting with `.` are the
//! backend's own temp files and never keys.
//!
//! **State.** Each file (an inode, which outlives its names) has *durable* bytes and a list of *pending*
//! (un-synced) writes and truncates, in order. The directory has a durable name map and a list of pending
//! namespace operations (create, rename, unlink), in order. Reads see the *live* state: everything applied.
//!
//! **Calls as system calls.** Each step below is one *I/O point*, with a global 0-based index
//! ([`SimulatedDisk::operation_count`], [`SimulatedDisk::io_log`]) and an index among the points of its
//! [`OperationKind`]:
//!
//! | call | points |
//! |---|---|
//! | `read`, `read_range`, `len` | `Read` |
//! | `list` | `Read` (of the directory) |
//! | `append` | `Create` (only when the key is missing), `Write` |
//! | `sync` | `Sync` (`fdatasync`; also for a missing key), then `DirectorySync` when the key's name was created or renamed into place since the last directory sync |
//! | `atomic_write` | `Create` (temp file `.tmp-<key>-<n>`), `Write` (the whole value, even when empty), `Sync` (the temp file), `Rename` (over the key), `DirectorySync` |
//! | `truncate` | `Truncate` (claimed before the key and length are checked) |
//! | `delete` | `Unlink` (also for a missing key), then `DirectorySync` when the key existed |
//!
//! A successful `Sync` makes the file's pending operations durable; a successful `DirectorySync` makes every
//! pending namespace operation durable (for every name, as `fsync` of a directory does).
//!
//! **Power loss.** [`SimulatedDisk::crash`] builds, from a seed, a state a power loss could leave:
//! - Namespace operations survive as a *prefix* of the pending ones, in order (a journaling file system commits
//!   metadata in order). So a file created or renamed without a directory sync may be missing or keep its old name.
//! - Each file, independently of the others, keeps its durable bytes, and each of its pending writes and
//!   truncates, in order, is independently kept, dropped, or (a write) *torn*: a torn write keeps its new bytes up
//!   to a sector boundary inside the write ([`SimulatedDisk::with_sector_bytes`], default 512), then holds garbage
//!   (seeded random bytes) up to a later sector boundary or its end, which sets the file's length when it grows.
//!   A dropped write that a later surviving write extends past leaves a hole of zeros. So a valid record can follow
//!   lost or garbage bytes (SQLite's crash VFS, ALICE, LazyFS "torn-seq"). Bytes outside a write never change
//!   (SQLite's "powersafe overwrite"). [`SimulatedDisk::crash_in_order`] is the milder model in which each file
//!   keeps a *prefix* of its pending operations, the next write possibly torn (ext4 `data=ordered`).
//! - A file that was created and fsynced but whose name was never made durable is lost with its bytes.
//! - The new disk has everything durable and nothing pending; its open removes orphaned temp files and counts
//!   them ([`SimulatedDisk::orphans_removed_at_open`]). Counters, faults and poison start afresh.
//!
//! [`SimulatedDisk::crash_losing_everything_unsynced`] is the deterministic worst case (the
//! [`SimulatedDisk::durable_image`]); [`SimulatedDisk::crash_keeping_everything`] is a process kill after which
//! the kernel wrote everything back (the [`SimulatedDisk::live_image`]). [`SimulatedDisk::reopen`] is a process
//! restart *without* power loss: everything reads as before, and file data that was not durable stays not durable.
//! Like the file-system backend's open, every open (after a crash or a reopen) removes orphaned temp files and then
//! fsyncs the directory, so pending namespace operations are durable on a reopened disk.
//!
//! **Halting.** [`SimulatedDisk::halt_at`]`(n)` cuts the power at point `n`: that point and every later call fail
//! with [`PersistenceError::Io`](storage_core::PersistenceError::Io) ("simulated power loss") and change nothing,
//! not even a cleanup.
//!
//! **Injected errors.** [`SimulatedDisk::inject`] arms a [`Fault`]: at a global point index, or at the Nth point
//! of one [`OperationKind`]; once or from then on. `EIO` surfaces as `PersistenceError::Io` with raw OS error 5,
//! `ENOSPC` as `PersistenceError::DiskFull`. A failed point changes nothing, except:
//! - a failed `Sync` follows Linux since 4.13 ("fsyncgate"): the file's dirty pages are marked clean without
//!   being written. They stay readable, but are no longer pending, so no later `fsync` writes them and any power
//!   loss loses them, even after a later `fsync` (say, after a reopen) succeeds. This is the harsher of the two
//!   behaviours Linux has had, and the one it has now.
//! - a failed `DirectorySync` leaves the namespace operations pending: a crash decides their fate.
//! - when `atomic_write` fails at an injected fault after creating its temp file and before renaming it, it
//!   unlinks the temp file (a best-effort cleanup: no I/O point, never fails, not durable until a later directory
//!   sync). After power loss nothing runs, so the temp file is orphaned and the next open removes it.
//! - when `append` creates the key and then fails to write, the empty key stays (as `open(O_CREAT)` leaves it).
//!
//! **Poisoning.** A failed point poisons the handle when the handle can no longer know what is durable, by the
//! file-system backend's rules: any failed `Sync` or `DirectorySync` (whatever the errno), any failure inside
//! `atomic_write` or `truncate`, and an `EIO` from an `append`'s write. It does not poison after a failed read, a
//! failed create in `append`, a failed unlink in `delete`, or an `ENOSPC` from an `append`'s write (the model's
//! failed write writes nothing, so the value is unchanged and the caller may free space and retry). A poisoned
//! handle fails every call with [`PersistenceError::Poisoned`](storage_core::PersistenceError::Poisoned) (naming
//! the first failure) until a crash or reopen gives a new one; a halted or poisoned handle claims no more I/O
//! points.
//!
//! **Corruption.** [`SimulatedDisk::flip_bit_on_read`] makes reads of a key return one bit flipped without
//! changing what is stored; [`SimulatedDisk::corrupt_durable`] changes stored bytes.
#![deny(missing_docs)]

mod disk;
mod memory;
mod random;

pub use disk::{
    Fault, FaultError, FaultPersistence, IO_LOG_ENTRIES_MAX, IoRecord, OperationKind, SECTOR_BYTES_DEFAULT,
    SECTOR_BYTES_MAX, SimulatedDisk,
};
pub use memory::MemoryBackend;
