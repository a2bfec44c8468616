//! `vecdb_ops`: drive a `vecdb::Db` on `SimulatedDisk` with input-chosen operations, cut the power at an
//! input-chosen I/O point, and check what recovery gives against a `BTreeMap` model.
//!
//! The input chooses a small configuration (dimension 2 to [`DIMENSION_MAX`], metric L2 so vectors are stored
//! bit for bit, small `M` and `ef_construction`, `EveryCommit` or `Manual`, snapshot retention, automatic
//! checkpoints) and up to [`EPOCHS_MAX`] epochs. Each epoch opens (or, on an empty disk, creates) the database on
//! the disk the previous crash left, runs up to [`STEPS_MAX`] steps (insert or upsert, a batch of up to
//! [`BATCH_RECORDS_MAX`] records, delete, metadata update, checkpoint, compaction, sync, a search, and invalid
//! calls: a wrong dimension, a NaN or infinite component, bad metadata, an empty batch or a batch holding a bad
//! record, a delete or update of an id that is not live), then maybe a clean close, and loses power at an
//! input-chosen I/O point ([`SimulatedDisk::halt_at`], as a fraction of the epoch's I/O points measured by a first
//! run on a copy of the disk), followed by one of the simulated disk's crash images.
//!
//! Checked while running: an invalid call returns a typed validation error and changes nothing (same digest, same
//! applied LSN); a delete or update of a live id, and every valid write, succeeds unless storage fails (the power
//! was cut); a search returns at most `k` distinct live ids. After every crash: `Db::open` on the crash image
//! succeeds (or finds no database, only while the configuration was never acknowledged), the recovered ids,
//! vectors and metadata are the model's after a prefix of the issued units (a batch is all or nothing) that holds
//! every acknowledged unit, and the recovery report's digest is the recovered state's digest.

use std::collections::BTreeMap;

use arbitrary::Unstructured;
use storage_mem::SimulatedDisk;

use crate::power_cut::{PowerCut, SECTOR_BYTES, outcome_label};
use vecdb::{Db, DbConfig, Metadata, Metric, Record, SearchOptions, SyncPolicy, Value, VecDbError};

/// The most crash-and-recover epochs per input.
pub const EPOCHS_MAX: usize = 3;
/// The most steps per epoch.
pub const STEPS_MAX: usize = 16;
/// The most records per batch.
pub const BATCH_RECORDS_MAX: usize = 4;
/// The largest vector dimension drawn (the smallest is 2).
pub const DIMENSION_MAX: usize = 8;
/// Ids are drawn from `0..=ID_MAX`, so upserts, deletes and updates hit live ids.
pub const ID_MAX: u64 = 15;
/// The largest automatic-checkpoint interval drawn (in operations).
pub const CHECKPOINT_OPERATIONS_MAX: u64 = 8;
/// The most snapshots retained drawn.
pub const SNAPSHOTS_RETAINED_MAX: usize = 3;
/// The most metadata keys drawn for a valid record.
pub const METADATA_KEYS_MAX: usize = 2;
/// The largest `k` a search step asks for.
pub const SEARCH_K_MAX: usize = 8;
/// Valid metadata keys the input picks from.
const KEYS: [&str; 4] = ["a", "tag", "n.x", "_z"];

/// What an invalid call breaks.
#[derive(Clone, Debug)]
enum Invalid {
    /// An insert with a vector of the wrong length.
    WrongDimension(u64, Vec<f32>),
    /// An insert with a NaN or infinite component.
    NonFinite(u64, Vec<f32>),
    /// An insert with an invalid metadata key or a non-finite metadata number.
    BadMetadata(u64, Vec<f32>, Metadata),
    /// A batch holding one bad record among valid ones.
    BadBatch(Vec<Record>),
    /// An empty batch.
    EmptyBatch,
}

#[derive(Clone, Debug)]
enum Step {
    Insert(Record),
    Batch(Vec<Record>),
    Delete(u64),
    UpdateMetadata(u64, Metadata),
    Checkpoint,
    Compact,
    Sync,
    Search(Vec<f32>, usize),
    Invalid(Invalid),
}

#[derive(Debug)]
struct Epoch {
    steps: Vec<Step>,
    cut: PowerCut,
}

#[derive(Debug)]
struct Plan {
    config: DbConfig,
    sector_bytes: u64,
    epochs: Vec<Epoch>,
}

/// The model: ids to (vector as bit patterns, metadata).
type Model = BTreeMap<u64, (Vec<u32>, Metadata)>;

fn bits(vector: &[f32]) -> Vec<u32> {
    vector.iter().map(|value| value.to_bits()).collect()
}

fn draw_component(input: &mut Unstructured<'_>) -> arbitrary::Result<f32> {
    if input.ratio(1u8, 4)? {
        let value = f32::from_bits(input.arbitrary()?);
        return Ok(if value.is_finite() { value } else { 0.0 });
    }
    Ok(f32::from(input.int_in_range(-1000i16..=1000)?) / 16.0)
}

fn draw_vector(input: &mut Unstructured<'_>, length: usize) -> arbitrary::Result<Vec<f32>> {
    (0..length).map(|_| draw_component(input)).collect()
}

fn draw_metadata(input: &mut Unstructured<'_>) -> arbitrary::Result<Metadata> {
    let mut metadata = Metadata::new();
    for _ in 0..input.int_in_range(0..=METADATA_KEYS_MAX)? {
        let key = (*input.choose(&KEYS)?).to_owned();
        let value = match input.int_in_range(0u8..=2)? {
            0 => Value::Number(f64::from(input.int_in_range(-100i8..=100)?)),
            1 => Value::Bool(input.arbitrary()?),
            _ => Value::String(["x", "yy", ""].get(input.int_in_range(0usize..=2)?).copied().unwrap_or("").to_owned()),
        };
        metadata.insert(key, value);
    }
    Ok(metadata)
}

fn draw_record(input: &mut Unstructured<'_>, dimension: usize) -> arbitrary::Result<Record> {
    let id = input.int_in_range(0..=ID_MAX)?;
    let vector = draw_vector(input, dimension)?;
    Ok(Record::new(id, vector, draw_metadata(input)?))
}

fn draw_bad_record(input: &mut Unstructured<'_>, dimension: usize) -> arbitrary::Result<Record> {
    let id = input.int_in_range(0..=ID_MAX)?;
    Ok(match draw_invalid_insert(input, id, dimension)? {
        Invalid::WrongDimension(_, vector) | Invalid::NonFinite(_, vector) => Record::new(id, vector, Metadata::new()),
        Invalid::BadMetadata(_, vector, metadata) => Record::new(id, vector, metadata),
        Invalid::BadBatch(_) | Invalid::EmptyBatch => Record::new(id, Vec::new(), Metadata::new()),
    })
}

fn draw_invalid_insert(input: &mut Unstructured<'_>, id: u64, dimension: usize) -> arbitrary::Result<Invalid> {
    Ok(match input.int_in_range(0u8..=2)? {
        0 => {
            let length = if input.arbitrary()? { dimension + 1 } else { dimension - 1 };
            Invalid::WrongDimension(id, draw_vector(input, length)?)
        }
        1 => {
            let mut vector = draw_vector(input, dimension)?;
            let position = input.int_in_range(0..=dimension - 1)?;
            let bad = *input.choose(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY])?;
            if let Some(component) = vector.get_mut(position) {
                *component = bad;
            }
            Invalid::NonFinite(id, vector)
        }
        _ => {
            let vector = draw_vector(input, dimension)?;
            let mut metadata = draw_metadata(input)?;
            match input.int_in_range(0u8..=2)? {
                0 => metadata.insert("Bad".to_owned(), Value::Bool(true)),
                1 => metadata.insert("and".to_owned(), Value::Bool(false)),
                _ => metadata.insert("a".to_owned(), Value::Number(f64::NAN)),
            };
            Invalid::BadMetadata(id, vector, metadata)
        }
    })
}

fn draw_step(input: &mut Unstructured<'_>, dimension: usize) -> arbitrary::Result<Step> {
    Ok(match input.int_in_range(0u8..=15)? {
        0..=4 => Step::Insert(draw_record(input, dimension)?),
        5..=6 => {
            let count = input.int_in_range(1..=BATCH_RECORDS_MAX)?;
            Step::Batch((0..count).map(|_| draw_record(input, dimension)).collect::<arbitrary::Result<_>>()?)
        }
        7..=8 => Step::Delete(input.int_in_range(0..=ID_MAX)?),
        9 => Step::UpdateMetadata(input.int_in_range(0..=ID_MAX)?, draw_metadata(input)?),
        10 => Step::Checkpoint,
        11 => Step::Compact,
        12 => Step::Sync,
        13 => Step::Search(draw_vector(input, dimension)?, input.int_in_range(1..=SEARCH_K_MAX)?),
        _ => Step::Invalid(match input.int_in_range(0u8..=3)? {
            0 | 1 => {
                let id = input.int_in_range(0..=ID_MAX)?;
                draw_invalid_insert(input, id, dimension)?
            }
            2 => {
                let count = input.int_in_range(0..=BATCH_RECORDS_MAX - 1)?;
                let mut records =
                    (0..count).map(|_| draw_record(input, dimension)).collect::<arbitrary::Result<Vec<_>>>()?;
                let position = input.int_in_range(0..=count)?;
                records.insert(position, draw_bad_record(input, dimension)?);
                Invalid::BadBatch(records)
            }
            _ => Invalid::EmptyBatch,
        }),
    })
}

fn draw_plan(input: &mut Unstructured<'_>) -> arbitrary::Result<Plan> {
    let dimension = input.int_in_range(2..=DIMENSION_MAX)?;
    let mut config = DbConfig::new(dimension, Metric::L2);
    config.index.m = input.int_in_range(2..=6)?;
    config.index.ef_construction = input.int_in_range(4..=16)?;
    config.index.ef_search = input.int_in_range(4..=16)?;
    config.index.seed = input.arbitrary()?;
    config.durability.sync_policy = if input.ratio(1u8, 3)? { SyncPolicy::Manual } else { SyncPolicy::EveryCommit };
    config.durability.checkpoint.operations_max =
        if input.ratio(1u8, 2)? { Some(input.int_in_range(1..=CHECKPOINT_OPERATIONS_MAX)?) } else { None };
    config.durability.snapshots_retained = input.int_in_range(1..=SNAPSHOTS_RETAINED_MAX)?;
    let sector_bytes = *input.choose(&SECTOR_BYTES)?;
    let epoch_count = input.int_in_range(1..=EPOCHS_MAX)?;
    let mut epochs = Vec::with_capacity(epoch_count);
    for _ in 0..epoch_count {
        let step_count = input.int_in_range(0..=STEPS_MAX)?;
        let steps = (0..step_count).map(|_| draw_step(input, dimension)).collect::<arbitrary::Result<_>>()?;
        let cut = PowerCut::draw(input)?;
        epochs.push(Epoch { steps, cut });
    }
    Ok(Plan { config, sector_bytes, epochs })
}

fn is_storage(error: &VecDbError) -> bool {
    matches!(error, VecDbError::Storage(_) | VecDbError::Durability(_))
}

/// What one epoch's workload did.
#[derive(Debug)]
struct EpochRun {
    /// The model after each issued unit, with the LSN after it; the first entry is the state the epoch opened with.
    /// The last unit may have failed (and so be durable or not).
    boundaries: Vec<(u64, Model)>,
    /// The highest LSN the database claimed durable.
    acknowledged_lsn: u64,
    /// The database was opened or created successfully (its configuration is durable).
    opened: bool,
    /// I/O points the open used.
    open_points: u64,
    /// A step failed with a storage error (the power was cut mid-workload).
    step_failed: bool,
}

/// Checks that an invalid call failed with a validation error and changed nothing.
fn expect_rejected<T: std::fmt::Debug>(
    db: &Db<SimulatedDisk>,
    result: Result<T, VecDbError>,
    before: (vecdb::db::DatabaseDigest, u64),
    what: &str,
) {
    match result {
        Ok(value) => panic!("{what} was accepted: {value:?}"),
        Err(error) => assert!(!is_storage(&error), "{what} failed with a storage error: {error}"),
    }
    assert_eq!((db.digest(), db.applied_lsn()), before, "{what} changed the database");
}

/// Runs one epoch on `disk` and returns what it did; `crash_image` is called with the disk before the database is
/// dropped (a dead process never closes its log).
fn run_epoch(
    disk: &SimulatedDisk,
    plan: &Plan,
    epoch: &Epoch,
    base: &(u64, Model),
    crash_image: &mut dyn FnMut(&SimulatedDisk),
) -> EpochRun {
    let (base_lsn, base_model) = base;
    let mut run = EpochRun {
        boundaries: vec![(*base_lsn, base_model.clone())],
        acknowledged_lsn: *base_lsn,
        opened: false,
        open_points: 0,
        step_failed: false,
    };
    let db = match Db::open_or_create(disk.clone(), plan.config) {
        Ok(db) => db,
        Err(error) => {
            assert!(is_storage(&error), "open failed with a non-storage error: {error}");
            crash_image(disk);
            return run;
        }
    };
    run.opened = true;
    run.open_points = disk.operation_count();
    assert_eq!(db.applied_lsn(), *base_lsn, "an open on a copy of the verified disk recovered another LSN");
    let every_commit = plan.config.durability.sync_policy == SyncPolicy::EveryCommit;
    let mut model = base_model.clone();
    let mut lsn = *base_lsn;
    for step in &epoch.steps {
        let before = (db.digest(), db.applied_lsn());
        // `Some(count)`: a unit of `count` operations was issued, and `model` is the state after it.
        let (issued, result): (Option<u64>, Result<Option<u64>, VecDbError>) = match step {
            Step::Insert(record) => {
                model.insert(record.id, (bits(&record.vector), record.metadata.clone()));
                let result = db.insert(record.id, &record.vector, record.metadata.clone());
                if let Ok(written) = &result {
                    assert_eq!(*written, lsn + 1, "insert took an unexpected LSN");
                }
                (Some(1), result.map(|written| every_commit.then_some(written)))
            }
            Step::Batch(records) => {
                for record in records {
                    model.insert(record.id, (bits(&record.vector), record.metadata.clone()));
                }
                let count = records.len() as u64;
                let result = db.insert_batch(records.clone());
                if let Ok(range) = &result {
                    assert_eq!((*range.start(), *range.end()), (lsn + 1, lsn + count), "batch took unexpected LSNs");
                }
                (Some(count), result.map(|range| every_commit.then_some(*range.end())))
            }
            Step::Delete(id) if !model.contains_key(id) => {
                let result = db.delete(*id);
                assert!(matches!(result, Err(VecDbError::UnknownId { id: unknown }) if unknown == *id));
                expect_rejected(&db, result, before, "a delete of an id that is not live");
                (None, Ok(None))
            }
            Step::Delete(id) => {
                model.remove(id);
                let result = db.delete(*id);
                (Some(1), result.map(|written| every_commit.then_some(written)))
            }
            Step::UpdateMetadata(id, metadata) => match model.get_mut(id) {
                None => {
                    let result = db.update_metadata(*id, metadata.clone());
                    assert!(matches!(result, Err(VecDbError::UnknownId { id: unknown }) if unknown == *id));
                    expect_rejected(&db, result, before, "a metadata update of an id that is not live");
                    (None, Ok(None))
                }
                Some(entry) => {
                    entry.1 = metadata.clone();
                    let result = db.update_metadata(*id, metadata.clone());
                    (Some(1), result.map(|written| every_commit.then_some(written)))
                }
            },
            Step::Checkpoint => (None, db.checkpoint().map(|report| Some(report.lsn))),
            Step::Compact => (Some(1), db.compact().map(|report| Some(report.lsn))),
            Step::Sync => (None, db.sync().map(Some)),
            Step::Search(query, k) => {
                let hits = db
                    .search(query, *k, &SearchOptions::default())
                    .unwrap_or_else(|error| panic!("a valid search failed: {error}"));
                assert!(hits.len() <= *k && hits.len() <= model.len(), "search returned too many hits");
                let mut ids: Vec<u64> = hits.iter().map(|hit| hit.id).collect();
                assert!(ids.iter().all(|id| model.contains_key(id)), "search returned an id that is not live");
                ids.sort_unstable();
                ids.dedup();
                assert_eq!(ids.len(), hits.len(), "search returned an id twice");
                (None, Ok(None))
            }
            Step::Invalid(invalid) => {
                let result = match invalid {
                    Invalid::WrongDimension(id, vector) | Invalid::NonFinite(id, vector) => {
                        db.insert(*id, vector, Metadata::new())
                    }
                    Invalid::BadMetadata(id, vector, metadata) => db.insert(*id, vector, metadata.clone()),
                    Invalid::BadBatch(records) => db.insert_batch(records.clone()).map(|range| *range.end()),
                    Invalid::EmptyBatch => db.insert_batch(Vec::new()).map(|range| *range.end()),
                };
                expect_rejected(&db, result, before, "an invalid write");
                (None, Ok(None))
            }
        };
        if let Some(count) = issued {
            lsn += count;
            run.boundaries.push((lsn, model.clone()));
        }
        match result {
            Ok(acknowledged) => {
                run.acknowledged_lsn = run.acknowledged_lsn.max(acknowledged.unwrap_or(0));
                assert_eq!(db.applied_lsn(), lsn, "the applied LSN is not the issued operations'");
            }
            Err(error) => {
                assert!(is_storage(&error), "a valid step failed with a non-storage error: {error} ({step:?})");
                run.step_failed = true;
                break;
            }
        }
    }
    if epoch.cut.close_at_end && !run.step_failed {
        if db.close().is_ok() {
            run.acknowledged_lsn = lsn;
        }
        crash_image(disk);
        return run;
    }
    crash_image(disk);
    drop(db);
    run
}

/// Recovers from `disk` (on a copy) and checks the result against the run; returns the recovered LSN and model.
fn recover_and_check(disk: &SimulatedDisk, plan: &Plan, config_durable: bool, run: &EpochRun) -> (u64, Model) {
    let db = match Db::open(disk.reopen()) {
        Ok(db) => db,
        Err(VecDbError::NoDatabase { .. }) if !config_durable => {
            // A crash before the configuration was durable: no database yet, which is the empty state.
            assert!(run.boundaries.len() == 1 && run.acknowledged_lsn == 0, "no database after writes ({run:?})");
            return (0, Model::new());
        }
        Err(error) => panic!("recovery failed after a crash: {error} (run: {run:?})"),
    };
    assert_eq!(db.config(), &plan.config, "recovered another configuration");
    let recovered_lsn = db.applied_lsn();
    let guard = db.read();
    assert_eq!(db.recovery_report().state_digest, snapshot::Snapshot::digest(&*guard), "report digest");
    let mut recovered = Model::new();
    for id in guard.index().ids() {
        let vector = guard.index().vector(id).map(bits).unwrap_or_else(|| panic!("live id {id} has no vector"));
        let metadata = guard.metadata(id).cloned().unwrap_or_default();
        recovered.insert(id, (vector, metadata));
    }
    drop(guard);
    assert!(
        recovered_lsn >= run.acknowledged_lsn,
        "lost acknowledged operations: recovered up to LSN {recovered_lsn}, acknowledged {} (run: {run:?})",
        run.acknowledged_lsn
    );
    let Some((_, model)) = run.boundaries.iter().find(|(lsn, _)| *lsn == recovered_lsn) else {
        panic!("recovered LSN {recovered_lsn} is not a unit boundary of the issued operations (run: {run:?})");
    };
    assert!(model == &recovered, "recovered state differs from the model at LSN {recovered_lsn}");
    (recovered_lsn, recovered)
}

/// Runs one input (see the module docs). `None`: too short to build a plan.
pub fn run(data: &[u8]) -> Option<String> {
    if data.len() < 8 {
        return None;
    }
    let mut input = Unstructured::new(data);
    let plan = draw_plan(&mut input).ok()?;
    let mut disk = SimulatedDisk::with_sector_bytes(plan.sector_bytes);
    let mut state = (0u64, Model::new());
    let mut config_durable = false;
    let mut label = String::new();
    for epoch in &plan.epochs {
        // Count the epoch's I/O points on a copy, then cut the power at the chosen one on another copy.
        let probe = disk.reopen();
        let mut points = 0;
        let probe_run = run_epoch(&probe, &plan, epoch, &state, &mut |probe_disk| {
            points = probe_disk.operation_count();
        });
        let open_points = probe_run.open_points;
        let halt_at = if epoch.cut.halt_in_open || !probe_run.opened {
            epoch.cut.point_in(open_points.max(points))
        } else {
            open_points + epoch.cut.point_in(points - open_points + 1)
        };
        let live = disk.reopen();
        live.halt_at(halt_at);
        let mut crashed = None;
        let run = run_epoch(&live, &plan, epoch, &state, &mut |live_disk| crashed = Some(epoch.cut.crash(live_disk)));
        disk = crashed.unwrap_or_else(|| panic!("run_epoch always takes a crash image"));
        config_durable |= run.opened;
        let issued_lsn = run.boundaries.last().map_or(state.0, |(lsn, _)| *lsn);
        let recovered = recover_and_check(&disk, &plan, config_durable, &run);
        let (phase, kept) = outcome_label(run.opened, run.step_failed, recovered.0, issued_lsn, run.acknowledged_lsn);
        label = format!("{:?} halted-in-{phase} kept-{kept}", plan.config.durability.sync_policy);
        config_durable |= recovered.0 > 0 || !recovered.1.is_empty();
        state = recovered;
    }
    Some(label)
}
