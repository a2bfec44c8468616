//! Filtered search against unfiltered search on the same database: how much a metadata filter costs at several
//! selectivities (the baseline for work on filtered search; docs/benchmarks.md).
//!
//! Data: 20,000 vectors of dimension 64 from a seeded mixture of 50 Gaussian clusters, L2, `M = 16`,
//! `ef_construction = 128`, `ef_search = 64` (the demo's settings), each with metadata `{category: "c0".."c9",
//! year: 1990..=2024, flag: bool}` drawn independently of the vector. k = 10, queries from the same mixture.
//!
//! ```text
//! CARGO_TARGET_DIR=target-vecdb cargo bench -p vecdb --bench filtered
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use storage_mem::MemoryBackend;
use vecdb::{Db, DbConfig, Metadata, Metric, Record, SearchOptions, Value};

#[path = "../tests/support/mod.rs"]
mod support;

const COUNT: usize = 20_000;
const QUERIES: usize = 200;
const DIMENSION: usize = 64;
const K: usize = 10;

/// The filters, with the share of vectors each matches (by construction of the metadata).
const FILTERS: [(&str, &str); 4] = [
    ("none (100%)", ""),
    ("year >= 1995 (86%)", "year >= 1995"),
    ("category = c3 (10%)", "category = \"c3\""),
    ("category = c3 and year >= 2015 (2.9%)", "category = \"c3\" and year >= 2015"),
];

fn database() -> (Db<MemoryBackend>, Vec<f32>) {
    let mut config = DbConfig::new(DIMENSION, Metric::L2);
    config.index.m = 16;
    config.index.ef_construction = 128;
    config.index.ef_search = 64;
    let db = Db::create(MemoryBackend::new(), config).unwrap();
    let base = support::clustered(COUNT, DIMENSION, 50, 7);
    let mut random = support::Rng(11);
    let records: Vec<Record> = (0..COUNT)
        .map(|index| {
            let mut metadata = Metadata::new();
            metadata.insert("category".to_owned(), Value::String(format!("c{}", random.below(10))));
            metadata.insert("year".to_owned(), Value::Number((1990 + random.below(35)) as f64));
            metadata.insert("flag".to_owned(), Value::Bool(random.below(2) == 1));
            Record { id: index as u64, vector: base[index * DIMENSION..(index + 1) * DIMENSION].to_vec(), metadata }
        })
        .collect();
    for chunk in records.chunks(1000) {
        db.insert_batch(chunk.to_vec()).unwrap();
    }
    (db, support::clustered(QUERIES, DIMENSION, 50, 7 + 1))
}

fn benches(criterion: &mut Criterion) {
    let (db, queries) = database();
    let mut group = criterion.benchmark_group("filtered_search");
    for (label, text) in FILTERS {
        let options = if text.is_empty() { SearchOptions::default() } else { SearchOptions::filtered(text).unwrap() };
        let mut next = 0;
        group.bench_with_input(BenchmarkId::from_parameter(label), &options, |bencher, options| {
            bencher.iter(|| {
                let query = &queries[next * DIMENSION..(next + 1) * DIMENSION];
                next = (next + 1) % QUERIES;
                black_box(db.search(query, K, options).unwrap())
            });
        });
    }
    group.finish();
}

criterion_group!(filtered, benches);
criterion_main!(filtered);
