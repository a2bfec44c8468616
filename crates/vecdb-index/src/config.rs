//! [`HnswConfig`] and the index's limits.

use super::distance::Metric;
use super::vectors::QuantizationRange;
use crate::error::IndexError;

/// Most components per vector.
pub const DIMENSION_MAX: usize = 4096;
/// Fewest links per node on upper layers (`M`): `M = 1` would make the level multiplier `1 / ln(1)` infinite.
pub const M_MIN: usize = 2;
/// Most links per node on upper layers (`M`); layer 0 allows `2 * M`.
pub const M_MAX: usize = 128;
/// Largest `ef` (search breadth) for construction and search.
pub const EF_MAX: usize = 4096;
/// Most results one search returns.
pub const K_MAX: usize = 1024;
/// Most nodes in one index, tombstones included: node indexes are `u32` and `u32::MAX` is kept as "none".
pub const NODE_COUNT_MAX: usize = u32::MAX as usize;
/// Most layers (levels `0..LEVELS_MAX`); a drawn level above the last one is lowered to it.
pub const LEVELS_MAX: usize = 16;

const _: () = assert!(K_MAX <= EF_MAX, "a search of k results needs ef >= k");
const _: () = assert!(M_MIN >= 2 && M_MIN <= M_MAX);
const _: () = assert!(LEVELS_MAX <= u8::MAX as usize, "levels are stored as u8");
const _: () = assert!(2 * M_MAX < u16::MAX as usize, "neighbor counts fit a layer-0 slot");

/// How vectors are encoded for graph traversal.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum VectorEncoding {
    /// Full-precision `f32` everywhere.
    F32,
    /// 8-bit scalar quantization for traversal, then `f32` re-ranking of the `ef` best candidates. The `f32`
    /// vectors are kept too (they build the graph and re-rank).
    ScalarQuantized8 {
        /// Where the per-dimension ranges come from.
        range: QuantizationRange,
    },
}

/// Everything that defines an index. Every field is part of the encoded index and comes back identical after
/// [`crate::HnswIndex::decode`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HnswConfig {
    /// Components per vector, `1..=DIMENSION_MAX`.
    pub dimension: usize,
    /// The distance.
    pub metric: Metric,
    /// Links per node on upper layers (`M`, `M_MIN..=M_MAX`); layer 0 keeps up to `2 * M`.
    pub m: usize,
    /// Search breadth while inserting, `1..=EF_MAX`.
    pub ef_construction: usize,
    /// Default search breadth, `1..=EF_MAX` (a search uses at least `k`).
    pub ef_search: usize,
    /// How vectors are encoded for traversal.
    pub encoding: VectorEncoding,
    /// Seed of the level generator: the same seed and the same inserts give the same graph.
    pub seed: u64,
}

impl HnswConfig {
    /// A configuration with hnswlib's usual parameters: `M = 16`, `ef_construction = 200`, `ef_search = 64`,
    /// `f32` encoding, a fixed seed.
    pub fn new(dimension: usize, metric: Metric) -> Self {
        Self {
            dimension,
            metric,
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            encoding: VectorEncoding::F32,
            seed: 0x005E_ED0F_4E5B_u64,
        }
    }

    /// Links allowed per node on layer 0 (`2 * M`).
    pub fn m0(&self) -> usize {
        2 * self.m
    }

    /// Checks every field against its limits.
    ///
    /// # Errors
    /// [`IndexError::LimitExceeded`] or [`IndexError::InvalidConfig`].
    pub fn validate(&self) -> Result<(), IndexError> {
        let check = |what: &'static str, value: usize, minimum: usize, limit: usize| {
            if value < minimum {
                return Err(IndexError::InvalidConfig { reason: what });
            }
            if value > limit {
                return Err(IndexError::LimitExceeded { what, value: value as u64, limit: limit as u64 });
            }
            Ok(())
        };
        check("DIMENSION_MAX", self.dimension, 1, DIMENSION_MAX)?;
        check("M_MAX", self.m, M_MIN, M_MAX)?;
        check("EF_MAX", self.ef_construction, 1, EF_MAX)?;
        check("EF_MAX", self.ef_search, 1, EF_MAX)?;
        if let VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min, max } } = self.encoding {
            let span = max - min;
            if !(min.is_finite() && max.is_finite() && span.is_finite() && span > 0.0) {
                return Err(IndexError::InvalidConfig {
                    reason: "a fixed quantization range needs finite min < max with a finite span",
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_limits_are_accepted_at_the_limit_and_rejected_past_it() {
        let mut config = HnswConfig::new(DIMENSION_MAX, Metric::L2);
        config.m = M_MAX;
        config.ef_construction = EF_MAX;
        config.ef_search = EF_MAX;
        assert!(config.validate().is_ok());

        let past = |change: fn(&mut HnswConfig)| {
            let mut bad = config;
            change(&mut bad);
            bad.validate()
        };
        assert!(matches!(past(|c| c.dimension += 1), Err(IndexError::LimitExceeded { what: "DIMENSION_MAX", .. })));
        assert!(matches!(past(|c| c.m += 1), Err(IndexError::LimitExceeded { what: "M_MAX", .. })));
        assert!(matches!(past(|c| c.ef_construction += 1), Err(IndexError::LimitExceeded { what: "EF_MAX", .. })));
        assert!(matches!(past(|c| c.ef_search += 1), Err(IndexError::LimitExceeded { what: "EF_MAX", .. })));
        assert!(matches!(past(|c| c.dimension = 0), Err(IndexError::InvalidConfig { .. })));
        assert!(matches!(past(|c| c.m = M_MIN - 1), Err(IndexError::InvalidConfig { .. })));
        assert!(matches!(past(|c| c.ef_search = 0), Err(IndexError::InvalidConfig { .. })));
        let fixed = |min, max| VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min, max } };
        let mut quantized = config;
        quantized.encoding = fixed(-1.0, 1.0);
        assert!(quantized.validate().is_ok());
        for (min, max) in [(1.0, 1.0), (1.0, -1.0), (f32::NAN, 1.0), (-f32::MAX, f32::MAX)] {
            quantized.encoding = fixed(min, max);
            assert!(matches!(quantized.validate(), Err(IndexError::InvalidConfig { .. })), "{min} {max}");
        }
    }
}
