//! The `vecdb` binary end to end: create, import every file format, search, get, delete, info, verify, checkpoint,
//! compact, bench, the errors users see, and the demo at a small size.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DIMENSION: usize = 8;

/// A fresh directory under the system's temp directory, removed when dropped.
struct TempDirectory(PathBuf);

impl TempDirectory {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("vecdb-cli-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn vecdb<I, S>(arguments: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_vecdb")).args(arguments).output().unwrap()
}

/// Runs `vecdb` and returns its stdout, failing the test (with stderr) when it fails.
fn ok<I, S>(arguments: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let output = vecdb(arguments);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "vecdb failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs `vecdb`, expecting failure; returns its stderr.
fn fails<I, S>(arguments: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let output = vecdb(arguments);
    assert!(!output.status.success(), "vecdb succeeded: {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Row `index` of the test data: distinct pseudo-random vectors (splitmix64), the same in every run.
fn row(index: usize) -> Vec<f32> {
    let mut state = index as u64 ^ 0x5EED;
    (0..DIMENSION)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 40) as f32 / (1 << 24) as f32 * 8.0 - 4.0
        })
        .collect()
}

fn write_fvecs(path: &Path, rows: std::ops::Range<usize>) {
    let mut bytes = Vec::new();
    for index in rows {
        bytes.extend_from_slice(&(DIMENSION as i32).to_le_bytes());
        for value in row(index) {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

/// A Fortran-order `.npy` (column-major, as numpy writes a transposed array).
fn write_npy_fortran(path: &Path, rows: std::ops::Range<usize>) {
    let count = rows.len();
    let mut header = format!("{{'descr': '<f4', 'fortran_order': True, 'shape': ({count}, {DIMENSION}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    let data: Vec<Vec<f32>> = rows.map(row).collect();
    for column in 0..DIMENSION {
        for values in &data {
            bytes.extend_from_slice(&values[column].to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

fn write_json_lines(path: &Path, ids: std::ops::Range<usize>) {
    let mut text = String::new();
    for id in ids {
        let vector: Vec<String> = row(id).iter().map(f32::to_string).collect();
        let genre = if id % 3 == 0 { "jazz" } else { "rock" };
        text.push_str(&format!(
            "{{\"id\": {id}, \"vector\": [{}], \"metadata\": {{\"genre\": \"{genre}\", \"year\": {}}}}}\n",
            vector.join(", "),
            1950 + id % 70
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn query_argument(index: usize) -> String {
    row(index).iter().map(f32::to_string).collect::<Vec<_>>().join(",")
}

#[test]
fn create_import_search_get_delete_info_verify_checkpoint_compact_and_bench_round_trip() {
    let temp = TempDirectory::new("round-trip");
    let database = temp.join("db");
    let (fvecs, npy, raw, lines) = (temp.join("a.fvecs"), temp.join("b.npy"), temp.join("c.f32"), temp.join("d.jsonl"));
    write_fvecs(&fvecs, 0..300);
    write_npy_fortran(&npy, 300..350);
    let raw_bytes: Vec<u8> = (350..360).flat_map(row).flat_map(f32::to_le_bytes).collect();
    std::fs::write(&raw, raw_bytes).unwrap();
    write_json_lines(&lines, 2_000..2_060);

    let created = ok([
        "create".as_ref(),
        database.as_os_str(),
        "--dimension".as_ref(),
        "8".as_ref(),
        "--m".as_ref(),
        "8".as_ref(),
    ]);
    assert!(created.contains("dimension 8"), "{created}");
    let db = database.to_str().unwrap();
    assert!(ok(["import", db, fvecs.to_str().unwrap()]).contains("imported 300 vectors"));
    assert!(ok(["import", db, npy.to_str().unwrap(), "--first-id", "300"]).contains("imported 50 vectors"));
    assert!(ok(["import", db, raw.to_str().unwrap(), "--format", "raw", "--first-id", "350"]).contains("imported 10"));
    assert!(ok(["import", db, lines.to_str().unwrap(), "--batch-size", "7"]).contains("imported 60 vectors"));

    // A stored vector is its own nearest neighbour, whichever file it came from (the npy rows were transposed).
    for index in [5, 320, 355, 2_010] {
        let found = ok(["search", db, "--vector", &query_argument(index), "-k", "3"]);
        let first = found.lines().nth(1).unwrap();
        assert_eq!(first.split_whitespace().nth(1), Some(index.to_string().as_str()), "{found}");
        assert!(found.contains("3 results"), "{found}");
    }
    let filtered = ok([
        "search",
        db,
        "--vector",
        &query_argument(2_010),
        "-k",
        "5",
        "--filter",
        "genre = \"jazz\" and year >= 1950",
    ]);
    let rows: Vec<&str> = filtered.lines().skip(1).take(5).collect();
    assert!(rows.iter().all(|line| line.contains("\"genre\":\"jazz\"")), "{filtered}");
    let exact = ok(["search", db, "--query-file", fvecs.to_str().unwrap(), "--row", "7", "--exact", "-k", "1"]);
    assert!(exact.contains("exact search"), "{exact}");

    let record: serde_json::Value = serde_json::from_str(ok(["get", db, "2004"]).trim()).unwrap();
    assert_eq!(record["id"], 2004);
    assert_eq!(record["metadata"]["genre"], "jazz");
    assert_eq!(record["vector"].as_array().unwrap().len(), DIMENSION);

    assert!(ok(["delete", db, "3", "4"]).contains("deleted 4"));
    assert!(fails(["get", db, "3"]).contains("no live vector has id 3"));
    let info = ok(["info", db]);
    assert!(info.contains("418 live, 2 deleted"), "{info}");
    assert!(info.contains("snapshots    newest at LSN"), "{info}");
    let verified = ok(["verify", db]);
    assert!(verified.contains("dry-run recovery") && verified.contains("verified:"), "{verified}");
    assert!(ok(["checkpoint", db]).contains("checkpoint at LSN"));
    assert!(ok(["compact", db]).contains("2 tombstones removed"));
    assert!(ok(["info", db]).contains("418 live, 0 deleted"));

    let bench = ok(["bench", "--db", db, "--queries", fvecs.to_str().unwrap(), "--queries-max", "20", "--ef", "16,64"]);
    let efs: Vec<&str> = bench.lines().filter_map(|line| line.split_whitespace().next()).collect();
    assert!(bench.contains("recall@10") && efs.contains(&"16") && efs.contains(&"64"), "{bench}");
    let built = ok([
        "bench",
        "--base",
        fvecs.to_str().unwrap(),
        "--queries",
        npy.to_str().unwrap(),
        "--m",
        "8",
        "--ef-construction",
        "32",
        "--ef",
        "32",
    ]);
    assert!(built.contains("built in"), "{built}");
}

#[test]
fn users_get_clear_errors() {
    let temp = TempDirectory::new("errors");
    let database = temp.join("db");
    let db = database.to_str().unwrap();
    assert!(fails(["info", db]).contains("no database"));
    ok(["create", db, "--dimension", "8"]);
    assert!(fails(["create", db, "--dimension", "8"]).contains("not empty"));
    assert!(fails(["search", db, "--vector", "1,2,3"]).contains("3 components; the index's dimension is 8"));
    assert!(fails(["search", db, "--vector", &query_argument(1), "--filter", "year >"]).contains("at byte 6"));
    assert!(fails(["search", db, "--vector", &query_argument(1), "-k", "0"]).contains("k is zero"));
    assert!(fails(["delete", db, "42"]).contains("no live vector has id 42"));
    let bad = temp.join("bad.fvecs");
    std::fs::write(&bad, [8, 0, 0, 0, 1, 2]).unwrap();
    assert!(fails(["import", db, bad.to_str().unwrap()]).contains("truncated"));
    assert!(
        fails(["create", temp.join("x").to_str().unwrap(), "--dimension", "8", "--encoding", "sq3"])
            .contains("--encoding")
    );
}

fn directory_listing(directory: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn verify_reports_damage_and_never_changes_the_directory() {
    let temp = TempDirectory::new("verify");
    let database = temp.join("db");
    let db = database.to_str().unwrap();
    let fvecs = temp.join("a.fvecs");
    write_fvecs(&fvecs, 0..50);
    ok(["create", db, "--dimension", "8", "--m", "4"]);
    ok(["import", db, fvecs.to_str().unwrap()]);
    ok(["delete", db, "1"]);
    // A torn write at the log's end (as a crash leaves it): verify notes it, and leaves it for the next open.
    let segment = std::fs::read_dir(&database)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.file_name().unwrap().to_string_lossy().starts_with("wal%"))
        .unwrap();
    let mut log = std::fs::OpenOptions::new().append(true).open(&segment).unwrap();
    std::io::Write::write_all(&mut log, &[0xAB; 100]).unwrap();
    drop(log);
    let before = directory_listing(&database);
    let report = ok(["verify", db]);
    assert!(report.contains("torn"), "{report}");
    assert!(report.contains("49 live vectors"), "{report}");
    assert_eq!(directory_listing(&database), before, "verify changed the directory");

    // Damage no recovery can get past (the only snapshot, with the log below it gone): verify fails, read-only.
    let snapshot = std::fs::read_dir(&database)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.file_name().unwrap().to_string_lossy().starts_with("snapshot%"))
        .unwrap();
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&snapshot, bytes).unwrap();
    let before = directory_listing(&database);
    let error = fails(["verify", db]);
    assert!(error.contains("recovery fails"), "{error}");
    assert_eq!(directory_listing(&database), before, "verify changed the directory");
}

#[test]
fn the_demo_runs_to_success_at_a_small_size() {
    let temp = TempDirectory::new("demo");
    let directory = temp.join("demo");
    let arguments = [
        "demo",
        "--dir",
        directory.to_str().unwrap(),
        "--vectors",
        "2000",
        "--queries",
        "40",
        "--writer-batch-size",
        "50",
    ];
    let output = ok(arguments);
    for expected in [
        "1/4  Build",
        "recall@10",
        "with the filter",
        "✓ batch 5",
        "SIGKILL",
        "the recovery report",
        "all 250 acknowledged vectors are back",
        "(in flight) is",
        "Done in",
    ] {
        assert!(output.contains(expected), "missing {expected:?} in:\n{output}");
    }
    // It recreates its directory on the next run, and refuses to delete a directory that is not a database.
    let again = ok([
        "demo",
        "--dir",
        directory.to_str().unwrap(),
        "--vectors",
        "300",
        "--queries",
        "10",
        "--writer-batch-size",
        "10",
    ]);
    assert!(again.contains("300 vectors") && again.contains("Done in"), "{again}");
    let other = temp.join("not-a-database");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("precious.txt"), b"keep me").unwrap();
    assert!(fails(["demo", "--dir", other.to_str().unwrap(), "--vectors", "100"]).contains("refusing to delete"));
    assert!(other.join("precious.txt").exists());
}
