//! A seeded generator (splitmix64) and the permutation the dataset split is drawn from.
//!
//! Written out here rather than taken from a crate so that the split is pinned by this file alone: the same seed
//! gives the same permutation on every platform and with every toolchain.

/// splitmix64 (Steele, Lea and Flood, 2014): small, fast and the same everywhere.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` without bias (Lemire's multiply-and-shift with rejection); 0 when `bound` is 0.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        let mut product = u128::from(self.next_u64()) * u128::from(bound);
        let mut low = product as u64;
        if low < bound {
            let threshold = bound.wrapping_neg() % bound;
            while low < threshold {
                product = u128::from(self.next_u64()) * u128::from(bound);
                low = product as u64;
            }
        }
        (product >> 64) as u64
    }
}

/// `0..count` shuffled by Fisher-Yates (from the last position down, each swapped with a uniform earlier-or-equal
/// one) driven by [`SplitMix64`] seeded with `seed`.
pub fn permutation(count: u32, seed: u64) -> Vec<u32> {
    let mut rng = SplitMix64::new(seed);
    let mut values: Vec<u32> = (0..count).collect();
    for position in (1..values.len()).rev() {
        let other = rng.below(position as u64 + 1) as usize;
        values.swap(position, other);
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // The first outputs for seed 1234567 from the reference C implementation.
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn below_stays_in_range_and_reaches_every_value() {
        let mut rng = SplitMix64::new(7);
        let mut seen = [false; 7];
        for _ in 0..1_000 {
            let value = rng.below(7);
            assert!(value < 7);
            seen[value as usize] = true;
        }
        assert!(seen.iter().all(|&hit| hit));
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.below(1), 0);
    }

    #[test]
    fn permutation_is_a_seeded_shuffle_of_every_index() {
        let first = permutation(1_000, 42);
        assert_eq!(first, permutation(1_000, 42));
        assert_ne!(first, permutation(1_000, 43));
        assert_ne!(first, (0..1_000).collect::<Vec<u32>>());
        let mut sorted = first.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1_000).collect::<Vec<u32>>());
        assert!(permutation(0, 1).is_empty());
    }
}
