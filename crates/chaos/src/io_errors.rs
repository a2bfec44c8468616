//! Scenario (d): EIO and ENOSPC injected at every I/O point of a workload, once and from then on.
//!
//! For every point of a full run, each error and each persistence: a fresh disk with the fault armed
//! (`SimulatedDisk::inject`), the workload until its first error, which must be the injected one, typed
//! (`PersistenceError::Io` with errno 5, or `PersistenceError::DiskFull`, through every layer's error). Then a
//! process restart (`SimulatedDisk::reopen`, which clears the fault): recovery must hold every acknowledged unit;
//! the store must accept more units; and those must survive a power loss that drops everything un-synced (the
//! fsyncgate case: pages a failed sync dropped must have been rewritten, not trusted).

use std::collections::BTreeMap;
use std::time::Instant;

use storage_mem::{Fault, FaultError, FaultPersistence, SimulatedDisk};

use crate::checker::{Journal, PrefixViolation};
use crate::random::derive;
use crate::summary::ScenarioSummary;
use crate::workload::{FailureClass, Workload, verify};

/// Units run after the reopen, which must all succeed.
const UNITS_AFTER_REOPEN: usize = 2;

/// Whether `class` is the typed error `error` must surface as.
pub fn is_expected_error(error: FaultError, class: FailureClass) -> bool {
    match error {
        FaultError::Eio => class == FailureClass::Io { errno: Some(error.raw_os_error()) },
        FaultError::Enospc => class == FailureClass::DiskFull,
    }
}

/// Runs the sweep for `workload`; `seed` varies the crash images.
pub fn sweep<W: Workload>(workload: &W, seed: u64) -> ScenarioSummary {
    let started = Instant::now();
    let mut summary = ScenarioSummary::new(format!("I/O errors: {}", workload.name()), "fault runs");
    let unit_count = workload.unit_count();
    let probe = SimulatedDisk::new();
    if let Err(failure) = workload.run(probe.clone(), 0..unit_count, &mut Journal::new()) {
        let violation = PrefixViolation::Failed { error: format!("the workload fails with no fault: {failure}") };
        summary.violation(&violation, String::new);
        return summary;
    }
    let points = probe.operation_count();
    let mut errors_seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut absorbed = 0;
    for point in 0..points {
        for error in [FaultError::Eio, FaultError::Enospc] {
            for persistence in [FaultPersistence::Once, FaultPersistence::FromThenOn] {
                summary.runs += 1;
                let context = || format!("{error:?} {persistence:?} at I/O point {point}/{points}");
                let disk = SimulatedDisk::new();
                disk.inject(Fault { at_operation: point, kind: None, error, persistence });
                let mut journal = Journal::new();
                match workload.run(disk.clone(), 0..unit_count, &mut journal) {
                    Ok(()) => absorbed += 1,
                    Err(failure) if is_expected_error(error, failure.class) => {
                        *errors_seen.entry(format!("{:?}", failure.class)).or_default() += 1;
                    }
                    Err(failure) => {
                        let error = format!("the failing call returned {failure}, not the injected error");
                        summary.violation(&PrefixViolation::Failed { error }, context);
                    }
                }
                let restarted = disk.reopen();
                let units = match verify(workload, &journal, restarted.clone()) {
                    Ok(units) => units,
                    Err(violation) => {
                        summary.record(Err(violation), || format!("{}, after a restart", context()));
                        continue;
                    }
                };
                summary.states_verified += 1;
                journal.restart_at(units);
                if let Err(failure) = workload.run(restarted.clone(), units..units + UNITS_AFTER_REOPEN, &mut journal) {
                    let error = format!("the reopened store does not accept writes: {failure}");
                    summary.violation(&PrefixViolation::Failed { error }, context);
                    continue;
                }
                let crash_seed = derive(seed, point);
                for (label, image) in [
                    ("losing everything unsynced", restarted.crash_losing_everything_unsynced()),
                    ("a seeded crash", restarted.crash(crash_seed)),
                ] {
                    let verdict = verify(workload, &journal, image).map(drop);
                    summary.record(verdict, || {
                        format!("{}, writes after the restart, then power loss {label}", context())
                    });
                }
            }
        }
    }
    summary.notes.push(format!(
        "{points} I/O points; the failing call's typed errors: {errors_seen:?}; {absorbed} runs completed although \
         the fault fired (checked like the others)"
    ));
    summary.elapsed = started.elapsed();
    summary
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::durable::DurableWorkload;

    #[test]
    fn only_the_injected_errno_counts_as_the_expected_error() {
        assert!(is_expected_error(FaultError::Eio, FailureClass::Io { errno: Some(5) }));
        assert!(!is_expected_error(FaultError::Eio, FailureClass::Io { errno: None }));
        assert!(!is_expected_error(FaultError::Eio, FailureClass::Poisoned));
        assert!(is_expected_error(FaultError::Enospc, FailureClass::DiskFull));
        assert!(!is_expected_error(FaultError::Enospc, FailureClass::Io { errno: Some(28) }));
    }

    #[test]
    fn a_small_sweep_of_the_durable_workload_passes() {
        let summary = sweep(&DurableWorkload::new(2, 5), 1);
        assert!(summary.passed(), "{summary:#?}");
        assert!(summary.runs >= 40, "{} runs", summary.runs);
        assert!(summary.states_verified >= summary.runs * 3 - 3, "{summary:#?}");
    }
}
