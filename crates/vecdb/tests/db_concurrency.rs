//! One database shared by threads: searches run while four writers insert (sharing group commit on a real
//! directory), and every acknowledged insert is there afterwards and after a reopen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use vecdb::{Db, DbConfig, Metadata, Metric, Record, SearchOptions, Value};

const DIMENSION: usize = 8;
const WRITERS: u64 = 4;
const INSERTS_PER_WRITER: u64 = 40;

/// A fresh directory under the system's temp directory, removed when dropped.
struct TempDirectory(std::path::PathBuf);

impl TempDirectory {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("vecdb-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }
}

impl Drop for TempDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn vector(id: u64) -> Vec<f32> {
    let mut rng = support::Rng(id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 17);
    (0..DIMENSION).map(|_| rng.gaussian() as f32).collect()
}

#[test]
fn searches_run_while_four_writers_insert_and_every_acknowledged_insert_is_kept() {
    let directory = TempDirectory::new("concurrency");
    let mut config = DbConfig::new(DIMENSION, Metric::L2);
    config.index.m = 6;
    config.index.ef_construction = 32;
    let db = Db::create_in(&directory.0, config).unwrap();
    db.insert_batch((0..50).map(|id| Record::new(id, vector(id), Metadata::new())).collect()).unwrap();

    let writers_done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let searches = AtomicUsize::new(0);
    let acknowledged: Vec<Vec<u64>> = std::thread::scope(|scope| {
        for searcher in 0..2_u64 {
            let (db, stop, searches) = (&db, &stop, &searches);
            scope.spawn(move || {
                let filtered = SearchOptions::filtered("writer = 1").unwrap();
                let mut round = 0_u64;
                while !stop.load(Ordering::Acquire) {
                    let query = vector(10_000 + searcher * 1_000 + round);
                    let hits = db.search(&query, 5, &SearchOptions::default()).unwrap();
                    assert_eq!(hits.len(), 5);
                    assert!(hits.windows(2).all(|pair| pair[0].distance <= pair[1].distance));
                    for hit in db.search(&query, 5, &filtered).unwrap() {
                        // A hit is visible: its record and metadata are there (the write was applied whole).
                        let record = db.get(hit.id).unwrap();
                        assert_eq!(record.metadata.get("writer"), Some(&Value::from(1.0)));
                    }
                    searches.fetch_add(1, Ordering::Relaxed);
                    round += 1;
                }
            });
        }
        let handles: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (db, writers_done, stop) = (&db, &writers_done, &stop);
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    for index in 0..INSERTS_PER_WRITER {
                        let id = 1_000 + writer * INSERTS_PER_WRITER + index;
                        let mut metadata = Metadata::new();
                        metadata.insert("writer".into(), Value::from(writer as f64));
                        db.insert(id, &vector(id), metadata).unwrap();
                        // Acknowledged: durable, and visible to this thread at once.
                        assert!(db.contains(id));
                        mine.push(id);
                    }
                    if writers_done.fetch_add(1, Ordering::AcqRel) + 1 == WRITERS as usize {
                        stop.store(true, Ordering::Release);
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });
    assert!(searches.load(Ordering::Relaxed) > 0);
    let expected_count = 50 + (WRITERS * INSERTS_PER_WRITER) as usize;
    assert_eq!(db.len(), expected_count);
    let digest = db.digest();
    drop(db);

    let reopened = Db::open_in(&directory.0).unwrap();
    assert_eq!(reopened.digest(), digest);
    for id in acknowledged.into_iter().flatten() {
        assert_eq!(reopened.get(id).unwrap().vector, vector(id), "id {id}");
    }
    assert_eq!(reopened.len(), expected_count);
}

#[test]
fn the_directory_conveniences_create_open_and_refuse_what_they_should() {
    let directory = TempDirectory::new("directory");
    assert!(matches!(Db::open_in(&directory.0), Err(vecdb::VecDbError::NoDatabase { .. })));
    let config = DbConfig::new(DIMENSION, Metric::Cosine);
    let db = Db::create_in(&directory.0, config).unwrap();
    db.insert(1, &vector(1), Metadata::new()).unwrap();
    // A second handle on the same directory is refused while the first is open.
    assert!(matches!(
        Db::open_in(&directory.0),
        Err(vecdb::VecDbError::Storage(vecdb::storage::PersistenceError::Locked { .. }))
    ));
    db.close().unwrap();
    assert!(matches!(
        Db::create_in(&directory.0, config),
        Err(vecdb::VecDbError::StoreNotEmpty { holds_database: true, .. })
    ));
    let mut other = config;
    other.index.m = 8;
    assert!(matches!(Db::open_in_with_config(&directory.0, &other), Err(vecdb::VecDbError::ConfigMismatch { .. })));
    let db = Db::open_in_with_config(&directory.0, &config).unwrap();
    assert_eq!(db.len(), 1);
    assert!(db.stats().unwrap().bytes_on_disk > 0);
}
