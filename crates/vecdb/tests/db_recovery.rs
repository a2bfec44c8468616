//! The durable database round-trips through recovery: every metric and encoding through the log alone and through
//! a snapshot, every configuration field, every kind of mutation, and new writes after a recovery.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use snapshot::{Durable, Snapshot, StateMachine};
use vecdb::db::{DatabaseDigest, Operation};
use vecdb::storage::MemoryBackend;
use vecdb::{
    AsyncDb, CheckpointPolicy, DatabaseState, Db, DbConfig, Filter, Hit, Metadata, Metric, QuantizationRange, Record,
    SearchOptions, SyncPolicy, Value, VecDbError, VectorEncoding,
};

const DIMENSION: usize = 16;

fn encodings() -> [VectorEncoding; 3] {
    [
        VectorEncoding::F32,
        VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Trained },
        VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min: -6.0, max: 6.0 } },
    ]
}

fn config(metric: Metric, encoding: VectorEncoding) -> DbConfig {
    let mut config = DbConfig::new(DIMENSION, metric);
    config.index.m = 6;
    config.index.ef_construction = 24;
    config.index.ef_search = 24;
    config.index.encoding = encoding;
    config
}

fn metadata_for(id: u64) -> Metadata {
    let mut metadata = Metadata::new();
    metadata.insert("group".into(), Value::from((id % 5) as f64));
    if id % 2 == 0 {
        metadata.insert("name".into(), Value::from(format!("v{id}")));
    }
    metadata
}

fn records(ids: std::ops::Range<u64>, seed: u64) -> Vec<Record> {
    let values = support::clustered(ids.clone().count(), DIMENSION, 4, seed);
    ids.zip(values.chunks_exact(DIMENSION)).map(|(id, row)| Record::new(id, row.to_vec(), metadata_for(id))).collect()
}

/// Inserts (a batch and singles), upserts, deletes and metadata updates.
fn workload(db: &Db<MemoryBackend>) {
    db.insert_batch(records(0..120, 1)).unwrap();
    for record in records(120..130, 2) {
        db.insert(record.id, &record.vector, record.metadata).unwrap();
    }
    for record in records(0..5, 3) {
        db.insert(record.id, &record.vector, Metadata::new()).unwrap();
    }
    for id in (10..30).step_by(2) {
        db.delete(id).unwrap();
    }
    for id in 40..45 {
        let mut metadata = metadata_for(id);
        metadata.insert("updated".into(), Value::from(true));
        db.update_metadata(id, metadata).unwrap();
    }
}

/// Everything observable: config, digest, every record, and search results with and without a filter.
#[derive(Debug, PartialEq)]
struct Observed {
    config: DbConfig,
    digest: DatabaseDigest,
    records: Vec<Record>,
    searches: Vec<Vec<Hit>>,
}

fn observe(db: &Db<MemoryBackend>) -> Observed {
    let queries = support::clustered(6, DIMENSION, 4, 99);
    let filtered = SearchOptions::filtered("group = 1 or updated = true").unwrap();
    let mut searches = Vec::new();
    for query in queries.chunks_exact(DIMENSION) {
        searches.push(db.search(query, 10, &SearchOptions::default()).unwrap());
        searches.push(db.search(query, 10, &filtered).unwrap());
        searches.push(db.exact_search(query, 5, filtered.filter.as_ref()).unwrap());
    }
    Observed {
        config: *db.config(),
        digest: db.digest(),
        records: db.ids().into_iter().map(|id| db.get(id).unwrap()).collect(),
        searches,
    }
}

#[test]
fn every_metric_and_encoding_round_trips_through_the_log_and_through_a_snapshot() {
    for metric in [Metric::L2, Metric::Cosine, Metric::DotProduct] {
        for encoding in encodings() {
            let context = format!("{metric:?} {encoding:?}");
            // Through the log alone: no snapshot, every operation replayed.
            let store = MemoryBackend::new();
            let db = Db::create(store.clone(), config(metric, encoding)).unwrap();
            workload(&db);
            let before = observe(&db);
            let applied = db.applied_lsn();
            drop(db);
            let replayed = Db::open(store.clone()).unwrap();
            let report = replayed.recovery_report();
            assert_eq!(report.snapshot_lsn, None, "{context}");
            assert_eq!(report.operations_replayed, applied, "{context}");
            assert_eq!(report.state_digest, before.digest, "{context}");
            assert_eq!(observe(&replayed), before, "{context}: replayed from the log");

            // Through a snapshot: nothing replayed, the graph decoded as it was.
            replayed.checkpoint().unwrap();
            drop(replayed);
            let loaded = Db::open(store).unwrap();
            let report = loaded.recovery_report();
            assert_eq!(report.snapshot_lsn, Some(applied), "{context}");
            assert_eq!(report.operations_replayed, 0, "{context}");
            assert_eq!(report.snapshot_digest, Some(before.digest), "{context}");
            assert_eq!(observe(&loaded), before, "{context}: loaded from a snapshot");
        }
    }
}

fn unusual_config() -> DbConfig {
    let mut config = DbConfig::new(DIMENSION, Metric::DotProduct);
    config.index.m = 5;
    config.index.ef_construction = 21;
    config.index.ef_search = 13;
    config.index.encoding =
        VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min: -3.5, max: 9.25 } };
    config.index.seed = 0xDEAD_BEEF;
    config.durability.sync_policy = SyncPolicy::Grouped { max_delay_ms: 7, max_bytes: 12_345 };
    config.durability.checkpoint = CheckpointPolicy { operations_max: Some(1_000_000), log_bytes_max: None };
    config.durability.snapshots_retained = 3;
    config
}

#[test]
fn every_configuration_field_comes_back_identical_after_reopen() {
    let config = unusual_config();
    let store = MemoryBackend::new();
    let db = Db::create(store.clone(), config).unwrap();
    db.insert_batch(records(0..20, 5)).unwrap();
    db.sync().unwrap();
    drop(db);
    let reopened = Db::open(store.clone()).unwrap();
    assert_eq!(*reopened.config(), config);
    assert_eq!(reopened.read().index().config(), &config.index);
    reopened.checkpoint().unwrap();
    drop(reopened);
    let from_snapshot = Db::open_with_config(store, &config).unwrap();
    assert_eq!(*from_snapshot.config(), config);
    assert_eq!(from_snapshot.len(), 20);
}

#[test]
fn opening_with_a_different_configuration_is_a_typed_error_naming_the_field() {
    let config = unusual_config();
    let store = MemoryBackend::new();
    drop(Db::create(store.clone(), config).unwrap());
    type Change = (&'static str, fn(&mut DbConfig));
    let changes: [Change; 10] = [
        ("index.dimension", |c| c.index.dimension += 1),
        ("index.metric", |c| c.index.metric = Metric::L2),
        ("index.m", |c| c.index.m += 1),
        ("index.ef_construction", |c| c.index.ef_construction += 1),
        ("index.ef_search", |c| c.index.ef_search += 1),
        ("index.encoding", |c| c.index.encoding = VectorEncoding::F32),
        ("index.seed", |c| c.index.seed += 1),
        ("durability.sync_policy", |c| c.durability.sync_policy = SyncPolicy::EveryCommit),
        ("durability.checkpoint", |c| c.durability.checkpoint.operations_max = None),
        ("durability.snapshots_retained", |c| c.durability.snapshots_retained = 2),
    ];
    for (expected_field, change) in changes {
        let mut other = config;
        change(&mut other);
        match Db::open_with_config(store.clone(), &other) {
            Err(VecDbError::ConfigMismatch { field, .. }) => assert_eq!(field, expected_field),
            other => panic!("{expected_field}: {other:?}"),
        }
    }
    // The bits of a float count too.
    let mut other = config;
    other.index.encoding =
        VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min: -3.5, max: 9.250001 } };
    assert!(matches!(Db::open_with_config(store.clone(), &other), Err(VecDbError::ConfigMismatch { .. })));
    // The same configuration opens; open_or_create opens too, and checks.
    assert!(Db::open_with_config(store.clone(), &config).is_ok());
    assert!(Db::open_or_create(store.clone(), config).is_ok());
    assert!(matches!(Db::open_or_create(store.clone(), other), Err(VecDbError::ConfigMismatch { .. })));
    // A store without a database, and a create over one.
    assert!(matches!(Db::open(MemoryBackend::new()), Err(VecDbError::NoDatabase { .. })));
    assert!(matches!(Db::create(store, config), Err(VecDbError::StoreNotEmpty { holds_database: true, .. })));
}

#[test]
fn every_kind_of_mutation_survives_recovery_and_later_writes_are_logged() {
    let store = MemoryBackend::new();
    let reopen = |db: Db<MemoryBackend>| {
        let digest = db.digest();
        drop(db);
        let db = Db::open(store.clone()).unwrap();
        assert_eq!(db.digest(), digest);
        db
    };
    let db = Db::create(store.clone(), config(Metric::L2, VectorEncoding::F32)).unwrap();
    // A batch.
    db.insert_batch(records(0..30, 7)).unwrap();
    let db = reopen(db);
    assert_eq!(db.ids(), (0..30).collect::<Vec<_>>());
    // An insert and an upsert (replaces the vector and the metadata).
    let fresh = records(100..102, 8);
    db.insert(30, &fresh[0].vector, metadata_for(1)).unwrap();
    db.insert(3, &fresh[1].vector, Metadata::new()).unwrap();
    let db = reopen(db);
    assert_eq!(db.get(30).unwrap().vector, fresh[0].vector);
    assert_eq!(db.get(3).unwrap(), Record::new(3, fresh[1].vector.clone(), Metadata::new()));
    // A delete and a metadata update.
    db.delete(4).unwrap();
    let mut tagged = Metadata::new();
    tagged.insert("tag".into(), Value::from("kept"));
    db.update_metadata(5, tagged.clone()).unwrap();
    let db = reopen(db);
    assert!(matches!(db.get(4), Err(VecDbError::UnknownId { id: 4 })));
    assert_eq!(db.get(5).unwrap().metadata, tagged);
    assert_eq!(db.stats().unwrap().deleted_count, 2, "the delete and the replaced vector");
    // Compaction: tombstones gone, ids kept; it checkpoints, so recovery starts from the compacted graph.
    let ids = db.ids();
    db.compact().unwrap();
    let db = reopen(db);
    assert_eq!(db.stats().unwrap().deleted_count, 0);
    assert_eq!(db.ids(), ids);
    assert!(db.recovery_report().snapshot_lsn.is_some());
    // Writes after a recovery go to the log and survive the next one.
    db.insert(500, &fresh[0].vector, Metadata::new()).unwrap();
    db.delete(6).unwrap();
    let db = reopen(db);
    assert!(db.contains(500) && !db.contains(6));
    assert_eq!(db.recovery_report().operations_replayed, 2);
}

#[test]
fn a_compaction_in_the_log_is_replayed() {
    // A compaction logged but not yet checkpointed (a crash between the two): recovery replays it.
    let store = MemoryBackend::new();
    let config = config(Metric::Cosine, VectorEncoding::F32);
    let db = Db::create(store.clone(), config).unwrap();
    db.insert_batch(records(0..40, 9)).unwrap();
    for id in 0..10 {
        db.delete(id).unwrap();
    }
    drop(db);
    let durable =
        Durable::open(store.clone(), || DatabaseState::new(config).unwrap(), snapshot::DurableOptions::default())
            .unwrap();
    durable.execute(Operation::compact()).unwrap();
    let compacted = durable.read().digest();
    drop(durable);
    let db = Db::open(store).unwrap();
    assert_eq!(db.digest(), compacted);
    assert_eq!(db.stats().unwrap().deleted_count, 0);
    assert_eq!(db.ids(), (10..40).collect::<Vec<_>>());
    assert_eq!(db.recovery_report().snapshot_lsn, None);
}

#[test]
fn a_selective_filter_still_returns_k_results() {
    let db = Db::in_memory(config(Metric::L2, VectorEncoding::F32)).unwrap();
    let mut batch = records(0..600, 11);
    for record in &mut batch {
        record.metadata = Metadata::new();
        if record.id % 50 == 7 {
            record.metadata.insert("rare".into(), Value::from(true));
        }
    }
    db.insert_batch(batch).unwrap();
    let rare = Filter::parse("rare = true").unwrap();
    assert_eq!(db.read().matching_count(&rare, usize::MAX), 12);
    let options = SearchOptions { ef: Some(16), filter: Some(rare.clone()) };
    for query in support::clustered(5, DIMENSION, 4, 12).chunks_exact(DIMENSION) {
        let hits = db.search(query, 10, &options).unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|hit| hit.id % 50 == 7));
        assert_eq!(hits, db.exact_search(query, 10, Some(&rare)).unwrap());
        // A filter that matches vectors without metadata counts them too.
        let missing = SearchOptions::filtered("rare != true").unwrap();
        assert_eq!(db.search(query, 10, &missing).unwrap().len(), 10);
    }
}

#[test]
fn the_async_database_has_the_same_semantics_and_recovers_the_same_state() {
    storage_core::block_on(async {
        let store = MemoryBackend::new();
        let config = config(Metric::Cosine, VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Trained });
        let mut db = AsyncDb::create(store.clone(), config).await.unwrap();
        db.insert_batch(records(0..50, 13)).await.unwrap();
        let extra = records(50..51, 14).remove(0);
        db.insert(extra.id, &extra.vector, extra.metadata).await.unwrap();
        db.delete(3).await.unwrap();
        db.update_metadata(4, Metadata::new()).await.unwrap();
        assert!(matches!(db.delete(3).await, Err(VecDbError::UnknownId { id: 3 })));
        assert!(matches!(db.insert_batch(Vec::new()).await, Err(VecDbError::EmptyBatch)));
        let digest = db.digest();
        let stats = db.stats().await.unwrap();
        assert_eq!((stats.live_count, stats.deleted_count, stats.wal_operations), (50, 1, 53));
        drop(db);

        // The blocking database reads what the async one wrote, and the other way round.
        let blocking = Db::open(store.clone()).unwrap();
        assert_eq!(blocking.digest(), digest);
        blocking.compact().unwrap();
        let compacted = blocking.digest();
        drop(blocking);
        let mut db = AsyncDb::open_with_config(store.clone(), &config).await.unwrap();
        assert_eq!(db.digest(), compacted);
        assert_eq!(db.recovery_report().operations_replayed, 0);
        let query = records(60..61, 15).remove(0).vector;
        assert_eq!(db.search(&query, 5, &SearchOptions::default()).unwrap().len(), 5);
        db.checkpoint().await.unwrap();
        assert_eq!(db.stats().await.unwrap().snapshot_lsn, Some(db.applied_lsn()));
        assert!(matches!(AsyncDb::open(MemoryBackend::new()).await, Err(VecDbError::NoDatabase { .. })));
    });
}

#[test]
fn stats_report_counts_the_log_and_snapshots() {
    let store = MemoryBackend::new();
    let db = Db::create(store, config(Metric::L2, VectorEncoding::F32)).unwrap();
    let empty = db.stats().unwrap();
    assert_eq!((empty.live_count, empty.wal_operations, empty.snapshot_lsn), (0, 0, None));
    db.insert_batch(records(0..10, 16)).unwrap();
    db.delete(2).unwrap();
    let stats = db.stats().unwrap();
    assert_eq!((stats.live_count, stats.deleted_count, stats.applied_lsn, stats.wal_operations), (9, 1, 11, 11));
    assert!(stats.wal_bytes > 0 && stats.bytes_on_disk > stats.wal_bytes && stats.memory_bytes > 0);
    db.checkpoint().unwrap();
    let stats = db.stats().unwrap();
    assert_eq!((stats.snapshot_lsn, stats.snapshot_count, stats.wal_operations), (Some(11), 1, 0));
    assert!(stats.snapshot_bytes > 0);
}

#[test]
fn decoding_logged_operations_round_trips() {
    // The state machine's codec, as the log and recovery use it.
    for operation in [
        Operation::upsert(1, vec![0.5; DIMENSION], metadata_for(2)).unwrap(),
        Operation::delete(9),
        Operation::update_metadata(3, Metadata::new()).unwrap(),
        Operation::compact(),
    ] {
        let mut bytes = Vec::new();
        DatabaseState::encode_operation(&operation, &mut bytes);
        assert_eq!(DatabaseState::decode_operation(&bytes).unwrap(), operation);
    }
    assert!(DatabaseState::decode_operation(&[0xFF]).is_err());
}

#[test]
fn a_large_index_estimates_filter_selectivity_from_a_sample_and_still_returns_k_results() {
    // More than 4 * FILTER_SAMPLE_NODES nodes: the count that steers the search is sampled.
    let mut config = DbConfig::new(2, Metric::L2);
    config.index.m = 4;
    config.index.ef_construction = 8;
    let db = Db::in_memory(config).unwrap();
    let count = 4 * vecdb::db::state::FILTER_SAMPLE_NODES as u64 + 1_000;
    let records = (0..count)
        .map(|id| {
            let mut metadata = Metadata::new();
            metadata.insert("bucket".into(), Value::from((id % 10) as f64));
            if id % 1_000 == 3 {
                metadata.insert("rare".into(), Value::from(true));
            }
            Record::new(id, vec![(id % 97) as f32, (id / 97) as f32], metadata)
        })
        .collect();
    db.insert_batch(records).unwrap();
    let state = db.read();
    let common = Filter::parse("bucket < 5").unwrap();
    let estimate = state.estimated_matching_count(&common, usize::MAX);
    let exact = state.matching_count(&common, usize::MAX);
    assert_eq!(exact, (0..count).filter(|id| id % 10 < 5).count());
    assert!(estimate.abs_diff(exact) < exact / 10, "estimate {estimate}, exact {exact}");
    // Asked only whether it reaches a small `stop_at`, the sample stops early with an estimate of at least twice
    // that; the full sample (usize::MAX) and the early one agree that the filter is common.
    let stop_at = 100;
    let early = state.estimated_matching_count(&common, stop_at);
    assert!(early >= 2 * stop_at, "early estimate {early}");
    assert!(early.abs_diff(exact) < exact / 4, "early estimate {early}, exact {exact}");
    // A filter too rare for the sample to see is searched exactly after the graph search comes up short.
    let rare = Filter::parse("rare = true").unwrap();
    let options = SearchOptions { ef: Some(16), filter: Some(rare.clone()) };
    let hits = state.search(&[50.0, 20.0], 5, &options).unwrap();
    assert_eq!(hits, state.exact_search(&[50.0, 20.0], 5, Some(&rare)).unwrap());
    assert_eq!(hits.len(), 5);
}
