//! Recovery time by database size: a durable vector store (`snapshot::Durable<VectorState>` on the file backend)
//! holding `n` vectors as a snapshot plus a WAL tail of `n / 10` single-vector writes, reopened and recovered,
//! against the floor measured on the same files in the same run: reading and checksumming every byte.
//!
//! Both are timed with the files in the page cache (the store was just written), so this is the CPU and
//! system-call cost of recovery, not the disk's read speed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};
use snapshot::testing::{VectorOperation, VectorState};
use snapshot::{CheckpointPolicy, Durable, DurableOptions};
use storage_core::StorageBackend;
use storage_fs::FileBackend;
use wal::{SyncPolicy, WalOptions};

use crate::error::BenchError;

/// Vectors written per batch while building a store.
pub const BUILD_BATCH: usize = 1_000;
/// The most timed reopenings per size.
pub const REPETITIONS_MAX: usize = 100;

/// One size's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveryPoint {
    /// Vectors in the store.
    pub vectors: usize,
    /// Their dimension.
    pub dimension: usize,
    /// Bytes of every file of the store.
    pub store_bytes: u64,
    /// Bytes of the snapshot recovery starts from.
    pub snapshot_bytes: u64,
    /// WAL records replayed on top of it.
    pub operations_replayed: u64,
    /// Median seconds to open and recover.
    pub recover_seconds: f64,
    /// Median seconds to read and CRC-32 every byte of the same files.
    pub read_checksum_seconds: f64,
}

impl RecoveryPoint {
    /// The JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "vectors": self.vectors,
            "dimension": self.dimension,
            "store_bytes": self.store_bytes,
            "snapshot_bytes": self.snapshot_bytes,
            "operations_replayed": self.operations_replayed,
            "recover_seconds": self.recover_seconds,
            "read_checksum_seconds": self.read_checksum_seconds,
        })
    }

    /// Reads the JSON form; `None` when a field is missing.
    pub fn from_json(value: &Value) -> Option<Self> {
        let number = |name: &str| value.get(name).and_then(Value::as_f64);
        Some(Self {
            vectors: number("vectors")? as usize,
            dimension: number("dimension")? as usize,
            store_bytes: number("store_bytes")? as u64,
            snapshot_bytes: number("snapshot_bytes")? as u64,
            operations_replayed: number("operations_replayed")? as u64,
            recover_seconds: number("recover_seconds")?,
            read_checksum_seconds: number("read_checksum_seconds")?,
        })
    }
}

fn options() -> DurableOptions {
    DurableOptions {
        wal: WalOptions { sync_policy: SyncPolicy::Manual, ..WalOptions::default() },
        checkpoint: CheckpointPolicy { operations_max: None, log_bytes_max: None },
        ..DurableOptions::default()
    }
}

fn open(directory: &Path, dimension: u32) -> Result<Durable<VectorState, FileBackend>, BenchError> {
    Ok(Durable::open(FileBackend::open(directory)?, || VectorState::new(dimension), options())?)
}

/// Vector `id`: row `id` of `source` (cycling), or a deterministic pattern when `source` is empty.
fn vector(source: &[f32], dimension: usize, id: usize) -> Vec<f32> {
    let rows = source.len() / dimension.max(1);
    if rows == 0 {
        return (0..dimension).map(|d| ((id * 31 + d) % 1000) as f32 / 1000.0).collect();
    }
    let start = (id % rows) * dimension;
    source.get(start..start + dimension).map(<[f32]>::to_vec).unwrap_or_default()
}

/// Builds a store of `vectors` vectors in `directory`: batches of [`BUILD_BATCH`], a checkpoint, then `vectors / 10`
/// single upserts that stay in the WAL.
///
/// # Errors
/// Whatever the store returns.
pub fn build_store(directory: &Path, source: &[f32], dimension: usize, vectors: usize) -> Result<(), BenchError> {
    let _ = std::fs::remove_dir_all(directory);
    let store = open(directory, dimension as u32)?;
    for start in (0..vectors).step_by(BUILD_BATCH) {
        let batch = (start..(start + BUILD_BATCH).min(vectors))
            .map(|id| VectorOperation::Upsert { id: id as u64, vector: vector(source, dimension, id) })
            .collect();
        store.execute_batch(batch)?;
    }
    store.checkpoint()?;
    for index in 0..vectors / 10 {
        let id = (index * 7_919) % vectors.max(1);
        store.execute(VectorOperation::Upsert { id: id as u64, vector: vector(source, dimension, id + 1) })?;
    }
    store.close()?;
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Builds a store of each size under `root` and times its recovery and the read-and-checksum floor, `repetitions`
/// times each (the median counts). Vectors come from `source` (row-major, cycled) or a pattern when it is empty.
///
/// # Errors
/// [`BenchError::Usage`] for repetitions outside `1..=REPETITIONS_MAX`; whatever the store returns.
pub fn measure_recovery(
    root: &Path,
    source: &[f32],
    dimension: usize,
    sizes: &[usize],
    repetitions: usize,
) -> Result<Vec<RecoveryPoint>, BenchError> {
    if !(1..=REPETITIONS_MAX).contains(&repetitions) || dimension == 0 {
        return Err(BenchError::Usage(format!(
            "{repetitions} repetitions (1 to {REPETITIONS_MAX}), dimension {dimension}"
        )));
    }
    let mut points = Vec::new();
    for &vectors in sizes {
        let directory: PathBuf = root.join(format!("recovery-{vectors}"));
        build_store(&directory, source, dimension, vectors)?;
        let backend = FileBackend::open(&directory)?;
        let mut store_bytes = 0;
        for key in backend.list("")? {
            store_bytes += backend.len(&key)?.unwrap_or(0);
        }
        drop(backend);
        let mut recover = Vec::new();
        let mut floor = Vec::new();
        let mut report = None;
        for _ in 0..repetitions {
            let started = Instant::now();
            let backend = FileBackend::open(&directory)?;
            let mut hasher = crc32fast::Hasher::new();
            let mut contents = Vec::new();
            for key in backend.list("")? {
                let bytes = backend.read(&key)?.unwrap_or_default();
                hasher.update(&bytes);
                contents.push(bytes);
            }
            std::hint::black_box(hasher.finalize());
            floor.push(started.elapsed().as_secs_f64());
            drop((contents, backend));

            let started = Instant::now();
            let store = open(&directory, dimension as u32)?;
            recover.push(started.elapsed().as_secs_f64());
            if store.read().vectors.len() != vectors {
                return Err(BenchError::Dataset {
                    reason: format!("recovered {} vectors, wrote {vectors}", store.read().vectors.len()),
                });
            }
            report = Some(store.recovery_report().clone());
            drop(store);
        }
        let report = report.ok_or_else(|| BenchError::Usage("no repetition ran".into()))?;
        let point = RecoveryPoint {
            vectors,
            dimension,
            store_bytes,
            snapshot_bytes: report.snapshot_bytes,
            operations_replayed: report.operations_replayed,
            recover_seconds: median(recover),
            read_checksum_seconds: median(floor),
        };
        eprintln!(
            "  recovery: {vectors} vectors ({:.1} MB): recover {:.1} ms, read+checksum {:.1} ms",
            store_bytes as f64 / 1e6,
            point.recover_seconds * 1e3,
            point.read_checksum_seconds * 1e3
        );
        points.push(point);
        let _ = std::fs::remove_dir_all(&directory);
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_stores_recover_every_vector_and_report_their_sizes() {
        let root = std::env::temp_dir().join(format!("vecdb-bench-recovery-{}", std::process::id()));
        let points = measure_recovery(&root, &[], 4, &[50, 1_200], 2).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!((points[0].vectors, points[0].operations_replayed), (50, 5));
        assert_eq!((points[1].vectors, points[1].operations_replayed), (1_200, 120));
        assert!(points[1].store_bytes > points[0].store_bytes && points[1].snapshot_bytes > 1_200 * 16);
        assert_eq!(RecoveryPoint::from_json(&points[1].to_json()), Some(points[1].clone()));
        assert!(matches!(measure_recovery(&root, &[], 4, &[10], 0), Err(BenchError::Usage(_))));
        let _ = std::fs::remove_dir_all(&root);
    }
}
