//! vecdb in the browser: `cargo xtask wasm | serve | e2e | wasm-bench` (see docs/browser.md).
//!
//! - `wasm [--stable] [--no-wasm-opt] [--no-simd]`: builds `crates/vecdb-wasm` for `wasm32-unknown-unknown` and
//!   runs `wasm-bindgen --target web` into `web/pkg/` (git-ignored), then prints the sizes raw and gzipped
//!   (`gzip -9`). By default (what CI builds and tests), the smallest module:
//!   - the `wasm-release` profile (root Cargo.toml: `opt-level = "z"`, fat LTO, one codegen unit, stripped; the
//!     `vecdb-index` crate, whose HNSW search is the hot path, at `opt-level = 2`) and `+simd128`;
//!   - on nightly, with the standard library compiled with the module (`-Z build-std=std,panic_abort`), panics
//!     that abort at once (`-C panic=immediate-abort`: no panic messages or formatting) and no caller locations
//!     (`-Z location-detail=none`); the xtask installs nightly's `rust-src` when missing;
//!   - then `wasm-opt -Oz --converge` (binaryen from npm, pinned, installed under the target directory).
//!
//!   It fails when the module is over [`WASM_GZIP_BYTES_MAX`] gzipped. `--stable` (the prebuilt standard
//!   library), `--no-wasm-opt` and `--no-simd` build larger variants for comparison, held only to
//!   [`WASM_GZIP_BYTES_VARIANT_MAX`].
//! - `serve [--port N] [--seconds N]`: builds, then serves `web/` (the demo page and the package) on 127.0.0.1.
//! - `e2e`: the end-to-end tests in headless Chromium ([`e2e()`]; `cargo xtask ci` calls it).
//! - `wasm-bench [--count N] [--efs 16,32,...] [--only ours|hnswlib]`: our build against npm `hnswlib-wasm` in
//!   Node (V8) on glove-50 (`cargo xtask dataset glove-50`), or a synthetic set of the same shape when it is
//!   missing (crates/vecdb-wasm/bench/hnsw.mjs).

mod e2e;
mod serve;
mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use e2e::e2e;

/// The issue's target for the `.wasm`, gzipped (`gzip -9`): "at most 150 KB", read as 150,000 bytes (the
/// stricter reading: 150 KiB would be 153,600). `cargo xtask wasm` fails above it, so CI holds the module to it.
pub const WASM_GZIP_BYTES_MAX: u64 = 150_000;
/// The limit for the larger variants (`--stable`, `--no-wasm-opt`, `--no-simd`): a guard against a change that
/// bloats the module (the `--stable` build is about 151 KiB; see docs/browser.md, "Bundle size").
pub const WASM_GZIP_BYTES_VARIANT_MAX: u64 = 164 * 1024;
/// The npm packages the tools use, pinned.
pub const BINARYEN_PACKAGE: &str = "binaryen@132.0.0";
/// See [`BINARYEN_PACKAGE`].
pub const HNSWLIB_WASM_PACKAGE: &str = "hnswlib-wasm@0.8.2";
/// The port `cargo xtask serve` listens on unless told otherwise.
const SERVE_PORT_DEFAULT: u16 = 8000;

/// How the package is built.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// `-C target-feature=+simd128` (on by default: the distance kernels vectorize; every current browser has it).
    pub simd: bool,
    /// Run `wasm-opt -Oz --converge` on the module (on by default).
    pub wasm_opt: bool,
    /// Build on nightly with the standard library compiled in, panics that abort at once and no caller locations
    /// (on by default; off builds on the current toolchain with the prebuilt standard library).
    pub nightly_std: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self { simd: true, wasm_opt: true, nightly_std: true }
    }
}

impl BuildOptions {
    /// The gzipped size over which [`build`] fails: the target for the default build, the guard for the variants.
    pub fn gzip_bytes_max(&self) -> u64 {
        if self.simd && self.wasm_opt && self.nightly_std { WASM_GZIP_BYTES_MAX } else { WASM_GZIP_BYTES_VARIANT_MAX }
    }
}

/// What [`build`] made.
#[derive(Clone, Debug)]
pub struct Package {
    /// The size of `web/pkg/vecdb_wasm_bg.wasm`.
    pub wasm_bytes: u64,
    /// Its size after `gzip -9`.
    pub wasm_gzip_bytes: u64,
    /// The JavaScript glue (`vecdb_wasm.js`) raw and gzipped.
    pub glue_bytes: u64,
    /// See [`Package::glue_bytes`].
    pub glue_gzip_bytes: u64,
}

/// Runs `cargo xtask <command> <arguments>` for the commands of this module.
pub fn main(command: &str, arguments: &[String]) -> Result<(), String> {
    match command {
        "wasm" => {
            let mut options = BuildOptions::default();
            for argument in arguments {
                match argument.as_str() {
                    "--no-simd" => options.simd = false,
                    "--no-wasm-opt" => options.wasm_opt = false,
                    "--stable" => options.nightly_std = false,
                    other => {
                        return Err(format!(
                            "unknown argument {other:?}; usage: cargo xtask wasm [--stable] [--no-wasm-opt] [--no-simd]"
                        ));
                    }
                }
            }
            build(&options).map(|_| ())
        }
        "serve" => serve(arguments),
        "e2e" => e2e(),
        "wasm-bench" => bench(arguments),
        other => Err(format!("unknown command {other:?}")),
    }
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or the workspace's `target/`), from `cargo metadata`.
pub fn target_directory() -> Result<PathBuf, String> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(crate::workspace_root())
        .output()
        .map_err(|error| format!("cargo metadata: {error}"))?;
    if !output.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|error| format!("cargo metadata output: {error}"))?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata: no target_directory".to_owned())
}

/// The package directory the pages import from.
pub fn package_directory() -> PathBuf {
    crate::workspace_root().join("web").join("pkg")
}

/// Builds the package into `web/pkg/` and prints its sizes (see the module docs).
pub fn build(options: &BuildOptions) -> Result<Package, String> {
    let started = Instant::now();
    crate::browser::ensure_browser_tools()?;
    let root = crate::workspace_root();
    let mut rustflags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if options.simd {
        rustflags.push_str(" -C target-feature=+simd128");
    }
    let mut arguments = Vec::new();
    if options.nightly_std {
        crate::toolchain::ensure_nightly_rust_src()?;
        rustflags.push_str(NIGHTLY_STD_RUSTFLAGS);
        arguments.push("+nightly");
    }
    arguments.extend(["build", "-p", "vecdb-wasm", "--target", "wasm32-unknown-unknown", "--profile", "wasm-release"]);
    if options.nightly_std {
        arguments.extend(["-Z", "build-std=std,panic_abort"]);
    }
    let rustflags = rustflags.trim();
    eprintln!("$ RUSTFLAGS={rustflags:?} cargo {}", arguments.join(" "));
    // `cargo`, the rustup proxy, not `$CARGO`: the `+nightly` selector needs the proxy.
    let program = if options.nightly_std {
        "cargo".to_owned()
    } else {
        std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
    };
    let status = Command::new(program)
        .args(&arguments)
        .env("RUSTFLAGS", rustflags)
        .current_dir(&root)
        .status()
        .map_err(|error| format!("could not start cargo: {error}"))?;
    if !status.success() {
        return Err(format!("the wasm build failed: {status}"));
    }
    let module = target_directory()?.join("wasm32-unknown-unknown").join("wasm-release").join("vecdb_wasm.wasm");
    let out = package_directory();
    let _ = std::fs::remove_dir_all(&out);
    run_checked("wasm-bindgen", &["--target", "web", "--out-dir", &path_text(&out), &path_text(&module)])?;
    let wasm = out.join("vecdb_wasm_bg.wasm");
    if options.wasm_opt {
        let wasm_opt = ensure_npm_package(BINARYEN_PACKAGE)?.join("node_modules/binaryen/bin/wasm-opt");
        let mut arguments: Vec<String> = WASM_OPT_ARGUMENTS.iter().map(|argument| (*argument).to_owned()).collect();
        arguments.extend(WASM_FEATURES.iter().map(|feature| format!("--enable-{feature}")));
        arguments.extend([path_text(&wasm), "-o".to_owned(), path_text(&wasm)]);
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        run_checked(&path_text(&wasm_opt), &arguments)?;
    }
    let glue = out.join("vecdb_wasm.js");
    let package = Package {
        wasm_bytes: file_bytes(&wasm)?,
        wasm_gzip_bytes: gzip_bytes(&wasm)?,
        glue_bytes: file_bytes(&glue)?,
        glue_gzip_bytes: gzip_bytes(&glue)?,
    };
    let kib = |bytes: u64| bytes as f64 / 1024.0;
    let gzip_bytes_max = options.gzip_bytes_max();
    eprintln!(
        "vecdb-wasm package in {} ({:.0} s; simd128 {}, standard library {}, wasm-opt {}):\n  \
         vecdb_wasm_bg.wasm  {:>7.1} KiB raw  {:>6.1} KiB gzipped ({} bytes; at most {gzip_bytes_max})\n  \
         vecdb_wasm.js       {:>7.1} KiB raw  {:>6.1} KiB gzipped",
        out.display(),
        started.elapsed().as_secs_f64(),
        if options.simd { "on" } else { "off" },
        if options.nightly_std { "built in (nightly, immediate abort)" } else { "prebuilt" },
        if options.wasm_opt { "-Oz" } else { "off" },
        kib(package.wasm_bytes),
        kib(package.wasm_gzip_bytes),
        package.wasm_gzip_bytes,
        kib(package.glue_bytes),
        kib(package.glue_gzip_bytes),
    );
    if package.wasm_gzip_bytes > gzip_bytes_max {
        return Err(format!(
            "the module is {} bytes gzipped, over its limit of {gzip_bytes_max}: what grew it? (docs/browser.md, \
             \"Bundle size\", lists what the module holds)",
            package.wasm_gzip_bytes
        ));
    }
    Ok(package)
}

/// The RUSTFLAGS the nightly build adds (see the module docs); the profile's `panic = "abort"` stays for stable.
const NIGHTLY_STD_RUSTFLAGS: &str = " -Zunstable-options -C panic=immediate-abort -Z location-detail=none";

/// `wasm-opt`'s arguments before the features: optimize for size until nothing changes, drop the producers section.
const WASM_OPT_ARGUMENTS: &[&str] = &["-Oz", "--converge", "--strip-producers"];

/// The WebAssembly features rustc's `wasm32-unknown-unknown` emits (with `+simd128`), for `wasm-opt`.
const WASM_FEATURES: &[&str] = &[
    "simd",
    "bulk-memory",
    "sign-ext",
    "mutable-globals",
    "nontrapping-float-to-int",
    "reference-types",
    "multivalue",
];

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

fn file_bytes(path: &Path) -> Result<u64, String> {
    std::fs::metadata(path).map(|metadata| metadata.len()).map_err(|error| format!("{}: {error}", path.display()))
}

/// The size of `path` compressed with `gzip -9` (what a server sends with `Content-Encoding: gzip` at best).
pub fn gzip_bytes(path: &Path) -> Result<u64, String> {
    let output = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("could not run gzip: {error}"))?;
    if !output.status.success() {
        return Err(format!("gzip -9 -c {} failed", path.display()));
    }
    Ok(output.stdout.len() as u64)
}

fn run_checked(program: &str, arguments: &[&str]) -> Result<(), String> {
    eprintln!("$ {program} {}", arguments.join(" "));
    let status = Command::new(program)
        .args(arguments)
        .current_dir(crate::workspace_root())
        .status()
        .map_err(|error| format!("could not start {program}: {error}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{program} {}` failed: {status}", arguments.join(" "))) }
}

/// Node and npm: Debian's `nodejs` and `npm` when missing (we are root on the project's machines).
fn ensure_node() -> Result<(), String> {
    let works =
        |program: &str| Command::new(program).arg("--version").output().is_ok_and(|output| output.status.success());
    if works("node") && works("npm") {
        return Ok(());
    }
    run_checked("apt-get", &["update"])?;
    run_checked("apt-get", &["install", "-y", "nodejs", "npm"])?;
    if works("node") && works("npm") {
        Ok(())
    } else {
        Err("node and npm are still missing after apt-get install".to_owned())
    }
}

/// Installs `package` (`name@version`) with npm under `<target>/npm` unless that version is there; returns the
/// prefix directory (its `node_modules/` holds the package).
pub fn ensure_npm_package(package: &str) -> Result<PathBuf, String> {
    let (name, version) = package.rsplit_once('@').ok_or_else(|| format!("{package:?} is not name@version"))?;
    let prefix = target_directory()?.join("npm");
    let manifest = prefix.join("node_modules").join(name).join("package.json");
    let installed = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|value| value["version"].as_str().map(str::to_owned));
    if installed.as_deref() == Some(version) {
        return Ok(prefix);
    }
    ensure_node()?;
    std::fs::create_dir_all(&prefix).map_err(|error| format!("{}: {error}", prefix.display()))?;
    let package_json = prefix.join("package.json");
    if !package_json.exists() {
        std::fs::write(&package_json, "{ \"private\": true }\n")
            .map_err(|error| format!("{}: {error}", package_json.display()))?;
    }
    run_checked("npm", &["install", "--prefix", &path_text(&prefix), "--no-audit", "--no-fund", package])?;
    Ok(prefix)
}

fn serve(arguments: &[String]) -> Result<(), String> {
    let mut port = SERVE_PORT_DEFAULT;
    let mut seconds = None;
    let mut rest = arguments.iter();
    while let Some(argument) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{argument} needs a value"))?;
        match argument.as_str() {
            "--port" => port = value.parse().map_err(|_| format!("bad port {value:?}"))?,
            "--seconds" => seconds = Some(value.parse::<u64>().map_err(|_| format!("bad seconds {value:?}"))?),
            other => {
                return Err(format!("unknown argument {other:?}; usage: cargo xtask serve [--port N] [--seconds N]"));
            }
        }
    }
    build(&BuildOptions::default())?;
    let server = serve::Server::start(&crate::workspace_root().join("web"), port)?;
    eprintln!("serving web/ on {0}/ (demo: {0}/index.html, tests: {0}/e2e.html); Ctrl-C stops", server.url());
    let started = Instant::now();
    while seconds.is_none_or(|limit| started.elapsed() < Duration::from_secs(limit)) {
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

fn bench(arguments: &[String]) -> Result<(), String> {
    build(&BuildOptions::default())?;
    let prefix = ensure_npm_package(HNSWLIB_WASM_PACKAGE)?;
    let root = crate::workspace_root();
    let script = root.join("crates/vecdb-wasm/bench/hnsw.mjs");
    // `cargo xtask dataset glove-50` writes it.
    let data = root.join("data").join("glove-50");
    let mut command = Command::new("node");
    command
        .arg(&script)
        .arg("--pkg")
        .arg(package_directory())
        .arg("--hnswlib")
        .arg(prefix.join("node_modules/hnswlib-wasm/dist/hnswlib.js"))
        .arg("--data")
        .arg(&data)
        .args(arguments)
        .current_dir(&root);
    if !data.join("base-100k.f32").exists() {
        eprintln!(
            "{} has no glove-50 files (`cargo xtask dataset glove-50` makes them): the benchmark uses synthetic data",
            data.display()
        );
    }
    eprintln!("$ node {} ...", script.display());
    let status = command.status().map_err(|error| format!("could not start node: {error}"))?;
    if status.success() { Ok(()) } else { Err(format!("the benchmark failed: {status}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_build_is_held_to_the_issue_target_and_variants_to_the_guard() {
        const { assert!(WASM_GZIP_BYTES_MAX <= 150_000 && WASM_GZIP_BYTES_MAX < WASM_GZIP_BYTES_VARIANT_MAX) };
        assert_eq!(BuildOptions::default().gzip_bytes_max(), WASM_GZIP_BYTES_MAX);
        let variants = [
            BuildOptions { nightly_std: false, ..BuildOptions::default() },
            BuildOptions { wasm_opt: false, ..BuildOptions::default() },
            BuildOptions { simd: false, ..BuildOptions::default() },
        ];
        for variant in variants {
            assert_eq!(variant.gzip_bytes_max(), WASM_GZIP_BYTES_VARIANT_MAX, "{variant:?}");
        }
        assert!(HNSWLIB_WASM_PACKAGE.ends_with("@0.8.2"));
    }

    #[test]
    fn gzip_measures_compressed_bytes() {
        let path = std::env::temp_dir().join(format!("xtask-gzip-{}", std::process::id()));
        std::fs::write(&path, vec![b'a'; 100_000]).unwrap();
        let compressed = gzip_bytes(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(compressed > 0 && compressed < 1_000, "{compressed}");
    }
}
