//! HNSW build time and search throughput, with recall@10 against exact search printed for each `ef`.
//!
//! Default data: 20,000 + 500 query vectors of dimension 50 from a seeded mixture of 100 Gaussian clusters,
//! cosine, `M = 16`, `ef_construction = 200`, one thread (hnswlib's settings in the project's targets).
//!
//! Real data: set `VECDB_BENCH_BASE` and `VECDB_BENCH_QUERIES` to raw little-endian `f32` files (row-major) and
//! `VECDB_BENCH_DIMENSION` to their dimension. `VECDB_BENCH_EFS` (e.g. `16,32,64,96,128`) changes the printed
//! `ef` list. `VECDB_BENCH_BUILD_SAMPLES=0` skips the (slow) criterion build group.
//!
//! ```text
//! CARGO_TARGET_DIR=target-vecdb cargo bench -p vecdb --bench hnsw
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vecdb::{HnswConfig, HnswIndex, Metric, QuantizationRange, VectorEncoding};

#[path = "../tests/support/mod.rs"]
mod support;

const K: usize = 10;
const CRITERION_EFS: [usize; 3] = [32, 64, 128];

struct Dataset {
    name: String,
    dimension: usize,
    base: Vec<f32>,
    queries: Vec<f32>,
}

fn read_f32s(path: &str) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("reading {path}: {error}"));
    bytes.chunks_exact(4).map(|chunk| f32::from_le_bytes(chunk.try_into().unwrap())).collect()
}

fn dataset() -> Dataset {
    if let (Ok(base), Ok(queries), Ok(dimension)) = (
        std::env::var("VECDB_BENCH_BASE"),
        std::env::var("VECDB_BENCH_QUERIES"),
        std::env::var("VECDB_BENCH_DIMENSION"),
    ) {
        let dimension: usize = dimension.parse().expect("VECDB_BENCH_DIMENSION");
        return Dataset { name: base.clone(), dimension, base: read_f32s(&base), queries: read_f32s(&queries) };
    }
    let (count, query_count, dimension) = (20_000, 500, 50);
    let mut all = support::clustered(count + query_count, dimension, 100, 42);
    let queries = all.split_off(count * dimension);
    Dataset { name: "synthetic 100 clusters".into(), dimension, base: all, queries }
}

fn config(dimension: usize, encoding: VectorEncoding) -> HnswConfig {
    let mut config = HnswConfig::new(dimension, Metric::Cosine);
    config.m = 16;
    config.ef_construction = 200;
    config.encoding = encoding;
    config
}

fn build(dataset: &Dataset, encoding: VectorEncoding) -> (HnswIndex, Duration) {
    let start = Instant::now();
    let mut index = HnswIndex::new(config(dataset.dimension, encoding)).unwrap();
    for (id, row) in dataset.base.chunks_exact(dataset.dimension).enumerate() {
        index.insert(id as u64, row).unwrap();
    }
    (index, start.elapsed())
}

fn efs() -> Vec<usize> {
    std::env::var("VECDB_BENCH_EFS")
        .ok()
        .map(|list| list.split(',').map(|ef| ef.trim().parse().expect("VECDB_BENCH_EFS")).collect())
        .unwrap_or_else(|| vec![16, 32, 48, 64, 96, 128, 256])
}

/// Prints build time, memory, and recall@10 and single-threaded QPS for each ef.
fn report(dataset: &Dataset, index: &HnswIndex, build_time: Duration, truth: &[Vec<(u64, f32)>], label: &str) {
    let count = index.len();
    println!(
        "[{label}] {}: {count} x {} built in {:.2} s ({:.0} inserts/s), {:.0} bytes/vector, max level {}",
        dataset.name,
        dataset.dimension,
        build_time.as_secs_f64(),
        count as f64 / build_time.as_secs_f64(),
        index.heap_bytes() as f64 / count as f64,
        index.max_level(),
    );
    for ef in efs() {
        let start = Instant::now();
        let mut recall_sum = 0.0;
        for (query, truth) in dataset.queries.chunks_exact(dataset.dimension).zip(truth) {
            let found = index.search(query, K, Some(ef), None).unwrap();
            recall_sum += support::recall(&found, truth);
        }
        let elapsed = start.elapsed().as_secs_f64();
        let queries = truth.len() as f64;
        println!("[{label}] ef {ef:4}: recall@10 {:.4}  QPS {:8.0}", recall_sum / queries, queries / elapsed);
    }
}

fn benches(criterion: &mut Criterion) {
    let dataset = dataset();
    let (index, build_time) = build(&dataset, VectorEncoding::F32);
    let truth: Vec<Vec<(u64, f32)>> = dataset
        .queries
        .chunks_exact(dataset.dimension)
        .map(|query| index.exact_search(query, K, None).unwrap())
        .collect();
    report(&dataset, &index, build_time, &truth, "f32");
    let quantized = VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Trained };
    let (quantized_index, quantized_build_time) = build(&dataset, quantized);
    report(&dataset, &quantized_index, quantized_build_time, &truth, "sq8");

    let query_count = dataset.queries.len() / dataset.dimension;
    let mut group = criterion.benchmark_group("search");
    group.throughput(Throughput::Elements(query_count as u64));
    for (label, index) in [("f32", &index), ("sq8", &quantized_index)] {
        for ef in CRITERION_EFS {
            group.bench_with_input(BenchmarkId::new(label, ef), &ef, |bencher, &ef| {
                bencher.iter(|| {
                    for query in dataset.queries.chunks_exact(dataset.dimension) {
                        black_box(index.search(query, K, Some(ef), None).unwrap());
                    }
                });
            });
        }
    }
    group.finish();

    let build_samples: usize =
        std::env::var("VECDB_BENCH_BUILD_SAMPLES").ok().and_then(|samples| samples.parse().ok()).unwrap_or(10);
    if build_samples > 0 {
        let mut group = criterion.benchmark_group("build");
        group.sample_size(build_samples.max(10));
        group.throughput(Throughput::Elements((dataset.base.len() / dataset.dimension) as u64));
        group.bench_function("f32", |bencher| {
            bencher.iter_custom(|iterations| (0..iterations).map(|_| build(&dataset, VectorEncoding::F32).1).sum());
        });
        group.finish();
    }
}

criterion_group! {
    name = hnsw;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(hnsw);
