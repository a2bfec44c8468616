//! `cargo xtask <command>`: the one entry point for the project's checks (see README.md).
//!
//! - `ci`: everything CI runs: fmt check, clippy with `-D warnings`, a wasm32 build of the browser crates, the
//!   whole test suite, the browser tests and the end-to-end page tests in headless Chromium, `chaos --quick` and a
//!   fuzz smoke run.
//! - `browser-test`: the browser tests alone (installs Chromium, chromedriver and wasm-bindgen-cli when missing).
//! - `tidy`: the architecture invariants (crate graph, banned APIs, crate docs); also a `#[test]`.
//! - `chaos [--quick|--long]`, `fuzz [--seconds N] [--target NAME]`, `bench [--quick]`, `dataset glove-50`.
//! - `wasm` (build the JS package, report its size), `serve` (the demo page), `e2e`, `wasm-bench`.

use std::process::{Command, ExitCode};

mod bench;
mod browser;
mod chaos;
mod dataset;
mod fuzz;
mod tidy;
mod toolchain;
mod wasm;

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match arguments.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("tidy") => tidy(),
        Some("browser-test") => browser::browser_tests(),
        Some("fuzz") => fuzz::fuzz(&arguments[1..]),
        Some("chaos") => chaos::chaos(arguments.get(1..).unwrap_or_default()),
        Some("dataset") => dataset::dataset(arguments.get(1..).unwrap_or_default()),
        Some("bench") => bench::bench(arguments.get(1..).unwrap_or_default()),
        Some(command @ ("wasm" | "serve" | "e2e" | "wasm-bench")) => {
            wasm::main(command, arguments.get(1..).unwrap_or_default())
        }
        Some("help") | None => {
            println!(
                "usage: cargo xtask <ci|tidy|browser-test|chaos|fuzz|bench|dataset|wasm|serve|e2e|wasm-bench> [options]"
            );
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}; try `cargo xtask help`")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `program` with `arguments` from the workspace root, echoing the command, and fails on a non-zero exit.
fn run(program: &str, arguments: &[&str]) -> Result {
    eprintln!("$ {program} {}", arguments.join(" "));
    let status = Command::new(program)
        .args(arguments)
        .current_dir(workspace_root())
        .status()
        .map_err(|error| format!("could not start {program}: {error}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{program} {}` failed: {status}", arguments.join(" "))) }
}

fn workspace_root() -> std::path::PathBuf {
    let manifest_dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(std::path::Path::to_path_buf).unwrap_or(manifest_dir)
}

/// The crates that must build for the browser (`wasm32-unknown-unknown`): the storage contract and everything
/// written once for both worlds.
const BROWSER_CRATES: &[&str] = &["storage-core", "storage-mem", "wal", "snapshot", "vecdb-index", "vecdb"];

fn ci() -> Result {
    let started = std::time::Instant::now();
    let mut timings = Vec::new();
    let mut step = |name: &str, action: &mut dyn FnMut() -> Result| -> Result {
        let step_started = std::time::Instant::now();
        eprintln!("==> {name}");
        action()?;
        timings.push((name.to_owned(), step_started.elapsed().as_secs_f64()));
        Ok(())
    };
    step("fmt", &mut || run("cargo", &["fmt", "--all", "--check"]))?;
    step("clippy", &mut || {
        run("cargo", &["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"])
    })?;
    step("wasm32 build of the browser crates", &mut wasm_build)?;
    step("tests", &mut || run("cargo", &["test", "--workspace", "--all-features"]))?;
    step("browser tests (headless Chromium)", &mut browser::browser_tests)?;
    step("end-to-end page tests (headless Chromium)", &mut || wasm::main("e2e", &[]))?;
    step("chaos --quick", &mut || chaos::chaos(&["--quick".to_owned()]))?;
    step("fuzz smoke", &mut fuzz::smoke)?;
    eprintln!("xtask ci: all checks passed in {:.0} s", started.elapsed().as_secs_f64());
    for (name, seconds) in timings {
        eprintln!("  {seconds:>7.1} s  {name}");
    }
    Ok(())
}

fn wasm_build() -> Result {
    browser::ensure_wasm_target()?;
    let mut arguments = vec!["build", "--target", "wasm32-unknown-unknown"];
    for name in BROWSER_CRATES {
        arguments.extend(["-p", name]);
    }
    run("cargo", &arguments)
}

fn tidy() -> Result {
    let problems = tidy::check(&workspace_root())?;
    if problems.is_empty() {
        eprintln!("tidy: ok");
        Ok(())
    } else {
        Err(format!("tidy found {} problem(s):\n{}", problems.len(), problems.join("\n")))
    }
}
