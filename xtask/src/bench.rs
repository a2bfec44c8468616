//! `cargo xtask bench [--quick]`: every benchmark and peer comparison in one run, and the report.
//!
//! 1. the criterion benches: `wal` (raw `pwrite`+`fdatasync` baseline and the WAL), `snapshot` (recovery against
//!    read+checksum), `storage-fs` (append+sync) and `vecdb` (HNSW); their numbers are read back from criterion's
//!    `new/estimates.json`; then vecdb-bench's `wal_peers` bench (raw syncs, our WAL and okaywal at 1 to 16
//!    writers, interleaved rounds), which writes its own JSON;
//! 2. vector search on GloVe-50 (`cargo xtask dataset glove-50` first): vecdb-bench's `ann` and hnswlib in a
//!    virtualenv this creates at `target/bench-venv` (`crates/vecdb-bench/scripts/hnswlib_bench.py`), side by side;
//! 3. recovery time by database size (`vecdb-bench recovery`);
//! 4. inserts into vecdb's durable `Db` from 4 writer threads and its reopen time (`vecdb-bench durable-db`,
//!    feature `durable-db`; skipped with a note when that does not build);
//! 5. `target/bench-report/`: `report.md`, SVG plots, `headline.json`, and `results/` (every input, as JSON).
//!
//! `--quick` (under 10 minutes on 2 cores): criterion's `--quick` mode, the 100k subset only, six ef values,
//! fewer passes. Each step's wall time and the load averages around it go into the report: on a shared machine
//! they say how far to trust the figures. A step that fails is recorded and the run goes on; the command fails at
//! the end if any did.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use serde_json::{Value, json};

use crate::dataset::{cargo, glove};
use crate::{Result, workspace_root};

/// The pinned peer (the package under comparison); numpy only reads the files.
const HNSWLIB_REQUIREMENT: &str = "hnswlib==0.8.0";
const EFS_FULL: &str = "16,32,48,64,96,128,192,256";
const EFS_QUICK: &str = "16,32,64,96,128,256";

/// Environment variables, as `(name, value)`.
type Environment = &'static [(&'static str, &'static str)];

/// The criterion benches: package, bench target, and environment for `--quick` (which also passes criterion's own
/// `--quick`: two doubling samples instead of the benches' configured ones).
const CRITERION_BENCHES: &[(&str, &str, Environment)] = &[
    ("wal", "wal", &[]),
    ("snapshot", "recovery", &[]),
    ("storage-fs", "append_sync", &[]),
    ("vecdb", "hnsw", &[("VECDB_BENCH_BUILD_SAMPLES", "0")]),
];

struct Run {
    quick: bool,
    root: PathBuf,
    results: PathBuf,
    criterion_home: PathBuf,
    steps: Vec<Value>,
    notes: Vec<String>,
    failures: Vec<String>,
    /// Whether vecdb-bench builds with its `durable-db` feature (vecdb's durable `Db`).
    durable_db: bool,
}

fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([fields.next()?.ok()?, fields.next()?.ok()?, fields.next()?.ok()?])
}

/// Runs `program` from the workspace root with extra environment, echoing it; fails on a non-zero exit.
fn run_with(program: &str, arguments: &[&str], environment: &[(&str, &str)], root: &Path) -> Result {
    eprintln!(
        "$ {} {program} {}",
        environment.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
        arguments.join(" ")
    );
    let status = Command::new(program)
        .args(arguments)
        .envs(environment.iter().copied())
        .current_dir(root)
        .status()
        .map_err(|error| format!("could not start {program}: {error}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{program} {}` failed: {status}", arguments.join(" "))) }
}

fn command_output(program: &str, arguments: &[&str]) -> String {
    Command::new(program)
        .args(arguments)
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default()
}

impl Run {
    /// Times `action` with the load averages around it; a failure is recorded, not returned.
    fn step(&mut self, name: &str, action: impl FnOnce(&mut Self) -> Result) -> bool {
        eprintln!("==> {name}");
        let load_start = load_average();
        let started = Instant::now();
        let outcome = action(self);
        let seconds = started.elapsed().as_secs_f64();
        let load_end = load_average();
        self.steps.push(json!({ "name": name, "seconds": seconds, "load_start": load_start, "load_end": load_end }));
        eprintln!("    {name}: {seconds:.0} s, load {load_start:?} -> {load_end:?}");
        match outcome {
            Ok(()) => true,
            Err(error) => {
                eprintln!("xtask bench: step {name:?} failed: {error}");
                self.failures.push(format!("{name}: {error}"));
                self.notes.push(format!("Step `{name}` failed: {error}"));
                false
            }
        }
    }

    fn vecdb_bench(&self, arguments: &[&str]) -> Result {
        let mut all = vec!["run", "--quiet", "--release", "-p", "vecdb-bench"];
        if self.durable_db {
            all.extend(["--features", "durable-db"]);
        }
        all.push("--");
        all.extend_from_slice(arguments);
        run_with(&cargo(), &all, &[], &self.root)
    }

    fn result_path(&self, name: &str) -> String {
        self.results.join(name).to_string_lossy().into_owned()
    }
}

/// Creates the virtualenv with hnswlib and numpy when it lacks them; returns its python.
fn bench_venv(root: &Path) -> Result<PathBuf> {
    let venv = root.join("target").join("bench-venv");
    let python = venv.join("bin").join("python");
    if !python.exists() {
        run_with("python3", &["-m", "venv", &venv.to_string_lossy()], &[], root)
            .map_err(|error| format!("{error} (Debian: apt-get install python3-venv)"))?;
    }
    let python_text = python.to_string_lossy().into_owned();
    let importable =
        Command::new(&python).args(["-c", "import hnswlib, numpy"]).status().is_ok_and(|status| status.success());
    if !importable {
        run_with(
            &python_text,
            &["-m", "pip", "install", "--disable-pip-version-check", "--quiet", HNSWLIB_REQUIREMENT, "numpy"],
            &[],
            root,
        )?;
    }
    Ok(python)
}

/// Every criterion result under `home` written after `since`: id, mean ns per iteration, throughput.
fn collect_criterion(home: &Path, since: SystemTime) -> Vec<Value> {
    let mut found = Vec::new();
    let mut pending = vec![home.to_path_buf()];
    while let Some(directory) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            }
        }
        if directory.file_name().is_none_or(|name| name != "new") {
            continue;
        }
        let estimates = directory.join("estimates.json");
        let fresh =
            std::fs::metadata(&estimates).and_then(|metadata| metadata.modified()).is_ok_and(|time| time >= since);
        if !fresh {
            continue;
        }
        let read =
            |name: &str| -> Option<Value> { serde_json::from_slice(&std::fs::read(directory.join(name)).ok()?).ok() };
        let (Some(estimates), Some(benchmark)) = (read("estimates.json"), read("benchmark.json")) else { continue };
        let Some(mean_ns) = estimates.pointer("/mean/point_estimate").and_then(Value::as_f64) else { continue };
        found.push(json!({
            "id": benchmark.get("full_id").and_then(Value::as_str).unwrap_or_default(),
            "mean_ns": mean_ns,
            "mean_ns_interval": [
                estimates.pointer("/mean/confidence_interval/lower_bound"),
                estimates.pointer("/mean/confidence_interval/upper_bound"),
            ],
            "elements": benchmark.pointer("/throughput/Elements"),
            "bytes": benchmark.pointer("/throughput/Bytes"),
        }));
    }
    found.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    found
}

/// Runs `cargo xtask bench [--quick]`.
pub fn bench(arguments: &[String]) -> Result {
    let quick = match arguments {
        [] => false,
        [flag] if flag == "--quick" => true,
        _ => return Err("usage: cargo xtask bench [--quick]".to_owned()),
    };
    let root = workspace_root();
    let report = root.join("target").join("bench-report");
    let results = report.join("results");
    let _ = std::fs::remove_dir_all(&results);
    // The previous run's report and plots go too (criterion's own directory stays: it keeps its baselines).
    for entry in std::fs::read_dir(&report).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|kind| kind.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    std::fs::create_dir_all(&results).map_err(|error| format!("creating {}: {error}", results.display()))?;
    let started_wall = Instant::now();
    // Criterion files are compared with this (file times have coarse granularity on some file systems).
    let since = SystemTime::now() - std::time::Duration::from_secs(2);
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).trim().to_owned();
    let busy = command_output("ps", &["-eo", "pcpu,pid,etime,comm", "--sort=-pcpu"]);
    let busy: String = busy.lines().take(8).collect::<Vec<_>>().join("\n");
    let mut run = Run {
        quick,
        criterion_home: report.join("criterion"),
        root,
        results,
        steps: Vec::new(),
        notes: Vec::new(),
        failures: Vec::new(),
        durable_db: false,
    };

    let mut dataset: Option<PathBuf> = None;
    run.step("dataset glove-50", |_| {
        dataset = Some(glove()?);
        Ok(())
    });
    run.step("build (release, bench profile)", |run| {
        let with_database = ["build", "--quiet", "--release", "-p", "vecdb-bench", "--features", "durable-db"];
        run.durable_db = run_with(&cargo(), &with_database, &[], &run.root).is_ok();
        if !run.durable_db {
            run.notes.push(
                "vecdb-bench did not build with its `durable-db` feature (vecdb's durable `Db`): the durable-database \
                 figures were skipped."
                    .to_owned(),
            );
            run_with(&cargo(), &["build", "--quiet", "--release", "-p", "vecdb-bench"], &[], &run.root)?;
        }
        let mut arguments = vec!["bench", "--no-run", "--quiet"];
        for (package, bench, _) in CRITERION_BENCHES {
            arguments.extend(["-p", package, "--bench", bench]);
        }
        arguments.extend(["-p", "vecdb-bench", "--bench", "wal_peers"]);
        run_with(&cargo(), &arguments, &[], &run.root)
    });

    for (package, bench, quick_environment) in CRITERION_BENCHES {
        run.step(&format!("criterion {package}/{bench}"), |run| {
            let home = run.criterion_home.to_string_lossy().into_owned();
            let mut environment = vec![("CRITERION_HOME", home.as_str())];
            let mut arguments = vec!["bench", "--quiet", "-p", package, "--bench", bench, "--"];
            if run.quick {
                environment.extend_from_slice(quick_environment);
                arguments.push("--quick");
            }
            run_with(&cargo(), &arguments, &environment, &run.root)
        });
    }
    run.step("wal peers: raw syncs, wal, okaywal (interleaved)", |run| {
        let out = run.result_path("wal-peers.json");
        let mut arguments = vec!["bench", "--quiet", "-p", "vecdb-bench", "--bench", "wal_peers", "--"];
        if run.quick {
            arguments.push("--quick");
        }
        run_with(&cargo(), &arguments, &[("VECDB_BENCH_OUT", out.as_str())], &run.root)
    });

    if let Some(dataset) = &dataset {
        let dataset_text = dataset.to_string_lossy().into_owned();
        let mut python = None;
        run.step("virtualenv with hnswlib", |run| {
            python = Some(bench_venv(&run.root)?);
            Ok(())
        });
        let subsets: &[&str] = if quick { &["100k"] } else { &["100k", "full"] };
        let (efs, repetitions) = if quick { (EFS_QUICK, "3") } else { (EFS_FULL, "5") };
        for (position, subset) in subsets.iter().enumerate() {
            // Alternate which library goes first, so a drift in the machine's load does not always favor one.
            let libraries = if position % 2 == 0 { ["vecdb", "hnswlib"] } else { ["hnswlib", "vecdb"] };
            for library in libraries {
                let out = run.result_path(&format!("ann-{library}-{subset}.json"));
                let mut arguments = vec![
                    "--dataset",
                    &dataset_text,
                    "--subset",
                    subset,
                    "--efs",
                    efs,
                    "--repetitions",
                    repetitions,
                    "--out",
                    &out,
                ];
                match (library, &python) {
                    ("vecdb", _) => {
                        arguments.insert(0, "ann");
                        run.step(&format!("ann vecdb {subset}"), |run| run.vecdb_bench(&arguments));
                    }
                    (_, Some(python)) => {
                        let script = run.root.join("crates/vecdb-bench/scripts/hnswlib_bench.py");
                        let script = script.to_string_lossy().into_owned();
                        arguments.insert(0, &script);
                        let python = python.to_string_lossy().into_owned();
                        run.step(&format!("ann hnswlib {subset}"), |run| run_with(&python, &arguments, &[], &run.root));
                    }
                    _ => {}
                }
            }
        }
    } else {
        run.notes.push("No GloVe-50 dataset: the vector-search comparison was skipped.".to_owned());
    }

    // The WebAssembly build against hnswlib-wasm 0.8.2 in Node (V8), the same data and parameters; its table is in
    // the run's output (`cargo xtask wasm-bench` runs it alone). The full run only: it builds the wasm package.
    if !quick
        && run.step("ann in WebAssembly: vecdb-wasm vs hnswlib-wasm (Node)", |_| crate::wasm::main("wasm-bench", &[]))
    {
        run.notes.push(
            "WebAssembly: vecdb-wasm vs hnswlib-wasm 0.8.2 in Node ran in this run; its table is in the run's output."
                .to_owned(),
        );
    }
    run.step("recovery by size", |run| {
        let out = run.result_path("recovery.json");
        let work = run.root.join("target").join("bench-report").join("work").to_string_lossy().into_owned();
        let (sizes, repetitions, subset) = if run.quick {
            ("10000,50000,100000", "3", "100k")
        } else {
            ("10000,50000,100000,200000,390000", "5", "full")
        };
        let mut arguments =
            vec!["recovery", "--out", &out, "--work", &work, "--sizes", sizes, "--repetitions", repetitions];
        let dataset_text = dataset.as_ref().map(|dataset| dataset.to_string_lossy().into_owned());
        if let Some(dataset_text) = &dataset_text {
            arguments.extend(["--dataset", dataset_text.as_str(), "--subset", subset]);
        }
        let outcome = run.vecdb_bench(&arguments);
        let _ = std::fs::remove_dir_all(&work);
        outcome
    });

    if run.durable_db {
        match &dataset {
            Some(dataset) => {
                let dataset_text = dataset.to_string_lossy().into_owned();
                run.step("durable database: 100k inserts, 4 writers, reopen", |run| {
                    let out = run.result_path("durable-db.json");
                    let work =
                        run.root.join("target").join("bench-report").join("work-db").to_string_lossy().into_owned();
                    // Reopening from the log alone replays (re-inserts) every vector: slow, so only in full runs.
                    let replay = if run.quick { "0" } else { "1" };
                    let arguments = [
                        "durable-db",
                        "--dataset",
                        &dataset_text,
                        "--work",
                        &work,
                        "--out",
                        &out,
                        "--writers",
                        "4",
                        "--replay",
                        replay,
                    ];
                    let outcome = run.vecdb_bench(&arguments);
                    let _ = std::fs::remove_dir_all(&work);
                    outcome
                });
            }
            None => run.notes.push("No GloVe-50 dataset: the durable-database figures were skipped.".to_owned()),
        }
    }

    let criterion = collect_criterion(&run.criterion_home, since);
    let command = if quick { "cargo xtask bench --quick" } else { "cargo xtask bench" };
    let write = |path: PathBuf, value: &Value| -> Result {
        let text = serde_json::to_string_pretty(value).map_err(|error| error.to_string())?;
        std::fs::write(&path, text).map_err(|error| format!("writing {}: {error}", path.display()))
    };
    write(run.results.join("criterion.json"), &json!({ "benchmarks": criterion }))?;
    run.steps.push(json!({ "name": "total", "seconds": started_wall.elapsed().as_secs_f64() }));
    write(
        run.results.join("run.json"),
        &json!({
            "command": command,
            "started": date,
            "quick": quick,
            "steps": run.steps,
            "busy_processes": busy,
            "notes": run.notes,
        }),
    )?;
    let results_text = run.results.to_string_lossy().into_owned();
    let report_text = report.to_string_lossy().into_owned();
    run.vecdb_bench(&["report", "--results", &results_text, "--out", &report_text])?;
    eprintln!("xtask bench: {} in {:.0} s", report.join("report.md").display(), started_wall.elapsed().as_secs_f64());
    if run.failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} step(s) failed:\n{}", run.failures.len(), run.failures.join("\n")))
    }
}
