//! vecdb for JavaScript: the durable vector database in the browser, on IndexedDB, through `wasm-bindgen`.
//!
//! `cargo xtask wasm` builds the package (`web/pkg/`: `vecdb_wasm.js`, `vecdb_wasm_bg.wasm` and TypeScript
//! declarations in `vecdb_wasm.d.ts`); docs/browser.md describes the API, what is durable when, and how the demo
//! page and the browser tests run.
//!
//! ```js
//! import init, { VecDb } from "./pkg/vecdb_wasm.js";
//! await init();
//! const db = await VecDb.open("songs", { dimension: 3, metric: "cosine" });
//! await db.insert(1, new Float32Array([1, 0, 0]), { genre: "jazz", year: 1959 });
//! await db.insertBatch([{ id: 2, vector: [0, 1, 0], metadata: { genre: "rock" } }]);
//! const hits = db.search(new Float32Array([1, 0.1, 0]), 5, { filter: 'genre = "jazz"' });
//! // [{ id: 1, distance: 0.005, metadata: { genre: "jazz", year: 1959 } }]
//! await db.delete(2);
//! await db.checkpoint();
//! console.log(db.stats().count, db.stats().recovery);
//! ```
//!
//! **Targets.** The bindings (`VecDb` and `VecIndex`, in the `bindings` module) exist on `wasm32` only. On
//! every target the crate holds the parts that do not touch JavaScript, tested natively: how ids, counts and
//! options are read ([`options`]), the errors and their `kind` ([`WasmError`]), and how overlapping calls share
//! one database ([`cell`]).
//!
//! **Ids** are JavaScript numbers: safe non-negative integers (`0..=ID_MAX`, `Number.MAX_SAFE_INTEGER`). Anything
//! else (fractions, negatives, `NaN`, larger numbers, strings, BigInts) is refused with kind `"InvalidId"`, so an id
//! read back is always exactly the number written.
//!
//! ```
//! use vecdb_wasm::options::{OpenOptions, id_from_number, ID_MAX};
//! use vecdb_wasm::WasmError;
//!
//! // What `VecDb.open(name, { dimension: 50, metric: "l2", m: 8 })` configures.
//! let options = OpenOptions { dimension: Some(50.0), metric: Some("l2".into()), m: Some(8.0), ..Default::default() };
//! let config = options.database_config()?;
//! assert_eq!((config.index.dimension, config.index.m, config.index.ef_construction), (50, 8, 200));
//!
//! // Ids: safe integers only, with a typed error (its JavaScript `kind` is "InvalidId").
//! assert_eq!(id_from_number(42.0)?, 42);
//! let refused = id_from_number(0.5).unwrap_err();
//! assert_eq!(refused.kind(), "InvalidId");
//! assert!(matches!(id_from_number(ID_MAX as f64 + 2.0), Err(WasmError::InvalidId { .. })));
//! # Ok::<(), WasmError>(())
//! ```
#![deny(missing_docs)]

pub mod cell;
mod error;
pub mod options;

#[cfg(target_arch = "wasm32")]
mod bindings;

#[cfg(target_arch = "wasm32")]
pub use bindings::{VecDb, VecIndex};

/// The module's allocator: talc instead of the standard library's dlmalloc, which is larger in the module (see
/// docs/browser.md, "Bundle size"). Single-threaded wasm32 only, as the module is.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
pub use cell::PENDING_WRITES_MAX;
pub use error::WasmError;
pub use options::ID_MAX;
