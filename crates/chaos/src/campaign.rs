//! The campaign: which scenarios run, how hard ([`Intensity`]), and the run that prints the table.

use std::path::PathBuf;
use std::time::Instant;

use wal::SyncPolicy;

use crate::checker::PrefixViolation;
use crate::crash_points::{self, CrashPointSettings};
use crate::error::ChaosError;
use crate::io_errors;
use crate::kill::{self, KillSettings};
use crate::power_loss::scenario::{self as power_loss, PowerLossSettings};
use crate::summary::ScenarioSummary;
use crate::workload::Workload;
use crate::workloads::durable::DurableWorkload;
use crate::workloads::vecdb::VecdbWorkload;
use crate::workloads::wal::WalWorkload;

/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 0xC4A0_5EED;

/// How thorough a campaign is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intensity {
    /// CI's: every scenario, a couple of minutes on two busy cores.
    Quick,
    /// The thorough one: more units, seeds and sector sizes, more than 1,000 kills.
    Long,
}

/// Where a campaign runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    /// The `chaos` binary, started as the writer process.
    pub executable: PathBuf,
    /// A directory for stores and mount points (under the target directory), emptied by each scenario.
    pub work_directory: PathBuf,
    /// The campaign's seed; every scenario derives its own from it.
    pub seed: u64,
}

/// One row of the table.
pub trait Scenario {
    /// Its name (also what `--only` matches).
    fn name(&self) -> String;
    /// Runs it. `Err` means it could not run (a mount failed); what it found is in the summary.
    fn run(&self, environment: &Environment) -> Result<ScenarioSummary, ChaosError>;
}

/// Scenario (a) for one workload.
pub struct CrashPoints<W> {
    /// The workload.
    pub workload: W,
    /// How thoroughly.
    pub settings: CrashPointSettings,
}

impl<W: Workload> Scenario for CrashPoints<W> {
    fn name(&self) -> String {
        format!("crash points: {}", self.workload.name())
    }
    fn run(&self, environment: &Environment) -> Result<ScenarioSummary, ChaosError> {
        Ok(crash_points::enumerate(&self.workload, &self.settings, environment.seed))
    }
}

/// Scenario (d) for one workload.
pub struct IoErrors<W> {
    /// The workload.
    pub workload: W,
}

impl<W: Workload> Scenario for IoErrors<W> {
    fn name(&self) -> String {
        format!("I/O errors: {}", self.workload.name())
    }
    fn run(&self, environment: &Environment) -> Result<ScenarioSummary, ChaosError> {
        Ok(io_errors::sweep(&self.workload, environment.seed))
    }
}

/// Scenario (b).
pub struct ProcessKills {
    /// How many kills, and when.
    pub settings: KillSettings,
}

impl Scenario for ProcessKills {
    fn name(&self) -> String {
        "process kills".to_owned()
    }
    fn run(&self, environment: &Environment) -> Result<ScenarioSummary, ChaosError> {
        let directory = environment.work_directory.join("kill");
        kill::process_kills(&environment.executable, &directory, &self.settings, environment.seed)
    }
}

/// Scenario (c).
pub struct PowerLoss {
    /// How many cuts, and when.
    pub settings: PowerLossSettings,
}

impl Scenario for PowerLoss {
    fn name(&self) -> String {
        "power loss".to_owned()
    }
    fn run(&self, environment: &Environment) -> Result<ScenarioSummary, ChaosError> {
        let directory = environment.work_directory.join("fuse");
        power_loss::power_cuts(&environment.executable, &directory, &self.settings, environment.seed)
    }
}

/// Every scenario of a campaign, in the order they run. Workloads are seeded from `seed`.
///
/// To add a workload, push `CrashPoints` and `IoErrors` entries for it here.
pub fn scenarios(intensity: Intensity, seed: u64) -> Vec<Box<dyn Scenario>> {
    let long = intensity == Intensity::Long;
    let (wal_units, manual_units, durable_units) = if long { (300, 240, 300) } else { (100, 80, 100) };
    let vecdb_units = if long { 200 } else { 60 };
    let settings = |subset: u64, in_order: u64, sectors: &[u64], second: u64| CrashPointSettings {
        seeds_any_subset: subset,
        seeds_in_order: in_order,
        extremes: true,
        sector_sizes_bytes: sectors.to_vec(),
        second_crashes_per_point: second,
    };
    let (wal_settings, manual_settings, durable_settings) = if long {
        (
            settings(16, 8, &[512, 64, 16, 4096], 4),
            settings(12, 6, &[64, 512, 4096], 3),
            settings(16, 8, &[512, 64, 4096], 4),
        )
    } else {
        (settings(6, 3, &[512, 64, 16], 2), settings(6, 2, &[64, 512], 2), settings(6, 3, &[512, 4096], 2))
    };
    vec![
        Box::new(CrashPoints {
            workload: WalWorkload::new(seed, SyncPolicy::EveryCommit, wal_units),
            settings: wal_settings,
        }),
        Box::new(CrashPoints {
            workload: WalWorkload::new(seed, SyncPolicy::Manual, manual_units),
            settings: manual_settings,
        }),
        Box::new(CrashPoints {
            workload: DurableWorkload::new(seed, durable_units),
            settings: durable_settings.clone(),
        }),
        Box::new(CrashPoints { workload: VecdbWorkload::new(seed, vecdb_units), settings: durable_settings }),
        Box::new(IoErrors { workload: WalWorkload::new(seed, SyncPolicy::EveryCommit, wal_units) }),
        Box::new(IoErrors { workload: WalWorkload::new(seed, SyncPolicy::Manual, manual_units) }),
        Box::new(IoErrors { workload: DurableWorkload::new(seed, durable_units) }),
        Box::new(IoErrors { workload: VecdbWorkload::new(seed, vecdb_units) }),
        Box::new(ProcessKills {
            settings: KillSettings {
                kills: if long { 1500 } else { 100 },
                startup_kill_one_in: 5,
                startup_window_us: 4_000,
                delay_us_max: 120_000,
                verify_every: 10,
            },
        }),
        Box::new(PowerLoss {
            settings: PowerLossSettings {
                cuts: if long { 1500 } else { 150 },
                startup_cut_one_in: 4,
                startup_window_us: 3_000,
                delay_us_max: 100_000,
                change_index_max: 1_500,
                sync_index_max: 500,
                large_sync_index_max: 20,
            },
        }),
    ]
}

/// Runs the scenarios whose name contains `only` (all when `None`), printing progress to standard error, and
/// returns their summaries. A scenario that could not run is a failed row.
pub fn run(scenarios: &[Box<dyn Scenario>], environment: &Environment, only: Option<&str>) -> Vec<ScenarioSummary> {
    let mut summaries = Vec::new();
    for scenario in scenarios {
        let name = scenario.name();
        if only.is_some_and(|only| !name.contains(only)) {
            continue;
        }
        eprintln!("chaos: {name} ...");
        let started = Instant::now();
        let summary = scenario.run(environment).unwrap_or_else(|error| {
            let mut summary = ScenarioSummary::new(name.clone(), "runs");
            summary.violation(&PrefixViolation::Failed { error: error.to_string() }, || "could not run".to_owned());
            summary.elapsed = started.elapsed();
            summary
        });
        eprintln!(
            "chaos: {name}: {} in {:.1} s",
            if summary.passed() { "pass" } else { "FAIL" },
            summary.elapsed.as_secs_f64()
        );
        summaries.push(summary);
    }
    summaries
}
