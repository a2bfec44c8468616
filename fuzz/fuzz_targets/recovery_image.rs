//! Crash a `Durable<VectorState>` on the simulated disk at an input-chosen I/O point; recovery must give a prefix
//! of the issued operations holding every acknowledged one. See `fuzz/src/recovery_image.rs`.
#![no_main]

use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|data: &[u8]| -> Corpus {
    match vecdb_fuzz::recovery_image::run(data) {
        Some(_) => Corpus::Keep,
        None => Corpus::Reject,
    }
});
