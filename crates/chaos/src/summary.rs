//! What a scenario found, and the Markdown table the campaign prints.

use std::fmt::Write as _;
use std::time::Duration;

use crate::checker::PrefixViolation;

/// The most violation descriptions a summary keeps (the counts stay exact).
pub const VIOLATION_EXAMPLES_MAX: usize = 8;

/// The outcome of one scenario: one row of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioSummary {
    /// The scenario's name.
    pub name: String,
    /// How many crash points, kills, power cuts or fault runs it exercised.
    pub runs: u64,
    /// What a run is ("crash points", "kills", "power cuts", "fault runs").
    pub runs_label: &'static str,
    /// How many recovered states were checked against the model.
    pub states_verified: u64,
    /// Acknowledged operations missing from recovered states (must be 0).
    pub acknowledged_lost: u64,
    /// Recoveries that reported corruption, states that differ from the model, split batches, operations never
    /// issued, unclear errors (must be 0).
    pub corruptions: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// The first [`VIOLATION_EXAMPLES_MAX`] violations, described with their context.
    pub violations: Vec<String>,
    /// Facts worth reading next to the counts (faults that fired, tears produced, kills during startup).
    pub notes: Vec<String>,
}

impl ScenarioSummary {
    /// An empty summary for scenario `name`.
    pub fn new(name: impl Into<String>, runs_label: &'static str) -> Self {
        Self {
            name: name.into(),
            runs: 0,
            runs_label,
            states_verified: 0,
            acknowledged_lost: 0,
            corruptions: 0,
            elapsed: Duration::ZERO,
            violations: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// True when nothing acknowledged was lost and nothing was corrupted.
    pub fn passed(&self) -> bool {
        self.acknowledged_lost == 0 && self.corruptions == 0
    }

    /// Counts one checked state: `Ok` is a state verified; `Err` a violation, kept with `context`.
    pub fn record(&mut self, verdict: Result<(), PrefixViolation>, context: impl FnOnce() -> String) {
        self.states_verified += 1;
        if let Err(violation) = verdict {
            self.violation(&violation, context);
        }
    }

    /// Counts a violation found outside a state check (a wrong error, a store that will not reopen).
    pub fn violation(&mut self, violation: &PrefixViolation, context: impl FnOnce() -> String) {
        let lost = violation.operations_lost();
        if lost > 0 {
            self.acknowledged_lost += lost;
        }
        if violation.is_corruption() {
            self.corruptions += 1;
        }
        if self.violations.len() < VIOLATION_EXAMPLES_MAX {
            self.violations.push(format!("{}: {violation}", context()));
        }
    }
}

/// The campaign's table, in Markdown, followed by each scenario's notes and violations.
pub fn render_table(summaries: &[ScenarioSummary]) -> String {
    let mut out = String::new();
    out.push_str(
        "| scenario | crash points or runs | states verified | acknowledged operations lost | corruptions found | \
         time | result |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---|\n");
    for summary in summaries {
        let _ = writeln!(
            out,
            "| {} | {} {} | {} | {} | {} | {:.1} s | {} |",
            summary.name,
            thousands(summary.runs),
            summary.runs_label,
            thousands(summary.states_verified),
            thousands(summary.acknowledged_lost),
            thousands(summary.corruptions),
            summary.elapsed.as_secs_f64(),
            if summary.passed() { "pass" } else { "**FAIL**" },
        );
    }
    for summary in summaries {
        if summary.notes.is_empty() && summary.violations.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{}:", summary.name);
        for note in &summary.notes {
            let _ = writeln!(out, "- {note}");
        }
        for violation in &summary.violations {
            let _ = writeln!(out, "- VIOLATION {violation}");
        }
    }
    out
}

/// `1234567` as `1,234,567`.
pub fn thousands(value: u64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_fail_the_summary_and_are_counted_by_kind() {
        let mut summary = ScenarioSummary::new("wal", "crash points");
        summary.record(Ok(()), || "point 1".to_owned());
        assert!(summary.passed());
        let lost = PrefixViolation::AcknowledgedLost { acknowledged_operations: 5, recovered_operations: 2 };
        summary.record(Err(lost), || "point 2".to_owned());
        summary.record(Err(PrefixViolation::Corrupted { error: "bad crc".to_owned() }), || "point 3".to_owned());
        assert_eq!((summary.states_verified, summary.acknowledged_lost, summary.corruptions), (3, 3, 1));
        assert!(!summary.passed());
        assert!(summary.violations[0].starts_with("point 2: acknowledged operations lost"));
    }

    #[test]
    fn violation_examples_are_capped_at_the_limit_but_counts_stay_exact() {
        let mut summary = ScenarioSummary::new("wal", "crash points");
        for index in 0..VIOLATION_EXAMPLES_MAX + 3 {
            summary.violation(&PrefixViolation::Failed { error: "x".to_owned() }, || index.to_string());
        }
        assert_eq!(summary.violations.len(), VIOLATION_EXAMPLES_MAX);
        assert_eq!(summary.corruptions, VIOLATION_EXAMPLES_MAX as u64 + 3);
    }

    #[test]
    fn the_table_has_one_row_per_scenario_and_marks_failures() {
        let mut good = ScenarioSummary::new("good", "kills");
        good.runs = 1234;
        let mut bad = ScenarioSummary::new("bad", "power cuts");
        bad.violation(&PrefixViolation::Corrupted { error: "e".to_owned() }, || "cut 3".to_owned());
        let table = render_table(&[good, bad]);
        assert!(table.contains("| good | 1,234 kills | 0 | 0 | 0 | 0.0 s | pass |"), "{table}");
        assert!(table.contains("| bad | 0 power cuts | 0 | 0 | 1 | 0.0 s | **FAIL** |"), "{table}");
        assert!(table.contains("- VIOLATION cut 3: recovery reported corruption: e"), "{table}");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
