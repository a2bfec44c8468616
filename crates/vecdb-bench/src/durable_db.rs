//! Inserts into a durable vecdb database ([`vecdb::Db`] on the file backend, every write durable before it
//! returns) from several writer threads sharing group commit, then the time to reopen it: once recovering from the
//! log alone (every insert replayed, so the graph is rebuilt), and once from a checkpoint (the snapshot holds the
//! graph, nothing is rebuilt).
//!
//! Behind the `durable-db` feature, so this crate still builds while the durable database's API moves.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};
use vecdb::{Db, DbConfig, Metadata, Metric};

use crate::error::BenchError;
use crate::machine::load_average;

/// The most writer threads.
pub const WRITERS_MAX: usize = 64;

/// What was measured.
#[derive(Clone, Debug, PartialEq)]
pub struct DurableFigures {
    /// Vectors inserted.
    pub vectors: usize,
    /// Writer threads.
    pub writers: usize,
    /// Wall-clock seconds for every insert to return (each durable).
    pub insert_seconds: f64,
    /// Seconds to reopen recovering from the log alone (`None` when skipped).
    pub reopen_from_log_seconds: Option<f64>,
    /// Seconds the checkpoint took.
    pub checkpoint_seconds: f64,
    /// Seconds to reopen from the checkpoint.
    pub reopen_from_snapshot_seconds: f64,
    /// Bytes in the store after the checkpoint.
    pub store_bytes: u64,
}

impl DurableFigures {
    /// The JSON form (`durable-db.json`).
    pub fn to_json(&self) -> Value {
        json!({
            "vectors": self.vectors,
            "writers": self.writers,
            "insert_seconds": self.insert_seconds,
            "reopen_from_log_seconds": self.reopen_from_log_seconds,
            "checkpoint_seconds": self.checkpoint_seconds,
            "reopen_seconds": self.reopen_from_snapshot_seconds,
            "store_bytes": self.store_bytes,
            "load_average": load_average(),
        })
    }
}

fn directory_bytes(directory: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![directory.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.metadata() {
                Ok(metadata) if metadata.is_dir() => pending.push(path),
                Ok(metadata) => total += metadata.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn reopen(directory: &Path, vectors: usize) -> Result<(f64, Db<storage_fs::FileBackend>), BenchError> {
    let started = Instant::now();
    let database = Db::open_in(directory)?;
    let seconds = started.elapsed().as_secs_f64();
    if database.len() != vectors {
        return Err(BenchError::Dataset {
            reason: format!("reopened with {} vectors, wrote {vectors}", database.len()),
        });
    }
    Ok((seconds, database))
}

/// Creates a cosine database (`M = 16`, `ef_construction = 200`) in `directory` (replacing it), inserts the rows of
/// `source` (row-major, `dimension` wide) one per call from `writers` threads (thread `t` takes ids `t`,
/// `t + writers`, ...), then measures the reopen times.
///
/// # Errors
/// [`BenchError::Usage`] for 0 or more than [`WRITERS_MAX`] writers; the database's errors.
pub fn measure_durable_db(
    directory: &Path,
    source: &[f32],
    dimension: usize,
    writers: usize,
    reopen_from_log: bool,
) -> Result<DurableFigures, BenchError> {
    if !(1..=WRITERS_MAX).contains(&writers) || dimension == 0 {
        return Err(BenchError::Usage(format!("{writers} writers (1 to {WRITERS_MAX}), dimension {dimension}")));
    }
    let vectors = source.len() / dimension;
    let _ = std::fs::remove_dir_all(directory);
    let mut config = DbConfig::new(dimension, Metric::Cosine);
    config.index.m = 16;
    config.index.ef_construction = 200;
    let database = Db::create_in(directory, config)?;
    let started = Instant::now();
    let failures: Vec<BenchError> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|writer| {
                let database = &database;
                scope.spawn(move || -> Result<(), BenchError> {
                    for (id, vector) in source.chunks_exact(dimension).enumerate().skip(writer).step_by(writers) {
                        database.insert(id as u64, vector, Metadata::new())?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|handle| match handle.join() {
                Ok(outcome) => outcome.err(),
                Err(_) => Some(BenchError::Usage("a writer thread panicked".into())),
            })
            .collect()
    });
    if let Some(failure) = failures.into_iter().next() {
        return Err(failure);
    }
    let insert_seconds = started.elapsed().as_secs_f64();
    eprintln!("  durable-db: {vectors} inserts from {writers} writers in {insert_seconds:.1} s");

    let mut database = database;
    let mut reopen_from_log_seconds = None;
    if reopen_from_log {
        database.close()?;
        let (seconds, reopened) = reopen(directory, vectors)?;
        eprintln!("  durable-db: reopened from the log in {seconds:.2} s");
        reopen_from_log_seconds = Some(seconds);
        database = reopened;
    }
    let started = Instant::now();
    database.checkpoint()?;
    let checkpoint_seconds = started.elapsed().as_secs_f64();
    database.close()?;
    let store_bytes = directory_bytes(directory);
    let (reopen_from_snapshot_seconds, database) = reopen(directory, vectors)?;
    eprintln!(
        "  durable-db: checkpoint {checkpoint_seconds:.2} s, reopened from it in {reopen_from_snapshot_seconds:.2} s"
    );
    database.close()?;
    let _ = std::fs::remove_dir_all(directory);
    Ok(DurableFigures {
        vectors,
        writers,
        insert_seconds,
        reopen_from_log_seconds,
        checkpoint_seconds,
        reopen_from_snapshot_seconds,
        store_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_from_several_writers_all_come_back_after_both_reopens() {
        let directory = std::env::temp_dir().join(format!("vecdb-bench-durable-{}", std::process::id()));
        let mut rng = crate::rng::SplitMix64::new(11);
        let source: Vec<f32> = (0..60 * 8).map(|_| (rng.next_u64() >> 40) as f32 / (1 << 24) as f32 + 0.1).collect();
        let figures = measure_durable_db(&directory, &source, 8, 4, true).unwrap();
        assert_eq!((figures.vectors, figures.writers), (60, 4));
        assert!(figures.reopen_from_log_seconds.is_some() && figures.store_bytes > 60 * 32);
        assert_eq!(figures.to_json()["reopen_seconds"], figures.reopen_from_snapshot_seconds);
        assert!(matches!(measure_durable_db(&directory, &source, 8, 0, false), Err(BenchError::Usage(_))));
    }
}
