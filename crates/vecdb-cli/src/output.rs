//! Formatting shared by the commands: numbers, sizes, durations, progress bars and the recovery report.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use vecdb::db::RecoveryReport;
use vecdb::{DbConfig, Metric, QuantizationRange, SyncPolicy, VectorEncoding};

/// `1234567` as `1,234,567`.
pub fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A byte count in B, KiB, MiB or GiB.
pub fn bytes(value: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut scaled = value as f64;
    let mut unit = 0;
    while scaled >= 1024.0 && unit + 1 < UNITS.len() {
        scaled /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("B");
    if unit == 0 { format!("{value} B") } else { format!("{scaled:.1} {name}") }
}

/// A duration in µs, ms or s.
pub fn duration(elapsed: Duration) -> String {
    let micros = elapsed.as_micros();
    if micros < 1_000 {
        format!("{micros} µs")
    } else if micros < 10_000_000 {
        format!("{:.1} ms", micros as f64 / 1_000.0).replace(".0 ms", " ms")
    } else {
        format!("{:.1} s", elapsed.as_secs_f64())
    }
}

/// Seconds with one decimal.
pub fn seconds(elapsed: Duration) -> String {
    format!("{:.1} s", elapsed.as_secs_f64())
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(length: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(length);
    let template = format!("  {{bar:40.cyan/blue}} {{pos:>9}}/{{len:9}} {what} {{per_sec:>12}} eta {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
    }
    bar
}

/// The metric's name on the command line.
pub fn metric_name(metric: Metric) -> &'static str {
    match metric {
        Metric::L2 => "l2",
        Metric::Cosine => "cosine",
        Metric::DotProduct => "dot",
        _ => "other",
    }
}

/// The encoding's name on the command line.
pub fn encoding_name(encoding: VectorEncoding) -> String {
    match encoding {
        VectorEncoding::F32 => "f32".to_owned(),
        VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Trained } => {
            "sq8 (8-bit, trained ranges, f32 re-ranking)".to_owned()
        }
        VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min, max } } => {
            format!("sq8 (8-bit, fixed range {min}..{max}, f32 re-ranking)")
        }
        _ => "other".to_owned(),
    }
}

/// One line describing a configuration.
pub fn config_line(config: &DbConfig) -> String {
    let index = &config.index;
    format!(
        "dimension {}, metric {}, M {}, ef_construction {}, ef_search {}, encoding {}",
        index.dimension,
        metric_name(index.metric),
        index.m,
        index.ef_construction,
        index.ef_search,
        encoding_name(index.encoding)
    )
}

/// One line describing the durability options.
pub fn durability_line(config: &DbConfig) -> String {
    let durability = &config.durability;
    let sync = match durability.sync_policy {
        SyncPolicy::EveryCommit => "every write durable before it returns (group commit)".to_owned(),
        SyncPolicy::Grouped { max_delay_ms, max_bytes } => {
            format!("writes synced in groups (at most {max_delay_ms} ms or {} unsynced)", bytes(max_bytes))
        }
        SyncPolicy::Manual => "writes durable at sync, checkpoint or close only".to_owned(),
        _ => "other".to_owned(),
    };
    let mut checkpoint = Vec::new();
    if let Some(operations) = durability.checkpoint.operations_max {
        checkpoint.push(format!("{} operations", count(operations)));
    }
    if let Some(log_bytes) = durability.checkpoint.log_bytes_max {
        checkpoint.push(format!("{} of log", bytes(log_bytes)));
    }
    let checkpoint =
        if checkpoint.is_empty() { "only when asked".to_owned() } else { format!("every {}", checkpoint.join(" or ")) };
    format!("{sync}; checkpoint {checkpoint}; keep {} snapshot(s)", durability.snapshots_retained)
}

/// The recovery report as indented lines.
pub fn recovery_lines(report: &RecoveryReport) -> Vec<String> {
    let mut lines = Vec::new();
    match report.snapshot_lsn {
        Some(lsn) => lines.push(format!(
            "started from the snapshot at LSN {} ({}, digest verified)",
            count(lsn),
            bytes(report.snapshot_bytes)
        )),
        None => lines.push("no snapshot: started from an empty state".to_owned()),
    }
    for skipped in &report.skipped_snapshots {
        lines.push(format!("skipped a corrupt snapshot {} (LSN {}): {}", skipped.key, skipped.lsn, skipped.reason));
    }
    lines.push(format!(
        "replayed {} log records ({} operations) up to LSN {}",
        count(report.entries_replayed),
        count(report.operations_replayed),
        count(report.last_lsn)
    ));
    let wal = &report.wal;
    match &wal.torn_tail {
        Some(torn) => lines.push(format!(
            "cut a torn tail of {} from {} at byte {} ({})",
            bytes(wal.torn_bytes_truncated),
            torn.segment,
            torn.offset,
            torn.reason
        )),
        None => lines.push("the log ended cleanly: no torn tail".to_owned()),
    }
    if wal.unproven_bytes_rewritten > 0 {
        lines.push(format!(
            "rewrote the log's last {} atomically (no later record proved it durable)",
            bytes(wal.unproven_bytes_rewritten)
        ));
    }
    if !report.orphans_removed.is_empty() {
        lines.push(format!(
            "removed {} temp file(s) left by an interrupted snapshot write: {}",
            report.orphans_removed.len(),
            report.orphans_removed.join(", ")
        ));
    }
    if let Some(salvage) = &wal.salvage {
        lines.push(format!("SALVAGE dropped {} after damage in {}", bytes(salvage.bytes_dropped), salvage.segment));
    }
    lines.push(format!(
        "state digest {} ; recovery took {}",
        report.state_digest,
        duration(Duration::from_micros(report.elapsed_us))
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_sizes_and_durations_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
        assert_eq!(duration(Duration::from_micros(250)), "250 µs");
        assert_eq!(duration(Duration::from_micros(2_500)), "2.5 ms");
        assert_eq!(duration(Duration::from_secs(12)), "12.0 s");
    }
}
