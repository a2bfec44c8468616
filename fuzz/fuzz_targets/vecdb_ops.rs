//! Drive a `vecdb::Db` on the simulated disk with input-chosen operations, cut the power at an input-chosen I/O
//! point, recover: a prefix of the issued units holding every acknowledged one. See `fuzz/src/vecdb_ops.rs`.
#![no_main]

use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|data: &[u8]| -> Corpus {
    match vecdb_fuzz::vecdb_ops::run(data) {
        Some(_) => Corpus::Keep,
        None => Corpus::Reject,
    }
});
