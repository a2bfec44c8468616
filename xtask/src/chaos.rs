//! `cargo xtask chaos [--quick | --long] [--seed N] [--only NAME]`: the chaos campaign (crates/chaos), built in
//! release mode and run from the workspace root. It prints the summary table and fails when any acknowledged
//! operation was lost or any corruption was found. `--quick` (the default) is what CI runs; `--long` is the thorough
//! one. See docs/testing.md.
//!
//! The power-loss scenario mounts a FUSE file system: it needs `/dev/fuse` (checked) and, for mounts that do not
//! go through mount(2) as root, `fusermount3` from Debian's `fuse3`, installed here when missing. A missing tool is
//! installed or the run fails; nothing is skipped.

use std::path::Path;
use std::process::Command;

use crate::Result;

/// Runs the campaign with `arguments` (the flags after `chaos`).
pub fn chaos(arguments: &[String]) -> Result {
    for argument in arguments {
        if argument.starts_with("--") && !["--quick", "--long", "--seed", "--only"].contains(&argument.as_str()) {
            return Err(format!(
                "unknown chaos flag {argument}; usage: cargo xtask chaos [--quick | --long] [--seed N] [--only NAME]"
            ));
        }
    }
    ensure_fuse()?;
    let mut command = vec!["run", "--release", "--package", "chaos", "--"];
    command.extend(arguments.iter().map(String::as_str));
    crate::run("cargo", &command)
}

const NO_DEV_FUSE: &str =
    "/dev/fuse is missing: the power-loss scenario needs FUSE (load the fuse module, or give the container the device)";

fn ensure_fuse() -> Result {
    if !Path::new("/dev/fuse").exists() {
        return Err(NO_DEV_FUSE.to_owned());
    }
    if has_fusermount3() {
        return Ok(());
    }
    eprintln!("xtask chaos: fusermount3 is missing; installing Debian's fuse3");
    for arguments in [&["update"][..], &["install", "-y", "--no-install-recommends", "fuse3"][..]] {
        eprintln!("$ apt-get {}", arguments.join(" "));
        let status = Command::new("apt-get")
            .args(arguments)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|error| format!("could not start apt-get (needed to install fuse3): {error}"))?;
        if !status.success() {
            return Err(format!("`apt-get {}` failed: {status}", arguments.join(" ")));
        }
    }
    if has_fusermount3() { Ok(()) } else { Err("fuse3 was installed but fusermount3 is still missing".to_owned()) }
}

fn has_fusermount3() -> bool {
    Command::new("fusermount3").arg("--version").output().is_ok_and(|output| output.status.success())
}
