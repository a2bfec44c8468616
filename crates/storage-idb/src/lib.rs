//! The storage contract on IndexedDB: `IndexedDbBackend` implements [`storage_core::AsyncStorageBackend`] in the
//! browser (a window or a worker), so the WAL, snapshot and recovery code runs there unchanged.
//!
//! **wasm32 only.** On every other target this crate holds only the layout constants below and no backend: it
//! compiles (so `cargo test --workspace` stays green natively) but offers nothing to store into. The backend's
//! tests run in headless Chromium: `cargo xtask browser-test` (see `docs/browser.md`).
//!
//! ```
//! // Natively only the layout is here; in the browser:
//! // let backend = storage_idb::IndexedDbBackend::open("vecdb").await?;
//! assert_eq!(storage_idb::VALUE_BYTES_MAX, (1u64 << 53) - 1);
//! assert!(storage_idb::CHUNK_BYTES_MAX <= 1 << 20);
//!
//! # #[cfg(target_arch = "wasm32")]
//! async fn example() -> Result<(), storage_core::PersistenceError> {
//!     use storage_core::{AsyncStorageBackend, Key};
//!     let backend = storage_idb::IndexedDbBackend::open("vecdb").await?;
//!     let log = Key::new("wal/00000000000000000001")?;
//!     backend.append(&log, b"record").await?; // durable once it returns (strict transaction)
//!     backend.sync(&log).await?; // a barrier; nothing left to flush
//!     assert_eq!(backend.read(&log).await?.as_deref(), Some(&b"record"[..]));
//!     Ok(())
//! }
//! ```
//!
//! # Layout
//! One IndexedDB database per store (its name is `IndexedDbBackend::open`'s argument), schema version
//! [`DATABASE_SCHEMA_VERSION`], with two object stores:
//! - [`CHUNKS_STORE`] (`"chunks"`): one record per appended chunk, under the array key `[key, offset]`, where
//!   `offset` is where the chunk starts in the value; the record is a `Uint8Array` of 1 to [`CHUNK_BYTES_MAX`]
//!   bytes. Keys sort by key, then offset, so a key range returns a value's chunks in order.
//! - [`LENGTHS_STORE`] (`"lengths"`): the value's length in bytes under the key itself. A key exists exactly when
//!   it has a length here (so an empty value exists with no chunk at all).
//!
//! Appends are real appends: `append` reads the length, writes the new bytes as new chunk records at
//! `[key, length]` (split at [`CHUNK_BYTES_MAX`]) and writes the new length, in one transaction. No existing chunk
//! is read back or rewritten. `read` fetches the value's chunks with one key range; `read_range` fetches only the
//! chunks with offsets in `offset - CHUNK_BYTES_MAX + 1 .. offset + length`, which must include the chunk holding
//! `offset` because no chunk is longer than [`CHUNK_BYTES_MAX`]. Reads check the chunks against the layout
//! (contiguous, sized 1 to [`CHUNK_BYTES_MAX`], adding up to the stored length) and report any break as
//! [`storage_core::PersistenceError::Corrupted`], never as a short or padded read. `truncate` deletes the chunks
//! at or past the new end and rewrites the one chunk that straddles it, if any, shortened. `atomic_write` deletes
//! every chunk of the key and writes the new ones and the length. `delete` removes the chunks and the length.
//!
//! # Transactions and durability
//! Every call runs in one transaction over both object stores. Each `append`, `truncate`, `atomic_write` and
//! `delete` is a read-write transaction with durability `strict`, and returns only after the transaction's
//! `complete` event: the browser then has the change on disk (with `strict`, "after verifying that all
//! outstanding changes have been successfully written to a persistent storage medium"; without the option the
//! browser picks, and may pick `relaxed`, which only hands the data to the operating system). A transaction is atomic: after an error, a closed tab or a crash
//! at any point, the value is as before the call or as after it, never in between.
//!
//! So in the browser **every acknowledged call is durable on its own**, a stronger promise than the contract's
//! "appends are durable after `sync`". `sync(key)` has nothing left to flush: it opens a read-only transaction over
//! both stores and waits for it to complete, which IndexedDB starts only after every read-write transaction
//! created before it has finished, so `sync` is a barrier for appends still in flight (started, not yet awaited).
//! The price is one disk flush per write call: batch appends (the WAL's group commit does) rather than appending
//! record by record.
//!
//! # Errors
//! | IndexedDB | [`storage_core::PersistenceError`] |
//! |---|---|
//! | `QuotaExceededError` (on a request or at commit) | `DiskFull` |
//! | `blocked` while opening (an upgrade another connection keeps waiting) or deleting the database | `Locked { location: database name }` |
//! | `VersionError` (the database is newer than [`DATABASE_SCHEMA_VERSION`]) | `Backend { message: "VersionError: …" }` |
//! | the connection was closed by a version change from elsewhere or by the browser | `Backend { message: "InvalidStateError: the connection … is closed (reason); open it again" }` |
//! | an aborted transaction without an error | `Backend { message: "AbortError: …" }` |
//! | any other `DOMException` (`UnknownError`, `InvalidStateError`, `DataError`, …) | `Backend { message: "{name}: {message}" }` |
//! | stored data that breaks the layout (a non-`Uint8Array` chunk, a gap, a bad length) | `Corrupted` |
//! | an `indexed_db_futures` value error (a stored value of the wrong type) | `Corrupted { reason: "unexpected stored value: …" }` (the crate's text; a number is printed as an integer, or as `f64 bits 0x…`: no float formatting in the module) |
//! | another `indexed_db_futures` error (not a `DOMException`) | `Backend { message: "Error: …" }` (the crate's text) |
//! | a database at our version without our object stores | `Corrupted` |
//!
//! Nothing panics on these paths.
//!
//! **Poisoning.** A failed read-write transaction or `sync` poisons the handle: every later call returns
//! [`storage_core::PersistenceError::Poisoned`] until the database is opened again. IndexedDB rolls a failed
//! transaction back, so the stored state is known; poisoning keeps the one rule every backend follows (reopen and
//! recover after a failed write). Failures that leave nothing in doubt keep the handle usable: `NotFound` and
//! `InvalidArgument` answers (refused before anything was written), and `DiskFull` from any write call (the quota
//! error aborted the whole transaction, including the creation of a missing key: free space and retry, as the
//! contract allows for a disk-full `atomic_write`).
//!
//! **Version changes.** When another connection (another tab, a newer release, `deleteDatabase`) asks for a
//! version change, the handle closes its connection at once so that connection is not blocked; transactions
//! already started finish first. Every later call fails with the `InvalidStateError` `Backend` error above. The
//! same happens when the browser closes the connection. Dropping the handle closes its connection.
#![deny(missing_docs)]

mod layout;

#[cfg(target_arch = "wasm32")]
mod backend;
#[cfg(target_arch = "wasm32")]
mod shared;

#[cfg(target_arch = "wasm32")]
pub use backend::IndexedDbBackend;
pub use layout::{CHUNK_BYTES_MAX, CHUNKS_STORE, DATABASE_SCHEMA_VERSION, LENGTHS_STORE, VALUE_BYTES_MAX};
#[cfg(target_arch = "wasm32")]
pub use shared::SharedIndexedDbBackend;
