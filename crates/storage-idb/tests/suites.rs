//! The behaviour suites of the layers above, over IndexedDB in headless Chromium: the WAL's (`wal::testing`) and the
//! snapshots' (`snapshot::suite`), with the same format, recovery and driver code as natively. Run with
//! `cargo xtask browser-test`.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use storage_idb::{IndexedDbBackend, SharedIndexedDbBackend};
use wal::testing::Harness;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// Fresh stores are uniquely named databases (deleted first); a reopen drops the last handle, which closes the
/// connection, and opens the name again. The handle is the shared one, which the durable layers need (they clone
/// it for the log and the snapshots).
struct IndexedDbHarness {
    prefix: &'static str,
    opened: u32,
}

impl Harness for IndexedDbHarness {
    type Backend = SharedIndexedDbBackend;

    async fn fresh(&mut self) -> SharedIndexedDbBackend {
        self.opened += 1;
        let name = format!("{}-{}", self.prefix, self.opened);
        IndexedDbBackend::delete_database(&name).await.unwrap();
        SharedIndexedDbBackend::open(&name).await.unwrap()
    }

    async fn reopen(&mut self, backend: SharedIndexedDbBackend) -> SharedIndexedDbBackend {
        let name = backend.database_name().to_owned();
        drop(backend);
        SharedIndexedDbBackend::open(&name).await.unwrap()
    }
}

#[wasm_bindgen_test]
async fn the_wal_behaviour_suite_passes_on_indexed_db() {
    wal::testing::run_all(&mut IndexedDbHarness { prefix: "wal-suite", opened: 0 }).await;
}

#[wasm_bindgen_test]
async fn the_snapshot_behaviour_suite_passes_on_indexed_db() {
    snapshot::suite::run_all(&mut IndexedDbHarness { prefix: "snapshot-suite", opened: 0 }).await;
}
