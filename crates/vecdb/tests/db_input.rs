//! Bad input gets a typed error and changes nothing; every limit is accepted at the limit and rejected past it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use vecdb::db::{BATCH_BYTES_MAX, BATCH_ITEMS_MAX};
use vecdb::index::{DIMENSION_MAX, EF_MAX, K_MAX};
use vecdb::metadata::{METADATA_ENCODED_BYTES_MAX, METADATA_STRING_BYTES_MAX, encoded_len};
use vecdb::storage::MemoryBackend;
use vecdb::{Db, DbConfig, FilterError, Metadata, Metric, Record, SearchOptions, Value, VecDbError};

const DIMENSION: usize = 4;

fn database() -> Db<MemoryBackend> {
    let mut config = DbConfig::new(DIMENSION, Metric::Cosine);
    config.index.m = 4;
    config.index.ef_construction = 16;
    let db = Db::in_memory(config).unwrap();
    let records = (0..20_u64)
        .map(|id| {
            let mut metadata = Metadata::new();
            metadata.insert("year".into(), Value::from(2000.0 + id as f64));
            Record::new(id, vec![1.0, id as f32, 0.5, -1.0], metadata)
        })
        .collect();
    db.insert_batch(records).unwrap();
    db.delete(19).unwrap();
    db
}

fn good() -> Vec<f32> {
    vec![0.5, 0.25, 1.0, 2.0]
}

/// Metadata whose encoding is exactly `encoded_bytes` long (at least 2 + 1 + 6 + 1 + 2 bytes), in strings of at
/// most `METADATA_STRING_BYTES_MAX` bytes under six-byte keys.
fn metadata_of_size(encoded_bytes: usize) -> Metadata {
    let mut metadata = Metadata::new();
    let mut index = 0;
    while encoded_bytes - encoded_len(&metadata) > 10 + METADATA_STRING_BYTES_MAX {
        metadata.insert(format!("k{index:05}"), Value::String("x".repeat(METADATA_STRING_BYTES_MAX)));
        index += 1;
    }
    let remaining = encoded_bytes - encoded_len(&metadata) - 10;
    metadata.insert("z_last".into(), Value::String("y".repeat(remaining)));
    assert_eq!(encoded_len(&metadata), encoded_bytes);
    metadata
}

type Case = (&'static str, Box<dyn Fn(&Db<MemoryBackend>) -> Result<(), VecDbError>>, fn(&VecDbError) -> bool);

fn case(
    name: &'static str,
    call: impl Fn(&Db<MemoryBackend>) -> Result<(), VecDbError> + 'static,
    expected: fn(&VecDbError) -> bool,
) -> Case {
    (name, Box::new(call), expected)
}

#[test]
fn bad_input_gets_a_typed_error_and_changes_nothing() {
    let search = |query: Vec<f32>, k: usize, options: SearchOptions| {
        move |db: &Db<MemoryBackend>| db.search(&query, k, &options).map(drop)
    };
    let cases: Vec<Case> = vec![
        case(
            "insert: wrong dimension",
            |db| db.insert(50, &[1.0, 2.0], Metadata::new()).map(drop),
            |e| matches!(e, VecDbError::DimensionMismatch { expected: 4, found: 2 }),
        ),
        case(
            "insert: NaN",
            |db| db.insert(50, &[1.0, f32::NAN, 0.0, 0.0], Metadata::new()).map(drop),
            |e| matches!(e, VecDbError::NonFiniteValue { index: 1 }),
        ),
        case(
            "insert: infinity",
            |db| db.insert(50, &[f32::INFINITY, 1.0, 0.0, 0.0], Metadata::new()).map(drop),
            |e| matches!(e, VecDbError::NonFiniteValue { index: 0 }),
        ),
        case(
            "insert: zero vector under cosine",
            |db| db.insert(50, &[0.0; 4], Metadata::new()).map(drop),
            |e| matches!(e, VecDbError::ZeroVectorUnderCosine),
        ),
        case(
            "upsert of a live id with a bad vector",
            |db| db.insert(3, &[0.0; 4], Metadata::new()).map(drop),
            |e| matches!(e, VecDbError::ZeroVectorUnderCosine),
        ),
        case(
            "insert: metadata too large",
            |db| db.insert(50, &good(), metadata_of_size(METADATA_ENCODED_BYTES_MAX + 1)).map(drop),
            |e| matches!(e, VecDbError::MetadataTooLarge { .. }),
        ),
        case(
            "insert: metadata key invalid",
            |db| {
                let mut metadata = Metadata::new();
                metadata.insert("Not A Key".into(), Value::from(1.0));
                db.insert(50, &good(), metadata).map(drop)
            },
            |e| matches!(e, VecDbError::MetadataKeyInvalid { .. }),
        ),
        case(
            "insert: metadata number not finite",
            |db| {
                let mut metadata = Metadata::new();
                metadata.insert("score".into(), Value::from(f64::NAN));
                db.insert(50, &good(), metadata).map(drop)
            },
            |e| matches!(e, VecDbError::MetadataNonFiniteNumber { .. }),
        ),
        case("batch: empty", |db| db.insert_batch(Vec::new()).map(drop), |e| matches!(e, VecDbError::EmptyBatch)),
        case(
            "batch: one bad record among good ones writes none",
            |db| {
                let mut records: Vec<Record> = (50..60).map(|id| Record::new(id, good(), Metadata::new())).collect();
                records[7].vector = vec![1.0; 5];
                db.insert_batch(records).map(drop)
            },
            |e| matches!(e, VecDbError::DimensionMismatch { found: 5, .. }),
        ),
        case(
            "batch: too many records",
            |db| db.insert_batch(vec![Record::new(50, good(), Metadata::new()); BATCH_ITEMS_MAX + 1]).map(drop),
            |e| matches!(e, VecDbError::LimitExceeded { what: "BATCH_ITEMS_MAX", .. }),
        ),
        case(
            "batch: too many bytes",
            |db| {
                let metadata = metadata_of_size(METADATA_ENCODED_BYTES_MAX);
                let count = BATCH_BYTES_MAX / METADATA_ENCODED_BYTES_MAX + 1;
                db.insert_batch((0..count as u64).map(|id| Record::new(id, good(), metadata.clone())).collect())
                    .map(drop)
            },
            |e| matches!(e, VecDbError::LimitExceeded { what: "BATCH_BYTES_MAX", .. }),
        ),
        case("search: k = 0", search(good(), 0, SearchOptions::default()), |e| matches!(e, VecDbError::KIsZero)),
        case("search: k > K_MAX", search(good(), K_MAX + 1, SearchOptions::default()), |e| {
            matches!(e, VecDbError::LimitExceeded { what: "K_MAX", .. })
        }),
        case("search: ef > EF_MAX", search(good(), 5, SearchOptions::default().with_ef(EF_MAX + 1)), |e| {
            matches!(e, VecDbError::LimitExceeded { what: "EF_MAX", .. })
        }),
        case("search: query of the wrong dimension", search(vec![1.0; 3], 5, SearchOptions::default()), |e| {
            matches!(e, VecDbError::DimensionMismatch { .. })
        }),
        case("search: NaN query", search(vec![f32::NAN; 4], 5, SearchOptions::default()), |e| {
            matches!(e, VecDbError::NonFiniteValue { index: 0 })
        }),
        case("search: zero query under cosine", search(vec![0.0; 4], 5, SearchOptions::default()), |e| {
            matches!(e, VecDbError::ZeroVectorUnderCosine)
        }),
        case("filtered search: k = 0", search(good(), 0, SearchOptions::filtered("year > 2005").unwrap()), |e| {
            matches!(e, VecDbError::KIsZero)
        }),
        case(
            "exact search: k = 0",
            |db| db.exact_search(&good(), 0, None).map(drop),
            |e| matches!(e, VecDbError::KIsZero),
        ),
        case(
            "filter: syntax error at its position",
            |_| SearchOptions::filtered("year >= ").map(drop),
            |e| matches!(e, VecDbError::Filter(error) if error.position() == Some(8)),
        ),
        case(
            "filter: unexpected character",
            |_| SearchOptions::filtered("year # 3").map(drop),
            |e| matches!(e, VecDbError::Filter(FilterError::UnexpectedCharacter { position: 5, character: '#' })),
        ),
        case("delete: unknown id", |db| db.delete(77).map(drop), |e| matches!(e, VecDbError::UnknownId { id: 77 })),
        case("delete: deleted id", |db| db.delete(19).map(drop), |e| matches!(e, VecDbError::UnknownId { id: 19 })),
        case(
            "update metadata: unknown id",
            |db| db.update_metadata(77, Metadata::new()).map(drop),
            |e| matches!(e, VecDbError::UnknownId { id: 77 }),
        ),
        case(
            "update metadata: bad metadata",
            |db| {
                let mut metadata = Metadata::new();
                metadata.insert("and".into(), Value::from(true));
                db.update_metadata(3, metadata).map(drop)
            },
            |e| matches!(e, VecDbError::MetadataKeyInvalid { .. }),
        ),
        case("get: unknown id", |db| db.get(77).map(drop), |e| matches!(e, VecDbError::UnknownId { id: 77 })),
        case("get: deleted id", |db| db.get(19).map(drop), |e| matches!(e, VecDbError::UnknownId { id: 19 })),
    ];
    let db = database();
    for (name, call, expected) in cases {
        let (digest, lsn, stats) = (db.digest(), db.applied_lsn(), db.stats().unwrap());
        match call(&db) {
            Ok(()) => panic!("{name}: accepted"),
            Err(error) => assert!(expected(&error), "{name}: unexpected error {error:?}"),
        }
        assert_eq!((db.digest(), db.applied_lsn(), db.stats().unwrap()), (digest, lsn, stats), "{name}: changed");
    }
    // Errors leave the database usable (nothing was poisoned).
    db.insert(50, &good(), Metadata::new()).unwrap();
}

#[test]
fn the_largest_dimension_and_metadata_are_accepted_and_survive_a_reopen() {
    let store = MemoryBackend::new();
    let mut config = DbConfig::new(DIMENSION_MAX, Metric::L2);
    config.index.m = 4;
    config.index.ef_construction = 8;
    let db = Db::create(store.clone(), config).unwrap();
    let vector: Vec<f32> = (0..DIMENSION_MAX).map(|d| d as f32 / 1000.0).collect();
    let largest = metadata_of_size(METADATA_ENCODED_BYTES_MAX);
    db.insert(1, &vector, largest.clone()).unwrap();
    db.insert(2, &vector, Metadata::new()).unwrap();
    db.update_metadata(2, largest.clone()).unwrap();
    assert!(matches!(
        db.insert(3, &vec![0.0; DIMENSION_MAX + 1], Metadata::new()),
        Err(VecDbError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        db.update_metadata(2, metadata_of_size(METADATA_ENCODED_BYTES_MAX + 1)),
        Err(VecDbError::MetadataTooLarge { .. })
    ));
    drop(db);
    let db = Db::open(store.clone()).unwrap();
    assert_eq!(db.get(1).unwrap(), Record::new(1, vector.clone(), largest.clone()));
    assert_eq!(db.get(2).unwrap().metadata, largest);
    db.checkpoint().unwrap();
    drop(db);
    let db = Db::open(store).unwrap();
    assert_eq!(db.get(1).unwrap(), Record::new(1, vector, largest));
    assert!(matches!(
        DbConfig { index: vecdb::HnswConfig::new(DIMENSION_MAX + 1, Metric::L2), ..config }.validate(),
        Err(VecDbError::LimitExceeded { what: "DIMENSION_MAX", .. })
    ));
}

#[test]
fn a_batch_of_batch_items_max_records_is_one_atomic_unit() {
    // The smallest graph work per record (one component, M = 2, ef_construction = 1), so the batch itself is what
    // the test measures: it is logged as one record, and replayed as one.
    let store = MemoryBackend::new();
    let mut config = DbConfig::new(1, Metric::L2);
    config.index.m = 2;
    config.index.ef_construction = 1;
    let db = Db::create(store.clone(), config).unwrap();
    let records: Vec<Record> =
        (0..BATCH_ITEMS_MAX as u64).map(|id| Record::new(id, vec![id as f32], Metadata::new())).collect();
    let lsns = db.insert_batch(records).unwrap();
    assert_eq!(lsns, 1..=BATCH_ITEMS_MAX as u64);
    drop(db);
    let db = Db::open(store).unwrap();
    assert_eq!(db.len(), BATCH_ITEMS_MAX);
    assert_eq!(db.recovery_report().entries_replayed, 1);
}

#[test]
fn a_batch_of_batch_bytes_max_is_accepted() {
    // 4 bytes of batch header, then per record 4 bytes of length and a 21-byte upsert of one component, plus its
    // metadata: sized so that the whole batch is exactly BATCH_BYTES_MAX bytes.
    let count = BATCH_BYTES_MAX / METADATA_ENCODED_BYTES_MAX + 1;
    let per_record_fixed = 4 + 1 + 8 + 4 + 4;
    let metadata_total = BATCH_BYTES_MAX - 4 - count * per_record_fixed;
    let mut config = DbConfig::new(1, Metric::L2);
    config.index.m = 2;
    config.index.ef_construction = 2;
    let store = MemoryBackend::new();
    let db = Db::create(store.clone(), config).unwrap();
    let (base, remainder) = (metadata_total / count, metadata_total % count);
    let records: Vec<Record> = (0..count)
        .map(|index| {
            let size = base + usize::from(index < remainder);
            Record::new(index as u64, vec![index as f32], metadata_of_size(size))
        })
        .collect();
    let mut over = records.clone();
    let last = over.last_mut().unwrap();
    last.metadata = metadata_of_size(base + 1);
    assert!(matches!(db.insert_batch(over), Err(VecDbError::LimitExceeded { what: "BATCH_BYTES_MAX", .. })));
    db.insert_batch(records).unwrap();
    drop(db);
    assert_eq!(Db::open(store).unwrap().len(), count);
}
