//! The report: reads the results a `cargo xtask bench` run leaves in one directory and writes `report.md`, the
//! SVG plots and `headline.json` (the figures docs/benchmarks.md quotes).
//!
//! Inputs (all optional but `run.json`; a missing one leaves its section saying so):
//! - `run.json` (xtask): the command, the date, each step's wall time and load averages, the busiest processes;
//! - `criterion.json` (xtask): every criterion benchmark of the run (`full_id`, mean nanoseconds per iteration,
//!   elements or bytes per iteration), read from criterion's `new/estimates.json` and `benchmark.json`;
//! - `ann-<library>-<subset>.json`: [`AnnResult`]s (vecdb from this crate, hnswlib from the Python script);
//! - `wal-peers.json`: the `wal_peers` bench (durable appends of raw syncs, our WAL and okaywal, 1 to 16 writers);
//! - `recovery.json`: [`RecoveryPoint`]s;
//! - `durable-db.json`: inserts into a durable vecdb database and its reopen time (when vecdb has a `Db`).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};

use crate::ann::{AnnResult, triple};
use crate::error::BenchError;
use crate::files::{read_json, write_atomic, write_json};
use crate::machine::Machine;
use crate::plot::{Chart, Series, line_chart, short_number};
use crate::recovery::RecoveryPoint;

/// The recall at which QPS is compared.
pub const TARGET_RECALL: f64 = 0.95;
/// The writer counts of the group-commit scaling bench (`wal_peers`).
pub const WRITER_COUNTS: [usize; 5] = [1, 2, 4, 8, 16];
/// The systems of the `wal_peers` bench and their labels.
pub const PEER_SYSTEMS: [(&str, &str); 5] = [
    ("raw_append", "raw pwrite+fdatasync, growing file"),
    ("raw_overwrite", "raw pwrite+fdatasync, preallocated file"),
    ("wal", "vecdb wal"),
    ("okaywal", "okaywal 0.3.1"),
    ("raw_group", "group-commit floor: one sync per group, N-1 wake-ups"),
];

/// One system at one writer count in the `wal_peers` bench.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerPoint {
    /// `raw_append`, `raw_overwrite`, `wal`, `okaywal` or `raw_group`.
    pub system: String,
    /// Writer threads.
    pub writers: usize,
    /// Median over the rounds of total durable appends per second.
    pub appends_per_second: f64,
    /// The slowest and the fastest round.
    pub range: Option<(f64, f64)>,
    /// Median latency of one append, microseconds.
    pub latency_p50_us: f64,
    /// 99th-percentile latency, microseconds.
    pub latency_p99_us: f64,
}

/// One criterion benchmark's result.
#[derive(Clone, Debug, PartialEq)]
pub struct CriterionFigure {
    /// `group/function[/value]`.
    pub id: String,
    /// Mean time of one iteration.
    pub mean_ns: f64,
    /// Elements one iteration processes (criterion's `Throughput::Elements`).
    pub elements: Option<f64>,
    /// Bytes one iteration processes (criterion's `Throughput::Bytes`).
    pub bytes: Option<f64>,
}

impl CriterionFigure {
    /// Elements per second.
    pub fn elements_per_second(&self) -> Option<f64> {
        self.elements.map(|elements| elements / (self.mean_ns * 1e-9))
    }

    /// Bytes per second.
    pub fn bytes_per_second(&self) -> Option<f64> {
        self.bytes.map(|bytes| bytes / (self.mean_ns * 1e-9))
    }
}

/// One step of the run, as xtask timed it.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// What ran.
    pub name: String,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Load averages before it.
    pub load_start: Option<[f64; 3]>,
    /// Load averages after it.
    pub load_end: Option<[f64; 3]>,
}

/// Everything the report is made from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inputs {
    /// The command that produced the results.
    pub command: String,
    /// When the run started (UTC).
    pub started: String,
    /// Whether it was `--quick`.
    pub quick: bool,
    /// The steps.
    pub steps: Vec<Step>,
    /// The busiest processes when the run started (`ps` output), to judge noise.
    pub busy_processes: String,
    /// Notes from xtask (skipped steps, TODOs).
    pub notes: Vec<String>,
    /// Criterion figures.
    pub criterion: Vec<CriterionFigure>,
    /// ANN figures, per library and subset.
    pub ann: Vec<AnnResult>,
    /// The `wal_peers` bench.
    pub wal_peers: Vec<PeerPoint>,
    /// Recovery by size.
    pub recovery: Vec<RecoveryPoint>,
    /// The durable-database figures, when measured.
    pub durable_database: Option<Value>,
}

impl Inputs {
    /// Reads the results directory.
    ///
    /// # Errors
    /// [`BenchError::Io`] or [`BenchError::Json`] for unreadable or malformed files.
    pub fn load(directory: &Path) -> Result<Self, BenchError> {
        let mut inputs = Self::default();
        if let Some(run) = read_json(&directory.join("run.json"))? {
            let text = |name: &str| run.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
            inputs.command = text("command");
            inputs.started = text("started");
            inputs.busy_processes = text("busy_processes");
            inputs.quick = run.get("quick").and_then(Value::as_bool).unwrap_or(false);
            inputs.notes = run
                .get("notes")
                .and_then(Value::as_array)
                .map(|notes| notes.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            for step in run.get("steps").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
                inputs.steps.push(Step {
                    name: step.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    seconds: step.get("seconds").and_then(Value::as_f64).unwrap_or(f64::NAN),
                    load_start: triple(step.get("load_start")),
                    load_end: triple(step.get("load_end")),
                });
            }
        }
        if let Some(criterion) = read_json(&directory.join("criterion.json"))? {
            for figure in criterion.get("benchmarks").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
                let Some(mean_ns) = figure.get("mean_ns").and_then(Value::as_f64) else { continue };
                inputs.criterion.push(CriterionFigure {
                    id: figure.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    mean_ns,
                    elements: figure.get("elements").and_then(Value::as_f64),
                    bytes: figure.get("bytes").and_then(Value::as_f64),
                });
            }
        }
        let mut names: Vec<_> = std::fs::read_dir(directory)
            .map_err(BenchError::io(directory))?
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("ann-") && name.ends_with(".json"))
            .collect();
        names.sort();
        for name in names {
            let path = directory.join(&name);
            if let Some(value) = read_json(&path)? {
                inputs.ann.push(AnnResult::from_json(&value, &path)?);
            }
        }
        if let Some(peers) = read_json(&directory.join("wal-peers.json"))? {
            for point in peers.get("points").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
                let number = |name: &str| point.get(name).and_then(Value::as_f64);
                let (Some(system), Some(writers), Some(rate)) =
                    (point.get("system").and_then(Value::as_str), number("writers"), number("appends_per_second"))
                else {
                    continue;
                };
                inputs.wal_peers.push(PeerPoint {
                    system: system.to_owned(),
                    writers: writers as usize,
                    appends_per_second: rate,
                    range: number("appends_per_second_min").zip(number("appends_per_second_max")),
                    latency_p50_us: number("latency_p50_us").unwrap_or(f64::NAN),
                    latency_p99_us: number("latency_p99_us").unwrap_or(f64::NAN),
                });
            }
        }
        if let Some(recovery) = read_json(&directory.join("recovery.json"))? {
            let points = recovery.get("points").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            inputs.recovery = points.iter().filter_map(RecoveryPoint::from_json).collect();
        }
        inputs.durable_database = read_json(&directory.join("durable-db.json"))?;
        Ok(inputs)
    }

    /// The criterion figure with this id.
    pub fn criterion(&self, id: &str) -> Option<&CriterionFigure> {
        self.criterion.iter().find(|figure| figure.id == id)
    }

    /// The `wal_peers` figures of `system` with `writers` writers.
    pub fn peer(&self, system: &str, writers: usize) -> Option<&PeerPoint> {
        self.wal_peers.iter().find(|point| point.system == system && point.writers == writers)
    }

    /// Appends per second of `system` with `writers` writers, from the `wal_peers` bench.
    pub fn peer_rate(&self, system: &str, writers: usize) -> Option<f64> {
        self.peer(system, writers).map(|point| point.appends_per_second)
    }

    /// The ANN result of `library` on `subset`.
    pub fn ann(&self, library: &str, subset: &str) -> Option<&AnnResult> {
        self.ann.iter().find(|result| result.library == library && result.subset == subset)
    }
}

/// A ratio as text, `-` when either side is missing.
fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> String {
    match (numerator, denominator) {
        (Some(numerator), Some(denominator)) if denominator > 0.0 => format!("{:.2}x", numerator / denominator),
        _ => "-".to_owned(),
    }
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{}/s", short_number(value)))
}

fn load_text(load: Option<[f64; 3]>) -> String {
    load.map_or_else(|| "-".to_owned(), |[one, five, fifteen]| format!("{one:.2} {five:.2} {fifteen:.2}"))
}

/// One headline figure: what, the value, and its baseline ratio.
#[derive(Clone, Debug, PartialEq)]
pub struct Headline {
    /// What is measured.
    pub figure: String,
    /// Our value.
    pub value: String,
    /// The baseline and the ratio to it.
    pub baseline: String,
}

/// The headline figures: each with its baseline ratio.
pub fn headlines(inputs: &Inputs) -> Vec<Headline> {
    let mut lines = Vec::new();
    let mut push = |figure: String, value: String, baseline: String| lines.push(Headline { figure, value, baseline });
    let (raw, single, sixteen) =
        (inputs.peer_rate("raw_overwrite", 1), inputs.peer_rate("wal", 1), inputs.peer_rate("wal", 16));
    let raw_append = inputs.peer_rate("raw_append", 1);
    push(
        "WAL durable append (64 B), 1 writer".into(),
        rate(single),
        format!(
            "{} of raw pwrite+fdatasync ({}; {} with a growing file: {})",
            ratio(single, raw),
            rate(raw),
            ratio(single, raw_append),
            rate(raw_append)
        ),
    );
    let (floor_single, floor_sixteen) = (inputs.peer_rate("raw_group", 1), inputs.peer_rate("raw_group", 16));
    push(
        "WAL durable append (64 B), 16 writers (group commit)".into(),
        rate(sixteen),
        format!(
            "{} of 1 writer; the group-commit floor (no log: one sync per 16 records plus 15 wake-ups) reaches {} of \
             its 1 writer, and ours is {} of it",
            ratio(sixteen, single),
            ratio(floor_sixteen, floor_single),
            ratio(sixteen, floor_sixteen)
        ),
    );
    let (okay_single, okay_sixteen) = (inputs.peer_rate("okaywal", 1), inputs.peer_rate("okaywal", 16));
    push(
        "okaywal durable append (64 B), 1 / 16 writers".into(),
        format!("{} / {}", rate(okay_single), rate(okay_sixteen)),
        format!("ours is {} / {} of okaywal", ratio(single, okay_single), ratio(sixteen, okay_sixteen)),
    );
    let recover = inputs.criterion("recovery_100k_x_128/open_and_recover");
    let floor = inputs.criterion("recovery_100k_x_128/read_and_checksum_every_byte");
    push(
        "Recovery, 100k x 128 floats + 10k-record WAL tail".into(),
        recover.map_or_else(|| "-".into(), |figure| format!("{:.1} ms", figure.mean_ns / 1e6)),
        format!(
            "{} of read+checksum ({})",
            ratio(recover.map(|figure| figure.mean_ns), floor.map(|figure| figure.mean_ns)),
            floor.map_or_else(|| "-".into(), |figure| format!("{:.1} ms", figure.mean_ns / 1e6))
        ),
    );
    if let Some(value) = &inputs.durable_database {
        let number = |name: &str| value.get(name).and_then(Value::as_f64);
        let (vectors, insert) = (number("vectors"), number("insert_seconds"));
        push(
            format!("Durable DB: {} inserts, 4 writers (group commit)", vectors.unwrap_or(f64::NAN)),
            rate(vectors.zip(insert).map(|(vectors, seconds)| vectors / seconds)),
            format!("reopen {:.2} s from a checkpoint", number("reopen_seconds").unwrap_or(f64::NAN)),
        );
    }
    for subset in ["100k", "full"] {
        let (Some(ours), Some(theirs)) = (inputs.ann("vecdb", subset), inputs.ann("hnswlib", subset)) else {
            continue;
        };
        let (our_qps, their_qps) =
            (ours.queries_per_second_at_recall(TARGET_RECALL), theirs.queries_per_second_at_recall(TARGET_RECALL));
        let count = format!("{} vectors", ours.base_count);
        let (our_cpu, their_cpu) = (
            ours.queries_per_cpu_second_at_recall(TARGET_RECALL),
            theirs.queries_per_cpu_second_at_recall(TARGET_RECALL),
        );
        push(
            format!("ANN {subset} ({count}): QPS at recall@10 = {TARGET_RECALL}, 1 thread"),
            format!("{} ({} per CPU s)", rate(our_qps), rate(our_cpu)),
            format!(
                "{} of hnswlib ({}); in CPU time {} ({})",
                ratio(our_qps, their_qps),
                rate(their_qps),
                ratio(our_cpu, their_cpu),
                rate(their_cpu)
            ),
        );
        let cpu_seconds =
            |seconds: Option<f64>| seconds.map_or_else(|| "-".to_owned(), |seconds| format!("{seconds:.1} s"));
        push(
            format!("ANN {subset}: build time, 1 thread"),
            format!("{:.1} s ({} CPU)", ours.build_seconds, cpu_seconds(ours.build_cpu_seconds)),
            format!(
                "{} of hnswlib ({:.1} s); in CPU time {} ({}); target <= 1.25x",
                ratio(Some(ours.build_seconds), Some(theirs.build_seconds)),
                theirs.build_seconds,
                ratio(ours.build_cpu_seconds, theirs.build_cpu_seconds),
                cpu_seconds(theirs.build_cpu_seconds)
            ),
        );
        push(
            format!("ANN {subset}: memory per vector (index's count)"),
            format!("{:.0} B", ours.index_bytes_per_vector),
            format!(
                "{} of hnswlib ({:.0} B)",
                ratio(Some(ours.index_bytes_per_vector), Some(theirs.index_bytes_per_vector)),
                theirs.index_bytes_per_vector
            ),
        );
    }
    lines
}

fn machine_section(out: &mut String, inputs: &Inputs, machine: &Machine) {
    let _ = writeln!(out, "## Machine and load\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| date | {} |", inputs.started);
    let _ = writeln!(out, "| command | `{}` |", inputs.command);
    let _ = writeln!(out, "| CPU | {} |", machine.cpu_model);
    let _ = writeln!(out, "| logical CPUs (nproc) | {} |", machine.logical_cpus);
    let _ = writeln!(out, "| kernel | {} |", machine.kernel);
    let memory = machine
        .memory_bytes
        .map_or_else(|| "-".to_owned(), |bytes| format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64));
    let _ = writeln!(out, "| memory | {memory} |");
    let _ = writeln!(
        out,
        "\nLoad averages (1, 5, 15 min) around each step: on a shared machine these say how much to trust"
    );
    let _ = writeln!(out, "the figures (a load above the CPU count means the benchmark shared its cores).\n");
    let _ = writeln!(out, "| step | seconds | load before | load after |\n|---|---:|---|---|");
    for step in &inputs.steps {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {} |",
            step.name,
            step.seconds,
            load_text(step.load_start),
            load_text(step.load_end)
        );
    }
    if !inputs.busy_processes.trim().is_empty() {
        let _ = writeln!(
            out,
            "\nBusiest processes when the run started:\n\n```text\n{}\n```",
            inputs.busy_processes.trim_end()
        );
    }
    for note in &inputs.notes {
        let _ = writeln!(out, "\n> {note}");
    }
    out.push('\n');
}

fn ann_section(out: &mut String, inputs: &Inputs, output: &Path, plots: &mut Vec<String>) -> Result<(), BenchError> {
    let _ = writeln!(
        out,
        "## Vector search: vecdb vs hnswlib on GloVe-50 (cosine, M = 16, ef_construction = 200, 1 thread)\n"
    );
    if inputs.ann.is_empty() {
        let _ = writeln!(out, "Not measured in this run (no `ann-*.json`).\n");
        return Ok(());
    }
    let _ = writeln!(
        out,
        "Recall@10 counted the ann-benchmarks way (a returned id counts when its true distance is within the 10th true\n\
         distance + 1e-3); QPS is the fastest of the passes over all queries at each ef, one thread, in wall time and\n\
         in the CPU time of the searching thread (`CLOCK_THREAD_CPUTIME_ID`, which load from other processes inflates\n\
         far less: compare those when the load table shows the two libraries ran under different load). Memory:\n\
         the index's own count (vecdb `heap_bytes`, hnswlib `index_file_size`) and the growth of the process's\n\
         resident set during the build, per vector.\n"
    );
    let _ = writeln!(
        out,
        "| library | subset | vectors | queries | build s | build CPU s | index B/vector | RSS B/vector | QPS at recall {TARGET_RECALL} | per CPU s |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for result in &inputs.ann {
        let _ = writeln!(
            out,
            "| {} {} | {} | {} | {} | {:.1} | {} | {:.0} | {} | {} | {} |",
            result.library,
            result.version,
            result.subset,
            result.base_count,
            result.query_count,
            result.build_seconds,
            result.build_cpu_seconds.map_or_else(|| "-".to_owned(), |seconds| format!("{seconds:.1}")),
            result.index_bytes_per_vector,
            result.resident_bytes_per_vector.map_or_else(|| "-".to_owned(), |bytes| format!("{bytes:.0}")),
            rate(result.queries_per_second_at_recall(TARGET_RECALL)),
            rate(result.queries_per_cpu_second_at_recall(TARGET_RECALL)),
        );
    }
    for subset in ["100k", "full"] {
        let results: Vec<&AnnResult> = inputs.ann.iter().filter(|result| result.subset == subset).collect();
        if results.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n### Subset {subset}: recall@10 and QPS by ef\n");
        let mut header = "| ef |".to_owned();
        let mut rule = "|---:|".to_owned();
        for result in &results {
            let _ = write!(header, " {0} recall | {0} QPS | {0} per CPU s |", result.library);
            rule.push_str("---:|---:|---:|");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        let mut efs: Vec<usize> =
            results.iter().flat_map(|result| result.points.iter().map(|point| point.ef)).collect();
        efs.sort_unstable();
        efs.dedup();
        for ef in efs {
            let mut row = format!("| {ef} |");
            for result in &results {
                match result.points.iter().find(|point| point.ef == ef) {
                    Some(point) => {
                        let cpu =
                            point.queries_per_cpu_second.map_or_else(|| "-".to_owned(), |rate| format!("{rate:.0}"));
                        let _ = write!(row, " {:.4} | {:.0} | {cpu} |", point.recall, point.queries_per_second);
                    }
                    None => row.push_str(" - | - | - |"),
                }
            }
            let _ = writeln!(out, "{row}");
        }
        for cpu in [false, true] {
            let name = if cpu { format!("recall-qps-cpu-{subset}.svg") } else { format!("recall-qps-{subset}.svg") };
            let series: Vec<Series> = results
                .iter()
                .map(|result| Series {
                    name: format!("{} {}", result.library, result.version),
                    points: result
                        .points
                        .iter()
                        .filter_map(|point| {
                            let rate = if cpu { point.queries_per_cpu_second? } else { point.queries_per_second };
                            Some((point.recall, rate))
                        })
                        .collect(),
                })
                .filter(|series| !series.points.is_empty())
                .collect();
            if series.is_empty() {
                continue;
            }
            let chart = Chart {
                title: if cpu {
                    format!("GloVe-50 {subset}: recall@10 vs queries per CPU second (1 thread)")
                } else {
                    format!("GloVe-50 {subset}: recall@10 vs queries/s (1 thread)")
                },
                x_label: "recall@10".into(),
                y_label: if cpu { "queries per CPU second".into() } else { "queries per second".into() },
                log_x: false,
                legend_upper_left: false,
            };
            line_chart(&output.join(&name), &chart, &series)?;
            let what = if cpu { "recall vs queries per CPU second" } else { "recall vs QPS" };
            let _ = writeln!(out, "\n![{what}, {subset}]({name})");
            plots.push(name);
        }
    }
    out.push('\n');
    Ok(())
}

fn wal_section(out: &mut String, inputs: &Inputs, output: &Path, plots: &mut Vec<String>) -> Result<(), BenchError> {
    let _ = writeln!(out, "## Durable appends: group-commit scaling against okaywal and the disk\n");
    if inputs.wal_peers.is_empty() {
        let _ = writeln!(out, "Not measured in this run (no `wal-peers.json`).\n");
        return Ok(());
    }
    let _ = writeln!(
        out,
        "64-byte records, each append durable before it returns, on the same disk in the same run (`wal_peers`\n\
         bench), measured in interleaved rounds of short bursts (the median burst counts) because this disk's sync\n\
         latency drifts. `raw_*`: every writer does its own `pwrite` + `fdatasync` on one shared file, no group\n\
         commit; `raw_overwrite` writes into a preallocated file (data-only syncs: the disk's floor), `raw_append`\n\
         grows the file (each sync also commits the length). `raw_group` is the floor of group commit with no log:\n\
         one thread syncs each group's bytes and wakes the other writers, which only acknowledge. Total appends per\n\
         second over all writers as the median round (slowest-fastest round in brackets); latency of one append.\n"
    );
    let _ = writeln!(
        out,
        "| writers | raw append | raw overwrite | group floor | vecdb wal | okaywal | wal / raw overwrite | wal / group floor | wal / okaywal | wal p50 / p99 us | okaywal p50 / p99 us |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let spread = |system: &str, writers: usize| match inputs.peer(system, writers) {
        Some(PeerPoint { appends_per_second, range: Some((slowest, fastest)), .. }) => {
            format!("{} ({}-{})", short_number(*appends_per_second), short_number(*slowest), short_number(*fastest))
        }
        Some(point) => short_number(point.appends_per_second),
        None => "-".to_owned(),
    };
    let latency = |point: Option<&PeerPoint>| {
        point.map_or_else(
            || "-".to_owned(),
            |point| format!("{:.0} / {:.0}", point.latency_p50_us, point.latency_p99_us),
        )
    };
    for writers in WRITER_COUNTS {
        let [_, raw_overwrite, ours, okay, floor] = PEER_SYSTEMS.map(|(system, _)| inputs.peer_rate(system, writers));
        let _ = writeln!(
            out,
            "| {writers} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            spread("raw_append", writers),
            spread("raw_overwrite", writers),
            spread("raw_group", writers),
            spread("wal", writers),
            spread("okaywal", writers),
            ratio(ours, raw_overwrite),
            ratio(ours, floor),
            ratio(ours, okay),
            latency(inputs.peer("wal", writers)),
            latency(inputs.peer("okaywal", writers)),
        );
    }
    let series: Vec<Series> = PEER_SYSTEMS
        .iter()
        .map(|(system, label)| Series {
            name: (*label).to_owned(),
            points: WRITER_COUNTS
                .iter()
                .filter_map(|&writers| Some((writers as f64, inputs.peer_rate(system, writers)?)))
                .collect(),
        })
        .filter(|series| !series.points.is_empty())
        .collect();
    let name = "group-commit.svg";
    let chart = Chart {
        title: "Durable 64-byte appends per second by writer threads".into(),
        x_label: "writer threads".into(),
        y_label: "appends per second (all writers)".into(),
        log_x: true,
        legend_upper_left: true,
    };
    line_chart(&output.join(name), &chart, &series)?;
    let _ = writeln!(out, "\n![group-commit scaling]({name})\n");
    plots.push(name.to_owned());
    Ok(())
}

fn recovery_section(
    out: &mut String,
    inputs: &Inputs,
    output: &Path,
    plots: &mut Vec<String>,
) -> Result<(), BenchError> {
    let _ = writeln!(out, "## Recovery time by database size\n");
    if inputs.recovery.is_empty() {
        let _ = writeln!(out, "Not measured in this run (no `recovery.json`).\n");
        return Ok(());
    }
    let _ = writeln!(
        out,
        "A durable vector store (snapshot + WAL, `snapshot::Durable<VectorState>` on the file backend) holding n GloVe\n\
         vectors as a snapshot plus a WAL tail of n/10 single-vector writes; median time to open and recover, against\n\
         reading and CRC-32-checksumming every byte of the same files (page cache warm for both).\n"
    );
    let _ = writeln!(
        out,
        "| vectors | store MB | WAL records replayed | recover ms | read+checksum ms | ratio |\n|---:|---:|---:|---:|---:|---:|"
    );
    for point in &inputs.recovery {
        let _ = writeln!(
            out,
            "| {} | {:.1} | {} | {:.1} | {:.1} | {} |",
            point.vectors,
            point.store_bytes as f64 / 1e6,
            point.operations_replayed,
            point.recover_seconds * 1e3,
            point.read_checksum_seconds * 1e3,
            ratio(Some(point.recover_seconds), Some(point.read_checksum_seconds))
        );
    }
    let milliseconds = |value: fn(&RecoveryPoint) -> f64| -> Vec<(f64, f64)> {
        inputs.recovery.iter().map(|point| (point.vectors as f64, value(point) * 1e3)).collect()
    };
    let series = vec![
        Series { name: "open + recover".into(), points: milliseconds(|point| point.recover_seconds) },
        Series { name: "read + checksum (floor)".into(), points: milliseconds(|point| point.read_checksum_seconds) },
    ];
    let name = "recovery.svg";
    let chart = Chart {
        title: "Recovery time by database size".into(),
        x_label: "vectors".into(),
        y_label: "milliseconds".into(),
        log_x: false,
        legend_upper_left: true,
    };
    line_chart(&output.join(name), &chart, &series)?;
    let _ = writeln!(out, "\n![recovery time by size]({name})\n");
    plots.push(name.to_owned());
    Ok(())
}

fn durable_database_section(out: &mut String, inputs: &Inputs) {
    let _ = writeln!(out, "## Durable database: inserts from 4 writer threads, and reopen\n");
    let Some(value) = &inputs.durable_database else {
        let _ = writeln!(out, "Not measured in this run (no `durable-db.json`; see the notes above).\n");
        return;
    };
    let number = |name: &str| value.get(name).and_then(Value::as_f64);
    let seconds = |name: &str| number(name).map_or_else(|| "-".to_owned(), |seconds| format!("{seconds:.2}"));
    let _ = writeln!(
        out,
        "vecdb's `Db` on the file backend (cosine, M = 16, ef_construction = 200), GloVe-50 100k subset, one\n\
         `insert` per vector, each durable before it returns (`SyncPolicy::EveryCommit`), the writers sharing group\n\
         commit. Reopen from the log alone replays every insert (the graph is rebuilt); reopen from a checkpoint\n\
         loads the snapshot, which holds the graph.\n"
    );
    let _ = writeln!(
        out,
        "| vectors | writers | insert s | inserts/s | reopen from log s | checkpoint s | reopen from snapshot s | store MB |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
        number("vectors").unwrap_or(f64::NAN),
        number("writers").unwrap_or(f64::NAN),
        seconds("insert_seconds"),
        rate(number("vectors").zip(number("insert_seconds")).map(|(vectors, seconds)| vectors / seconds)),
        seconds("reopen_from_log_seconds"),
        seconds("checkpoint_seconds"),
        seconds("reopen_seconds"),
        number("store_bytes").map_or_else(|| "-".to_owned(), |bytes| format!("{:.1}", bytes / 1e6)),
    );
}

fn criterion_section(out: &mut String, inputs: &Inputs) {
    let _ = writeln!(out, "## Every criterion benchmark of the run\n");
    if inputs.criterion.is_empty() {
        let _ = writeln!(out, "None.\n");
        return;
    }
    let _ = writeln!(out, "| benchmark | mean time | throughput |\n|---|---:|---:|");
    for figure in &inputs.criterion {
        let time = if figure.mean_ns >= 1e6 {
            format!("{:.2} ms", figure.mean_ns / 1e6)
        } else if figure.mean_ns >= 1e3 {
            format!("{:.2} us", figure.mean_ns / 1e3)
        } else {
            format!("{:.1} ns", figure.mean_ns)
        };
        let throughput = match (figure.elements_per_second(), figure.bytes_per_second()) {
            (Some(elements), _) => format!("{} elements/s", short_number(elements)),
            (None, Some(bytes)) => format!("{:.2} GB/s", bytes / 1e9),
            (None, None) => "-".to_owned(),
        };
        let _ = writeln!(out, "| `{}` | {time} | {throughput} |", figure.id);
    }
    out.push('\n');
}

/// Writes `report.md`, the plots and `headline.json` into `output`, and returns the headline figures.
///
/// # Errors
/// [`BenchError::Plot`] or [`BenchError::Io`] when a file cannot be written.
pub fn render(inputs: &Inputs, machine: &Machine, output: &Path) -> Result<Vec<Headline>, BenchError> {
    std::fs::create_dir_all(output).map_err(BenchError::io(output))?;
    let mut out = String::new();
    let _ = writeln!(out, "# vecdb benchmark report\n");
    if inputs.quick {
        let _ = writeln!(
            out,
            "A `--quick` run: 100k subset only, fewer ef values, short criterion runs. Indicative only.\n"
        );
    }
    let headlines = headlines(inputs);
    let _ = writeln!(out, "## Headline figures\n\n| figure | value | baseline |\n|---|---:|---|");
    for line in &headlines {
        let _ = writeln!(out, "| {} | {} | {} |", line.figure, line.value, line.baseline);
    }
    out.push('\n');
    machine_section(&mut out, inputs, machine);
    let mut plots = Vec::new();
    ann_section(&mut out, inputs, output, &mut plots)?;
    wal_section(&mut out, inputs, output, &mut plots)?;
    recovery_section(&mut out, inputs, output, &mut plots)?;
    durable_database_section(&mut out, inputs);
    criterion_section(&mut out, inputs);
    write_atomic(&output.join("report.md"), out.as_bytes())?;
    let headline_json = json!({
        "date": inputs.started,
        "command": inputs.command,
        "machine": {
            "cpu_model": machine.cpu_model,
            "logical_cpus": machine.logical_cpus,
            "kernel": machine.kernel,
            "memory_bytes": machine.memory_bytes,
        },
        "plots": plots,
        "headlines": headlines.iter().map(|line| json!({
            "figure": line.figure, "value": line.value, "baseline": line.baseline,
        })).collect::<Vec<_>>(),
    });
    write_json(&output.join("headline.json"), &headline_json)?;
    Ok(headlines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ann::AnnPoint;

    fn ann(library: &str, build_seconds: f64, scale: f64) -> AnnResult {
        AnnResult {
            library: library.into(),
            version: "1".into(),
            subset: "100k".into(),
            base_count: 100_000,
            query_count: 1_000,
            m: 16,
            ef_construction: 200,
            k: 10,
            build_seconds,
            build_cpu_seconds: Some(build_seconds * 0.9),
            index_bytes_per_vector: 400.0,
            resident_bytes_per_vector: Some(420.0),
            points: vec![
                AnnPoint {
                    ef: 32,
                    recall: 0.90,
                    queries_per_second: 10_000.0 * scale,
                    queries_per_cpu_second: Some(11_000.0 * scale),
                },
                AnnPoint {
                    ef: 64,
                    recall: 0.96,
                    queries_per_second: 6_000.0 * scale,
                    queries_per_cpu_second: Some(6_600.0 * scale),
                },
            ],
            load_average: None,
        }
    }

    fn inputs() -> Inputs {
        let figure = |id: &str, mean_ns: f64, elements: f64| CriterionFigure {
            id: id.into(),
            mean_ns,
            elements: Some(elements),
            bytes: None,
        };
        let criterion = vec![
            figure("recovery_100k_x_128/open_and_recover", 80e6, 1.0),
            figure("recovery_100k_x_128/read_and_checksum_every_byte", 40e6, 1.0),
        ];
        let mut wal_peers = Vec::new();
        for writers in WRITER_COUNTS {
            for (system, rate) in [
                ("raw_append", 200.0),
                ("raw_overwrite", 250.0),
                ("wal", 225.0),
                ("okaywal", 200.0),
                ("raw_group", 250.0),
            ] {
                wal_peers.push(PeerPoint {
                    system: system.into(),
                    writers,
                    appends_per_second: rate * writers as f64,
                    range: None,
                    latency_p50_us: 4000.0,
                    latency_p99_us: 9000.0,
                });
            }
        }
        Inputs {
            command: "cargo xtask bench --quick".into(),
            started: "2025-11-22 18:40 UTC".into(),
            quick: true,
            steps: vec![Step { name: "ann".into(), seconds: 60.0, load_start: Some([1.0, 1.0, 1.0]), load_end: None }],
            busy_processes: "99.0 fuzz".into(),
            notes: vec!["a note".into()],
            criterion,
            wal_peers,
            ann: vec![ann("hnswlib", 24.0, 1.0), ann("vecdb", 20.0, 1.2)],
            recovery: vec![RecoveryPoint {
                vectors: 10_000,
                dimension: 50,
                store_bytes: 2_400_000,
                snapshot_bytes: 2_100_000,
                operations_replayed: 1_000,
                recover_seconds: 0.010,
                read_checksum_seconds: 0.004,
            }],
            durable_database: None,
        }
    }

    #[test]
    fn headlines_carry_each_baseline_ratio() {
        let lines = headlines(&inputs());
        let find = |prefix: &str| lines.iter().find(|line| line.figure.starts_with(prefix)).unwrap().clone();
        assert_eq!(
            find("WAL durable append (64 B), 1 writer").baseline,
            "0.90x of raw pwrite+fdatasync (250/s; 1.12x with a growing file: 200/s)"
        );
        assert_eq!(
            find("WAL durable append (64 B), 16 writers").baseline,
            "16.00x of 1 writer; the group-commit floor (no log: one sync per 16 records plus 15 wake-ups) reaches \
             16.00x of its 1 writer, and ours is 0.90x of it"
        );
        assert!(find("Recovery").baseline.starts_with("2.00x of read+checksum"));
        // At recall 0.95 both curves interpolate between ef 32 and 64: 6666.7 vs 8000.
        assert!(find("ANN 100k (").baseline.starts_with("1.20x of hnswlib"));
        assert!(find("ANN 100k (").baseline.contains("in CPU time 1.20x"));
        assert!(find("ANN 100k: build").baseline.starts_with("0.83x of hnswlib"));
    }

    #[test]
    fn the_report_is_written_with_every_section_and_plot() {
        let directory = std::env::temp_dir().join(format!("vecdb-bench-report-{}", std::process::id()));
        let machine =
            Machine { cpu_model: "Test CPU".into(), logical_cpus: 2, kernel: "6.1".into(), memory_bytes: None };
        render(&inputs(), &machine, &directory).unwrap();
        let report = std::fs::read_to_string(directory.join("report.md")).unwrap();
        for needle in [
            "Headline figures",
            "Test CPU",
            "99.0 fuzz",
            "recall-qps-100k.svg",
            "recall-qps-cpu-100k.svg",
            "group-commit.svg",
            "recovery.svg",
            "Not measured in this run (no `durable-db.json`",
            "| 16 | 3.2k | 4.0k | 4.0k | 3.6k | 3.2k | 0.90x | 0.90x | 1.12x | 4000 / 9000 | 4000 / 9000 |",
        ] {
            assert!(report.contains(needle), "report lacks {needle:?}:\n{report}");
        }
        for plot in ["recall-qps-100k.svg", "recall-qps-cpu-100k.svg", "group-commit.svg", "recovery.svg"] {
            assert!(std::fs::read_to_string(directory.join(plot)).unwrap().starts_with("<svg"));
        }
        let headline = read_json(&directory.join("headline.json")).unwrap().unwrap();
        assert_eq!(headline["machine"]["cpu_model"], "Test CPU");
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn results_written_to_a_directory_load_back() {
        let directory = std::env::temp_dir().join(format!("vecdb-bench-inputs-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let original = inputs();
        write_json(&directory.join("ann-vecdb-100k.json"), &original.ann[1].to_json()).unwrap();
        write_json(
            &directory.join("run.json"),
            &json!({"command": "c", "started": "s", "quick": true, "steps": [{"name": "n", "seconds": 1.0, "load_start": [1, 2, 3]}]}),
        )
        .unwrap();
        write_json(
            &directory.join("criterion.json"),
            &json!({"benchmarks": [{"id": "wal/durable/append_64b_1_writer", "mean_ns": 4e6, "elements": 1.0}]}),
        )
        .unwrap();
        write_json(
            &directory.join("wal-peers.json"),
            &json!({"points": [{"system": "wal", "writers": 1, "appends_per_second": 250.0, "latency_p50_us": 4000}]}),
        )
        .unwrap();
        write_json(&directory.join("recovery.json"), &json!({"points": [original.recovery[0].to_json()]})).unwrap();
        let loaded = Inputs::load(&directory).unwrap();
        assert_eq!(loaded.ann, vec![original.ann[1].clone()]);
        assert_eq!(loaded.steps[0].load_start, Some([1.0, 2.0, 3.0]));
        assert_eq!(loaded.peer_rate("wal", 1), Some(250.0));
        assert_eq!(loaded.peer("wal", 1).unwrap().latency_p50_us, 4000.0);
        assert_eq!(loaded.criterion("wal/durable/append_64b_1_writer").unwrap().elements_per_second(), Some(250.0));
        assert_eq!(loaded.recovery, original.recovery);
        assert!(loaded.quick && loaded.durable_database.is_none());
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
