//! `vecdb`: the command line of the vecdb vector database.
//!
//! `vecdb demo` builds a database from a generated dataset, measures recall and speed against exact search, kills a
//! writer process in the middle of a batch and shows that every acknowledged vector comes back. The other commands
//! work on a database directory: `create`, `import` (fvecs, npy, raw f32, JSON lines), `search`, `get`, `delete`,
//! `info`, `verify` (checksums and a dry-run recovery, read-only), `checkpoint`, `compact` and `bench`.

mod bench;
mod commands;
mod dataset;
mod demo;
mod error;
mod json;
mod output;
mod synthetic;
mod verify;

use std::process::ExitCode;

use clap::Parser;

/// vecdb: a crash-safe embedded vector database (HNSW, metadata filters, WAL and snapshots).
#[derive(Parser, Debug)]
#[command(name = "vecdb", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Create an empty database in a directory.
    Create(commands::CreateArgs),
    /// Import vectors from a file (fvecs, npy, raw f32, JSON lines) in atomic batches.
    Import(commands::ImportArgs),
    /// Search the nearest vectors to a query (HNSW or exact), optionally filtered by metadata.
    Search(commands::SearchArgs),
    /// Print one vector and its metadata as JSON.
    Get(commands::GetArgs),
    /// Delete vectors by id.
    Delete(commands::DeleteArgs),
    /// Show the configuration, counts, log length, snapshots and bytes on disk.
    Info(commands::DirectoryArgs),
    /// Check checksums and run a dry-run recovery on a copy, without changing the directory.
    Verify(verify::VerifyArgs),
    /// Write a snapshot now and drop the log below it.
    Checkpoint(commands::DirectoryArgs),
    /// Rebuild the graph without deleted vectors (ids are kept), then checkpoint.
    Compact(commands::DirectoryArgs),
    /// Measure recall and queries per second against exact search.
    Bench(bench::BenchArgs),
    /// Build a database, search it, crash a writer mid-batch and recover: the tour.
    Demo(demo::DemoArgs),
    /// The demo's writer process (killed by the demo).
    #[command(hide = true)]
    DemoWriter(demo::WriterArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Create(args) => commands::create(args),
        Command::Import(args) => commands::import(args),
        Command::Search(args) => commands::search(args),
        Command::Get(args) => commands::get(args),
        Command::Delete(args) => commands::delete(args),
        Command::Info(args) => commands::info(args),
        Command::Verify(args) => verify::verify(args),
        Command::Checkpoint(args) => commands::checkpoint(args),
        Command::Compact(args) => commands::compact(args),
        Command::Bench(args) => bench::bench(args),
        Command::Demo(args) => demo::demo(args),
        Command::DemoWriter(args) => demo::writer(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vecdb: {error}");
            ExitCode::FAILURE
        }
    }
}
