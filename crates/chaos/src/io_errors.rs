//! Scenario (d): EIO and ENOSPC injected at every I/O point of a workload, once and from then on.
//!
//! For every point of a full run, each error and each persistence: a fresh disk with the fault armed
//! (`SimulatedDisk::inject`), the workload until its first error, which must be the injected one, typed
//! (`PersistenceError::Io` with errno 5, or `PersistenceError::DiskFull`, through every layer's error). Then a
//! process restart on a disk that is still full (every write fails with ENOSPC): recovery must hold every
//! acknowledged unit, deferring what needs room (the WAL's unproven tail rewrite), or, for a store that cannot
//! open without writing (no log segment yet), refuse with `DiskFull`. Then a process restart with room
//! (`SimulatedDisk::reopen`, which clears the fault): recovery must hold every acknowledged unit;
//! the store must accept more units; and those must survive a power loss that drops everything un-synced (the
//! fsyncgate case: pages a failed sync dropped must have been rewritten, not trusted).

use std::collections::BTreeMap;
use std::time::Instant;

use storage_mem::{Fault, FaultError, FaultPersistence, OperationKind, SimulatedDisk};

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

/// What a restart on a full disk did (see [`restart_on_a_full_disk`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FullDiskRestart {
    /// Recovery held every acknowledged unit without writing.
    Recovered,
    /// Recovery needed room (a store with nothing acknowledged, maybe no log segment yet) and failed with `DiskFull`.
    Refused,
}

/// Restarts the process on `disk` while every write fails with ENOSPC, and checks what recovery returns against
/// `journal`: a state holding every acknowledged unit, or, when no unit was acknowledged (the store may not have its
/// first log segment yet, which takes a write), a `DiskFull` refusal. Anything else is the violation: a store that
/// acknowledged writes must be readable on a full disk.
pub fn restart_on_a_full_disk<W: Workload>(
    workload: &W,
    journal: &Journal,
    disk: &SimulatedDisk,
) -> Result<FullDiskRestart, PrefixViolation> {
    let full = disk.reopen();
    full.inject(Fault {
        at_operation: 0,
        kind: Some(OperationKind::Write),
        error: FaultError::Enospc,
        persistence: FaultPersistence::FromThenOn,
    });
    match verify(workload, journal, full) {
        Ok(_) => Ok(FullDiskRestart::Recovered),
        Err(PrefixViolation::DiskFull { .. }) if journal.acknowledged_units() == 0 => Ok(FullDiskRestart::Refused),
        Err(PrefixViolation::DiskFull { error }) => Err(PrefixViolation::Failed {
            error: format!(
                "{} units were acknowledged, but recovery on a full disk failed: {error}",
                journal.acknowledged_units()
            ),
        }),
        Err(violation) => Err(violation),
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
    let (mut opened_full, mut refused_full) = (0_u64, 0_u64);
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
                match restart_on_a_full_disk(workload, &journal, &disk) {
                    Ok(FullDiskRestart::Recovered) => {
                        opened_full += 1;
                        summary.states_verified += 1;
                    }
                    Ok(FullDiskRestart::Refused) => refused_full += 1,
                    Err(violation) => {
                        summary.record(Err(violation), || format!("{}, after a restart on a full disk", context()));
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
         the fault fired (checked like the others); restarts on a full disk: {opened_full} recovered every \
         acknowledged unit, {refused_full} refused with DiskFull"
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
    fn a_store_with_an_unproven_tail_recovers_on_a_full_disk() {
        // A run cut by a failed sync near its end: the log is poisoned, never sealed, and its last records are
        // unproven, so recovery's rewrite of them needs room.
        let workload = DurableWorkload::new(2, 5);
        let probe = SimulatedDisk::new();
        workload.run(probe.clone(), 0..workload.unit_count(), &mut Journal::new()).unwrap();
        let syncs = probe.operation_count_of(OperationKind::Sync);
        let disk = SimulatedDisk::new();
        disk.inject(Fault {
            at_operation: syncs - 2,
            kind: Some(OperationKind::Sync),
            error: FaultError::Eio,
            persistence: FaultPersistence::FromThenOn,
        });
        let mut journal = Journal::new();
        assert!(workload.run(disk.clone(), 0..workload.unit_count(), &mut journal).is_err());
        assert!(journal.acknowledged_units() > 0);
        assert_eq!(restart_on_a_full_disk(&workload, &journal, &disk), Ok(FullDiskRestart::Recovered));
        // A store with nothing acknowledged may need its first log segment: a refusal is allowed there.
        assert_eq!(
            restart_on_a_full_disk(&workload, &Journal::new(), &SimulatedDisk::new()),
            Ok(FullDiskRestart::Refused)
        );
    }

    #[test]
    fn a_small_sweep_of_the_durable_workload_passes() {
        let summary = sweep(&DurableWorkload::new(2, 5), 1);
        assert!(summary.passed(), "{summary:#?}");
        assert!(summary.runs >= 40, "{} runs", summary.runs);
        assert!(summary.states_verified >= summary.runs * 3 - 3, "{summary:#?}");
    }
}
