//! Approximate nearest-neighbor figures on one subset: build time, memory per vector, and recall@k and queries
//! per second over a list of `ef`, one thread. [`AnnResult`] is the JSON both sides write (vecdb here, hnswlib in
//! `scripts/hnswlib_bench.py`), so the report reads them the same way.
//!
//! The protocol (both sides): insert the base vectors one after another in id order and time it; then run every
//! query once per `ef` on one thread, going round the `ef` list `repetitions` times, and keep each `ef`'s fastest
//! pass (as ann-benchmarks keeps the best of its runs); recall comes from the first pass, counted by
//! [`crate::truth::hits_within`] on distances recomputed from the vectors.

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};
use vecdb::{HnswConfig, HnswIndex, Metric};

use crate::dataset::Subset;
use crate::error::BenchError;
use crate::machine::{load_average, resident_bytes, thread_cpu_seconds};
use crate::truth::{cosine_distance, hits_within, normalize_rows};

/// The `ef` values measured by default.
pub const EFS_DEFAULT: [usize; 8] = [16, 32, 48, 64, 96, 128, 192, 256];
/// The most `ef` values in one run.
pub const EF_COUNT_MAX: usize = 64;
/// The most passes over the queries per `ef`.
pub const REPETITIONS_MAX: usize = 100;

/// What is measured and with which index parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnSettings {
    /// HNSW `M`.
    pub m: usize,
    /// HNSW `ef_construction`.
    pub ef_construction: usize,
    /// Neighbors per query.
    pub k: usize,
    /// Search breadths.
    pub efs: Vec<usize>,
    /// Passes over the queries per `ef` (the fastest counts).
    pub repetitions: usize,
}

impl Default for AnnSettings {
    fn default() -> Self {
        Self { m: 16, ef_construction: 200, k: 10, efs: EFS_DEFAULT.to_vec(), repetitions: 3 }
    }
}

impl AnnSettings {
    /// Checks the limits.
    ///
    /// # Errors
    /// [`BenchError::Usage`] for an empty or too long `ef` list, `k` of 0, or repetitions outside
    /// `1..=REPETITIONS_MAX`.
    pub fn validate(&self) -> Result<(), BenchError> {
        if self.efs.is_empty() || self.efs.len() > EF_COUNT_MAX || self.k == 0 {
            return Err(BenchError::Usage(format!(
                "{} ef values (1 to {EF_COUNT_MAX}), k = {}",
                self.efs.len(),
                self.k
            )));
        }
        if !(1..=REPETITIONS_MAX).contains(&self.repetitions) {
            return Err(BenchError::Usage(format!("{} repetitions (1 to {REPETITIONS_MAX})", self.repetitions)));
        }
        Ok(())
    }
}

/// One point of the recall/QPS curve.
#[derive(Clone, Debug, PartialEq)]
pub struct AnnPoint {
    /// The search breadth.
    pub ef: usize,
    /// Mean recall@k over the queries.
    pub recall: f64,
    /// Queries per second of the fastest pass, one thread.
    pub queries_per_second: f64,
    /// Queries per CPU second of the thread, in the pass that used the least CPU time (`None` when not measured).
    pub queries_per_cpu_second: Option<f64>,
}

/// One library's figures on one subset.
#[derive(Clone, Debug, PartialEq)]
pub struct AnnResult {
    /// `vecdb` or `hnswlib`.
    pub library: String,
    /// Its version.
    pub version: String,
    /// The subset (`100k`, `full`).
    pub subset: String,
    /// Base vectors indexed.
    pub base_count: usize,
    /// Queries run.
    pub query_count: usize,
    /// HNSW `M`.
    pub m: usize,
    /// HNSW `ef_construction`.
    pub ef_construction: usize,
    /// Neighbors per query.
    pub k: usize,
    /// Wall-clock seconds to insert every base vector, one thread.
    pub build_seconds: f64,
    /// CPU seconds of the building thread (`None` when not measured).
    pub build_cpu_seconds: Option<f64>,
    /// The index's own account of its memory, per vector (vecdb: `heap_bytes`; hnswlib: `index_file_size`).
    pub index_bytes_per_vector: f64,
    /// Growth of the process's resident set during the build, per vector (`None` where unknown).
    pub resident_bytes_per_vector: Option<f64>,
    /// The curve, in `ef` order.
    pub points: Vec<AnnPoint>,
    /// Load averages when the measurement started.
    pub load_average: Option<[f64; 3]>,
}

fn field<'a>(value: &'a Value, name: &str, path: &Path) -> Result<&'a Value, BenchError> {
    value.get(name).ok_or_else(|| BenchError::Json { path: path.to_path_buf(), reason: format!("no field {name:?}") })
}

fn number(value: &Value, name: &str, path: &Path) -> Result<f64, BenchError> {
    field(value, name, path)?
        .as_f64()
        .ok_or_else(|| BenchError::Json { path: path.to_path_buf(), reason: format!("{name:?} is not a number") })
}

fn text(value: &Value, name: &str, path: &Path) -> Result<String, BenchError> {
    Ok(field(value, name, path)?.as_str().unwrap_or_default().to_owned())
}

/// A `[a, b, c]` array of three numbers.
pub fn triple(value: Option<&Value>) -> Option<[f64; 3]> {
    let list = value?.as_array()?;
    Some([list.first()?.as_f64()?, list.get(1)?.as_f64()?, list.get(2)?.as_f64()?])
}

impl AnnResult {
    /// The JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "library": self.library,
            "version": self.version,
            "subset": self.subset,
            "base_count": self.base_count,
            "query_count": self.query_count,
            "m": self.m,
            "ef_construction": self.ef_construction,
            "k": self.k,
            "threads": 1,
            "build_seconds": self.build_seconds,
            "build_cpu_seconds": self.build_cpu_seconds,
            "index_bytes_per_vector": self.index_bytes_per_vector,
            "resident_bytes_per_vector": self.resident_bytes_per_vector,
            "load_average": self.load_average,
            "points": self.points.iter().map(|point| json!({
                "ef": point.ef,
                "recall": point.recall,
                "queries_per_second": point.queries_per_second,
                "queries_per_cpu_second": point.queries_per_cpu_second,
            })).collect::<Vec<_>>(),
        })
    }

    /// Reads the JSON form (`path` names the file in errors).
    ///
    /// # Errors
    /// [`BenchError::Json`] for a missing or mistyped field.
    pub fn from_json(value: &Value, path: &Path) -> Result<Self, BenchError> {
        let points = field(value, "points", path)?
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|point| {
                Ok(AnnPoint {
                    ef: number(point, "ef", path)? as usize,
                    recall: number(point, "recall", path)?,
                    queries_per_second: number(point, "queries_per_second", path)?,
                    queries_per_cpu_second: point.get("queries_per_cpu_second").and_then(Value::as_f64),
                })
            })
            .collect::<Result<Vec<_>, BenchError>>()?;
        Ok(Self {
            library: text(value, "library", path)?,
            version: text(value, "version", path)?,
            subset: text(value, "subset", path)?,
            base_count: number(value, "base_count", path)? as usize,
            query_count: number(value, "query_count", path)? as usize,
            m: number(value, "m", path)? as usize,
            ef_construction: number(value, "ef_construction", path)? as usize,
            k: number(value, "k", path)? as usize,
            build_seconds: number(value, "build_seconds", path)?,
            build_cpu_seconds: value.get("build_cpu_seconds").and_then(Value::as_f64),
            index_bytes_per_vector: number(value, "index_bytes_per_vector", path)?,
            resident_bytes_per_vector: value.get("resident_bytes_per_vector").and_then(Value::as_f64),
            points,
            load_average: triple(value.get("load_average")),
        })
    }

    /// The highest QPS among points with recall at least `recall`, interpolating linearly (in recall) between the
    /// last point below it and the first at or above it, so two curves are compared at the same recall.
    pub fn queries_per_second_at_recall(&self, recall: f64) -> Option<f64> {
        Self::at_recall(self.points.iter().map(|point| (point.recall, point.queries_per_second)), recall)
    }

    /// As [`AnnResult::queries_per_second_at_recall`] for queries per CPU second (`None` when not measured).
    pub fn queries_per_cpu_second_at_recall(&self, recall: f64) -> Option<f64> {
        let points: Option<Vec<(f64, f64)>> =
            self.points.iter().map(|point| Some((point.recall, point.queries_per_cpu_second?))).collect();
        Self::at_recall(points?.into_iter(), recall)
    }

    fn at_recall(points: impl Iterator<Item = (f64, f64)>, recall: f64) -> Option<f64> {
        let mut best: Option<f64> = None;
        let mut previous: Option<(f64, f64)> = None;
        for (point_recall, rate) in points {
            if point_recall >= recall {
                let mut value = rate;
                if let Some((below_recall, below_rate)) =
                    previous.filter(|&(below_recall, _)| below_recall < recall && point_recall > below_recall)
                {
                    let fraction = (recall - below_recall) / (point_recall - below_recall);
                    value = below_rate + fraction * (rate - below_rate);
                }
                best = Some(best.map_or(value, |best: f64| best.max(value)));
            }
            previous = Some((point_recall, rate));
        }
        best
    }
}

/// Mean recall@k of `found` (ids per query) against `subset`'s truth, distances recomputed on the unit vectors
/// `base_unit` and `queries_unit`.
pub fn mean_recall(subset: &Subset, base_unit: &[f32], queries_unit: &[f32], found: &[Vec<u64>], k: usize) -> f64 {
    let dimension = subset.dimension;
    let mut hits = 0;
    for (query_index, (query, ids)) in queries_unit.chunks_exact(dimension).zip(found).enumerate() {
        let kth = subset.kth_true_distance(query_index, k).unwrap_or(f32::NEG_INFINITY);
        let distances = ids.iter().filter_map(|&id| {
            let start = (id as usize).checked_mul(dimension)?;
            base_unit.get(start..start + dimension).map(|vector| cosine_distance(query, vector))
        });
        hits += hits_within(distances, kth, k);
    }
    hits as f64 / (found.len().max(1) * k) as f64
}

/// Builds vecdb's [`HnswIndex`] (cosine, `f32` vectors) over `subset` and measures it.
///
/// # Errors
/// [`BenchError::Usage`] for bad settings, [`BenchError::VecDb`] when the index rejects a vector.
pub fn measure_vecdb(subset: &Subset, settings: &AnnSettings) -> Result<AnnResult, BenchError> {
    settings.validate()?;
    let dimension = subset.dimension;
    let mut base_unit = subset.base.clone();
    normalize_rows(&mut base_unit, dimension);
    let mut queries_unit = subset.queries.clone();
    normalize_rows(&mut queries_unit, dimension);
    let load = load_average();

    let mut config = HnswConfig::new(dimension, Metric::Cosine);
    config.m = settings.m;
    config.ef_construction = settings.ef_construction;
    let resident_before = resident_bytes();
    let started = Instant::now();
    let cpu_started = thread_cpu_seconds();
    let mut index = HnswIndex::new(config)?;
    let count = subset.base_count();
    for (id, vector) in subset.base.chunks_exact(dimension).enumerate() {
        index.insert(id as u64, vector)?;
        if (id + 1) % 50_000 == 0 {
            eprintln!("  vecdb: {} / {count} inserted after {:.1} s", id + 1, started.elapsed().as_secs_f64());
        }
    }
    let build_seconds = started.elapsed().as_secs_f64();
    let build_cpu_seconds = thread_cpu_seconds() - cpu_started;
    let resident_after = resident_bytes();
    eprintln!("  vecdb: built {count} in {build_seconds:.1} s");

    // Passes go round the ef list (pass 1 of every ef, then pass 2, ...), so a burst of load from elsewhere on the
    // machine slows one pass of several efs rather than every pass of one.
    // Fastest pass per ef: (wall seconds, CPU seconds), each the minimum over the passes.
    let mut fastest = vec![(f64::INFINITY, f64::INFINITY); settings.efs.len()];
    let mut found: Vec<Vec<Vec<u64>>> = vec![Vec::new(); settings.efs.len()];
    for pass in 0..settings.repetitions {
        for ((&ef, fastest), found) in settings.efs.iter().zip(&mut fastest).zip(&mut found) {
            let started = Instant::now();
            let cpu_started = thread_cpu_seconds();
            for query in subset.queries.chunks_exact(dimension) {
                let hits = index.search(query, settings.k, Some(ef), None)?;
                if pass == 0 {
                    found.push(hits.iter().map(|&(id, _)| id).collect::<Vec<u64>>());
                }
                std::hint::black_box(hits);
            }
            let cpu_seconds = thread_cpu_seconds() - cpu_started;
            *fastest = (fastest.0.min(started.elapsed().as_secs_f64()), fastest.1.min(cpu_seconds));
        }
    }
    let mut points = Vec::new();
    for ((&ef, (wall, cpu)), found) in settings.efs.iter().zip(fastest).zip(&found) {
        let recall = mean_recall(subset, &base_unit, &queries_unit, found, settings.k);
        let queries = subset.query_count() as f64;
        let (queries_per_second, queries_per_cpu_second) = (queries / wall, queries / cpu);
        eprintln!(
            "  vecdb: ef {ef:4}: recall@{} {recall:.4}, {queries_per_second:8.0} queries/s, {queries_per_cpu_second:8.0} \
             per CPU second",
            settings.k
        );
        points.push(AnnPoint { ef, recall, queries_per_second, queries_per_cpu_second: Some(queries_per_cpu_second) });
    }
    let per_vector = |bytes: f64| bytes / count.max(1) as f64;
    Ok(AnnResult {
        library: "vecdb".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        subset: subset.name.clone(),
        base_count: count,
        query_count: subset.query_count(),
        m: settings.m,
        ef_construction: settings.ef_construction,
        k: settings.k,
        build_seconds,
        build_cpu_seconds: Some(build_cpu_seconds),
        index_bytes_per_vector: per_vector(index.heap_bytes() as f64),
        resident_bytes_per_vector: resident_before
            .zip(resident_after)
            .map(|(before, after)| per_vector(after.saturating_sub(before) as f64)),
        points,
        load_average: load,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(points: &[(usize, f64, f64)]) -> AnnResult {
        AnnResult {
            library: "x".into(),
            version: "1".into(),
            subset: "100k".into(),
            base_count: 10,
            query_count: 2,
            m: 16,
            ef_construction: 200,
            k: 10,
            build_seconds: 1.5,
            build_cpu_seconds: Some(1.4),
            index_bytes_per_vector: 300.0,
            resident_bytes_per_vector: None,
            points: points
                .iter()
                .map(|&(ef, recall, queries_per_second)| AnnPoint {
                    ef,
                    recall,
                    queries_per_second,
                    queries_per_cpu_second: Some(queries_per_second * 1.1),
                })
                .collect(),
            load_average: Some([1.0, 2.0, 3.0]),
        }
    }

    #[test]
    fn results_round_trip_through_json() {
        let original = result(&[(16, 0.8, 9000.0), (32, 0.9, 7000.0)]);
        let decoded = AnnResult::from_json(&original.to_json(), Path::new("x.json")).unwrap();
        assert_eq!(decoded, original);
        assert!(matches!(AnnResult::from_json(&json!({}), Path::new("x.json")), Err(BenchError::Json { .. })));
    }

    #[test]
    fn qps_at_a_recall_interpolates_between_the_points_around_it() {
        let curve = result(&[(16, 0.90, 10_000.0), (32, 0.94, 8_000.0), (64, 0.96, 6_000.0), (128, 0.99, 3_000.0)]);
        // 0.95 is halfway between 0.94 and 0.96.
        assert!((curve.queries_per_second_at_recall(0.95).unwrap() - 7_000.0).abs() < 1e-6);
        assert_eq!(curve.queries_per_second_at_recall(0.96), Some(6_000.0));
        assert_eq!(curve.queries_per_second_at_recall(0.999), None);
        assert_eq!(curve.queries_per_second_at_recall(0.5), Some(10_000.0));
        assert!((curve.queries_per_cpu_second_at_recall(0.95).unwrap() - 7_700.0).abs() < 1e-6);
        let mut unmeasured = curve.clone();
        unmeasured.points[0].queries_per_cpu_second = None;
        assert_eq!(unmeasured.queries_per_cpu_second_at_recall(0.95), None);
    }

    #[test]
    fn vecdb_finds_the_true_neighbors_of_a_small_subset() {
        let dimension = 8;
        let mut rng = crate::rng::SplitMix64::new(5);
        let mut values = |count: usize| -> Vec<f32> {
            (0..count * dimension).map(|_| (rng.next_u64() >> 40) as f32 / (1 << 24) as f32 - 0.5).collect()
        };
        let base = values(500);
        let queries = values(20);
        let truth = crate::truth::cosine_top_k(&base, &queries, dimension, 10, 2, false).unwrap();
        let subset = Subset {
            name: "tiny".into(),
            dimension,
            base,
            queries,
            truth_k: 10,
            truth_ids: truth.ids,
            truth_distances: truth.distances,
        };
        let settings = AnnSettings { efs: vec![10, 64], repetitions: 1, ..AnnSettings::default() };
        let measured = measure_vecdb(&subset, &settings).unwrap();
        assert_eq!(measured.points.len(), 2);
        assert!(measured.points[1].recall > 0.95, "{measured:?}");
        assert!(measured.index_bytes_per_vector > (dimension * 4) as f64);
        assert!(measured.build_cpu_seconds.is_some_and(|seconds| seconds > 0.0));
        assert!(measured.points.iter().all(|point| point.queries_per_cpu_second.is_some_and(|rate| rate > 0.0)));
        assert!(matches!(
            measure_vecdb(&subset, &AnnSettings { efs: Vec::new(), ..settings.clone() }),
            Err(BenchError::Usage(_))
        ));
        assert!(matches!(
            measure_vecdb(&subset, &AnnSettings { repetitions: REPETITIONS_MAX + 1, ..settings }),
            Err(BenchError::Usage(_))
        ));
    }
}
