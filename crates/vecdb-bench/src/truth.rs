//! Exact top-k ground truth under cosine distance, by brute force on every core, and the ann-benchmarks recall.
//!
//! Cosine distance is `1 - cos(a, b)`, computed as `1 - dot(a, b)` on vectors normalized to unit length (what
//! vecdb and hnswlib compute). Results are sorted by distance, then by id, so ties are broken the same way
//! whatever the number of threads.

use std::collections::BinaryHeap;
use std::time::Instant;

use vecdb::index::distance::dot;

use crate::error::BenchError;

/// The most neighbors kept per query.
pub const TRUTH_K_MAX: usize = 1024;
/// Queries scored together against each base vector (they stay in the L1 cache while the base streams by).
pub const QUERY_BLOCK: usize = 32;
/// Slack added to the k-th true distance when counting recall, as ann-benchmarks does (its `epsilon`).
pub const RECALL_EPSILON: f32 = 1e-3;

/// The exact `k` nearest base vectors of each query.
#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    /// Neighbors per query.
    pub k: usize,
    /// `queries * k` base row numbers, closest first.
    pub ids: Vec<u32>,
    /// Their cosine distances.
    pub distances: Vec<f32>,
}

/// Scales every `dimension`-long row of `values` to unit length (zero rows stay zero).
pub fn normalize_rows(values: &mut [f32], dimension: usize) {
    for row in values.chunks_exact_mut(dimension.max(1)) {
        let norm = dot(row, row).sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|value| *value /= norm);
        }
    }
}

/// The cosine distance of two unit vectors.
#[inline]
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    1.0 - dot(a, b)
}

/// `distance` mapped to a `u32` whose order is the float's order (negative values included).
#[inline]
fn distance_key(distance: f32) -> u32 {
    let bits = distance.to_bits();
    if bits & 0x8000_0000 != 0 { !bits } else { bits | 0x8000_0000 }
}

#[inline]
fn key_distance(key: u32) -> f32 {
    let bits = if key & 0x8000_0000 != 0 { key & 0x7FFF_FFFF } else { !key };
    f32::from_bits(bits)
}

/// The exact `k` nearest rows of `base` for every row of `queries` under cosine distance, on `threads` threads
/// (`std::thread::scope`, each taking a contiguous range of queries). Both inputs are normalized here (copies).
/// When `progress` is set, the first thread prints its progress to stderr.
///
/// # Errors
/// [`BenchError::Dataset`] when the lengths are not multiples of `dimension`, `k` is 0 or above
/// [`TRUTH_K_MAX`] or the base count, or the base has more than `u32::MAX` rows.
pub fn cosine_top_k(
    base: &[f32],
    queries: &[f32],
    dimension: usize,
    k: usize,
    threads: usize,
    progress: bool,
) -> Result<Truth, BenchError> {
    let invalid = |reason: String| Err(BenchError::Dataset { reason });
    if dimension == 0 || base.len() % dimension != 0 || queries.len() % dimension != 0 {
        return invalid(format!("lengths {} and {} are not multiples of {dimension}", base.len(), queries.len()));
    }
    let base_count = base.len() / dimension;
    if k == 0 || k > TRUTH_K_MAX || k > base_count || u32::try_from(base_count).is_err() {
        return invalid(format!("k = {k} with {base_count} base vectors (TRUTH_K_MAX is {TRUTH_K_MAX})"));
    }
    let mut base = base.to_vec();
    normalize_rows(&mut base, dimension);
    let mut queries = queries.to_vec();
    normalize_rows(&mut queries, dimension);
    let query_count = queries.len() / dimension;
    let mut ids = vec![0_u32; query_count * k];
    let mut distances = vec![0.0_f32; query_count * k];
    let threads = threads.clamp(1, query_count.max(1));
    let queries_per_thread = query_count.div_ceil(threads).max(1);
    let started = Instant::now();
    std::thread::scope(|scope| {
        let parts = queries
            .chunks(queries_per_thread * dimension)
            .zip(ids.chunks_mut(queries_per_thread * k))
            .zip(distances.chunks_mut(queries_per_thread * k));
        for (thread, ((queries, ids), distances)) in parts.enumerate() {
            let base = &base;
            scope.spawn(move || {
                let report = progress && thread == 0;
                top_k_range(base, queries, dimension, k, ids, distances, report.then_some(started));
            });
        }
    });
    Ok(Truth { k, ids, distances })
}

/// One thread's share: blocks of [`QUERY_BLOCK`] queries, each scored against every base row.
fn top_k_range(
    base: &[f32],
    queries: &[f32],
    dimension: usize,
    k: usize,
    ids: &mut [u32],
    distances: &mut [f32],
    progress: Option<Instant>,
) {
    let query_count = queries.len() / dimension;
    let mut heaps: Vec<BinaryHeap<u64>> = (0..QUERY_BLOCK).map(|_| BinaryHeap::with_capacity(k + 1)).collect();
    let mut worst = [u64::MAX; QUERY_BLOCK];
    let mut reported = 0;
    for (block_index, block) in queries.chunks(QUERY_BLOCK * dimension).enumerate() {
        heaps.iter_mut().for_each(BinaryHeap::clear);
        worst.fill(u64::MAX);
        for (row, vector) in base.chunks_exact(dimension).enumerate() {
            for ((query, heap), worst) in block.chunks_exact(dimension).zip(&mut heaps).zip(&mut worst) {
                let entry = (u64::from(distance_key(cosine_distance(query, vector))) << 32) | row as u64;
                if entry < *worst {
                    heap.push(entry);
                    if heap.len() > k {
                        heap.pop();
                    }
                    if heap.len() == k {
                        *worst = heap.peek().copied().unwrap_or(u64::MAX);
                    }
                }
            }
        }
        let start = block_index * QUERY_BLOCK * k;
        let outputs = ids.get_mut(start..).unwrap_or_default().chunks_mut(k);
        let distance_outputs = distances.get_mut(start..).unwrap_or_default().chunks_mut(k);
        for ((heap, ids), distances) in heaps.iter_mut().zip(outputs).zip(distance_outputs) {
            let sorted = std::mem::take(heap).into_sorted_vec();
            for ((id, distance), entry) in ids.iter_mut().zip(distances.iter_mut()).zip(&sorted) {
                *id = *entry as u32;
                *distance = key_distance((*entry >> 32) as u32);
            }
            *heap = BinaryHeap::from(sorted);
        }
        if let Some(started) = progress {
            let done = ((block_index + 1) * QUERY_BLOCK).min(query_count);
            let percent = done * 100 / query_count.max(1);
            if percent >= reported + 10 {
                reported = percent - percent % 10;
                eprintln!("  ground truth: {percent:3}% after {:.0} s", started.elapsed().as_secs_f64());
            }
        }
    }
}

/// Recall@k of one query counted the ann-benchmarks way: a returned neighbor counts when its true distance is at
/// most the k-th true distance plus [`RECALL_EPSILON`]. `found_distances` are the exact distances of the returned
/// ids (recomputed, not the library's), `kth_true_distance` the k-th smallest true distance. Returns the number
/// of hits among the first `k` found.
pub fn hits_within(found_distances: impl IntoIterator<Item = f32>, kth_true_distance: f32, k: usize) -> usize {
    let threshold = kth_true_distance + RECALL_EPSILON;
    found_distances.into_iter().take(k).filter(|&distance| distance <= threshold).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic vectors: row r, column c.
    fn vectors(count: usize, dimension: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::SplitMix64::new(seed);
        (0..count * dimension).map(|_| (rng.next_u64() >> 40) as f32 / (1 << 24) as f32 - 0.5).collect()
    }

    fn brute_force(base: &[f32], query: &[f32], dimension: usize, k: usize) -> Vec<(f32, u32)> {
        let mut base = base.to_vec();
        normalize_rows(&mut base, dimension);
        let mut query = query.to_vec();
        normalize_rows(&mut query, dimension);
        let mut all: Vec<(f32, u32)> = base
            .chunks_exact(dimension)
            .enumerate()
            .map(|(row, vector)| (cosine_distance(&query, vector), row as u32))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.truncate(k);
        all
    }

    #[test]
    fn top_k_matches_a_full_sort_with_any_thread_count() {
        let (dimension, k) = (7, 5);
        let base = vectors(300, dimension, 1);
        let queries = vectors(70, dimension, 2);
        let one = cosine_top_k(&base, &queries, dimension, k, 1, false).unwrap();
        let three = cosine_top_k(&base, &queries, dimension, k, 3, false).unwrap();
        assert_eq!(one, three);
        for (index, query) in queries.chunks_exact(dimension).enumerate() {
            let expected = brute_force(&base, query, dimension, k);
            let ids = &one.ids[index * k..(index + 1) * k];
            let distances = &one.distances[index * k..(index + 1) * k];
            assert_eq!(ids, expected.iter().map(|&(_, id)| id).collect::<Vec<_>>());
            assert_eq!(distances, expected.iter().map(|&(distance, _)| distance).collect::<Vec<_>>());
        }
    }

    #[test]
    fn ties_go_to_the_smaller_row_and_k_may_equal_the_base_count() {
        // Rows 0 and 2 are the same vector; scaled copies are the same direction.
        let base = [1.0, 0.0, 0.0, 1.0, 2.0, 0.0];
        let truth = cosine_top_k(&base, &[3.0, 0.0], 2, 3, 2, false).unwrap();
        assert_eq!(truth.ids, vec![0, 2, 1]);
        assert!(truth.distances[0].abs() < 1e-6 && (truth.distances[2] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn bad_shapes_and_k_are_typed_errors() {
        let base = [1.0, 0.0, 0.0, 1.0];
        assert!(matches!(cosine_top_k(&base, &[1.0], 2, 1, 1, false), Err(BenchError::Dataset { .. })));
        assert!(matches!(cosine_top_k(&base, &[1.0, 0.0], 2, 0, 1, false), Err(BenchError::Dataset { .. })));
        assert!(matches!(cosine_top_k(&base, &[1.0, 0.0], 2, 3, 1, false), Err(BenchError::Dataset { .. })));
        assert!(matches!(cosine_top_k(&base, &[1.0, 0.0], 0, 1, 1, false), Err(BenchError::Dataset { .. })));
    }

    #[test]
    fn k_at_the_limit_is_accepted_and_one_past_it_is_not() {
        let dimension = 2;
        let base = vectors(TRUTH_K_MAX + 1, dimension, 3);
        let query = [1.0, 0.5];
        assert_eq!(cosine_top_k(&base, &query, dimension, TRUTH_K_MAX, 1, false).unwrap().ids.len(), TRUTH_K_MAX);
        assert!(matches!(
            cosine_top_k(&base, &query, dimension, TRUTH_K_MAX + 1, 1, false),
            Err(BenchError::Dataset { .. })
        ));
    }

    #[test]
    fn distance_keys_keep_float_order_including_negatives() {
        let values = [-1.5_f32, -1e-9, 0.0, 1e-9, 0.25, 2.0];
        for pair in values.windows(2) {
            assert!(distance_key(pair[0]) < distance_key(pair[1]));
        }
        for value in values {
            assert_eq!(key_distance(distance_key(value)), value);
        }
    }

    #[test]
    fn recall_counts_neighbors_within_the_kth_distance_plus_epsilon() {
        // k = 3, the 3rd true distance is 0.3: 0.3005 is within epsilon, 0.302 is not; only 3 are looked at.
        assert_eq!(hits_within([0.1, 0.3005, 0.302, 0.0], 0.3, 3), 2);
        assert_eq!(hits_within([0.1, 0.2, 0.3], 0.3, 3), 3);
        assert_eq!(hits_within([], 0.3, 3), 0);
    }
}
