//! `vecdb bench`: recall@k and queries per second over a set of `ef`, against exact search, on a database directory
//! or on base vectors built into a database in memory. Also used by the demo.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use vecdb::{DatabaseState, Db, Filter, Hit, SearchOptions};

use crate::commands::IndexOptions;
use crate::dataset::{self, Dataset, Format};
use crate::error::{CliError, Result};
use crate::output::{self, count};

/// `vecdb bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Query vectors (fvecs, npy, raw with --dimension, or JSON lines).
    #[arg(long)]
    pub queries: PathBuf,
    /// An existing database directory to search.
    #[arg(long, conflicts_with = "base", required_unless_present = "base")]
    pub db: Option<PathBuf>,
    /// Base vectors to build a database from, in memory (the build is timed).
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// The format of the query and base files.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// Components per vector (required for raw f32 files).
    #[arg(long)]
    pub dimension: Option<usize>,
    /// The index to build from `--base`.
    #[command(flatten)]
    pub index: IndexOptions,
    /// Results per query.
    #[arg(short, long, default_value_t = 10)]
    pub k: usize,
    /// The search breadths to measure.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256")]
    pub ef: Vec<usize>,
    /// Use at most this many queries.
    #[arg(long)]
    pub queries_max: Option<usize>,
    /// Only vectors whose metadata matches (for both the search and the exact ground truth).
    #[arg(long)]
    pub filter: Option<String>,
}

/// One row of the recall / speed table.
#[derive(Clone, Copy, Debug)]
pub struct Measurement {
    /// The search breadth.
    pub ef: usize,
    /// Mean recall@k.
    pub recall: f64,
    /// Queries per second on one thread.
    pub queries_per_second: f64,
    /// Mean latency.
    pub latency: Duration,
}

/// The exact top-`k` of every query, computed on all cores.
pub fn ground_truth(
    state: &DatabaseState,
    queries: &[Vec<f32>],
    k: usize,
    filter: Option<&Filter>,
) -> Result<Vec<Vec<Hit>>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).max(1);
    let chunk = queries.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Vec<Hit>>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = queries
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter().map(|query| Ok(state.exact_search(query, k, filter)?)).collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|_| Err(CliError::Usage("a thread panicked".to_owned()))))
            .collect()
    });
    let mut truth = Vec::with_capacity(queries.len());
    for part in results {
        truth.extend(part?);
    }
    Ok(truth)
}

/// Recall the ann-benchmarks way: a returned hit counts when its distance is within the `k`-th true distance
/// (so ties at the boundary are not penalized).
pub fn recall(found: &[Hit], truth: &[Hit], k: usize) -> f64 {
    let Some(boundary) = truth.get(k.min(truth.len()).saturating_sub(1)) else {
        return 1.0;
    };
    let threshold = boundary.distance + 1e-4 * boundary.distance.abs() + 1e-6;
    let hits = found.iter().take(k).filter(|hit| hit.distance <= threshold).count();
    hits as f64 / truth.len().min(k) as f64
}

/// Recall and speed of the graph search at each `ef`, one thread, after one warm-up pass.
pub fn measure(
    state: &DatabaseState,
    queries: &[Vec<f32>],
    truth: &[Vec<Hit>],
    k: usize,
    efs: &[usize],
    filter: Option<&Filter>,
) -> Result<Vec<Measurement>> {
    let mut rows = Vec::with_capacity(efs.len());
    for &ef in efs {
        let options = SearchOptions { ef: Some(ef), filter: filter.cloned() };
        for query in queries.iter().take(100) {
            state.search(query, k, &options)?;
        }
        let started = Instant::now();
        let mut results = Vec::with_capacity(queries.len());
        for query in queries {
            results.push(state.search(query, k, &options)?);
        }
        let elapsed = started.elapsed();
        let total: f64 = results.iter().zip(truth).map(|(found, truth)| recall(found, truth, k)).sum();
        let queries_count = queries.len().max(1);
        rows.push(Measurement {
            ef,
            recall: total / queries_count as f64,
            queries_per_second: queries_count as f64 / elapsed.as_secs_f64().max(1e-9),
            latency: elapsed / u32::try_from(queries_count).unwrap_or(u32::MAX),
        });
    }
    Ok(rows)
}

/// Prints the measurements as a table.
pub fn print_table(rows: &[Measurement], k: usize, indent: &str) {
    println!("{indent}{:>5}  {:>10}  {:>10}  {:>10}", "ef", format!("recall@{k}"), "QPS", "latency");
    for row in rows {
        println!(
            "{indent}{:>5}  {:>10.4}  {:>10}  {:>10}",
            row.ef,
            row.recall,
            count(row.queries_per_second as u64),
            output::duration(row.latency)
        );
    }
}

fn rows_of(dataset: &Dataset, limit: Option<usize>) -> Vec<Vec<f32>> {
    let count = limit.map_or(dataset.len(), |limit| limit.min(dataset.len()));
    (0..count).filter_map(|index| dataset.row(index).map(<[f32]>::to_vec)).collect()
}

/// `vecdb bench`: builds (when given `--base`) and measures.
pub fn bench(args: &BenchArgs) -> Result<()> {
    if args.ef.is_empty() {
        return Err(CliError::Usage("--ef needs at least one value".to_owned()));
    }
    let filter = args.filter.as_deref().map(Filter::parse).transpose().map_err(vecdb::VecDbError::from)?;
    match (&args.db, &args.base) {
        (Some(directory), _) => {
            let db = Db::open_in(directory)?;
            println!(
                "database {}: {} vectors; {}",
                directory.display(),
                count(db.len() as u64),
                output::config_line(db.config())
            );
            let queries = dataset::read(&args.queries, args.format, Some(db.config().index.dimension))?;
            run(&db.read(), &rows_of(&queries, args.queries_max), args, filter.as_ref())
        }
        (None, Some(base)) => {
            let dataset = dataset::read(base, args.format, args.dimension)?;
            let config = args.index.config(dataset.dimension)?;
            let db = Db::in_memory(config)?;
            println!(
                "building {} vectors from {} in memory; {}",
                count(dataset.len() as u64),
                base.display(),
                output::config_line(&config)
            );
            let bar = output::progress(dataset.len() as u64, "vectors");
            let started = Instant::now();
            let mut start = 0;
            while start < dataset.len() {
                let end = (start + 1_000).min(dataset.len());
                db.insert_batch(dataset.records(start..end, 0))?;
                bar.inc((end - start) as u64);
                start = end;
            }
            bar.finish_and_clear();
            let elapsed = started.elapsed();
            println!(
                "built in {} ({} vectors/s, one thread); index memory about {}",
                output::seconds(elapsed),
                count((dataset.len() as f64 / elapsed.as_secs_f64().max(1e-9)) as u64),
                output::bytes(db.stats()?.memory_bytes)
            );
            let queries = dataset::read(&args.queries, args.format, Some(dataset.dimension))?;
            run(&db.read(), &rows_of(&queries, args.queries_max), args, filter.as_ref())
        }
        (None, None) => Err(CliError::Usage("give --db DIRECTORY or --base FILE".to_owned())),
    }
}

fn run(state: &DatabaseState, queries: &[Vec<f32>], args: &BenchArgs, filter: Option<&Filter>) -> Result<()> {
    let started = Instant::now();
    let truth = ground_truth(state, queries, args.k, filter)?;
    println!(
        "exact top-{} of {} queries in {} (all cores)",
        args.k,
        count(queries.len() as u64),
        output::seconds(started.elapsed())
    );
    let rows = measure(state, queries, &truth, args.k, &args.ef, filter)?;
    print_table(&rows, args.k, "");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(distances: &[f32]) -> Vec<Hit> {
        distances.iter().enumerate().map(|(id, &distance)| Hit { id: id as u64, distance }).collect()
    }

    #[test]
    fn recall_counts_hits_within_the_kth_true_distance() {
        let truth = hits(&[0.1, 0.2, 0.3]);
        assert_eq!(recall(&hits(&[0.1, 0.2, 0.3]), &truth, 3), 1.0);
        assert!((recall(&hits(&[0.1, 0.2, 0.9]), &truth, 3) - 2.0 / 3.0).abs() < 1e-9);
        // A tie at the boundary (another id at the same distance) counts.
        assert_eq!(recall(&hits(&[0.1, 0.3, 0.3]), &truth, 3), 1.0);
        assert_eq!(recall(&[], &[], 3), 1.0);
        // Negative distances (dot product) work too.
        assert_eq!(recall(&hits(&[-3.0, -2.0]), &hits(&[-3.0, -2.0]), 2), 1.0);
    }
}
