//! Both backends run the shared behaviour suite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use storage_core::conformance::{Harness, run_all_blocking};
use storage_mem::{MemoryBackend, SimulatedDisk};

struct MemoryHarness;

impl Harness for MemoryHarness {
    type Backend = MemoryBackend;

    async fn fresh(&mut self) -> MemoryBackend {
        MemoryBackend::new()
    }

    /// A clone shares the store: the memory backend keeps everything for the life of the process.
    async fn reopen(&mut self, backend: MemoryBackend) -> Option<MemoryBackend> {
        Some(backend.clone())
    }
}

struct DiskHarness {
    sector_bytes: u64,
}

impl Harness for DiskHarness {
    type Backend = SimulatedDisk;

    async fn fresh(&mut self) -> SimulatedDisk {
        SimulatedDisk::with_sector_bytes(self.sector_bytes)
    }

    async fn reopen(&mut self, backend: SimulatedDisk) -> Option<SimulatedDisk> {
        Some(backend.reopen())
    }
}

/// Reopens through the worst power loss: the suite's persistence case only checks synced data, so it must pass.
struct LosingCrashHarness;

impl Harness for LosingCrashHarness {
    type Backend = SimulatedDisk;

    async fn fresh(&mut self) -> SimulatedDisk {
        SimulatedDisk::new()
    }

    async fn reopen(&mut self, backend: SimulatedDisk) -> Option<SimulatedDisk> {
        Some(backend.crash_losing_everything_unsynced())
    }
}

#[test]
fn memory_backend_passes_conformance() {
    run_all_blocking(&mut MemoryHarness);
}

#[test]
fn simulated_disk_passes_conformance() {
    run_all_blocking(&mut DiskHarness { sector_bytes: 512 });
    run_all_blocking(&mut DiskHarness { sector_bytes: 1 });
    run_all_blocking(&mut LosingCrashHarness);
}

#[test]
fn memory_backend_clones_share_the_store() {
    use storage_core::{Key, StorageBackend};
    let first = MemoryBackend::new();
    let second = first.clone();
    let key = Key::new("shared").unwrap();
    first.append(&key, b"a").unwrap();
    second.append(&key, b"b").unwrap();
    assert_eq!(first.read(&key).unwrap().as_deref(), Some(&b"ab"[..]));
    assert!(format!("{first:?}").contains("keys: 1"));
}
