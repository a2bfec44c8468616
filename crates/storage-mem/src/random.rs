//! The seeded pseudo-random generator behind every crash decision and every garbage byte.
//!
//! SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014): tiny, fast, and the
//! same on every platform, which is all a crash simulator needs. It is not cryptographic and need not be.

/// A SplitMix64 stream. The same seed always yields the same numbers.
#[derive(Clone, Debug)]
pub(crate) struct Random {
    state: u64,
}

/// SplitMix64's increment, the golden ratio in fixed point.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl Random {
    /// A stream starting from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A stream for one of several independent decisions taken under one seed (one file of a crash), so that the
    /// decisions for one stream do not shift when another stream draws more or fewer numbers.
    pub(crate) fn for_stream(seed: u64, stream: u64) -> Self {
        let mut mixer = Self::new(stream.wrapping_mul(GOLDEN_GAMMA) ^ 0xD1B5_4A32_D192_ED03);
        Self::new(seed ^ mixer.next_u64())
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    /// A number in `0..bound` (Lemire's multiply-and-shift, bias below 2^-64 * bound); 0 when `bound` is 0.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        let wide = u128::from(self.next_u64()) * u128::from(bound);
        // The high half of a 64 x 64-bit product is below `bound`, so it fits in a u64.
        u64::try_from(wide >> 64).unwrap_or(0)
    }

    /// A fair coin.
    pub(crate) fn coin(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }

    /// Fills `bytes` with random bytes.
    pub(crate) fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            for (byte, random) in chunk.iter_mut().zip(word) {
                *byte = random;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_stream_and_known_values() {
        // Reference values of SplitMix64 from seed 0 (the published test vector).
        let mut random = Random::new(0);
        assert_eq!(random.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(random.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let mut first = Random::for_stream(7, 3);
        let mut second = Random::for_stream(7, 3);
        let mut other = Random::for_stream(7, 4);
        let (a, b, c) = (first.next_u64(), second.next_u64(), other.next_u64());
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut random = Random::new(42);
        let mut seen = [false; 5];
        for _ in 0..200 {
            let value = random.below(5);
            assert!(value < 5);
            seen[value as usize] = true;
        }
        assert!(seen.iter().all(|&hit| hit));
        assert_eq!(random.below(0), 0);
        assert_eq!(random.below(1), 0);
    }

    #[test]
    fn fill_covers_lengths_that_are_not_multiples_of_eight() {
        let mut random = Random::new(1);
        let mut bytes = [0u8; 13];
        random.fill(&mut bytes);
        assert!(bytes[8..].iter().any(|&byte| byte != 0));
    }
}
