//! Structure-aware fuzz targets for the storage stack (see `docs/fuzzing.md`).
//!
//! Each target is a thin `fuzz_target!` in `fuzz_targets/` that calls `run` in one module here, so the same code is
//! reachable from the seed-corpus generator (`examples/seed_corpus.rs`) and easy to debug from a plain binary:
//!
//! - [`wal_decode`]: builds a valid log through the public WAL API over `MemoryBackend`, mutates its bytes (flips,
//!   truncations, splices, deleted or renamed segments, and forged records whose checksums are recomputed), then
//!   opens and replays it in both recovery modes.
//! - [`snapshot_decode`]: builds a valid snapshot of `snapshot::testing::VectorState`, mutates it (sometimes
//!   recomputing section, table and header checksums so the state decoder and the digest check are reached), then
//!   parses, decodes and loads it.
//! - [`recovery_image`]: runs `Durable<VectorState>` workloads on `SimulatedDisk`, cuts the power at an
//!   input-chosen I/O point, builds an input-chosen crash image, recovers, and compares with a `BTreeMap` model.
//! - [`vecdb_ops`]: drives a `vecdb::Db` on `SimulatedDisk` with input-chosen valid and invalid operations, cuts
//!   the power, recovers, and compares ids, vectors and metadata with a `BTreeMap` model.
//!
//! Every `run` returns `None` when the input is too short to build anything (the target then rejects it), and
//! otherwise a short label naming what the input reached (for corpus statistics). A broken invariant panics.
//!
//! Inputs are decoded with [`arbitrary::Unstructured`], and every size and count is bounded by a `*_MAX` constant
//! so one execution stays well under a millisecond or so.

pub mod mutation;
pub mod power_cut;
pub mod recovery_image;
pub mod snapshot_decode;
pub mod vecdb_ops;
pub mod wal_decode;

/// A tiny deterministic PRNG (SplitMix64) for garbage bytes; seeded from the input.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `length` random bytes.
    pub fn bytes(&mut self, length: usize) -> Vec<u8> {
        (0..length).map(|_| self.next_u64() as u8).collect()
    }
}
