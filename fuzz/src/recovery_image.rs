//! `recovery_image`: crash a `Durable<VectorState>` at an input-chosen I/O point and check what recovery gives.
//!
//! The input chooses the options (segment size, sync policy, snapshot retention, automatic checkpoints, sector
//! size) and up to [`EPOCHS_MAX`] epochs. Each epoch opens the store on the disk the previous crash left (so the
//! open, with its torn-tail truncation or tail rewrite, is part of what can be cut), runs up to [`STEPS_MAX`] steps
//! (upsert, delete, batch, checkpoint, sync, then maybe a clean close), and loses power at an input-chosen I/O
//! point: [`SimulatedDisk::halt_at`], then one of the four crash images the simulated disk builds, from an
//! input-chosen seed. The point is chosen as a fraction of the epoch's I/O count, measured by a first run of the
//! same epoch on a copy of the disk without a halt (the workload is deterministic: seeded salts, one thread, no
//! clock-driven policy).
//!
//! After every crash, recovery (`Durable::open` on the crash image) must succeed, and give exactly the model's state
//! after a prefix of the issued operations, cut at an operation or batch boundary, that contains every
//! acknowledged operation. "Acknowledged" means covered by what the store claimed durable: an `Ok` from `execute`
//! under `SyncPolicy::EveryCommit`, `Wal::durable_lsn`, an `Ok` from `sync`, `checkpoint` or `close`, and
//! everything an earlier recovery returned.

use std::collections::BTreeMap;

use arbitrary::Unstructured;
use snapshot::testing::{VectorOperation, VectorState};
use snapshot::{CheckpointPolicy, Durable, DurableOptions, SnapshotOptions};
use storage_mem::SimulatedDisk;

use crate::power_cut::{PowerCut, SECTOR_BYTES, outcome_label};
use wal::{SyncPolicy, WalOptions};

/// The most crash-and-recover epochs per input.
pub const EPOCHS_MAX: usize = 3;
/// The most steps per epoch.
pub const STEPS_MAX: usize = 16;
/// The most operations per batch.
pub const BATCH_OPERATIONS_MAX: usize = 4;
/// The largest vector dimension.
pub const DIMENSION_MAX: u32 = 4;
/// Ids are drawn from `0..=ID_MAX`, so deletes and overwrites hit existing ids.
pub const ID_MAX: u64 = 15;
/// The largest `segment_bytes_max` drawn (small, so rotations and checkpoints delete segments).
pub const SEGMENT_BYTES_MAX: u64 = 2048;
/// The largest snapshot retention drawn.
pub const RETAIN_COUNT_MAX: usize = 3;
/// The largest automatic-checkpoint interval drawn (in operations).
pub const CHECKPOINT_OPERATIONS_MAX: u64 = 8;

#[derive(Clone, Debug)]
enum Step {
    Execute(VectorOperation),
    Batch(Vec<VectorOperation>),
    Checkpoint,
    Sync,
}

#[derive(Debug)]
struct Epoch {
    steps: Vec<Step>,
    cut: PowerCut,
}

#[derive(Debug)]
struct Plan {
    dimension: u32,
    sector_bytes: u64,
    options: DurableOptions,
    epochs: Vec<Epoch>,
}

/// The model: ids to vectors as bit patterns (NaNs compare by bits).
type Model = BTreeMap<u64, Vec<u32>>;

fn draw_operation(input: &mut Unstructured<'_>, dimension: u32) -> arbitrary::Result<VectorOperation> {
    let id = input.int_in_range(0..=ID_MAX)?;
    if input.ratio(1u8, 4)? {
        return Ok(VectorOperation::Delete { id });
    }
    // One upsert in eight has the wrong length: `apply` ignores it, and so must the model.
    let length = if input.ratio(1u8, 8)? { dimension as usize + 1 } else { dimension as usize };
    let mut vector = Vec::with_capacity(length);
    for _ in 0..length {
        vector.push(f32::from_bits(input.arbitrary()?));
    }
    Ok(VectorOperation::Upsert { id, vector })
}

fn draw_plan(input: &mut Unstructured<'_>) -> arbitrary::Result<Plan> {
    let dimension = input.int_in_range(1..=DIMENSION_MAX)?;
    let sector_bytes = *input.choose(&SECTOR_BYTES)?;
    let sync_policy = if input.ratio(1u8, 3)? { SyncPolicy::Manual } else { SyncPolicy::EveryCommit };
    let wal = WalOptions {
        segment_bytes_max: input.int_in_range(wal::format::SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX)?,
        sync_policy,
        salt_seed: Some(input.arbitrary()?),
        ..WalOptions::default()
    };
    let operations_max =
        if input.ratio(1u8, 2)? { Some(input.int_in_range(1..=CHECKPOINT_OPERATIONS_MAX)?) } else { None };
    let options = DurableOptions {
        wal,
        snapshot: SnapshotOptions { retain_count: input.int_in_range(1..=RETAIN_COUNT_MAX)? },
        checkpoint: CheckpointPolicy { operations_max, log_bytes_max: None },
    };
    let epoch_count = input.int_in_range(1..=EPOCHS_MAX)?;
    let mut epochs = Vec::with_capacity(epoch_count);
    for _ in 0..epoch_count {
        let step_count = input.int_in_range(0..=STEPS_MAX)?;
        let mut steps = Vec::with_capacity(step_count);
        for _ in 0..step_count {
            steps.push(match input.int_in_range(0u8..=9)? {
                0..=4 => Step::Execute(draw_operation(input, dimension)?),
                5..=6 => {
                    let count = input.int_in_range(1..=BATCH_OPERATIONS_MAX)?;
                    let mut operations = Vec::with_capacity(count);
                    for _ in 0..count {
                        operations.push(draw_operation(input, dimension)?);
                    }
                    Step::Batch(operations)
                }
                7..=8 => Step::Checkpoint,
                _ => Step::Sync,
            });
        }
        let cut = PowerCut::draw(input)?;
        epochs.push(Epoch { steps, cut });
    }
    Ok(Plan { dimension, sector_bytes, options, epochs })
}

fn apply(model: &mut Model, dimension: u32, operation: &VectorOperation) {
    match operation {
        VectorOperation::Upsert { id, vector } if vector.len() == dimension as usize => {
            model.insert(*id, vector.iter().map(|value| value.to_bits()).collect());
        }
        VectorOperation::Upsert { .. } => {}
        VectorOperation::Delete { id } => {
            model.remove(id);
        }
    }
}

fn model_of(state: &VectorState) -> Model {
    state.vectors.iter().map(|(id, vector)| (*id, vector.iter().map(|value| value.to_bits()).collect())).collect()
}

/// What one epoch's workload did.
#[derive(Debug, Default)]
struct EpochRun {
    /// Every operation unit handed to the store, with its first LSN (the last one may have failed).
    issued: Vec<(u64, Vec<VectorOperation>)>,
    /// The highest LSN the store claimed durable.
    acknowledged_lsn: u64,
    /// I/O points the open used.
    open_points: u64,
    /// The open failed (the power was cut during recovery).
    open_failed: bool,
    /// A step failed (the power was cut mid-workload).
    step_failed: bool,
}

/// Runs one epoch on `disk` (a handle to the disk the store uses) and returns what it did; `crash_image` is called
/// with the disk before the store is dropped, since dropping it closes the log, which a dead process never does.
fn run_epoch(
    disk: &SimulatedDisk,
    plan: &Plan,
    epoch: &Epoch,
    base_lsn: u64,
    crash_image: &mut dyn FnMut(&SimulatedDisk),
) -> EpochRun {
    let mut run = EpochRun { acknowledged_lsn: base_lsn, ..EpochRun::default() };
    let dimension = plan.dimension;
    let durable = match Durable::open(disk.clone(), || VectorState::new(dimension), plan.options.clone()) {
        Ok(durable) => durable,
        Err(_) => {
            run.open_failed = true;
            crash_image(disk);
            return run;
        }
    };
    run.open_points = disk.operation_count();
    assert_eq!(durable.applied_lsn(), base_lsn, "an open on a copy of the verified disk recovered another LSN");
    let every_commit = plan.options.wal.sync_policy == SyncPolicy::EveryCommit;
    let mut next_lsn = base_lsn + 1;
    for step in &epoch.steps {
        let acknowledged = match step {
            Step::Execute(operation) => {
                run.issued.push((next_lsn, vec![operation.clone()]));
                let result = durable.execute(operation.clone());
                if let Ok(lsn) = &result {
                    assert_eq!(lsn.get(), next_lsn, "execute took an unexpected LSN");
                }
                next_lsn += 1;
                result.map(|lsn| if every_commit { lsn.get() } else { 0 })
            }
            Step::Batch(operations) => {
                run.issued.push((next_lsn, operations.clone()));
                let result = durable.execute_batch(operations.clone());
                if let Ok(range) = &result {
                    assert_eq!((range.first.get(), range.count()), (next_lsn, operations.len() as u64));
                }
                next_lsn += operations.len() as u64;
                result.map(|range| if every_commit { range.last.get() } else { 0 })
            }
            Step::Checkpoint => durable.checkpoint().map(|report| report.lsn),
            Step::Sync => durable.sync().map(|lsn| lsn.get()),
        };
        match acknowledged {
            Ok(lsn) => {
                let claimed = durable.wal().durable_lsn().get();
                run.acknowledged_lsn = run.acknowledged_lsn.max(lsn).max(claimed);
            }
            Err(_) => {
                run.step_failed = true;
                break;
            }
        }
    }
    if epoch.cut.close_at_end && !run.step_failed {
        // `close` consumes the store; take the image after it (a clean shutdown, then the power goes).
        if durable.close().is_ok() {
            run.acknowledged_lsn = next_lsn - 1;
        }
        crash_image(disk);
        return run;
    }
    crash_image(disk);
    drop(durable);
    run
}

/// Recovers from `disk` (on a copy) and checks the result against the model; returns the recovered model and LSN.
fn recover_and_check(disk: &SimulatedDisk, plan: &Plan, base: &Model, base_lsn: u64, run: &EpochRun) -> (Model, u64) {
    let dimension = plan.dimension;
    let durable = Durable::open(disk.reopen(), || VectorState::new(dimension), plan.options.clone())
        .unwrap_or_else(|error| panic!("recovery failed after a crash: {error} (run: {run:?})"));
    let recovered_lsn = durable.applied_lsn();
    let state = durable.read();
    assert_eq!(state.dimension, dimension, "recovered a state of another dimension");
    assert_eq!(durable.recovery_report().state_digest, snapshot::Snapshot::digest(&*state), "report digest");
    let recovered = model_of(&state);
    drop(state);
    assert!(
        recovered_lsn >= run.acknowledged_lsn,
        "lost acknowledged operations: recovered up to LSN {recovered_lsn}, acknowledged {} (run: {run:?})",
        run.acknowledged_lsn
    );
    let mut model = base.clone();
    let mut boundary = base_lsn;
    let mut matched = recovered_lsn == boundary;
    for (first_lsn, operations) in &run.issued {
        if matched {
            break;
        }
        assert_eq!(*first_lsn, boundary + 1, "issued LSNs are contiguous");
        for operation in operations {
            apply(&mut model, dimension, operation);
        }
        boundary += operations.len() as u64;
        matched = recovered_lsn == boundary;
    }
    assert!(
        matched,
        "recovered LSN {recovered_lsn} is not a boundary of the issued operations {base_lsn}..={boundary} \
         (a split batch or an operation that was never issued)"
    );
    assert!(model == recovered, "recovered state differs from the model at LSN {recovered_lsn}");
    (model, recovered_lsn)
}

/// Runs one input (see the module docs). `None`: too short to build a plan.
pub fn run(data: &[u8]) -> Option<String> {
    if data.len() < 8 {
        return None;
    }
    let mut input = Unstructured::new(data);
    let plan = draw_plan(&mut input).ok()?;
    let mut disk = SimulatedDisk::with_sector_bytes(plan.sector_bytes);
    let mut model = Model::new();
    let mut lsn = 0;
    let mut label = String::new();
    for epoch in &plan.epochs {
        // Count the epoch's I/O points on a copy, then cut the power at the chosen one on another copy.
        let probe = disk.reopen();
        let mut points = 0;
        let probe_run = run_epoch(&probe, &plan, epoch, lsn, &mut |probe_disk| points = probe_disk.operation_count());
        let open_points = probe_run.open_points;
        let halt_at = if epoch.cut.halt_in_open {
            epoch.cut.point_in(open_points)
        } else {
            open_points + epoch.cut.point_in(points - open_points + 1)
        };
        let live = disk.reopen();
        live.halt_at(halt_at);
        let mut crashed = None;
        let run = run_epoch(&live, &plan, epoch, lsn, &mut |live_disk| crashed = Some(epoch.cut.crash(live_disk)));
        disk = crashed.expect("run_epoch always takes a crash image");
        let issued_lsn = lsn + run.issued.iter().map(|(_, operations)| operations.len() as u64).sum::<u64>();
        let (recovered, recovered_lsn) = recover_and_check(&disk, &plan, &model, lsn, &run);
        let (phase, kept) =
            outcome_label(!run.open_failed, run.step_failed, recovered_lsn, issued_lsn, run.acknowledged_lsn);
        label = format!("{:?} halted-in-{phase} kept-{kept}", plan.options.wal.sync_policy);
        model = recovered;
        lsn = recovered_lsn;
    }
    Some(label)
}
