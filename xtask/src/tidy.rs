//! Tidy rules: the architecture invariants that a plain `cargo test` enforces (see docs/ARCHITECTURE.md).
//!
//! - the crate graph points one way (`ALLOWED_DEPENDENCIES`);
//! - every crate's `lib.rs` opens with `//!` docs;
//! - the WAL and snapshot crates never touch the file system directly (`std::fs`), so they run in the browser;
//! - no test is `#[ignore]`d or `#[should_panic]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// For each workspace crate, the workspace crates it may depend on (normal dependencies; tests may use any
/// backend through dev-dependencies). A crate missing from this table is a tidy failure: add it deliberately.
pub const ALLOWED_DEPENDENCIES: &[(&str, &[&str])] = &[
    ("storage-core", &[]),
    ("storage-mem", &["storage-core"]),
    ("storage-fs", &["storage-core"]),
    ("storage-idb", &["storage-core"]),
    ("wal", &["storage-core"]),
    ("snapshot", &["storage-core", "wal"]),
    // The sans-IO HNSW index: no workspace crate at all (it never touches storage).
    ("vecdb-index", &[]),
    ("vecdb", &["storage-core", "storage-mem", "storage-fs", "wal", "snapshot", "vecdb-index"]),
    ("vecdb-cli", &["storage-core", "storage-mem", "storage-fs", "wal", "snapshot", "vecdb"]),
    ("vecdb-bench", &["storage-core", "storage-mem", "storage-fs", "wal", "snapshot", "vecdb"]),
    ("chaos", &["storage-core", "storage-mem", "storage-fs", "wal", "snapshot", "vecdb"]),
    ("vecdb-wasm", &["storage-core", "storage-mem", "storage-idb", "wal", "snapshot", "vecdb"]),
    ("vecdb-fuzz", &["storage-core", "storage-mem", "wal", "snapshot", "vecdb"]),
    ("xtask", &[]),
];

/// Crates whose source may not name `std::fs`: all their I/O goes through the storage traits.
pub const NO_FILE_SYSTEM_CRATES: &[&str] = &["storage-core", "wal", "snapshot", "vecdb-index"];

/// The workspace's crates: name, manifest directory, and the workspace crates it depends on (normal kind).
pub fn workspace_graph(root: &Path) -> Result<Vec<(String, PathBuf, Vec<String>)>, String> {
    let output = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(root)
        .output()
        .map_err(|error| format!("cargo metadata: {error}"))?;
    if !output.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|error| format!("cargo metadata output: {error}"))?;
    let packages = metadata["packages"].as_array().ok_or("cargo metadata: no packages")?;
    let names: Vec<&str> = packages.iter().filter_map(|package| package["name"].as_str()).collect();
    let mut graph = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap_or_default().to_owned();
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        let directory = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
        let dependencies = package["dependencies"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter(|dependency| dependency["kind"].is_null())
                    .filter_map(|dependency| dependency["name"].as_str())
                    .filter(|dependency| names.contains(dependency))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        graph.push((name, directory, dependencies));
    }
    Ok(graph)
}

fn rust_files(directory: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(directory) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "target") {
                rust_files(&path, found);
            }
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

/// Every broken rule, as text (empty when tidy).
pub fn check(root: &Path) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED_DEPENDENCIES.iter().copied().collect();
    for (name, directory, dependencies) in workspace_graph(root)? {
        match allowed.get(name.as_str()) {
            None => problems.push(format!("crate {name} is not in tidy::ALLOWED_DEPENDENCIES")),
            Some(permitted) => {
                for dependency in &dependencies {
                    if !permitted.contains(&dependency.as_str()) {
                        problems.push(format!("crate {name} may not depend on {dependency} (dependencies point down)"));
                    }
                }
            }
        }
        let library = directory.join("src/lib.rs");
        if let Ok(text) = std::fs::read_to_string(&library) {
            if !text.trim_start().starts_with("//!") {
                problems.push(format!("{}: must open with //! crate docs", library.display()));
            }
        }
        let mut files = Vec::new();
        rust_files(&directory, &mut files);
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else { continue };
            let shown = file.strip_prefix(root).unwrap_or(&file).display().to_string();
            let in_source = file.starts_with(directory.join("src"));
            if in_source && NO_FILE_SYSTEM_CRATES.contains(&name.as_str()) && text.contains("std::fs") {
                problems.push(format!("{shown}: {name} must not use std::fs (go through StorageBackend)"));
            }
            for banned in ["#[ignore", "#[should_panic"] {
                if name != "xtask" && text.contains(banned) {
                    problems.push(format!("{shown}: {banned}] is banned: tests assert on Err instead"));
                }
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_is_tidy() {
        let problems = check(&crate::workspace_root()).unwrap();
        assert!(problems.is_empty(), "tidy problems:\n{}", problems.join("\n"));
    }

    #[test]
    fn every_crate_in_the_tidy_table_points_only_at_crates_above_it_in_the_table() {
        // The table is ordered bottom-up: a crate may depend only on crates listed before it.
        for (index, (name, dependencies)) in ALLOWED_DEPENDENCIES.iter().enumerate() {
            for dependency in *dependencies {
                let position = ALLOWED_DEPENDENCIES.iter().position(|(other, _)| other == dependency);
                assert!(position.is_some_and(|p| p < index), "{name} -> {dependency} points up or sideways");
            }
        }
    }
}
