//! `vecdb verify`: checks a database directory without changing it.
//!
//! Opening a database writes (recovery truncates a torn tail, the file backend removes orphaned temp files), so
//! `verify` never opens the directory. It reads every file into memory, with the file backend's documented layout
//! (key `wal/0001` is the file `wal%0001`; names starting with `.` are the backend's own), and then on that copy:
//! decodes the configuration, verifies every snapshot (section checksums, the state decoded, its digest
//! recomputed), and runs a whole recovery, reporting what an open would do. The directory is only read.
//!
//! It does not take the database's lock, so run it while no process writes to the database: a copy taken during
//! a write can show a torn tail that the writer was about to complete.

use std::path::PathBuf;

use vecdb::db::{CONFIG_KEY, DatabaseState};
use vecdb::storage::{Key, MemoryBackend, StorageBackend};
use vecdb::{Db, DbConfig};

use crate::error::{CliError, Result};
use crate::output::{self, bytes, count};

/// The file backend's separator for `/` in file names (see `storage_fs::FileBackend`'s layout).
const SEPARATOR_IN_FILE_NAME: char = '%';
/// The prefix of the file backend's temp files (interrupted atomic writes).
const TEMP_FILE_PREFIX: &str = ".tmp-";

/// `vecdb verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The database directory (only read).
    pub directory: PathBuf,
}

/// What the copy found in the directory.
struct Copy {
    store: MemoryBackend,
    files: usize,
    total_bytes: u64,
    orphans: Vec<String>,
    foreign: Vec<String>,
}

fn copy_directory(directory: &PathBuf) -> Result<Copy> {
    let entries = std::fs::read_dir(directory).map_err(|error| CliError::io(directory, error))?;
    let mut copy =
        Copy { store: MemoryBackend::new(), files: 0, total_bytes: 0, orphans: Vec::new(), foreign: Vec::new() };
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| CliError::io(directory, error))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    for name in names {
        if name.starts_with(TEMP_FILE_PREFIX) {
            copy.orphans.push(name);
            continue;
        }
        if name.starts_with('.') {
            continue;
        }
        let Ok(key) = Key::new(name.replace(SEPARATOR_IN_FILE_NAME, "/")) else {
            copy.foreign.push(name);
            continue;
        };
        let path = directory.join(&name);
        let bytes = std::fs::read(&path).map_err(|error| CliError::io(&path, error))?;
        copy.total_bytes += bytes.len() as u64;
        copy.files += 1;
        copy.store.atomic_write(&key, &bytes)?;
    }
    Ok(copy)
}

/// `vecdb verify`: the checks of the module docs; fails when the database could not be opened.
pub fn verify(args: &VerifyArgs) -> Result<()> {
    let directory = &args.directory;
    let copy = copy_directory(directory)?;
    println!(
        "read {} files ({}) from {} into memory; checking the copy (the directory is not changed)",
        copy.files,
        bytes(copy.total_bytes),
        directory.display()
    );
    let mut warnings = Vec::new();
    for name in &copy.orphans {
        warnings.push(format!("temp file {name} from an interrupted atomic write: the next open removes it"));
    }
    for name in &copy.foreign {
        warnings.push(format!("file {name} is not a database file (ignored)"));
    }

    // The configuration.
    let config_key = Key::new(CONFIG_KEY)?;
    let config = match copy.store.read(&config_key)? {
        None => {
            return Err(CliError::Verify(format!(
                "{} holds no database ({CONFIG_KEY} is missing)",
                directory.display()
            )));
        }
        Some(stored) => DbConfig::decode(&stored)
            .map_err(|error| CliError::Verify(format!("the configuration is damaged: {error}")))?,
    };
    println!("ok    configuration (checksum verified): {}", output::config_line(&config));

    // Every snapshot, on its own.
    let snapshots = storage_core::block_on(snapshot::list_snapshots(&copy.store)).map_err(vecdb::VecDbError::from)?;
    if snapshots.is_empty() {
        println!("ok    no snapshots (recovery replays the whole log)");
    }
    for (lsn, key) in &snapshots {
        let Some(stored) = copy.store.read(key)? else { continue };
        match snapshot::decode_snapshot::<DatabaseState>(&stored) {
            Ok((state, _, digest)) => println!(
                "ok    snapshot at LSN {} ({}): checksums and digest {} verified, {} live vectors",
                count(*lsn),
                bytes(stored.len() as u64),
                digest,
                count(state.len() as u64)
            ),
            Err(error) => {
                println!("BAD   snapshot at LSN {}: {error}", count(*lsn));
                warnings.push(format!("snapshot {key} is damaged: recovery falls back to an older one"));
            }
        }
    }
    let segments = copy.store.list("wal/")?;
    let wal_bytes: u64 = segments.iter().filter_map(|key| copy.store.len(key).ok().flatten()).sum();
    println!("      log: {} segment(s), {}", segments.len(), bytes(wal_bytes));

    // A whole recovery, on the copy.
    let db = Db::open(copy.store.clone()).map_err(|error| CliError::Verify(format!("recovery fails: {error}")))?;
    let report = db.recovery_report();
    println!("ok    dry-run recovery (every log record's checksum verified):");
    for line in output::recovery_lines(report) {
        println!("        {line}");
    }
    if report.fell_back() {
        warnings.push("recovery fell back past a damaged snapshot".to_owned());
    }
    if report.wal.torn_bytes_truncated > 0 {
        warnings.push(format!(
            "the log ends in a torn write of {} (normal after a crash: the next open truncates it)",
            bytes(report.wal.torn_bytes_truncated)
        ));
    }
    if db.digest() != report.state_digest {
        return Err(CliError::Verify("the recovered state's digest changed after recovery".to_owned()));
    }
    let stats = db.stats()?;
    println!(
        "ok    recovered {} live vectors ({} deleted) at LSN {}",
        count(stats.live_count),
        count(stats.deleted_count),
        count(stats.applied_lsn)
    );
    for warning in &warnings {
        println!("note  {warning}");
    }
    println!(
        "verified: {} opens cleanly{}",
        directory.display(),
        if warnings.is_empty() { "" } else { " (see the notes)" }
    );
    Ok(())
}
