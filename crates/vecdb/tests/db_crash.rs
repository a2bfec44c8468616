//! Power loss at every I/O point of a small database workload on the simulated disk, torn several ways (seeds):
//! the recovered database always equals the state after a prefix of the workload's operations that holds every
//! acknowledged one (and at most the one in flight), its digest verifies, and it takes new writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use vecdb::db::DatabaseDigest;
use vecdb::storage::{MemoryBackend, SimulatedDisk, StorageBackend};
use vecdb::{Db, DbConfig, Metadata, Metric, Record, Value, VecDbError};

const DIMENSION: usize = 4;
const SEEDS_PER_POINT: u64 = 8;

#[derive(Clone, Debug)]
enum Step {
    Batch(Vec<u64>),
    Insert(u64, f32),
    Delete(u64),
    UpdateMetadata(u64, &'static str),
    Checkpoint,
    Compact,
}

/// Every kind of write, a checkpoint in the middle and a compaction (which checkpoints) near the end.
fn steps() -> Vec<Step> {
    vec![
        Step::Batch((0..6).collect()),
        Step::Insert(6, 0.5),
        Step::Insert(2, 9.0),
        Step::Delete(1),
        Step::UpdateMetadata(3, "three"),
        Step::Checkpoint,
        Step::Delete(4),
        Step::Batch((7..10).collect()),
        Step::Compact,
        Step::Insert(10, 2.5),
        Step::UpdateMetadata(7, "seven"),
        Step::Delete(8),
    ]
}

fn vector(id: u64, salt: f32) -> Vec<f32> {
    (0..DIMENSION).map(|d| id as f32 + salt * (d as f32 + 1.0)).collect()
}

fn metadata(text: &str) -> Metadata {
    let mut metadata = Metadata::new();
    metadata.insert("label".into(), Value::from(text));
    metadata
}

fn config() -> DbConfig {
    let mut config = DbConfig::new(DIMENSION, Metric::L2);
    config.index.m = 4;
    config.index.ef_construction = 16;
    config.index.ef_search = 16;
    config
}

type Model = BTreeMap<u64, (Vec<f32>, Metadata)>;

fn apply_to_model(model: &mut Model, step: &Step) {
    match step {
        Step::Batch(ids) => {
            for &id in ids {
                model.insert(id, (vector(id, 0.25), metadata("batch")));
            }
        }
        Step::Insert(id, salt) => {
            model.insert(*id, (vector(*id, *salt), Metadata::new()));
        }
        Step::Delete(id) => {
            model.remove(id);
        }
        Step::UpdateMetadata(id, text) => {
            if let Some(entry) = model.get_mut(id) {
                entry.1 = metadata(text);
            }
        }
        Step::Checkpoint | Step::Compact => {}
    }
}

fn execute<B: StorageBackend>(db: &Db<B>, step: &Step) -> Result<(), VecDbError> {
    match step {
        Step::Batch(ids) => {
            db.insert_batch(ids.iter().map(|&id| Record::new(id, vector(id, 0.25), metadata("batch"))).collect())?;
        }
        Step::Insert(id, salt) => {
            db.insert(*id, &vector(*id, *salt), Metadata::new())?;
        }
        Step::Delete(id) => {
            db.delete(*id)?;
        }
        Step::UpdateMetadata(id, text) => {
            db.update_metadata(*id, metadata(text))?;
        }
        Step::Checkpoint => {
            db.checkpoint()?;
        }
        Step::Compact => {
            db.compact()?;
        }
    }
    Ok(())
}

/// Creates the database and runs the steps until the first error; returns whether the create was acknowledged
/// and how many steps were.
fn run(disk: &SimulatedDisk, steps: &[Step]) -> (bool, usize) {
    let Ok(db) = Db::create(disk.clone(), config()) else {
        return (false, 0);
    };
    let acknowledged = steps.iter().take_while(|step| execute(&db, step).is_ok()).count();
    (true, acknowledged)
}

fn observed(db: &Db<SimulatedDisk>) -> Model {
    db.ids()
        .into_iter()
        .map(|id| {
            let record = db.get(id).unwrap();
            (id, (record.vector, record.metadata))
        })
        .collect()
}

#[test]
fn a_crash_at_every_io_point_recovers_a_prefix_holding_every_acknowledged_write() {
    let steps = steps();
    // The model and the reference digest after each prefix of the steps (the digest also covers tombstones, so
    // it tells a compacted state from the one before).
    let mut models = vec![Model::new()];
    let reference = Db::create(MemoryBackend::new(), config()).unwrap();
    let mut digests: Vec<DatabaseDigest> = vec![reference.digest()];
    for step in &steps {
        let mut model = models.last().unwrap().clone();
        apply_to_model(&mut model, step);
        models.push(model);
        execute(&reference, step).unwrap();
        digests.push(reference.digest());
    }

    let probe = SimulatedDisk::new();
    assert_eq!(run(&probe, &steps), (true, steps.len()));
    let points = probe.operation_count();
    assert!(points > 50, "the workload is {points} I/O points");

    let mut outcomes = BTreeMap::<usize, usize>::new();
    for point in 0..=points {
        let disk = SimulatedDisk::new();
        disk.halt_at(point);
        let (created, acknowledged) = run(&disk, &steps);
        for seed in 0..SEEDS_PER_POINT {
            let context = format!("point {point} seed {seed} ({acknowledged} steps acknowledged)");
            let crashed = disk.crash(seed);
            let db = match Db::open(crashed.clone()) {
                Ok(db) => db,
                Err(VecDbError::NoDatabase { .. }) => {
                    assert!(!created, "{context}: an acknowledged create was lost");
                    continue;
                }
                Err(error) => panic!("{context}: recovery failed: {error}"),
            };
            let model = observed(&db);
            let last = (acknowledged + 1).min(steps.len());
            let prefix = (acknowledged..=last)
                .find(|&prefix| models[prefix] == model && digests[prefix] == db.digest())
                .unwrap_or_else(|| panic!("{context}: recovered {model:?}, no prefix from {acknowledged} matches"));
            *outcomes.entry(prefix).or_default() += 1;
            assert_eq!(db.recovery_report().state_digest, db.digest(), "{context}");

            // After recovery the database takes writes, and they survive the next power loss.
            db.insert(1_000, &vector(1_000, 1.0), Metadata::new()).unwrap();
            drop(db);
            let again = Db::open(crashed.crash(seed + 100)).unwrap();
            assert!(again.contains(1_000), "{context}: a write after recovery was lost");
            assert_eq!(again.len(), model.len() + 1, "{context}");
        }
    }
    eprintln!("{points} I/O points x {SEEDS_PER_POINT} seeds; recovered prefix -> count: {outcomes:?}");
    // Every prefix shows up somewhere: the crash points cover the whole workload.
    assert!((1..=steps.len()).all(|prefix| outcomes.contains_key(&prefix)), "{outcomes:?}");
}
