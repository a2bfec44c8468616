//! Build a valid snapshot from the input, damage it (sometimes recomputing its checksums), parse, decode and load
//! it. See `fuzz/src/snapshot_decode.rs` for the invariants.
#![no_main]

use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|data: &[u8]| -> Corpus {
    match vecdb_fuzz::snapshot_decode::run(data) {
        Some(_) => Corpus::Keep,
        None => Corpus::Reject,
    }
});
