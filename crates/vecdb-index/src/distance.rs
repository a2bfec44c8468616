//! Distance metrics and their kernels.
//!
//! Every kernel walks its inputs in chunks of [`LANES`] `f32`s (then one chunk of [`LANES_HALF`], then single
//! values) into [`LANES`] independent accumulators. Independent accumulators break the add-after-add dependency
//! chain, so LLVM turns each chunk into a few SIMD multiplies and adds: SSE2 on any x86_64, AVX2 with
//! `-C target-cpu=native`, SIMD128 on `wasm32` with `-C target-feature=+simd128`. The code is plain safe Rust:
//! no intrinsics, no `unsafe`, no nightly.
//!
//! Because of the accumulators the sum is not taken in the order of a naive loop, so results can differ from
//! one in the last bits; they are the same on every run and every platform with the same instruction width.
//!
//! Smaller distances mean closer vectors under every metric:
//!
//! | metric | distance | notes |
//! |---|---|---|
//! | [`Metric::L2`] | `sum((a - b)^2)` | squared: the root is monotonic, so ranking is unchanged |
//! | [`Metric::Cosine`] | `1 - dot(a, b)` | vectors (and queries) are normalized to length 1 first |
//! | [`Metric::DotProduct`] | `-dot(a, b)` | maximum inner product search |

/// Width of the main chunk every kernel processes at once.
pub const LANES: usize = 16;
/// Width of the one smaller chunk processed after the main chunks.
pub const LANES_HALF: usize = LANES / 2;

/// How distances between vectors are measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Metric {
    /// Squared Euclidean distance.
    L2,
    /// Cosine distance `1 - cos(a, b)`; vectors are normalized at insert and queries at search.
    Cosine,
    /// Negated inner product (smaller is closer, as for the other metrics).
    DotProduct,
}

impl Metric {
    /// The metric's code in encodings (stable: part of the on-disk format).
    pub const fn code(self) -> u8 {
        match self {
            Self::L2 => 0,
            Self::Cosine => 1,
            Self::DotProduct => 2,
        }
    }

    /// The metric with this code, if any.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::L2),
            1 => Some(Self::Cosine),
            2 => Some(Self::DotProduct),
            _ => None,
        }
    }

    /// The distance between two vectors of equal length (already normalized under [`Metric::Cosine`]).
    #[inline]
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Self::L2 => l2_squared(a, b),
            Self::Cosine => 1.0 - dot(a, b),
            Self::DotProduct => -dot(a, b),
        }
    }
}

/// Adds the 16 accumulators pairwise (a balanced tree, so the rounding does not depend on a long chain).
#[inline(always)]
fn reduce(sums: [f32; LANES]) -> f32 {
    let [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15] = sums;
    (((a0 + a8) + (a4 + a12)) + ((a2 + a10) + (a6 + a14))) + (((a1 + a9) + (a5 + a13)) + ((a3 + a11) + (a7 + a15)))
}

/// Splits `values` into whole [`LANES`] chunks, then at most one [`LANES_HALF`] chunk, then the rest.
#[inline(always)]
fn split_chunks<T>(values: &[T]) -> (&[T], &[T], &[T]) {
    let whole = values.len() - values.len() % LANES;
    let (main, rest) = values.split_at(whole);
    let half = if rest.len() >= LANES_HALF { LANES_HALF } else { 0 };
    let (half, tail) = rest.split_at(half);
    (main, half, tail)
}

/// Squared Euclidean distance. Both slices must have the same length (checked in debug builds; in release the
/// longer one is cut to the shorter).
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (a_main, a_half, a_tail) = split_chunks(a);
    let (b_main, b_half, b_tail) = split_chunks(b);
    let mut sums = [0.0f32; LANES];
    for (x, y) in a_main.chunks_exact(LANES).zip(b_main.chunks_exact(LANES)) {
        for ((sum, x), y) in sums.iter_mut().zip(x).zip(y) {
            let difference = x - y;
            *sum += difference * difference;
        }
    }
    for ((sum, x), y) in sums.iter_mut().zip(a_half).zip(b_half) {
        let difference = x - y;
        *sum += difference * difference;
    }
    for ((sum, x), y) in sums.iter_mut().zip(a_tail).zip(b_tail) {
        let difference = x - y;
        *sum += difference * difference;
    }
    reduce(sums)
}

/// Inner product. Both slices must have the same length (as for [`l2_squared`]).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (a_main, a_half, a_tail) = split_chunks(a);
    let (b_main, b_half, b_tail) = split_chunks(b);
    let mut sums = [0.0f32; LANES];
    for (x, y) in a_main.chunks_exact(LANES).zip(b_main.chunks_exact(LANES)) {
        for ((sum, x), y) in sums.iter_mut().zip(x).zip(y) {
            *sum += x * y;
        }
    }
    for ((sum, x), y) in sums.iter_mut().zip(a_half).zip(b_half) {
        *sum += x * y;
    }
    for ((sum, x), y) in sums.iter_mut().zip(a_tail).zip(b_tail) {
        *sum += x * y;
    }
    reduce(sums)
}

/// The squared length `dot(a, a)`.
#[inline]
pub fn norm_squared(a: &[f32]) -> f32 {
    dot(a, a)
}

/// `sum(weights[i] * codes[i])`: the code-dependent part of an inner product with a scalar-quantized vector.
#[inline]
pub fn weighted_sum_u8(weights: &[f32], codes: &[u8]) -> f32 {
    debug_assert_eq!(weights.len(), codes.len());
    let (w_main, w_half, w_tail) = split_chunks(weights);
    let (c_main, c_half, c_tail) = split_chunks(codes);
    let mut sums = [0.0f32; LANES];
    for (w, c) in w_main.chunks_exact(LANES).zip(c_main.chunks_exact(LANES)) {
        for ((sum, w), &c) in sums.iter_mut().zip(w).zip(c) {
            *sum += w * f32::from(c);
        }
    }
    for ((sum, w), &c) in sums.iter_mut().zip(w_half).zip(c_half) {
        *sum += w * f32::from(c);
    }
    for ((sum, w), &c) in sums.iter_mut().zip(w_tail).zip(c_tail) {
        *sum += w * f32::from(c);
    }
    reduce(sums)
}

/// `sum(weights[i] * (targets[i] - codes[i])^2)`: a squared Euclidean distance to a scalar-quantized vector,
/// measured in code units and scaled back per dimension.
#[inline]
pub fn weighted_l2_u8(targets: &[f32], weights: &[f32], codes: &[u8]) -> f32 {
    debug_assert_eq!(targets.len(), codes.len());
    debug_assert_eq!(weights.len(), codes.len());
    let (t_main, t_half, t_tail) = split_chunks(targets);
    let (w_main, w_half, w_tail) = split_chunks(weights);
    let (c_main, c_half, c_tail) = split_chunks(codes);
    let mut sums = [0.0f32; LANES];
    for ((t, w), c) in t_main.chunks_exact(LANES).zip(w_main.chunks_exact(LANES)).zip(c_main.chunks_exact(LANES)) {
        for (((sum, t), w), &c) in sums.iter_mut().zip(t).zip(w).zip(c) {
            let difference = t - f32::from(c);
            *sum += w * difference * difference;
        }
    }
    for (((sum, t), w), &c) in sums.iter_mut().zip(t_half).zip(w_half).zip(c_half) {
        let difference = t - f32::from(c);
        *sum += w * difference * difference;
    }
    for (((sum, t), w), &c) in sums.iter_mut().zip(t_tail).zip(w_tail).zip(c_tail) {
        let difference = t - f32::from(c);
        *sum += w * difference * difference;
    }
    reduce(sums)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum()
    }

    fn naive_l2(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum()
    }

    fn values(length: usize, seed: u32) -> Vec<f32> {
        (0..length)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn kernels_match_naive_sums_for_every_length_around_the_chunk_sizes() {
        for length in 0..=70 {
            let a = values(length, 1);
            let b = values(length, 7);
            assert!((f64::from(dot(&a, &b)) - naive_dot(&a, &b)).abs() < 1e-3, "dot, length {length}");
            assert!((f64::from(l2_squared(&a, &b)) - naive_l2(&a, &b)).abs() < 1e-3, "l2, length {length}");
            let codes: Vec<u8> = (0..length).map(|i| (i * 37 % 256) as u8).collect();
            let naive_weighted: f64 = a.iter().zip(&codes).map(|(w, &c)| f64::from(*w) * f64::from(c)).sum();
            assert!((f64::from(weighted_sum_u8(&a, &codes)) - naive_weighted).abs() < 1e-2, "u8 dot, length {length}");
            let naive_weighted_l2: f64 = b
                .iter()
                .zip(&a)
                .zip(&codes)
                .map(|((t, w), &c)| f64::from(w.abs()) * (f64::from(*t) - f64::from(c)).powi(2))
                .sum();
            let weights: Vec<f32> = a.iter().map(|w| w.abs()).collect();
            let fast = f64::from(weighted_l2_u8(&b, &weights, &codes));
            assert!((fast - naive_weighted_l2).abs() <= 1e-5 * naive_weighted_l2.max(1.0), "u8 l2, length {length}");
        }
    }

    #[test]
    fn metric_distances_order_closer_vectors_first() {
        let query = [1.0, 0.0];
        let near = [0.9, 0.1];
        let far = [-1.0, 0.0];
        for metric in [Metric::L2, Metric::Cosine, Metric::DotProduct] {
            assert!(metric.distance(&query, &near) < metric.distance(&query, &far), "{metric:?}");
        }
        assert_eq!(Metric::L2.distance(&query, &far), 4.0);
        assert_eq!(Metric::Cosine.distance(&query, &far), 2.0);
        assert_eq!(Metric::DotProduct.distance(&query, &far), 1.0);
    }

    #[test]
    fn metric_codes_round_trip() {
        for metric in [Metric::L2, Metric::Cosine, Metric::DotProduct] {
            assert_eq!(Metric::from_code(metric.code()), Some(metric));
        }
        assert_eq!(Metric::from_code(3), None);
    }
}
