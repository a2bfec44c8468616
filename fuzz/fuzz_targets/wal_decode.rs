//! Build a valid WAL from the input, damage it (sometimes forging checksums), open and replay it in both recovery
//! modes. See `fuzz/src/wal_decode.rs` for the invariants.
#![no_main]

use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|data: &[u8]| -> Corpus {
    match vecdb_fuzz::wal_decode::run(data) {
        Some(_) => Corpus::Keep,
        None => Corpus::Reject,
    }
});
