//! Writes a few records durably, reopens the store and reads them back.
//!
//! ```text
//! cargo run -p storage-fs --example durable_log -- [directory] [records]
//! ```
//! The directory defaults to `./data/durable-log-demo`, the record count to 5. Run it twice: the second run
//! finds the first run's records and appends after them.

use std::process::ExitCode;

use storage_core::{Key, PersistenceError, StorageBackend};
use storage_fs::FileBackend;

fn main() -> ExitCode {
    let mut arguments = std::env::args().skip(1);
    let directory = arguments.next().unwrap_or_else(|| String::from("./data/durable-log-demo"));
    let records = match arguments.next().map(|text| text.parse::<u32>()) {
        None => 5,
        Some(Ok(records)) => records,
        Some(Err(error)) => {
            eprintln!("the record count must be a number: {error}");
            return ExitCode::FAILURE;
        }
    };
    match run(&directory, records) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(directory: &str, records: u32) -> Result<(), PersistenceError> {
    let log = Key::new("log/0001")?;
    let manifest = Key::new("manifest")?;
    {
        let store = FileBackend::open(directory)?;
        if !store.orphans_removed_at_open().is_empty() {
            println!("removed temp files a crash left behind: {:?}", store.orphans_removed_at_open());
        }
        let first = store.read(&log)?.map_or(0, |bytes| bytes.iter().filter(|&&byte| byte == b'\n').count());
        for index in first..first + records as usize {
            store.append(&log, format!("record {index}\n").as_bytes())?;
        }
        store.sync(&log)?; // one fdatasync makes every append above durable
        let summary = format!("log/0001 holds {} records", first + records as usize);
        store.atomic_write(&manifest, summary.as_bytes())?; // all or nothing, even across a crash
        println!("wrote {records} records to {directory}");
    } // dropping the store releases its lock

    let store = FileBackend::open(directory)?;
    let keys = store.list("")?;
    println!("reopened; keys: {:?}", keys.iter().map(Key::as_str).collect::<Vec<_>>());
    let summary = store.read(&manifest)?.unwrap_or_default();
    println!("manifest: {}", String::from_utf8_lossy(&summary));
    let text = store.read(&log)?.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    println!("recovered {} records, ending with:", lines.len());
    for line in lines.iter().skip(lines.len().saturating_sub(3)) {
        println!("  {line}");
    }
    Ok(())
}
