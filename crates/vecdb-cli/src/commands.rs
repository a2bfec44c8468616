//! The everyday commands: `create`, `import`, `search`, `get`, `delete`, `info`, `checkpoint`, `compact`.

use std::path::PathBuf;
use std::time::Instant;

use vecdb::db::BATCH_ITEMS_MAX;
use vecdb::{
    CheckpointPolicy, Db, DbConfig, Durability, Filter, Metric, QuantizationRange, SearchOptions, SyncPolicy,
    VectorEncoding,
};

use crate::dataset::{self, Format};
use crate::error::{CliError, Result};
use crate::json;
use crate::output::{self, bytes, count};

/// A distance metric on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricArg {
    /// Squared Euclidean distance.
    L2,
    /// Cosine distance (vectors are normalized).
    Cosine,
    /// Negated inner product (maximum inner product search).
    Dot,
}

impl From<MetricArg> for Metric {
    fn from(metric: MetricArg) -> Self {
        match metric {
            MetricArg::L2 => Metric::L2,
            MetricArg::Cosine => Metric::Cosine,
            MetricArg::Dot => Metric::DotProduct,
        }
    }
}

/// A sync policy on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncArg {
    /// Every write returns once durable (group commit across writers).
    EveryCommit,
    /// Syncs grouped by time and size (`--group-delay-ms`, `--group-bytes`).
    Grouped,
    /// Durable only at checkpoints, explicit syncs and a clean close.
    Manual,
}

/// The HNSW and encoding options shared by `create` and `bench`.
#[derive(clap::Args, Clone, Debug)]
pub struct IndexOptions {
    /// The distance metric.
    #[arg(long, value_enum, default_value_t = MetricArg::L2)]
    pub metric: MetricArg,
    /// Links per node (M).
    #[arg(long, default_value_t = 16)]
    pub m: usize,
    /// Search breadth while building.
    #[arg(long, default_value_t = 200)]
    pub ef_construction: usize,
    /// Default search breadth.
    #[arg(long, default_value_t = 64)]
    pub ef_search: usize,
    /// Vector encoding: `f32`, `sq8` (8-bit with trained ranges and f32 re-ranking) or `sq8:MIN:MAX` (fixed range).
    #[arg(long, default_value = "f32")]
    pub encoding: String,
}

impl IndexOptions {
    /// The database configuration for vectors of `dimension`.
    pub fn config(&self, dimension: usize) -> Result<DbConfig> {
        let mut config = DbConfig::new(dimension, self.metric.into());
        config.index.m = self.m;
        config.index.ef_construction = self.ef_construction;
        config.index.ef_search = self.ef_search;
        config.index.encoding = parse_encoding(&self.encoding)?;
        Ok(config)
    }
}

fn parse_encoding(text: &str) -> Result<VectorEncoding> {
    let usage = || CliError::Usage(format!("--encoding {text:?}: use f32, sq8 or sq8:MIN:MAX"));
    match text {
        "f32" => Ok(VectorEncoding::F32),
        "sq8" => Ok(VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Trained }),
        other => {
            let range = other.strip_prefix("sq8:").ok_or_else(usage)?;
            let (min, max) = range.split_once(':').ok_or_else(usage)?;
            let min: f32 = min.parse().map_err(|_| usage())?;
            let max: f32 = max.parse().map_err(|_| usage())?;
            Ok(VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min, max } })
        }
    }
}

/// `vecdb create`.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// The database directory (created when missing; it must be empty).
    pub directory: PathBuf,
    /// Components per vector.
    #[arg(long)]
    pub dimension: usize,
    /// The index.
    #[command(flatten)]
    pub index: IndexOptions,
    /// When a write is durable.
    #[arg(long, value_enum, default_value_t = SyncArg::EveryCommit)]
    pub sync: SyncArg,
    /// Under `--sync grouped`: the longest a write waits for its sync.
    #[arg(long, default_value_t = 10)]
    pub group_delay_ms: u64,
    /// Under `--sync grouped`: the most unsynced bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub group_bytes: u64,
    /// Checkpoint by itself after this many operations.
    #[arg(long)]
    pub checkpoint_operations: Option<u64>,
    /// Checkpoint by itself after this many MiB of log (0: never by size).
    #[arg(long, default_value_t = 64)]
    pub checkpoint_log_mib: u64,
    /// Snapshots to keep (the newest and older fallbacks).
    #[arg(long, default_value_t = 2)]
    pub snapshots_retained: usize,
    /// Seed of the HNSW level generator (same seed and inserts: same graph).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// `vecdb create`: an empty database.
pub fn create(args: &CreateArgs) -> Result<()> {
    let mut config = args.index.config(args.dimension)?;
    if let Some(seed) = args.seed {
        config.index.seed = seed;
    }
    config.durability = Durability {
        sync_policy: match args.sync {
            SyncArg::EveryCommit => SyncPolicy::EveryCommit,
            SyncArg::Grouped => SyncPolicy::Grouped { max_delay_ms: args.group_delay_ms, max_bytes: args.group_bytes },
            SyncArg::Manual => SyncPolicy::Manual,
        },
        checkpoint: CheckpointPolicy {
            operations_max: args.checkpoint_operations,
            log_bytes_max: (args.checkpoint_log_mib > 0).then(|| args.checkpoint_log_mib.saturating_mul(1 << 20)),
        },
        snapshots_retained: args.snapshots_retained,
    };
    let db = Db::create_in(&args.directory, config)?;
    println!("created {}", args.directory.display());
    println!("  {}", output::config_line(db.config()));
    println!("  {}", output::durability_line(db.config()));
    db.close()?;
    Ok(())
}

/// A database directory.
#[derive(clap::Args, Debug)]
pub struct DirectoryArgs {
    /// The database directory.
    pub directory: PathBuf,
}

/// `vecdb import`.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The database directory.
    pub directory: PathBuf,
    /// The dataset file.
    pub file: PathBuf,
    /// The file's format.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// Components per vector (required for raw f32 files).
    #[arg(long)]
    pub dimension: Option<usize>,
    /// The id of the first row (files without ids: row i gets `first_id + i`).
    #[arg(long, default_value_t = 0)]
    pub first_id: u64,
    /// Rows per atomic batch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
}

/// `vecdb import`: every row of a file, in atomic batches, then a checkpoint.
pub fn import(args: &ImportArgs) -> Result<()> {
    if args.batch_size == 0 || args.batch_size > BATCH_ITEMS_MAX {
        return Err(CliError::Usage(format!("--batch-size must be 1 to {BATCH_ITEMS_MAX}")));
    }
    let db = Db::open_in(&args.directory)?;
    let dimension = args.dimension.or(Some(db.config().index.dimension));
    let dataset = dataset::read(&args.file, args.format, dimension)?;
    let rows = dataset.len();
    println!(
        "importing {} vectors of dimension {} from {}",
        count(rows as u64),
        dataset.dimension,
        args.file.display()
    );
    let started = Instant::now();
    let bar = output::progress(rows as u64, "vectors");
    let mut start = 0;
    while start < rows {
        let end = (start + args.batch_size).min(rows);
        db.insert_batch(dataset.records(start..end, args.first_id))?;
        bar.inc((end - start) as u64);
        start = end;
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let checkpoint = db.checkpoint()?;
    println!(
        "imported {} vectors in {} ({} vectors/s); checkpoint at LSN {} ({})",
        count(rows as u64),
        output::seconds(elapsed),
        count((rows as f64 / elapsed.as_secs_f64().max(1e-9)) as u64),
        count(checkpoint.lsn),
        bytes(checkpoint.snapshot_bytes)
    );
    db.close()?;
    Ok(())
}

/// `vecdb search`.
#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// The database directory.
    pub directory: PathBuf,
    /// The query as comma-separated numbers.
    #[arg(long, allow_hyphen_values = true, conflicts_with = "query_file")]
    pub vector: Option<String>,
    /// A dataset file holding the query.
    #[arg(long)]
    pub query_file: Option<PathBuf>,
    /// The query's row in `--query-file`.
    #[arg(long, default_value_t = 0)]
    pub row: usize,
    /// The query file's format.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// How many results.
    #[arg(short, long, default_value_t = 10)]
    pub k: usize,
    /// Search breadth (default: the database's ef_search).
    #[arg(long)]
    pub ef: Option<usize>,
    /// Only vectors whose metadata matches, e.g. `category = "science" and year >= 2010`.
    #[arg(long)]
    pub filter: Option<String>,
    /// Exact (brute-force) search instead of the graph.
    #[arg(long)]
    pub exact: bool,
}

fn parse_vector(text: &str) -> Result<Vec<f32>> {
    text.split(',')
        .map(|part| {
            part.trim().parse::<f32>().map_err(|_| CliError::Usage(format!("--vector: {part:?} is not a number")))
        })
        .collect()
}

/// `vecdb search`: the nearest vectors to a query, with their metadata.
pub fn search(args: &SearchArgs) -> Result<()> {
    let db = Db::open_in(&args.directory)?;
    let query = match (&args.vector, &args.query_file) {
        (Some(text), None) => parse_vector(text)?,
        (None, Some(path)) => {
            let dataset = dataset::read(path, args.format, Some(db.config().index.dimension))?;
            dataset.row(args.row).map(<[f32]>::to_vec).ok_or_else(|| {
                CliError::Usage(format!("--row {} is past the {} rows of {}", args.row, dataset.len(), path.display()))
            })?
        }
        _ => return Err(CliError::Usage("give the query with --vector or --query-file".to_owned())),
    };
    let filter = args.filter.as_deref().map(Filter::parse).transpose().map_err(vecdb::VecDbError::from)?;
    let started = Instant::now();
    let hits = if args.exact {
        db.exact_search(&query, args.k, filter.as_ref())?
    } else {
        db.search(&query, args.k, &SearchOptions { ef: args.ef, filter })?
    };
    let elapsed = started.elapsed();
    println!("{:>4}  {:>20}  {:>12}  metadata", "rank", "id", "distance");
    for (rank, hit) in hits.iter().enumerate() {
        let metadata = db.read().metadata(hit.id).map(json::from_metadata).unwrap_or_default();
        println!("{:>4}  {:>20}  {:>12.6}  {}", rank + 1, hit.id, hit.distance, metadata);
    }
    println!(
        "{} results in {} ({} search)",
        hits.len(),
        output::duration(elapsed),
        if args.exact { "exact" } else { "HNSW" }
    );
    Ok(())
}

/// `vecdb get`.
#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// The database directory.
    pub directory: PathBuf,
    /// The id.
    pub id: u64,
}

/// `vecdb get`: one record as a JSON line (the stored vector: normalized under cosine).
pub fn get(args: &GetArgs) -> Result<()> {
    let db = Db::open_in(&args.directory)?;
    let record = db.get(args.id)?;
    let line = serde_json::json!({
        "id": record.id,
        "vector": record.vector,
        "metadata": json::from_metadata(&record.metadata),
    });
    println!("{line}");
    Ok(())
}

/// `vecdb delete`.
#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// The database directory.
    pub directory: PathBuf,
    /// The ids to delete (each delete is durable on its own).
    #[arg(required = true)]
    pub ids: Vec<u64>,
}

/// `vecdb delete`: each id, durably; stops at the first unknown id.
pub fn delete(args: &DeleteArgs) -> Result<()> {
    let db = Db::open_in(&args.directory)?;
    for &id in &args.ids {
        let lsn = db.delete(id)?;
        println!("deleted {id} (LSN {lsn})");
    }
    db.close()?;
    Ok(())
}

/// `vecdb info`: configuration, counts, the log, snapshots, bytes on disk, and what the open recovered.
pub fn info(args: &DirectoryArgs) -> Result<()> {
    let db = Db::open_in(&args.directory)?;
    let stats = db.stats()?;
    let config = db.config();
    println!("database     {}", args.directory.display());
    println!("index        {}", output::config_line(config));
    println!("durability   {}", output::durability_line(config));
    println!(
        "vectors      {} live, {} deleted (tombstones until compaction)",
        count(stats.live_count),
        count(stats.deleted_count)
    );
    println!(
        "log          {} operations in {} segment(s), {}",
        count(stats.wal_operations),
        stats.wal_segment_count,
        bytes(stats.wal_bytes)
    );
    match stats.snapshot_lsn {
        Some(lsn) => println!(
            "snapshots    newest at LSN {} ({} kept, {} in all)",
            count(lsn),
            stats.snapshot_count,
            bytes(stats.snapshot_bytes)
        ),
        None => println!("snapshots    none yet"),
    }
    println!("applied LSN  {}", count(stats.applied_lsn));
    println!("on disk      {}", bytes(stats.bytes_on_disk));
    println!("memory       about {}", bytes(stats.memory_bytes));
    println!("recovery at this open:");
    for line in output::recovery_lines(db.recovery_report()) {
        println!("  {line}");
    }
    Ok(())
}

/// `vecdb checkpoint`: a snapshot now, and the log below it dropped.
pub fn checkpoint(args: &DirectoryArgs) -> Result<()> {
    let db = Db::open_in(&args.directory)?;
    let started = Instant::now();
    let report = db.checkpoint()?;
    println!(
        "checkpoint at LSN {}: snapshot of {}, {} log segment(s) deleted, in {}",
        count(report.lsn),
        bytes(report.snapshot_bytes),
        report.segments_deleted,
        output::duration(started.elapsed())
    );
    db.close()?;
    Ok(())
}

/// `vecdb compact`: the graph rebuilt without tombstones (ids kept), then a checkpoint.
pub fn compact(args: &DirectoryArgs) -> Result<()> {
    let db = Db::open_in(&args.directory)?;
    let before = db.stats()?;
    let started = Instant::now();
    let report = db.compact()?;
    let after = db.stats()?;
    println!(
        "compacted: {} tombstones removed, {} live vectors kept under their ids, in {}; snapshot at LSN {} ({})",
        count(before.deleted_count),
        count(after.live_count),
        output::duration(started.elapsed()),
        count(report.lsn),
        bytes(report.snapshot_bytes)
    );
    db.close()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_parse_from_their_command_line_names() {
        assert_eq!(parse_encoding("f32").unwrap(), VectorEncoding::F32);
        assert_eq!(
            parse_encoding("sq8").unwrap(),
            VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Trained }
        );
        assert_eq!(
            parse_encoding("sq8:-1.5:2").unwrap(),
            VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min: -1.5, max: 2.0 } }
        );
        assert!(parse_encoding("sq4").is_err());
        assert!(parse_encoding("sq8:1").is_err());
        assert_eq!(parse_vector("1, -2.5,3").unwrap(), vec![1.0, -2.5, 3.0]);
        assert!(parse_vector("1,x").is_err());
    }
}
