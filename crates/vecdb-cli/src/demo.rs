//! `vecdb demo`: builds a database from an embedded (generated) dataset, measures recall and speed against exact
//! search, then kills a writer process with SIGKILL in the middle of a batch and shows that recovery brings back
//! every acknowledged vector and no partial batch.
//!
//! The writer is this same binary, started with the hidden `demo-writer` command. It speaks one line per event on
//! its stdout: `ready <applied LSN>`, `begin <batch> <first id> <last id>`, `ack <batch> <first LSN> <last LSN>`.
//! The parent prints each acknowledged batch and kills the writer right after it begins the batch it was told to.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vecdb::db::CONFIG_KEY;
use vecdb::{DatabaseState, Db, DbConfig, Filter, Metric, Record};

use crate::bench;
use crate::error::{CliError, Result};
use crate::output::{self, bytes, count};
use crate::synthetic::Synthetic;

/// The seed of the embedded dataset.
const DATASET_SEED: u64 = 0x5EED_DE30;
/// Clusters in the embedded dataset.
const CLUSTERS: usize = 48;
/// Vectors per batch while building.
const BUILD_BATCH_SIZE: usize = 1_000;
/// The search breadths the demo measures.
const EFS: [usize; 4] = [16, 32, 64, 128];
/// Results per query.
const K: usize = 10;
/// The filter the demo searches with.
const FILTER: &str = "category = \"science\" and year >= 2010";
/// The most batches the writer child writes if nobody stops it.
const WRITER_BATCHES_MAX: u64 = 10_000;

/// `vecdb demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Where to build the database (deleted and recreated each run; it must hold a database or nothing).
    #[arg(long, default_value = "data/demo")]
    pub dir: PathBuf,
    /// How many vectors to build the database from.
    #[arg(long, default_value_t = 20_000)]
    pub vectors: usize,
    /// Their dimension.
    #[arg(long, default_value_t = 64)]
    pub dimension: usize,
    /// How many queries to measure with.
    #[arg(long, default_value_t = 500)]
    pub queries: usize,
    /// Vectors per batch of the writer that gets killed.
    #[arg(long, default_value_t = 200)]
    pub writer_batch_size: usize,
    /// The writer is killed right after it begins this batch.
    #[arg(long, default_value_t = 6)]
    pub kill_at_batch: u64,
    /// Milliseconds between the writer beginning that batch and the kill.
    #[arg(long, default_value_t = 3, hide = true)]
    pub kill_delay_ms: u64,
}

/// `vecdb demo-writer` (hidden): inserts batches of generated vectors until killed.
#[derive(clap::Args, Debug)]
pub struct WriterArgs {
    /// The database directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// The id of the first vector.
    #[arg(long)]
    pub first_id: u64,
    /// Vectors per batch.
    #[arg(long)]
    pub batch_size: usize,
}

fn demo_error(message: impl Into<String>) -> CliError {
    CliError::Demo(message.into())
}

/// Deletes `directory` when it holds a database (or nothing), so the demo starts afresh.
fn prepare_directory(directory: &Path) -> Result<()> {
    if !directory.exists() {
        return Ok(());
    }
    let config_file = CONFIG_KEY.replace('/', "%");
    let mut entries = std::fs::read_dir(directory).map_err(|error| CliError::io(directory, error))?;
    let empty = entries.next().is_none();
    if !empty && !directory.join(&config_file).exists() {
        return Err(CliError::Usage(format!(
            "{} exists and is not a vecdb database: refusing to delete it (choose another --dir)",
            directory.display()
        )));
    }
    std::fs::remove_dir_all(directory).map_err(|error| CliError::io(directory, error))
}

fn demo_config(dimension: usize) -> DbConfig {
    let mut config = DbConfig::new(dimension, Metric::L2);
    config.index.m = 16;
    config.index.ef_construction = 128;
    config.index.ef_search = 64;
    config
}

/// Kills the child when dropped (so an early return never leaves a writer running).
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `vecdb demo`.
pub fn demo(args: &DemoArgs) -> Result<()> {
    let started = Instant::now();
    if args.vectors == 0 || args.queries == 0 || args.writer_batch_size == 0 || args.kill_at_batch == 0 {
        return Err(CliError::Usage(
            "--vectors, --queries, --writer-batch-size and --kill-at-batch must be positive".into(),
        ));
    }
    let data = Synthetic::new(args.dimension, CLUSTERS, DATASET_SEED);
    println!("vecdb demo: a crash-safe embedded vector database");
    println!(
        "  dataset: {} vectors of dimension {} in {CLUSTERS} clusters, with metadata {{category, year, cluster}}",
        count(args.vectors as u64),
        args.dimension
    );
    println!("           generated from a fixed seed (nothing is downloaded)");
    println!("  database: {} (recreated)", args.dir.display());
    prepare_directory(&args.dir)?;

    // 1. Build.
    println!();
    println!(
        "1/4  Build: atomic batches of {}, each durable (fsync) before it is acknowledged",
        count(BUILD_BATCH_SIZE as u64)
    );
    let config = demo_config(args.dimension);
    let db = Db::create_in(&args.dir, config)?;
    println!("  {}", output::config_line(&config));
    let build_started = Instant::now();
    let bar = output::progress(args.vectors as u64, "vectors");
    let mut start = 0_u64;
    let mut batches = 0;
    while start < args.vectors as u64 {
        let end = (start + BUILD_BATCH_SIZE as u64).min(args.vectors as u64);
        db.insert_batch((start..end).map(|id| Record::new(id, data.vector(id), data.metadata(id))).collect())?;
        bar.inc(end - start);
        batches += 1;
        start = end;
    }
    bar.finish_and_clear();
    let build_elapsed = build_started.elapsed();
    println!(
        "  ✓ {} vectors in {batches} batches: {} ({} vectors/s, one thread)",
        count(args.vectors as u64),
        output::seconds(build_elapsed),
        count((args.vectors as f64 / build_elapsed.as_secs_f64().max(1e-9)) as u64)
    );
    let checkpoint_started = Instant::now();
    let checkpoint = db.checkpoint()?;
    println!(
        "  ✓ checkpoint: snapshot at LSN {} ({}, the graph included) in {}",
        count(checkpoint.lsn),
        bytes(checkpoint.snapshot_bytes),
        output::duration(checkpoint_started.elapsed())
    );

    // 2. Search.
    println!();
    println!(
        "2/4  Search: {} queries, k = {K}, one thread; recall@{K} against exact (brute-force) search",
        count(args.queries as u64)
    );
    let queries: Vec<Vec<f32>> = (0..args.queries as u64).map(|index| data.query(index)).collect();
    search_section(&db.read(), &queries)?;
    let stats = db.stats()?;
    println!(
        "  on disk {} (snapshot {}, log {}); index memory about {}",
        bytes(stats.bytes_on_disk),
        bytes(stats.snapshot_bytes),
        bytes(stats.wal_bytes),
        bytes(stats.memory_bytes)
    );
    drop(db);

    // 3. Crash.
    println!();
    println!(
        "3/4  Crash: a writer process inserts batches of {} vectors; it gets SIGKILL in the middle of batch {}",
        args.writer_batch_size, args.kill_at_batch
    );
    let outcome = crash_section(args)?;

    // 4. Recover.
    println!();
    println!("4/4  Recover: reopen the database and check every acknowledged write");
    let recovery_started = Instant::now();
    let db = Db::open_in(&args.dir)?;
    println!("  reopened in {}; the recovery report:", output::duration(recovery_started.elapsed()));
    for line in output::recovery_lines(db.recovery_report()) {
        println!("    {line}");
    }
    check_section(&db, &data, args, &outcome)?;
    println!();
    println!(
        "Done in {}. The database is in {}; try `cargo run --release -p vecdb-cli -- info {}`",
        output::seconds(started.elapsed()),
        args.dir.display(),
        args.dir.display()
    );
    Ok(())
}

fn search_section(state: &DatabaseState, queries: &[Vec<f32>]) -> Result<()> {
    let truth = bench::ground_truth(state, queries, K, None)?;
    let rows = bench::measure(state, queries, &truth, K, &EFS, None)?;
    bench::print_table(&rows, K, "  ");
    let filter = Filter::parse(FILTER).map_err(vecdb::VecDbError::from)?;
    let matching = state.matching_count(&filter, usize::MAX);
    println!();
    println!(
        "  with the filter  {FILTER}  ({} of {} vectors match, {:.1}%; applied during the graph search)",
        count(matching as u64),
        count(state.len() as u64),
        100.0 * matching as f64 / state.len().max(1) as f64
    );
    let truth = bench::ground_truth(state, queries, K, Some(&filter))?;
    let rows = bench::measure(state, queries, &truth, K, &[64], Some(&filter))?;
    bench::print_table(&rows, K, "  ");
    let returned_k = queries
        .iter()
        .take(50)
        .map(|query| state.search(query, K, &vecdb::SearchOptions { ef: Some(64), filter: Some(filter.clone()) }))
        .collect::<std::result::Result<Vec<_>, _>>()?
        .iter()
        .all(|hits| hits.len() == K.min(matching));
    if returned_k {
        println!("  ✓ every filtered search returned {K} results, all matching");
    }
    Ok(())
}

/// What happened to the writer.
struct CrashOutcome {
    first_id: u64,
    /// Batches acknowledged before the kill (1-based numbers `1..=acknowledged`).
    acknowledged: u64,
    /// The batch in flight when the kill came.
    in_flight: u64,
}

fn crash_section(args: &DemoArgs) -> Result<CrashOutcome> {
    let first_id = args.vectors as u64;
    let executable = std::env::current_exe().map_err(|error| CliError::io("current executable", error))?;
    let child = Command::new(executable)
        .arg("demo-writer")
        .arg("--dir")
        .arg(&args.dir)
        .arg("--first-id")
        .arg(first_id.to_string())
        .arg("--batch-size")
        .arg(args.writer_batch_size.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| CliError::io("demo-writer", error))?;
    let mut child = ChildGuard(child);
    let pid = child.0.id();
    let stdout = child.0.stdout.take().ok_or_else(|| demo_error("the writer has no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let mut acknowledged = 0;
    loop {
        let line = match lines.next() {
            Some(Ok(line)) => line,
            Some(Err(error)) => return Err(CliError::io("demo-writer stdout", error)),
            None => return Err(demo_error("the writer exited before the kill (see its error above)")),
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["ready", lsn] => println!("  writer pid {pid} opened the database (at LSN {lsn})"),
            ["ack", batch, first_lsn, last_lsn] => {
                let batch: u64 = batch.parse().map_err(|_| demo_error(format!("bad line {line:?}")))?;
                acknowledged = batch;
                let (first, last) = batch_ids(first_id, batch, args.writer_batch_size);
                let lsn = |text: &str| text.parse::<u64>().map(count).unwrap_or_else(|_| text.to_owned());
                println!(
                    "  ✓ batch {batch}: ids {}..={} acknowledged, durable at LSNs {}..={}",
                    count(first),
                    count(last),
                    lsn(first_lsn),
                    lsn(last_lsn)
                );
            }
            ["begin", batch, ..] => {
                let batch: u64 = batch.parse().map_err(|_| demo_error(format!("bad line {line:?}")))?;
                if batch == args.kill_at_batch {
                    std::thread::sleep(Duration::from_millis(args.kill_delay_ms));
                    child.0.kill().map_err(|error| CliError::io("kill demo-writer", error))?;
                    let status = child.0.wait().map_err(|error| CliError::io("wait for demo-writer", error))?;
                    let (first, last) = batch_ids(first_id, batch, args.writer_batch_size);
                    println!(
                        "  ✗ batch {batch}: ids {}..={} in flight: SIGKILL sent {} ms after it began ({})",
                        count(first),
                        count(last),
                        args.kill_delay_ms,
                        describe_exit(&status)
                    );
                    return Ok(CrashOutcome { first_id, acknowledged, in_flight: batch });
                }
            }
            _ => return Err(demo_error(format!("unexpected line from the writer: {line:?}"))),
        }
    }
}

fn describe_exit(status: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("the writer died of signal {signal}");
        }
    }
    format!("the writer exited: {status}")
}

/// The first and last id of writer batch `batch` (1-based).
fn batch_ids(first_id: u64, batch: u64, batch_size: usize) -> (u64, u64) {
    let first = first_id + (batch - 1) * batch_size as u64;
    (first, first + batch_size as u64 - 1)
}

fn check_section<B: vecdb::storage::StorageBackend>(
    db: &Db<B>,
    data: &Synthetic,
    args: &DemoArgs,
    outcome: &CrashOutcome,
) -> Result<()> {
    let size = args.writer_batch_size;
    // Every acknowledged vector is back, bit for bit, with its metadata.
    let mut checked = 0_u64;
    for batch in 1..=outcome.acknowledged {
        let (first, last) = batch_ids(outcome.first_id, batch, size);
        for id in first..=last {
            let record =
                db.get(id).map_err(|_| demo_error(format!("acknowledged id {id} (batch {batch}) is missing")))?;
            if record.vector != data.vector(id) || record.metadata != data.metadata(id) {
                return Err(demo_error(format!("acknowledged id {id} came back different")));
            }
            checked += 1;
        }
    }
    println!("  ✓ all {} acknowledged vectors are back, bit for bit, with their metadata", count(checked));
    // The batch in flight is all there or not there at all.
    let (first, last) = batch_ids(outcome.first_id, outcome.in_flight, size);
    let present = (first..=last).filter(|&id| db.contains(id)).count();
    match present {
        0 => println!(
            "  ✓ batch {} (in flight) is not there at all: its record never became durable, and a batch is all or nothing",
            outcome.in_flight
        ),
        all if all == size => {
            for id in first..=last {
                if db.get(id)?.vector != data.vector(id) {
                    return Err(demo_error(format!("id {id} of the batch in flight came back different")));
                }
            }
            println!(
                "  ✓ batch {} (in flight) is all there: its log record was complete when the kill came, just not yet \
                 acknowledged (a batch is all or nothing)",
                outcome.in_flight
            );
        }
        partial => {
            return Err(demo_error(format!(
                "batch {} came back partially ({partial} of {size}): batches must be atomic",
                outcome.in_flight
            )));
        }
    }
    // Nothing after it.
    let expected = args.vectors + size * outcome.acknowledged as usize + present;
    if db.len() != expected {
        return Err(demo_error(format!("{} vectors after recovery, expected {expected}", db.len())));
    }
    // The database keeps working: a search, and a new durable write.
    let query = data.query(0);
    let hits = db.search(&query, 3, &vecdb::SearchOptions::default())?;
    let next_id = outcome.first_id + outcome.in_flight * size as u64;
    let lsn = db.insert(next_id, &data.vector(next_id), data.metadata(next_id))?;
    println!(
        "  ✓ {} vectors in all; searches work (nearest id {}), and new writes too (id {} durable at LSN {})",
        count(db.len() as u64),
        hits.first().map_or_else(|| "-".to_owned(), |hit| count(hit.id)),
        count(next_id),
        count(lsn)
    );
    Ok(())
}

/// `vecdb demo-writer`: opens the database, then inserts batch after batch, reporting on stdout, until killed.
pub fn writer(args: &WriterArgs) -> Result<()> {
    let db = Db::open_in(&args.dir)?;
    let data = Synthetic::new(db.config().index.dimension, CLUSTERS, DATASET_SEED);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let say = |out: &mut std::io::StdoutLock<'_>, line: String| -> Result<()> {
        writeln!(out, "{line}").and_then(|()| out.flush()).map_err(|error| CliError::io("stdout", error))
    };
    say(&mut out, format!("ready {}", db.applied_lsn()))?;
    for batch in 1..=WRITER_BATCHES_MAX {
        let (first, last) = batch_ids(args.first_id, batch, args.batch_size);
        let records = (first..=last).map(|id| Record::new(id, data.vector(id), data.metadata(id))).collect();
        say(&mut out, format!("begin {batch} {first} {last}"))?;
        let lsns = db.insert_batch(records)?;
        say(&mut out, format!("ack {batch} {} {}", lsns.start(), lsns.end()))?;
    }
    Ok(())
}
