//! Vector storage: every vector as `f32` in one contiguous buffer, plus optional 8-bit scalar quantization.
//!
//! # `f32` storage
//! [`VectorStore`] keeps all rows in one `Vec<f32>`, row-major, with a stride equal to the dimension, so row
//! `i` is `values[i * dimension..(i + 1) * dimension]` and consecutive rows are adjacent in memory.
//!
//! # 8-bit scalar quantization
//! [`ScalarQuantizer`] keeps one `u8` code per component beside the `f32` rows (both encodings are kept: the
//! codes make graph traversal read a quarter of the bytes, and the `f32` rows re-rank the final candidates and
//! build the graph). Each dimension `d` has a range `[low_d, low_d + 255 * step_d]`; a component `x` is encoded as
//! `round((x - low_d) / step_d)` clamped to `0..=255` and decodes to `low_d + code * step_d`.
//!
//! The range comes from [`QuantizationRange`]:
//! - [`QuantizationRange::Fixed`]: the same `[min, max]` for every dimension, set in the configuration. Values
//!   outside it are clamped. Codes never change once written.
//! - [`QuantizationRange::Trained`]: per dimension, the range covers every value seen so far. When a new value
//!   falls outside, that side of that dimension's range is widened to the value plus a margin of
//!   1/[`TRAINED_MARGIN_DIVISOR`] of the new span, and that dimension's codes are re-encoded for every stored row
//!   from the `f32` values. The margin makes widening rare once a few hundred vectors are in (each widening at
//!   least grows the span geometrically), and re-encoding keeps every code consistent with the current range, so
//!   the result depends only on the order of inserts (replaying the same inserts gives the same codes).

use super::distance::{Metric, norm_squared, weighted_l2_u8, weighted_sum_u8};
use crate::error::IndexError;

/// A trained range is widened past a new extreme value by `1 / TRAINED_MARGIN_DIVISOR` of its new span.
pub const TRAINED_MARGIN_DIVISOR: f32 = 8.0;
/// Bytes per cache line (64 on the x86_64, aarch64 and wasm hosts we target).
const CACHE_LINE_BYTES: usize = 64;
/// `f32`s per cache line.
const CACHE_LINE_F32S: usize = CACHE_LINE_BYTES / size_of::<f32>();
/// The largest code.
const CODE_MAX: f32 = 255.0;

/// Checks `vector` against the dimension and the metric's rules and writes the form that is stored (normalized
/// to length 1 under [`Metric::Cosine`], unchanged otherwise) into `out`.
///
/// # Errors
/// [`IndexError::DimensionMismatch`], [`IndexError::NonFiniteValue`], [`IndexError::ZeroVectorUnderCosine`].
pub fn prepare_vector(metric: Metric, dimension: usize, vector: &[f32], out: &mut Vec<f32>) -> Result<(), IndexError> {
    if vector.len() != dimension {
        return Err(IndexError::DimensionMismatch { expected: dimension, found: vector.len() });
    }
    if let Some(index) = vector.iter().position(|value| !value.is_finite()) {
        return Err(IndexError::NonFiniteValue { index });
    }
    out.clear();
    out.extend_from_slice(vector);
    if metric == Metric::Cosine {
        // Sum in f64: squares of large f32s overflow f32, squares of tiny ones underflow to zero.
        let norm_squared_wide: f64 = vector.iter().map(|&value| f64::from(value) * f64::from(value)).sum();
        if norm_squared_wide == 0.0 {
            return Err(IndexError::ZeroVectorUnderCosine);
        }
        let inverse = 1.0 / norm_squared_wide.sqrt();
        for value in out.iter_mut() {
            let normalized = (f64::from(*value) * inverse) as f32;
            *value = normalized;
        }
        debug_assert!((norm_squared(out) - 1.0).abs() < 1e-3);
    }
    Ok(())
}

/// All stored vectors as `f32`, in one row-major buffer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VectorStore {
    dimension: usize,
    values: Vec<f32>,
}

impl VectorStore {
    /// An empty store of rows of `dimension` components.
    pub fn new(dimension: usize) -> Self {
        Self { dimension, values: Vec::new() }
    }

    /// A store over existing row-major `values` (whose length must be a multiple of `dimension`).
    pub(crate) fn from_values(dimension: usize, values: Vec<f32>) -> Self {
        debug_assert!(dimension > 0 && values.len() % dimension == 0);
        Self { dimension, values }
    }

    /// Components per row.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.dimension).unwrap_or(0)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Row `row`, or an empty slice past the end.
    #[inline(always)]
    pub fn row(&self, row: u32) -> &[f32] {
        let start = row as usize * self.dimension;
        self.values.get(start..start + self.dimension).unwrap_or_default()
    }

    /// Reads one value from every cache line of row `row` and returns their bits folded together: issuing these
    /// loads early lets the cache misses of several rows overlap (a prefetch in safe Rust).
    #[inline(always)]
    pub fn touch(&self, row: u32) -> u32 {
        let row = self.row(row);
        row.iter().step_by(CACHE_LINE_F32S).chain(row.last()).fold(0, |folded, value| folded ^ value.to_bits())
    }

    /// Appends a row (of exactly `dimension` components).
    pub fn push(&mut self, row: &[f32]) {
        debug_assert_eq!(row.len(), self.dimension);
        self.values.extend_from_slice(row);
    }

    /// Every component of every row, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.values
    }

    /// Bytes held by the buffer (its capacity).
    pub fn heap_bytes(&self) -> usize {
        self.values.capacity() * size_of::<f32>()
    }
}

/// Where a scalar quantizer's per-dimension ranges come from (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum QuantizationRange {
    /// Per dimension, the range of the values seen so far, widened (and codes re-encoded) as needed.
    Trained,
    /// One fixed range for every dimension; values outside are clamped.
    Fixed {
        /// Value encoded as code 0.
        min: f32,
        /// Value encoded as code 255.
        max: f32,
    },
}

/// 8-bit codes for every stored vector and the per-dimension ranges that decode them.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalarQuantizer {
    range: QuantizationRange,
    /// Per dimension: the value of code 0.
    lows: Vec<f32>,
    /// Per dimension: the value of one code step (zero while a trained dimension has seen one value only).
    steps: Vec<f32>,
    /// Row-major codes, stride = dimension.
    codes: Vec<u8>,
}

/// A query prepared for distances to quantized rows (see [`ScalarQuantizer::prepare_query`]).
#[derive(Clone, Debug, Default)]
pub struct QuantizedQuery {
    /// L2: the query in code units `(q - low) / step`. Dot: unused.
    targets: Vec<f32>,
    /// L2: `step^2`. Dot: `q * step`.
    weights: Vec<f32>,
    /// The code-independent part of the distance.
    constant: f32,
}

impl ScalarQuantizer {
    /// An empty quantizer for vectors of `dimension` components.
    pub fn new(range: QuantizationRange, dimension: usize) -> Self {
        let (lows, steps) = match range {
            QuantizationRange::Trained => (Vec::new(), Vec::new()),
            QuantizationRange::Fixed { min, max } => (vec![min; dimension], vec![(max - min) / CODE_MAX; dimension]),
        };
        Self { range, lows, steps, codes: Vec::new() }
    }

    /// Rebuilds a quantizer from its decoded parts (validated by the caller).
    pub(crate) fn from_parts(range: QuantizationRange, lows: Vec<f32>, steps: Vec<f32>, codes: Vec<u8>) -> Self {
        Self { range, lows, steps, codes }
    }

    /// Where the ranges come from.
    pub fn range(&self) -> QuantizationRange {
        self.range
    }

    /// Per dimension, the value of code 0 (empty before a trained quantizer has seen a vector).
    pub fn lows(&self) -> &[f32] {
        &self.lows
    }

    /// Per dimension, the value of one code step.
    pub fn steps(&self) -> &[f32] {
        &self.steps
    }

    /// All codes, row-major.
    pub fn codes(&self) -> &[u8] {
        &self.codes
    }

    /// Bytes held by the codes and ranges.
    pub fn heap_bytes(&self) -> usize {
        self.codes.capacity() + (self.lows.capacity() + self.steps.capacity()) * size_of::<f32>()
    }

    /// The codes of row `row`, or an empty slice past the end.
    #[inline(always)]
    pub fn row_codes(&self, row: u32, dimension: usize) -> &[u8] {
        let start = row as usize * dimension;
        self.codes.get(start..start + dimension).unwrap_or_default()
    }

    /// As [`VectorStore::touch`], for the codes of row `row`.
    #[inline(always)]
    pub fn touch(&self, row: u32, dimension: usize) -> u32 {
        let codes = self.row_codes(row, dimension);
        codes.iter().step_by(CACHE_LINE_BYTES).chain(codes.last()).fold(0, |folded, &code| folded ^ u32::from(code))
    }

    #[inline]
    fn encode(value: f32, low: f32, step: f32) -> u8 {
        if step > 0.0 {
            let code = ((value - low) / step).round().clamp(0.0, CODE_MAX);
            code as u8
        } else {
            0
        }
    }

    /// Encodes `row` (already pushed into `store` as its last row), widening trained ranges first when needed.
    pub fn push(&mut self, row: &[f32], store: &VectorStore) {
        let dimension = row.len();
        if self.range == QuantizationRange::Trained {
            if self.lows.is_empty() {
                self.lows = row.to_vec();
                self.steps = vec![0.0; dimension];
            } else {
                for (dimension_index, &value) in row.iter().enumerate() {
                    self.widen(dimension_index, value, store);
                }
            }
        }
        self.codes.extend(
            row.iter()
                .zip(self.lows.iter().zip(&self.steps))
                .map(|(&value, (&low, &step))| Self::encode(value, low, step)),
        );
    }

    /// Widens dimension `dimension_index` of a trained range to cover `value` and re-encodes that dimension of
    /// every row already coded.
    fn widen(&mut self, dimension_index: usize, value: f32, store: &VectorStore) {
        let (Some(low), Some(step)) = (self.lows.get_mut(dimension_index), self.steps.get_mut(dimension_index)) else {
            return;
        };
        let high = *low + *step * CODE_MAX;
        if value >= *low && value <= high {
            return;
        }
        let (mut new_low, mut new_high) = (low.min(value), high.max(value));
        let margin = (new_high - new_low) / TRAINED_MARGIN_DIVISOR;
        if value < *low {
            new_low -= margin;
        } else {
            new_high += margin;
        }
        let new_step = (new_high - new_low) / CODE_MAX;
        if !new_step.is_finite() {
            // The span overflows f32 (values near f32::MAX): keep the old range and clamp instead.
            return;
        }
        *low = new_low;
        *step = new_step;
        let dimension = store.dimension();
        let coded_rows = self.codes.len() / dimension.max(1);
        let column = store.as_slice().iter().skip(dimension_index).step_by(dimension.max(1)).take(coded_rows);
        let codes = self.codes.iter_mut().skip(dimension_index).step_by(dimension.max(1));
        for (code, &stored) in codes.zip(column) {
            *code = Self::encode(stored, new_low, new_step);
        }
    }

    /// Fills `prepared` so that [`ScalarQuantizer::distance`] gives `metric`'s distance from `query` to the
    /// decoded form of a row (the query itself is not quantized: asymmetric distance).
    pub fn prepare_query(&self, metric: Metric, query: &[f32], prepared: &mut QuantizedQuery) {
        prepared.targets.clear();
        prepared.weights.clear();
        let lows_steps = self.lows.iter().zip(&self.steps);
        match metric {
            Metric::L2 => {
                // (q - low - step * c)^2 = step^2 * ((q - low) / step - c)^2, or (q - low)^2 when step is 0.
                let mut constant = 0.0;
                for (&value, (&low, &step)) in query.iter().zip(lows_steps) {
                    if step > 0.0 {
                        prepared.targets.push((value - low) / step);
                        prepared.weights.push(step * step);
                    } else {
                        constant += (value - low) * (value - low);
                        prepared.targets.push(0.0);
                        prepared.weights.push(0.0);
                    }
                }
                prepared.constant = constant;
            }
            Metric::Cosine | Metric::DotProduct => {
                // dot(q, low + step * c) = dot(q, low) + sum(q * step * c).
                let mut constant = 0.0;
                for (&value, (&low, &step)) in query.iter().zip(lows_steps) {
                    constant += value * low;
                    prepared.weights.push(value * step);
                }
                prepared.constant = constant;
            }
        }
    }

    /// `metric`'s distance from a prepared query to the codes of one row.
    #[inline(always)]
    pub fn distance(metric: Metric, prepared: &QuantizedQuery, codes: &[u8]) -> f32 {
        match metric {
            Metric::L2 => prepared.constant + weighted_l2_u8(&prepared.targets, &prepared.weights, codes),
            Metric::Cosine => 1.0 - (prepared.constant + weighted_sum_u8(&prepared.weights, codes)),
            Metric::DotProduct => -(prepared.constant + weighted_sum_u8(&prepared.weights, codes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_vector_rejects_bad_input_with_typed_errors() {
        let mut out = Vec::new();
        assert!(matches!(
            prepare_vector(Metric::L2, 3, &[1.0, 2.0], &mut out),
            Err(IndexError::DimensionMismatch { expected: 3, found: 2 })
        ));
        assert!(matches!(
            prepare_vector(Metric::L2, 3, &[1.0, f32::NAN, 0.0], &mut out),
            Err(IndexError::NonFiniteValue { index: 1 })
        ));
        assert!(matches!(
            prepare_vector(Metric::DotProduct, 2, &[0.0, f32::NEG_INFINITY], &mut out),
            Err(IndexError::NonFiniteValue { index: 1 })
        ));
        assert!(matches!(
            prepare_vector(Metric::Cosine, 2, &[0.0, 0.0], &mut out),
            Err(IndexError::ZeroVectorUnderCosine)
        ));
        // A zero vector is fine where there is nothing to normalize.
        assert!(prepare_vector(Metric::L2, 2, &[0.0, 0.0], &mut out).is_ok());
    }

    #[test]
    fn cosine_vectors_are_normalized_even_when_tiny_or_huge() {
        let mut out = Vec::new();
        for scale in [1e-30_f32, 1.0, 1e30] {
            prepare_vector(Metric::Cosine, 2, &[3.0 * scale, 4.0 * scale], &mut out).unwrap();
            assert!((out[0] - 0.6).abs() < 1e-6 && (out[1] - 0.8).abs() < 1e-6, "{scale}: {out:?}");
        }
    }

    #[test]
    fn trained_codes_stay_consistent_with_the_range_after_widening() {
        let dimension = 3;
        let mut store = VectorStore::new(dimension);
        let mut quantizer = ScalarQuantizer::new(QuantizationRange::Trained, dimension);
        let mut state = 7_u64;
        for _ in 0..500 {
            let row: Vec<f32> = (0..dimension)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 100.0
                })
                .collect();
            store.push(&row);
            quantizer.push(&row, &store);
        }
        for row in 0..500_u32 {
            let codes = quantizer.row_codes(row, dimension);
            for ((&value, &code), (&low, &step)) in
                store.row(row).iter().zip(codes).zip(quantizer.lows().iter().zip(quantizer.steps()))
            {
                let decoded = low + f32::from(code) * step;
                assert!((decoded - value).abs() <= step * 0.5 + 1e-4, "{value} decoded as {decoded}");
            }
        }
    }

    #[test]
    fn quantized_distances_approximate_exact_ones() {
        let dimension = 20;
        let mut store = VectorStore::new(dimension);
        let mut quantizer = ScalarQuantizer::new(QuantizationRange::Fixed { min: -1.0, max: 1.0 }, dimension);
        let rows: Vec<Vec<f32>> =
            (0..10).map(|r| (0..dimension).map(|d| ((r * 7 + d * 3) % 11) as f32 / 5.5 - 1.0).collect()).collect();
        for row in &rows {
            store.push(row);
            quantizer.push(row, &store);
        }
        let query: Vec<f32> = (0..dimension).map(|d| (d % 5) as f32 / 5.0 - 0.4).collect();
        let mut prepared = QuantizedQuery::default();
        for metric in [Metric::L2, Metric::DotProduct] {
            quantizer.prepare_query(metric, &query, &mut prepared);
            for (row_index, row) in rows.iter().enumerate() {
                let exact = metric.distance(&query, row);
                let approximate =
                    ScalarQuantizer::distance(metric, &prepared, quantizer.row_codes(row_index as u32, dimension));
                assert!((exact - approximate).abs() < 0.05, "{metric:?}: {exact} vs {approximate}");
            }
        }
    }
}
