//! Time and randomness for the drivers (the cores take both as arguments).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Time since the writer was opened, for [`crate::SyncPolicy::Grouped`] and group-commit gathering.
///
/// On `wasm32-unknown-unknown` there is no clock in `std`: it always answers 0, so only the size bound of a grouped
/// policy applies there (browser callers call `sync` from a timer for a time bound), and leaders never gather.
#[derive(Debug)]
pub(crate) struct Clock {
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    origin: std::time::Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
            origin: std::time::Instant::now(),
        }
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.now_us() / 1_000
    }

    /// Microseconds since the writer was opened (always 0 on `wasm32-unknown-unknown`).
    pub(crate) fn now_us(&self) -> u64 {
        #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
        {
            u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
        }
        #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
        {
            0
        }
    }
}

/// A salt seed that differs between calls and processes: the process's hashing randomness, a counter and (where
/// `std` has one) the wall clock. Salts only need to differ from those of stale bytes, not to be secret.
pub(crate) fn random_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    if let Ok(since_epoch) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(since_epoch.as_nanos());
    }
    hasher.finish()
}
