//! The WAL's behaviour suite (`wal::testing`) over `IndexedDbBackend` in headless Chromium: the same format,
//! recovery and driver code as natively, on IndexedDB. Run with `cargo xtask browser-test`.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use storage_idb::IndexedDbBackend;
use wal::testing::{self, Harness};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// Fresh stores are uniquely named databases (deleted first); a reopen drops the handle and opens the name again.
struct IndexedDbHarness {
    opened: u32,
}

impl Harness for IndexedDbHarness {
    type Backend = IndexedDbBackend;

    async fn fresh(&mut self) -> IndexedDbBackend {
        self.opened += 1;
        let name = format!("wal-suite-{}", self.opened);
        IndexedDbBackend::delete_database(&name).await.unwrap();
        IndexedDbBackend::open(&name).await.unwrap()
    }

    async fn reopen(&mut self, backend: IndexedDbBackend) -> IndexedDbBackend {
        let name = backend.database_name().to_owned();
        drop(backend);
        IndexedDbBackend::open(&name).await.unwrap()
    }
}

#[wasm_bindgen_test]
async fn the_wal_behaviour_suite_passes_on_indexed_db() {
    testing::run_all(&mut IndexedDbHarness { opened: 0 }).await;
}
