//! `cargo xtask <command>`: the one entry point for the project's checks (see README.md).
//!
//! - `ci`: everything CI runs: fmt check, clippy with `-D warnings`, the whole test suite.
//! - `tidy`: the architecture invariants (crate graph, banned APIs, crate docs); also a `#[test]`.

use std::process::{Command, ExitCode};

mod tidy;

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match arguments.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("tidy") => tidy(),
        Some("help") | None => {
            println!("usage: cargo xtask <ci|tidy>");
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

fn ci() -> Result {
    let started = std::time::Instant::now();
    run("cargo", &["fmt", "--all", "--check"])?;
    run("cargo", &["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"])?;
    run("cargo", &["test", "--workspace", "--all-features"])?;
    eprintln!("xtask ci: all checks passed in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
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
