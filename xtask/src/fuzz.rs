//! `cargo xtask fuzz [--seconds N] [--target NAME]... [--smoke]`: the cargo-fuzz targets in `fuzz/` (see
//! docs/fuzzing.md).
//!
//! - installs what is missing, never skipping: the nightly toolchain (`rustup toolchain install nightly`) and
//!   `cargo-fuzz` (`cargo install cargo-fuzz`, about a minute);
//! - runs each target (all of [`TARGETS`] unless `--target` names some) for `--seconds` (default
//!   [`SECONDS_DEFAULT`]) with one libFuzzer worker: `cargo +nightly fuzz run <target> -s none -a
//!   fuzz/target/corpus/<target> fuzz/corpus/<target> -- -max_total_time=N`, from `fuzz/`;
//! - the committed seeds in `fuzz/corpus/<target>` are read, never written: new inputs go to the working corpus
//!   in `fuzz/target/corpus/<target>` (ignored by git) and crashes to `fuzz/artifacts/<target>/`;
//! - builds in `fuzz/target` only (a `CARGO_TARGET_DIR` in the environment is removed for the fuzz build, so it
//!   never collides with the workspace's or another helper's target directory);
//! - prints runs, executions per second and coverage per target, and fails when any target crashes.
//!
//! `--smoke` (what CI runs through [`smoke`]) runs every target for [`SMOKE_SECONDS`] seconds.
//!
//! Sanitizer: none (`-s none`). The crates under test deny `unsafe_code`, so AddressSanitizer would mostly slow
//! the run down; `-a` turns on debug assertions and overflow checks instead, which catch arithmetic bugs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Every fuzz target in `fuzz/fuzz_targets/`.
pub const TARGETS: &[&str] = &["wal_decode", "snapshot_decode", "recovery_image", "vecdb_ops"];

/// How long each target runs by default.
pub const SECONDS_DEFAULT: u64 = 60;

/// How long each target runs in the CI smoke.
pub const SMOKE_SECONDS: u64 = 20;

/// The cargo-fuzz version installed when it is missing.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

const USAGE: &str = "usage: cargo xtask fuzz [--seconds N] [--target NAME]... [--smoke]";

/// `cargo xtask fuzz ...` (see the module docs).
pub fn fuzz(arguments: &[String]) -> Result<(), String> {
    let mut seconds = SECONDS_DEFAULT;
    let mut targets: Vec<String> = Vec::new();
    let mut remaining = arguments.iter();
    while let Some(argument) = remaining.next() {
        match argument.as_str() {
            "--seconds" => {
                let value = remaining.next().ok_or_else(|| format!("--seconds needs a value\n{USAGE}"))?;
                seconds = value
                    .parse()
                    .ok()
                    .filter(|seconds| *seconds > 0)
                    .ok_or_else(|| format!("--seconds {value:?} is not a positive number\n{USAGE}"))?;
            }
            "--target" => {
                let name = remaining.next().ok_or_else(|| format!("--target needs a name\n{USAGE}"))?;
                if !TARGETS.contains(&name.as_str()) {
                    return Err(format!("unknown fuzz target {name:?}; the targets are {}", TARGETS.join(", ")));
                }
                targets.push(name.clone());
            }
            "--smoke" => return smoke(),
            "--help" | "-h" => {
                println!("{USAGE}\ntargets: {}", TARGETS.join(", "));
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|name| (*name).to_owned()).collect();
    }
    run_targets(&targets, seconds)
}

/// Every target for [`SMOKE_SECONDS`] seconds: what `cargo xtask ci` runs.
pub fn smoke() -> Result<(), String> {
    let targets: Vec<String> = TARGETS.iter().map(|name| (*name).to_owned()).collect();
    run_targets(&targets, SMOKE_SECONDS)
}

/// What one run printed at its end.
#[derive(Debug, Default)]
struct Summary {
    runs: u64,
    seconds: u64,
    coverage: String,
}

fn run_targets(targets: &[String], seconds: u64) -> Result<(), String> {
    crate::toolchain::ensure_nightly()?;
    ensure_cargo_fuzz()?;
    let fuzz_directory = crate::workspace_root().join("fuzz");
    let logs = fuzz_directory.join("target").join("fuzz-logs");
    std::fs::create_dir_all(&logs).map_err(|error| format!("create {}: {error}", logs.display()))?;
    let mut results = Vec::new();
    for target in targets {
        let started = Instant::now();
        let outcome = run_target(&fuzz_directory, &logs, target, seconds);
        results.push((target.clone(), started.elapsed().as_secs_f64(), outcome));
    }
    eprintln!("\nfuzz summary ({seconds} s per target, one worker):");
    let mut failures = Vec::new();
    for (target, elapsed, outcome) in &results {
        match outcome {
            Ok(summary) => {
                let rate = summary.runs.checked_div(summary.seconds.max(1)).unwrap_or(0);
                eprintln!(
                    "  {target:<16} ok: {} runs in {} s ({rate} exec/s), {} ({elapsed:.0} s with the build)",
                    summary.runs, summary.seconds, summary.coverage
                );
            }
            Err(message) => {
                eprintln!("  {target:<16} FAILED: {message}");
                failures.push(target.as_str());
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("fuzz target(s) failed: {} (crash inputs are in fuzz/artifacts/)", failures.join(", ")))
    }
}

fn run_target(fuzz_directory: &Path, logs: &Path, target: &str, seconds: u64) -> Result<Summary, String> {
    let working_corpus = fuzz_directory.join("target").join("corpus").join(target);
    std::fs::create_dir_all(&working_corpus)
        .map_err(|error| format!("create {}: {error}", working_corpus.display()))?;
    let seeds = fuzz_directory.join("corpus").join(target);
    let log_path = logs.join(format!("{target}.log"));
    let log = std::fs::File::create(&log_path).map_err(|error| format!("create {}: {error}", log_path.display()))?;
    let max_total_time = format!("-max_total_time={seconds}");
    let mut arguments: Vec<String> = ["+nightly", "fuzz", "run", target, "-s", "none", "-a", "--jobs", "1"]
        .iter()
        .map(|argument| (*argument).to_owned())
        .collect();
    arguments.push(path_text(&working_corpus));
    if seeds.is_dir() {
        arguments.push(path_text(&seeds));
    }
    arguments.extend(["--".to_owned(), max_total_time, "-print_final_stats=1".to_owned()]);
    eprintln!("$ (cd fuzz && cargo {}) 2> {}", arguments.join(" "), log_path.display());
    let status = Command::new("cargo")
        .args(&arguments)
        .current_dir(fuzz_directory)
        // fuzz/ has its own target directory: never build into the workspace's or another helper's.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .stdout(Stdio::inherit())
        .stderr(Stdio::from(log))
        .status()
        .map_err(|error| format!("could not start cargo fuzz: {error}"))?;
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = text.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
        eprintln!("---- last lines of {} ----\n{}", log_path.display(), tail.join("\n"));
        return Err(format!("`cargo fuzz run {target}` failed ({status}); full log: {}", log_path.display()));
    }
    Ok(summarize(&text))
}

/// Reads `Done N runs in S second(s)` and the last status line's `cov: .. ft: ..` from a libFuzzer log.
fn summarize(log: &str) -> Summary {
    let mut summary = Summary::default();
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix("Done ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            summary.runs = words.first().and_then(|word| word.parse().ok()).unwrap_or(0);
            summary.seconds = words.get(3).and_then(|word| word.parse().ok()).unwrap_or(0);
        }
        if let Some(start) = line.find("cov:").filter(|_| line.starts_with('#')) {
            let end = line.find(" corp:").unwrap_or(line.len());
            summary.coverage = line.get(start..end).unwrap_or_default().to_owned();
        }
    }
    summary
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    if crate::toolchain::succeeds("cargo", &["+nightly", "fuzz", "--version"]) {
        return Ok(());
    }
    eprintln!("cargo-fuzz is missing: installing it (about a minute)");
    crate::run("cargo", &["install", "cargo-fuzz", "--version", CARGO_FUZZ_VERSION, "--locked"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fuzz_directory() -> std::path::PathBuf {
        crate::workspace_root().join("fuzz")
    }

    #[test]
    fn libfuzzer_final_lines_are_summarized() {
        let log = "#2\tINITED cov: 10 ft: 11 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                   #4096\tpulse  cov: 2453 ft: 12154 corp: 1098/59Kb lim: 163 exec/s: 4277 rss: 33Mb\n\
                   Done 218683 runs in 61 second(s)\n";
        let summary = summarize(log);
        assert_eq!((summary.runs, summary.seconds), (218_683, 61));
        assert_eq!(summary.coverage, "cov: 2453 ft: 12154");
    }

    #[test]
    fn every_target_has_a_source_file_and_seeds() {
        for target in TARGETS {
            let source = fuzz_directory().join("fuzz_targets").join(format!("{target}.rs"));
            assert!(source.is_file(), "{} is missing", source.display());
            let seeds = fuzz_directory().join("corpus").join(target);
            let count = std::fs::read_dir(&seeds).map(|entries| entries.count()).unwrap_or(0);
            assert!(count > 0, "{} holds no seeds", seeds.display());
        }
    }

    #[test]
    fn unknown_arguments_and_targets_are_errors() {
        assert!(fuzz(&["--target".to_owned(), "nope".to_owned()]).is_err());
        assert!(fuzz(&["--seconds".to_owned(), "0".to_owned()]).is_err());
        assert!(fuzz(&["--bogus".to_owned()]).is_err());
    }
}
