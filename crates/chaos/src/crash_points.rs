//! Scenario (a): power loss at every I/O point of a workload on the simulated disk, several crash images per point.
//!
//! For each sector size: run the workload once to count its I/O points; then for every point, a fresh disk halted
//! there (`SimulatedDisk::halt_at`), the workload (which sees errors and stops), and crash images built from the
//! halted disk: seeded *any-subset* images (`crash(seed)`: each un-synced write kept, dropped or torn, a later one
//! surviving an earlier lost one), seeded *in-order* images (`crash_in_order(seed)`), and the two extremes (every
//! un-synced byte lost; everything kept). Each image is recovered and checked with the prefix checker. Optionally a
//! second crash: the recovered image is reopened, more units run with power lost at a seeded point (often inside
//! recovery itself), and the result is checked again.

use std::time::Instant;

use storage_mem::SimulatedDisk;

use crate::checker::{Journal, PrefixViolation};
use crate::random::{SplitMix64, derive};
use crate::summary::ScenarioSummary;
use crate::workload::{Workload, verify};

/// Units a second-crash run issues after the first recovery.
const SECOND_RUN_UNITS: usize = 3;

/// How thoroughly to enumerate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashPointSettings {
    /// Seeded any-subset images (`SimulatedDisk::crash`) per point.
    pub seeds_any_subset: u64,
    /// Seeded in-order images (`SimulatedDisk::crash_in_order`) per point.
    pub seeds_in_order: u64,
    /// Also the two deterministic extremes: every un-synced byte lost, and everything kept.
    pub extremes: bool,
    /// The sector sizes writes tear at; the whole enumeration runs once per size.
    pub sector_sizes_bytes: Vec<u64>,
    /// Crash again at a seeded point of the next recovery and writes, for this many of each point's images.
    pub second_crashes_per_point: u64,
}

/// Runs the enumeration for `workload`; `seed` varies the crash images.
pub fn enumerate<W: Workload>(workload: &W, settings: &CrashPointSettings, seed: u64) -> ScenarioSummary {
    let started = Instant::now();
    let mut summary = ScenarioSummary::new(format!("crash points: {}", workload.name()), "crash points");
    let unit_count = workload.unit_count();
    let mut random = SplitMix64::new(seed);
    let mut points_per_run = Vec::new();
    for &sector_bytes in &settings.sector_sizes_bytes {
        let probe = SimulatedDisk::with_sector_bytes(sector_bytes);
        if let Err(failure) = workload.run(probe.clone(), 0..unit_count, &mut Journal::new()) {
            let violation = PrefixViolation::Failed { error: format!("the workload fails with no fault: {failure}") };
            summary.violation(&violation, || format!("{sector_bytes}-byte sectors"));
            continue;
        }
        let points = probe.operation_count();
        points_per_run.push(points);
        for point in 0..=points {
            summary.runs += 1;
            let disk = SimulatedDisk::with_sector_bytes(sector_bytes);
            disk.halt_at(point);
            let mut journal = Journal::new();
            // The run stops at the power loss with an error; what it issued and acknowledged is in the journal.
            let _ = workload.run(disk.clone(), 0..unit_count, &mut journal);
            let mut images = Vec::new();
            for index in 0..settings.seeds_any_subset {
                let crash_seed = derive(seed, point * 1024 + index);
                images.push((format!("crash({crash_seed:#x})"), disk.crash(crash_seed)));
            }
            for index in 0..settings.seeds_in_order {
                let crash_seed = derive(seed ^ 0x1_0000, point * 1024 + index);
                images.push((format!("crash_in_order({crash_seed:#x})"), disk.crash_in_order(crash_seed)));
            }
            if settings.extremes {
                images.push(("losing everything unsynced".to_owned(), disk.crash_losing_everything_unsynced()));
                images.push(("keeping everything".to_owned(), disk.crash_keeping_everything()));
            }
            for (index, (label, image)) in images.into_iter().enumerate() {
                let context =
                    || format!("{sector_bytes}-byte sectors, power lost at I/O point {point}/{points}, {label}");
                // Verify a copy, so the image itself stays as the crash left it for a second crash.
                let verdict = verify(workload, &journal, image.reopen());
                let units = verdict.as_ref().ok().copied();
                summary.record(verdict.map(drop), context);
                let Some(units) = units else { continue };
                if (index as u64) < settings.second_crashes_per_point {
                    second_crash(workload, &journal, units, image, &mut random, &mut summary, &context);
                }
            }
        }
    }
    summary.notes.push(format!(
        "I/O points per run {points_per_run:?} (sector sizes {:?} bytes); per point {} any-subset + {} in-order \
         images{}; {} second crashes per point",
        settings.sector_sizes_bytes,
        settings.seeds_any_subset,
        settings.seeds_in_order,
        if settings.extremes { " + lose-all + keep-all" } else { "" },
        settings.second_crashes_per_point,
    ));
    summary.elapsed = started.elapsed();
    summary
}

/// Reopens `image` (which recovered `units` units), runs a few more units with power lost at a seeded point, and
/// checks the image that second crash leaves.
fn second_crash<W: Workload>(
    workload: &W,
    journal: &Journal,
    units: usize,
    image: SimulatedDisk,
    random: &mut SplitMix64,
    summary: &mut ScenarioSummary,
    context: &dyn Fn() -> String,
) {
    let mut restarted = journal.clone();
    restarted.restart_at(units);
    let more = units..units + SECOND_RUN_UNITS;
    // Count the points of recovery plus the next units, then lose power at one of them.
    let probe = image.reopen();
    let _ = workload.run(probe.clone(), more.clone(), &mut restarted.clone());
    let halt_point = random.below(probe.operation_count() + 1);
    image.halt_at(halt_point);
    let _ = workload.run(image.clone(), more, &mut restarted);
    let crash_seed = random.next_u64();
    let verdict = verify(workload, &restarted, image.crash(crash_seed));
    summary.record(verdict.map(drop), || {
        format!(
            "{}, then power lost again at I/O point {halt_point} of recovery and writes, crash({crash_seed:#x})",
            context()
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Recovered, RunFailure};
    use crate::workloads::wal::WalWorkload;
    use std::ops::Range;
    use storage_core::StorageBackend;
    use wal::SyncPolicy;

    /// A broken store: it acknowledges every call that returned, even under a policy that did not sync it.
    struct AcknowledgeOnReturn<W>(W);

    impl<W: Workload> Workload for AcknowledgeOnReturn<W> {
        type State = W::State;
        fn name(&self) -> String {
            format!("{} acknowledging unsynced writes", self.0.name())
        }
        fn unit_count(&self) -> usize {
            self.0.unit_count()
        }
        fn operations_in(&self, unit: usize) -> u64 {
            self.0.operations_in(unit)
        }
        fn run<B: StorageBackend + 'static>(
            &self,
            backend: B,
            units: Range<usize>,
            journal: &mut Journal,
        ) -> Result<(), RunFailure> {
            let result = self.0.run(backend, units, journal);
            let returned =
                if result.is_ok() { journal.issued_units() } else { journal.issued_units().saturating_sub(1) };
            journal.acknowledge_through(returned);
            result
        }
        fn recover<B: StorageBackend + 'static>(&self, backend: B) -> Result<Recovered<W::State>, PrefixViolation> {
            self.0.recover(backend)
        }
        fn matches(&self, state: &W::State, units: usize, journal: &Journal) -> Result<(), String> {
            self.0.matches(state, units, journal)
        }
    }

    #[test]
    fn the_enumeration_catches_a_store_that_acknowledges_unsynced_writes() {
        let workload = AcknowledgeOnReturn(WalWorkload::new(1, SyncPolicy::Manual, 12));
        let settings = CrashPointSettings {
            seeds_any_subset: 2,
            seeds_in_order: 0,
            extremes: true,
            sector_sizes_bytes: vec![512],
            second_crashes_per_point: 0,
        };
        let summary = enumerate(&workload, &settings, 3);
        assert!(!summary.passed());
        assert!(summary.acknowledged_lost > 0, "{summary:#?}");
        assert!(summary.violations.iter().any(|violation| violation.contains("acknowledged operations lost")));
    }

    #[test]
    fn a_small_enumeration_passes_and_counts_every_point_and_image() {
        let workload = WalWorkload::new(1, SyncPolicy::EveryCommit, 6);
        let settings = CrashPointSettings {
            seeds_any_subset: 2,
            seeds_in_order: 1,
            extremes: true,
            sector_sizes_bytes: vec![64],
            second_crashes_per_point: 1,
        };
        let summary = enumerate(&workload, &settings, 3);
        assert!(summary.passed(), "{summary:?}");
        assert!(summary.runs > 10, "{} points", summary.runs);
        assert_eq!(summary.states_verified, summary.runs * 5 + summary.runs, "5 images and 1 second crash per point");
    }
}
