//! Scenario (c): the real `FileBackend` + WAL + snapshots (`chaos writer`) on the FUSE power-loss file system, power
//! cut at seeded moments (some during the writer's startup and recovery), the crash image remounted, recovered and
//! checked; then the next writer continues on it.
//!
//! Each cut: the model stops answering (every call fails with EIO from that instant), the writer is killed, the
//! model builds a seeded crash image (any-subset or in-order tears, 512- or 4096-byte sectors), the file system is
//! unmounted, and the image is mounted at a fresh mount point, where this process recovers the store through
//! `FileBackend` and compares it with the model of what was acknowledged.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::checker::PrefixViolation;
use crate::error::ChaosError;
use crate::power_loss::filesystem::{Mounted, SharedModel, detach_mounts_under, lock};
use crate::power_loss::model::{CrashReport, CutTrigger, PowerLossModel, ServedCounts, TearMode};
use crate::random::SplitMix64;
use crate::summary::ScenarioSummary;
use crate::writer::{AckChecker, WriterOptions, WriterProcess, recover_and_check};

/// The store's directory under each mount point.
const STORE_DIRECTORY: &str = "store";

/// How many power cuts, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerLossSettings {
    /// Power cuts (and remounts).
    pub cuts: u64,
    /// One cut in this many lands in the first [`Self::startup_window_us`] of the writer (startup, recovery).
    pub startup_cut_one_in: u64,
    /// The startup window.
    pub startup_window_us: u64,
    /// The other timed cuts land uniformly up to this long after the writer's start; a triggered cut that has not
    /// fired by then is made at that time.
    pub delay_us_max: u64,
    /// A cut triggered at a changing call picks the call uniformly below this index.
    pub change_index_max: u64,
    /// A cut triggered at a sync picks the sync uniformly below this index.
    pub sync_index_max: u64,
    /// A cut triggered at a large sync (at least [`LARGE_SYNC_BYTES`] pending) picks it uniformly below this index.
    pub large_sync_index_max: u64,
}

/// A sync of at least this many pending bytes is "large": a snapshot's temp file, a rewritten log tail.
pub const LARGE_SYNC_BYTES: u64 = 1024;

/// How a cut is chosen: a quarter each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CutKind {
    /// At a seeded time after the writer's start.
    Timed,
    /// At a seeded changing call of the file system.
    AtChange,
    /// At a seeded sync, instead of making anything durable.
    AtSync,
    /// At a seeded sync of a file with at least [`LARGE_SYNC_BYTES`] pending.
    AtLargeSync,
}

/// Runs the power-loss scenario with its mount points under `directory`, starting `executable writer`.
pub fn power_cuts(
    executable: &Path,
    directory: &Path,
    settings: &PowerLossSettings,
    seed: u64,
) -> Result<ScenarioSummary, ChaosError> {
    let started = Instant::now();
    let mut summary = ScenarioSummary::new("power loss: FUSE file system (LazyFS-style)", "power cuts");
    detach_mounts_under(directory);
    let _ = std::fs::remove_dir_all(directory);
    std::fs::create_dir_all(directory)
        .map_err(|source| ChaosError::io(format!("creating {}", directory.display()), source))?;
    let mut random = SplitMix64::new(seed);
    let mut checker = AckChecker::new(seed);
    let mut model: SharedModel = Arc::new(Mutex::new(PowerLossModel::new()));
    let mut mounted = Mounted::mount(Arc::clone(&model), &directory.join("mount-0"))?;
    let mut totals = CrashReport::default();
    let mut served = ServedCounts::default();
    let (mut startup_cuts, mut acknowledged_lines, mut subset_cuts, mut triggered_cuts) = (0u64, 0u64, 0u64, 0u64);
    for cut in 0..settings.cuts {
        let store = mounted.path().join(STORE_DIRECTORY);
        let options = WriterOptions::new(store.clone(), seed);
        if cut > 0 {
            let verdict = recover_and_check(&store, &options, &mut checker).map(drop);
            summary.record(verdict, || format!("recovery of the image of cut {}", cut - 1));
        }
        let kind = match random.below(4) {
            0 => CutKind::Timed,
            1 => CutKind::AtChange,
            2 => CutKind::AtSync,
            _ => CutKind::AtLargeSync,
        };
        let delay_us = match kind {
            CutKind::Timed if random.chance(1, settings.startup_cut_one_in) => random.below(settings.startup_window_us),
            CutKind::Timed => random.between(settings.startup_window_us, settings.delay_us_max),
            CutKind::AtChange | CutKind::AtSync | CutKind::AtLargeSync => settings.delay_us_max,
        };
        match kind {
            CutKind::Timed => {}
            CutKind::AtChange => lock(&model).arm_cut(CutTrigger::AtChange(random.below(settings.change_index_max))),
            CutKind::AtSync => lock(&model).arm_cut(CutTrigger::AtSync(random.below(settings.sync_index_max))),
            CutKind::AtLargeSync => lock(&model).arm_cut(CutTrigger::AtLargeSync {
                index: random.below(settings.large_sync_index_max),
                pending_bytes_min: LARGE_SYNC_BYTES,
            }),
        }
        let mut writer = WriterProcess::spawn(executable, &options)?;
        let deadline = Instant::now() + Duration::from_micros(delay_us);
        let running = writer.run_until(deadline, || lock(&model).is_halted())?;
        let triggered = lock(&model).is_halted();
        triggered_cuts += u64::from(triggered);
        lock(&model).cut_power();
        let outcome = writer.kill()?;
        summary.runs += 1;
        let context = || format!("power cut {cut} ({kind:?}, {delay_us} us)");
        let (ready, violations) = checker.on_lines(&outcome.lines);
        acknowledged_lines += outcome.lines.iter().filter(|line| line.starts_with("ack")).count() as u64;
        if ready {
            summary.states_verified += 1;
        } else {
            startup_cuts += 1;
        }
        for violation in &violations {
            summary.violation(violation, context);
        }
        if !running && !triggered {
            // It exited before the cut: its recovery or a write failed on a file system that was still up.
            let error = format!("the writer exited before the cut ({}): {}", outcome.status, outcome.stderr.trim());
            summary.violation(&PrefixViolation::Failed { error }, context);
        }
        if !summary.passed() {
            break;
        }
        let mode = if random.chance(2, 3) { TearMode::AnySubset } else { TearMode::InOrder };
        subset_cuts += u64::from(mode == TearMode::AnySubset);
        let sector_bytes = if random.chance(1, 2) { 512 } else { 4096 };
        let (image, report) = lock(&model).crash_image(random.next_u64(), mode, sector_bytes);
        served.add(&lock(&model).served());
        totals.add(&report);
        mounted.unmount()?;
        model = Arc::new(Mutex::new(image));
        mounted = Mounted::mount(Arc::clone(&model), &directory.join(format!("mount-{}", cut + 1)))?;
    }
    if summary.passed() {
        let options = WriterOptions::new(mounted.path().join(STORE_DIRECTORY), seed);
        let verdict = recover_and_check(&options.directory, &options, &mut checker).map(drop);
        summary.record(verdict, || "recovery of the last image".to_owned());
    }
    served.add(&lock(&model).served());
    mounted.unmount()?;
    summary.notes.push(format!(
        "the file system served {} writes, {} file syncs, {} directory syncs and {} name changes",
        served.writes, served.file_syncs, served.directory_syncs, served.name_changes
    ));
    summary.notes.push(format!(
        "{triggered_cuts} cuts fired at a seeded call or sync, the rest at a seeded time; {startup_cuts} cuts \
         before the writer finished recovery; {subset_cuts} any-subset and {} in-order crash \
         images; pending changes at the cuts: {} name changes lost and {} kept, {} writes/truncations dropped, {} \
         torn, {} kept; {acknowledged_lines} units acknowledged; the store ended at LSN {}",
        summary.runs - subset_cuts,
        totals.namespace_changes_lost,
        totals.namespace_changes_kept,
        totals.data_changes_dropped,
        totals.writes_torn,
        totals.data_changes_kept,
        checker.acknowledged_lsn(),
    ));
    summary.elapsed = started.elapsed();
    Ok(summary)
}
