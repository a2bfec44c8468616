//! `cargo xtask <command>`: the one entry point for the project's checks (see README.md).
//!
//! - `ci`: everything CI runs: fmt check, clippy with `-D warnings`, a wasm32 build of the browser crates, the
//!   whole test suite, and the browser tests in headless Chromium.
//! - `browser-test`: the browser tests alone (installs Chromium, chromedriver and wasm-bindgen-cli when missing).
//! - `tidy`: the architecture invariants (crate graph, banned APIs, crate docs); also a `#[test]`.

use std::process::{Command, ExitCode};

mod browser;
mod tidy;

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match arguments.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("tidy") => tidy(),
        Some("browser-test") => browser::browser_tests(),
        Some("help") | None => {
            println!("usage: cargo xtask <ci|tidy|browser-test>");
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
const BROWSER_CRATES: &[&str] = &["storage-core", "storage-mem", "wal", "snapshot"];

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
