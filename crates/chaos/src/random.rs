//! SplitMix64: the one seeded generator of every chaos decision (no `rand` crate), so a run is reproduced by its seed.

/// A SplitMix64 generator (Steele, Lea and Flood 2014): tiny, fast, and good enough to choose crash points.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// A number in `0..bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 { 0 } else { self.next_u64() % bound }
    }

    /// A number in `low..high` (`low` when the range is empty).
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high.saturating_sub(low))
    }

    /// True with probability `numerator / denominator`.
    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }

    /// A generator for a sub-task, independent of this one's future output.
    pub fn fork(&mut self) -> Self {
        Self::new(self.next_u64())
    }
}

/// The SplitMix64 finaliser: a bijective hash of one `u64`. Used to derive values from (seed, index) pairs without
/// carrying a generator around.
pub fn mix(value: u64) -> u64 {
    let mut mixed = value;
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    mixed ^ (mixed >> 31)
}

/// A hash of a seed and an index, for values that must be the same whoever computes them (the writer process and
/// the checker).
pub fn derive(seed: u64, index: u64) -> u64 {
    mix(seed ^ mix(index.wrapping_add(0x632B_E59B_D9B4_E019)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_and_bounded() {
        let mut first = SplitMix64::new(42);
        let mut second = SplitMix64::new(42);
        for _ in 0..1000 {
            let value = first.below(7);
            assert_eq!(value, second.below(7));
            assert!(value < 7);
        }
        assert_eq!(first.below(0), 0);
        assert_eq!(first.between(5, 5), 5);
        assert_ne!(derive(1, 2), derive(2, 1));
    }
}
