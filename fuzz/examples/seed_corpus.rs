//! Seed corpus tool: `cargo run --release --example seed_corpus -- generate` writes a few seeds per target into
//! `corpus/<target>/`; `cargo run --release --example seed_corpus -- stats <target> <directory>...` runs every
//! input in the directories through the target's `run` and prints how many reached each outcome.
//!
//! Generation is deterministic: candidates are SplitMix64 byte strings of a few lengths; for each target the first
//! candidate reaching each distinct outcome label is kept, up to `SEEDS_PER_TARGET_MAX` seeds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vecdb_fuzz::SplitMix64;

/// The most seeds written per target.
const SEEDS_PER_TARGET_MAX: usize = 12;
/// Candidates tried per target.
const CANDIDATES: u64 = 4_000;
/// Candidate lengths, cycled.
const LENGTHS: [usize; 4] = [96, 256, 768, 1536];

type Runner = fn(&[u8]) -> Option<String>;

const TARGETS: [(&str, Runner); 4] = [
    ("wal_decode", vecdb_fuzz::wal_decode::run),
    ("snapshot_decode", vecdb_fuzz::snapshot_decode::run),
    ("recovery_image", vecdb_fuzz::recovery_image::run),
    ("vecdb_ops", vecdb_fuzz::vecdb_ops::run),
];

fn runner(name: &str) -> Runner {
    TARGETS.iter().find(|(target, _)| *target == name).map(|(_, run)| *run).unwrap_or_else(|| {
        eprintln!("unknown target {name:?}");
        std::process::exit(2)
    })
}

fn generate(root: &Path) {
    for (index, (name, run)) in TARGETS.iter().enumerate() {
        let directory = root.join(name);
        std::fs::create_dir_all(&directory).expect("create the corpus directory");
        let mut random = SplitMix64::new(0x5eed_0000 + index as u64);
        let mut kept: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for candidate in 0..CANDIDATES {
            if kept.len() >= SEEDS_PER_TARGET_MAX {
                break;
            }
            let bytes = random.bytes(LENGTHS[candidate as usize % LENGTHS.len()]);
            if let Some(label) = run(&bytes) {
                kept.entry(label).or_insert(bytes);
            }
        }
        for (number, (label, bytes)) in kept.iter().enumerate() {
            let path = directory.join(format!("seed-{number:02}"));
            std::fs::write(&path, bytes).expect("write a seed");
            println!("{name}: {} ({} bytes): {label}", path.display(), bytes.len());
        }
    }
}

fn stats(name: &str, directories: &[PathBuf]) {
    let run = runner(name);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for directory in directories {
        let entries = std::fs::read_dir(directory).expect("read the corpus directory");
        for entry in entries.flatten() {
            let Ok(bytes) = std::fs::read(entry.path()) else { continue };
            *counts.entry(run(&bytes).unwrap_or_else(|| "rejected".to_owned())).or_default() += 1;
        }
    }
    let total: u64 = counts.values().sum();
    println!("{name}: {total} inputs");
    for (label, count) in counts {
        println!("{count:>8}  {label}");
    }
}

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments.first().map(String::as_str) {
        Some("generate") => generate(Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").as_path()),
        Some("stats") if arguments.len() >= 3 => {
            let directories: Vec<PathBuf> = arguments.iter().skip(2).map(PathBuf::from).collect();
            stats(&arguments[1], &directories);
        }
        _ => {
            eprintln!("usage: seed_corpus generate | seed_corpus stats <target> <directory>...");
            std::process::exit(2);
        }
    }
}
