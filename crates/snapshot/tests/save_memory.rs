//! A save holds one copy of the encoded state: peak heap growth during `save` is at most the snapshot's size plus
//! a small constant. Measured with a counting global allocator (its own test binary, so no other test allocates
//! concurrently).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![allow(unsafe_code, reason = "a GlobalAlloc wrapper is unsafe by definition; it only counts and forwards")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use snapshot::testing::VectorState;
use snapshot::{SnapshotManager, SnapshotOptions};
use storage_mem::MemoryBackend;

struct Counting;

static CURRENT_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which we forward.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let now = CURRENT_BYTES.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK_BYTES.fetch_max(now, Ordering::SeqCst);
        }
        pointer
    }
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(pointer, layout) };
        CURRENT_BYTES.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn save_peak_memory_is_the_snapshot_size_plus_a_small_constant() {
    let mut state = VectorState::new(128);
    for id in 0..20_000u64 {
        state.vectors.insert(id, (0..128).map(|d| (id as f32) * 0.5 + d as f32).collect());
    }
    // A store that keeps nothing: the memory backend would hold a second copy as the stored value.
    let backend = DiscardingBackend;
    let manager = SnapshotManager::new(backend, SnapshotOptions::default()).unwrap();
    let before = CURRENT_BYTES.load(Ordering::SeqCst);
    PEAK_BYTES.store(before, Ordering::SeqCst);
    let saved = manager.save(&state, 1).unwrap();
    let growth = PEAK_BYTES.load(Ordering::SeqCst) - before;
    let allowance = 64 * 1024;
    println!("snapshot {} bytes, peak heap growth during save {growth} bytes", saved.size_bytes);
    assert!(
        growth as u64 <= saved.size_bytes + allowance,
        "peak growth {growth} exceeds the snapshot size {} + {allowance}",
        saved.size_bytes
    );
    let _ = MemoryBackend::new();
}

/// Accepts every write and keeps nothing (so the measurement sees only the save's own allocations).
struct DiscardingBackend;

impl storage_core::StorageBackend for DiscardingBackend {
    fn name(&self) -> &'static str {
        "discarding"
    }
    fn read(&self, _: &storage_core::Key) -> storage_core::Result<Option<Vec<u8>>> {
        Ok(None)
    }
    fn read_range(&self, key: &storage_core::Key, _: u64, _: u64) -> storage_core::Result<Vec<u8>> {
        Err(storage_core::PersistenceError::NotFound {
            operation: storage_core::Operation::ReadRange,
            key: key.to_string(),
        })
    }
    fn len(&self, _: &storage_core::Key) -> storage_core::Result<Option<u64>> {
        Ok(None)
    }
    fn append(&self, _: &storage_core::Key, _: &[u8]) -> storage_core::Result<()> {
        Ok(())
    }
    fn sync(&self, _: &storage_core::Key) -> storage_core::Result<()> {
        Ok(())
    }
    fn atomic_write(&self, _: &storage_core::Key, _: &[u8]) -> storage_core::Result<()> {
        Ok(())
    }
    fn truncate(&self, _: &storage_core::Key, _: u64) -> storage_core::Result<()> {
        Ok(())
    }
    fn delete(&self, _: &storage_core::Key) -> storage_core::Result<bool> {
        Ok(false)
    }
    fn list(&self, _: &str) -> storage_core::Result<Vec<storage_core::Key>> {
        Ok(Vec::new())
    }
}
