//! Format fixtures: committed v1 logs (a clean one and one with a torn tail) must keep reading back the same, and
//! today's writer must produce the same bytes. A change that breaks this is a format change: bump the version, add
//! new fixtures, and keep the old ones readable. Regenerate with `UPDATE_EXPECT=1 cargo test -p wal --test fixtures`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use storage_core::{Key, StorageBackend};
use storage_mem::MemoryBackend;
use wal::{Lsn, Wal, WalOptions};

fn fixture_directory(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1").join(name)
}

fn options() -> WalOptions {
    WalOptions { salt_seed: Some(0x5eed), segment_bytes_max: 4096, ..WalOptions::default() }
}

/// The log every fixture starts from: single records, a batch, and enough bytes for two segments.
fn write_log(backend: &MemoryBackend) {
    let wal = Wal::open(backend.clone(), options()).unwrap();
    wal.append(b"first").unwrap();
    wal.append_batch(&[b"batch one", b"batch two"]).unwrap();
    for index in 0..40u32 {
        wal.append(format!("record {index:03} {}", "x".repeat(100)).as_bytes()).unwrap();
    }
    wal.close().unwrap();
}

fn files_of(backend: &MemoryBackend) -> Vec<(String, Vec<u8>)> {
    backend
        .list("")
        .unwrap()
        .into_iter()
        .map(|key| (key.as_str().replace('/', "%"), backend.read(&key).unwrap().unwrap()))
        .collect()
}

fn load(directory: &PathBuf) -> MemoryBackend {
    let backend = MemoryBackend::new();
    let mut entries: Vec<_> = std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("{}: {error} (run with UPDATE_EXPECT=1 once)", directory.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_str().unwrap().replace('%', "/");
        backend.atomic_write(&Key::new(name).unwrap(), &std::fs::read(&path).unwrap()).unwrap();
    }
    backend
}

fn check_fixture(name: &str, generated: Vec<(String, Vec<u8>)>) {
    let directory = fixture_directory(name);
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        for (file, bytes) in &generated {
            std::fs::write(directory.join(file), bytes).unwrap();
        }
    }
    let committed = files_of(&load(&directory));
    assert_eq!(
        committed.iter().map(|(file, bytes)| (file.clone(), bytes.len())).collect::<Vec<_>>(),
        generated.iter().map(|(file, bytes)| (file.clone(), bytes.len())).collect::<Vec<_>>(),
        "{name}: today's writer lays the log out differently from the committed v1 fixture"
    );
    assert!(committed == generated, "{name}: today's writer writes different bytes from the committed v1 fixture");
}

fn replayed(backend: MemoryBackend) -> (Vec<(u64, Vec<u8>)>, u64) {
    let wal = Wal::open(backend, options()).unwrap();
    let torn = wal.recovery_report().torn_bytes_truncated;
    let mut operations = Vec::new();
    for entry in wal.replay(Lsn(1)).unwrap() {
        for (lsn, operation) in entry.unwrap().operations() {
            operations.push((lsn.get(), operation.to_vec()));
        }
    }
    (operations, torn)
}

#[test]
fn the_v1_log_fixture_reads_back_and_todays_writer_writes_the_same_bytes() {
    let backend = MemoryBackend::new();
    write_log(&backend);
    check_fixture("clean", files_of(&backend));
    let (operations, torn) = replayed(load(&fixture_directory("clean")));
    assert_eq!(torn, 0);
    assert_eq!(operations.len(), 43);
    assert_eq!(operations[0], (1, b"first".to_vec()));
    assert_eq!(operations[2], (3, b"batch two".to_vec()));
    assert!(operations[42].1.starts_with(b"record 039 "));
}

#[test]
fn the_v1_torn_tail_fixture_recovers_every_whole_record() {
    let backend = MemoryBackend::new();
    write_log(&backend);
    // Tear the last data record: a clean close ends the log with a seal (a bare record header), so cut the seal
    // and 7 bytes of the record before it.
    let last = backend.list("wal/").unwrap().pop().unwrap();
    let length = backend.len(&last).unwrap().unwrap();
    backend.truncate(&last, length - wal::format::RECORD_HEADER_BYTES as u64 - 7).unwrap();
    check_fixture("torn-tail", files_of(&backend));
    let (operations, torn) = replayed(load(&fixture_directory("torn-tail")));
    assert!(torn > 0, "the torn bytes are truncated and reported");
    assert_eq!(operations.len(), 42, "every whole record, the torn one gone");
    assert!(operations[41].1.starts_with(b"record 038 "));
}
