//! The nightly toolchain, which two commands need: `fuzz` (cargo-fuzz) and `wasm` (the package builds the standard
//! library with the module, `-Z build-std`, see docs/browser.md "Bundle size"). Installed when missing, never
//! skipped.

use std::process::{Command, Stdio};

/// Whether `program arguments` runs and exits 0 (its output is discarded).
pub fn succeeds(program: &str, arguments: &[&str]) -> bool {
    Command::new(program)
        .args(arguments)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Installs the nightly toolchain (minimal profile) when `rustup` has none.
pub fn ensure_nightly() -> Result<(), String> {
    if succeeds("rustup", &["run", "nightly", "rustc", "--version"]) {
        return Ok(());
    }
    eprintln!("the nightly toolchain is missing: installing it");
    crate::run("rustup", &["toolchain", "install", "nightly", "--profile", "minimal"])
}

/// Installs nightly and its `rust-src` component (the standard library's sources, which `-Z build-std` compiles)
/// when missing.
pub fn ensure_nightly_rust_src() -> Result<(), String> {
    ensure_nightly()?;
    let installed =
        crate::browser::output_of("rustup", &["component", "list", "--installed", "--toolchain", "nightly"])
            .ok_or("could not run `rustup component list --installed --toolchain nightly`")?;
    if installed.lines().any(|line| line.trim() == "rust-src") {
        return Ok(());
    }
    eprintln!("the nightly rust-src component is missing: installing it");
    crate::run("rustup", &["component", "add", "rust-src", "--toolchain", "nightly"])
}
