//! `cargo xtask browser-test`: the crates whose tests run in headless Chromium through `wasm-bindgen-test`.
//!
//! [`ensure_browser_tools`] installs whatever is missing, so a fresh machine needs nothing by hand:
//! - the `wasm32-unknown-unknown` target (`rustup target add`);
//! - Debian's `chromium` and `chromium-driver` (`apt-get install`, as root) when `/usr/bin/chromium` or
//!   `/usr/bin/chromedriver` is missing;
//! - `wasm-bindgen-cli` (which provides `wasm-bindgen-test-runner`) at exactly the version of the `wasm-bindgen`
//!   crate in `Cargo.lock`: the runner refuses test binaries built by another version.
//!
//! [`browser_tests`] then runs `cargo test --target wasm32-unknown-unknown` for each crate in [`BROWSER_TEST_CRATES`]
//! with `wasm-bindgen-test-runner` as the target's runner. The runner starts chromedriver (`CHROMEDRIVER`) and reads
//! the Chromium capabilities (headless, no sandbox as root, no background network) from `webdriver.json` in its
//! working directory, or from the file `WASM_BINDGEN_TEST_WEBDRIVER_JSON` names (wasm-bindgen-cli 0.2.105,
//! `wasm_bindgen_test_runner/headless.rs`); it then appends `headless`, `disable-dev-shm-usage` and `no-sandbox`
//! to `goog:chromeOptions.args` itself. Each crate keeps a `webdriver.json` with [`WEBDRIVER_JSON`] (written by
//! [`browser_tests`] when missing or different, so the flags live in one place) and the variable points at it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Crates whose test suites run in headless Chromium (each has `wasm_bindgen_test_configure!(run_in_browser)`).
pub const BROWSER_TEST_CRATES: &[&str] = &["storage-idb"];

/// Debian's Chromium and its WebDriver server.
const CHROMIUM_PATH: &str = "/usr/bin/chromium";
const CHROMEDRIVER_PATH: &str = "/usr/bin/chromedriver";

/// Seconds one `#[wasm_bindgen_test]` may take before the runner fails it (its default is 20).
const TEST_TIMEOUT_SECONDS: &str = "300";

/// Capabilities for `wasm-bindgen-test-runner`: Chromium headless, as root (no sandbox), in a container with a
/// small `/dev/shm`, and quiet (no background networking, component updates, sync or first-run pages).
pub const WEBDRIVER_JSON: &str = r#"{
  "goog:chromeOptions": {
    "binary": "/usr/bin/chromium",
    "args": [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run"
    ]
  }
}
"#;

/// Installs every tool the browser tests need that is missing (see the module docs). A tool that cannot be
/// installed is an error, never a skip.
pub fn ensure_browser_tools() -> Result<(), String> {
    let started = Instant::now();
    ensure_wasm_target()?;
    ensure_chromium()?;
    ensure_wasm_bindgen_cli()?;
    eprintln!("browser tools ready in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Installs the tools, then runs the test suite of every crate in [`BROWSER_TEST_CRATES`] in headless Chromium.
pub fn browser_tests() -> Result<(), String> {
    ensure_browser_tools()?;
    let root = crate::workspace_root();
    for name in BROWSER_TEST_CRATES {
        write_webdriver_json(&crate_directory(&root, name))?;
        let started = Instant::now();
        let arguments = ["test", "--target", "wasm32-unknown-unknown", "-p", name];
        eprintln!("$ cargo {}", arguments.join(" "));
        let status = Command::new("cargo")
            .args(arguments)
            .current_dir(&root)
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", "wasm-bindgen-test-runner")
            .env("CHROMEDRIVER", CHROMEDRIVER_PATH)
            .env("WASM_BINDGEN_TEST_TIMEOUT", TEST_TIMEOUT_SECONDS)
            // The runner reads `webdriver.json` from its working directory (cargo makes that the crate's); the
            // variable names the file explicitly, whatever the working directory.
            .env("WASM_BINDGEN_TEST_WEBDRIVER_JSON", crate_directory(&root, name).join("webdriver.json"))
            // Never fall back to Node or another browser: these suites need IndexedDB in Chromium.
            .env_remove("GECKODRIVER")
            .env_remove("SAFARIDRIVER")
            .env_remove("WASM_BINDGEN_TEST_ONLY_NODE")
            .status()
            .map_err(|error| format!("could not start cargo: {error}"))?;
        if !status.success() {
            return Err(format!("browser tests of {name} failed: {status}"));
        }
        eprintln!("browser tests of {name} passed in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

fn crate_directory(root: &Path, name: &str) -> PathBuf {
    root.join("crates").join(name)
}

/// Writes [`WEBDRIVER_JSON`] into `directory` unless it is there already with that content.
fn write_webdriver_json(directory: &Path) -> Result<(), String> {
    let path = directory.join("webdriver.json");
    if std::fs::read_to_string(&path).is_ok_and(|text| text == WEBDRIVER_JSON) {
        return Ok(());
    }
    std::fs::write(&path, WEBDRIVER_JSON).map_err(|error| format!("could not write {}: {error}", path.display()))
}

/// Runs a command with inherited output, timing it; a non-zero exit is an error.
fn run_timed(program: &str, arguments: &[&str], environment: &[(&str, &str)]) -> Result<(), String> {
    let started = Instant::now();
    eprintln!("$ {program} {}", arguments.join(" "));
    let status = Command::new(program)
        .args(arguments)
        .envs(environment.iter().copied())
        .status()
        .map_err(|error| format!("could not start {program}: {error}"))?;
    if !status.success() {
        return Err(format!("`{program} {}` failed: {status}", arguments.join(" ")));
    }
    eprintln!(
        "  ({program} {} took {:.1} s)",
        arguments.first().copied().unwrap_or_default(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The standard output of a command, or `None` when it cannot be started or fails.
pub fn output_of(program: &str, arguments: &[&str]) -> Option<String> {
    let output = Command::new(program).args(arguments).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Installs the wasm32 target when missing (a fresh machine has only the host target).
pub fn ensure_wasm_target() -> Result<(), String> {
    let installed = output_of("rustup", &["target", "list", "--installed"])
        .ok_or("could not run `rustup target list --installed`")?;
    if installed.lines().any(|line| line.trim() == "wasm32-unknown-unknown") {
        return Ok(());
    }
    run_timed("rustup", &["target", "add", "wasm32-unknown-unknown"], &[])
}

fn ensure_chromium() -> Result<(), String> {
    if Path::new(CHROMIUM_PATH).exists() && Path::new(CHROMEDRIVER_PATH).exists() {
        return Ok(());
    }
    let environment = [("DEBIAN_FRONTEND", "noninteractive")];
    run_timed("apt-get", &["update"], &environment)?;
    run_timed("apt-get", &["install", "-y", "chromium", "chromium-driver"], &environment)?;
    for path in [CHROMIUM_PATH, CHROMEDRIVER_PATH] {
        if !Path::new(path).exists() {
            return Err(format!("{path} is still missing after installing chromium and chromium-driver"));
        }
    }
    Ok(())
}

fn ensure_wasm_bindgen_cli() -> Result<(), String> {
    let lock_path = crate::workspace_root().join("Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path)
        .map_err(|error| format!("could not read {}: {error}", lock_path.display()))?;
    let wanted = locked_version(&lock, "wasm-bindgen")?;
    let installed = output_of("wasm-bindgen-test-runner", &["--version"]).and_then(|text| runner_version(&text));
    if installed.as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    eprintln!("wasm-bindgen-test-runner is {}; Cargo.lock wants {wanted}", installed.as_deref().unwrap_or("missing"));
    run_timed("cargo", &["install", "wasm-bindgen-cli", "--version", &wanted], &[])?;
    let now = output_of("wasm-bindgen-test-runner", &["--version"]).and_then(|text| runner_version(&text));
    if now.as_deref() != Some(wanted.as_str()) {
        return Err(format!(
            "after `cargo install wasm-bindgen-cli --version {wanted}`, `wasm-bindgen-test-runner --version` says \
             {now:?} (is ~/.cargo/bin on PATH?)"
        ));
    }
    Ok(())
}

/// The version of package `name` in a `Cargo.lock`; an error when it is missing or locked at several versions.
fn locked_version(lock: &str, name: &str) -> Result<String, String> {
    let mut versions = Vec::new();
    let mut lines = lock.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line == format!("name = \"{name}\"") {
            if let Some(version) = lines.next().and_then(|next| next.strip_prefix("version = \"")) {
                versions.push(version.trim_end_matches('"').to_owned());
            }
        }
    }
    match versions.as_slice() {
        [version] => Ok(version.clone()),
        [] => Err(format!("Cargo.lock has no package {name}")),
        several => Err(format!("Cargo.lock has {name} at several versions {several:?}; the runner must match one")),
    }
}

/// `wasm-bindgen-test-runner --version` prints `wasm-bindgen-test-runner 0.2.105` (maybe more after).
fn runner_version(text: &str) -> Option<String> {
    text.split_whitespace().nth(1).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runner_version_is_read_from_cargo_lock() {
        let lock = "[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.105\"\nsource = \"registry\"\n\n\
                    [[package]]\nname = \"wasm-bindgen-futures\"\nversion = \"0.4.55\"\n";
        assert_eq!(locked_version(lock, "wasm-bindgen").unwrap(), "0.2.105");
        assert!(locked_version(lock, "web-sys").is_err());
        let twice = format!("{lock}\n[[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.99\"\n");
        assert!(locked_version(&twice, "wasm-bindgen").is_err());
        assert_eq!(runner_version("wasm-bindgen-test-runner 0.2.105\n").as_deref(), Some("0.2.105"));
        assert_eq!(runner_version(""), None);
    }

    #[test]
    fn the_webdriver_capabilities_are_valid_json_with_headless_chromium_flags() {
        let value: serde_json::Value = serde_json::from_str(WEBDRIVER_JSON).unwrap();
        let arguments = value["goog:chromeOptions"]["args"].as_array().unwrap();
        for flag in ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] {
            assert!(arguments.iter().any(|argument| argument == flag), "{flag} missing");
        }
        assert!(arguments.iter().any(|argument| argument.as_str().is_some_and(|text| text.starts_with("--headless"))));
    }
}
