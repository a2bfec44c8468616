//! Scenario (b): a writer process on the real file system (`FileBackend` under the target directory) killed with
//! SIGKILL at seeded random moments, some of them during its startup and recovery, and restarted each time.
//!
//! A kill keeps the page cache, so this checks the stack's own logic (write before acknowledge, torn-tail handling
//! after a half-written record, a checkpoint cut short, the lock released by death), not power loss: that is the
//! simulated disk's and the FUSE file system's job. Every restart's `ready` line is checked (LSN and state digest
//! against the model); every few kills, and at the end, the parent recovers the store itself and compares the whole
//! state.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::checker::PrefixViolation;
use crate::error::ChaosError;
use crate::random::SplitMix64;
use crate::summary::ScenarioSummary;
use crate::writer::{AckChecker, WriterOptions, WriterProcess, recover_and_check};

/// How many kills, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KillSettings {
    /// Kills (and restarts).
    pub kills: u64,
    /// One kill in this many lands in the first [`Self::startup_window_us`] of the process (startup, recovery).
    pub startup_kill_one_in: u64,
    /// The startup window.
    pub startup_window_us: u64,
    /// The other kills land uniformly up to this long after the start.
    pub delay_us_max: u64,
    /// The parent recovers and compares the whole state after every this many kills (and after the last).
    pub verify_every: u64,
}

/// Runs the kill scenario with the store in `directory` (emptied first), starting `executable writer`.
pub fn process_kills(
    executable: &Path,
    directory: &Path,
    settings: &KillSettings,
    seed: u64,
) -> Result<ScenarioSummary, ChaosError> {
    let started = Instant::now();
    let mut summary = ScenarioSummary::new("process kills: FileBackend + Durable (SIGKILL)", "kills");
    let _ = std::fs::remove_dir_all(directory);
    std::fs::create_dir_all(directory)
        .map_err(|source| ChaosError::io(format!("creating {}", directory.display()), source))?;
    let options = WriterOptions::new(directory.to_path_buf(), seed);
    let mut checker = AckChecker::new(seed);
    let mut random = SplitMix64::new(seed);
    let (mut startup_kills, mut acknowledged_lines) = (0u64, 0u64);
    for kill in 0..settings.kills {
        let delay_us = if random.chance(1, settings.startup_kill_one_in) {
            random.below(settings.startup_window_us)
        } else {
            random.between(settings.startup_window_us, settings.delay_us_max)
        };
        let mut writer = WriterProcess::spawn(executable, &options)?;
        writer.run_for(Duration::from_micros(delay_us))?;
        let outcome = writer.kill()?;
        summary.runs += 1;
        let context = || format!("kill {kill} after {delay_us} us");
        let (ready, violations) = checker.on_lines(&outcome.lines);
        acknowledged_lines += outcome.lines.iter().filter(|line| line.starts_with("ack")).count() as u64;
        if ready {
            summary.states_verified += 1;
        } else {
            startup_kills += 1;
        }
        for violation in &violations {
            summary.violation(violation, context);
        }
        if outcome.exited_by_itself {
            let error = format!("the writer exited by itself ({}): {}", outcome.status, outcome.stderr.trim());
            summary.violation(&PrefixViolation::Failed { error }, context);
        }
        if !summary.passed() {
            // The model no longer matches the store: later checks would only repeat the first violation.
            break;
        }
        if (kill + 1) % settings.verify_every == 0 || kill + 1 == settings.kills {
            let verdict = recover_and_check(directory, &options, &mut checker).map(drop);
            summary.record(verdict, || format!("the parent's recovery after {}", context()));
        }
    }
    summary.notes.push(format!(
        "{startup_kills} kills landed before the writer finished recovery; {acknowledged_lines} units acknowledged; \
         the store ended at LSN {}",
        checker.acknowledged_lsn()
    ));
    summary.elapsed = started.elapsed();
    Ok(summary)
}
