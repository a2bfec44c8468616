//! [`StateDigest`]: a cheap, deterministic 64-bit digest of logical state (FNV-1a).
//!
//! It detects a recovered state that differs from the one that was saved; it is not a cryptographic hash and
//! not a checksum for the bytes on disk (the storage layers checksum those).

/// FNV-1a 64-bit over a stream of fixed-width little-endian values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateDigest {
    state: u64,
}

const FNV_OFFSET_BASIS: u64 = 0xCBF2_9CE4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

impl Default for StateDigest {
    fn default() -> Self {
        Self::new()
    }
}

impl StateDigest {
    /// A digest of nothing.
    pub const fn new() -> Self {
        Self { state: FNV_OFFSET_BASIS }
    }

    /// Adds bytes.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        let mut state = self.state;
        for &byte in bytes {
            state ^= u64::from(byte);
            state = state.wrapping_mul(FNV_PRIME);
        }
        self.state = state;
    }

    /// Adds a `u64` (little-endian).
    pub fn write_u64(&mut self, value: u64) {
        self.write_bytes(&value.to_le_bytes());
    }

    /// Adds a `u32` (little-endian).
    pub fn write_u32(&mut self, value: u32) {
        self.write_bytes(&value.to_le_bytes());
    }

    /// Adds an `f32` by its bits.
    pub fn write_f32(&mut self, value: f32) {
        self.write_bytes(&value.to_le_bytes());
    }

    /// The digest so far.
    pub const fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_the_published_fnv1a_vectors() {
        let digest = |bytes: &[u8]| {
            let mut digest = StateDigest::new();
            digest.write_bytes(bytes);
            digest.finish()
        };
        assert_eq!(digest(b""), 0xCBF2_9CE4_8422_2325);
        assert_eq!(digest(b"a"), 0xAF63_DC4C_8601_EC8C);
        assert_eq!(digest(b"foobar"), 0x8594_4171_F739_67E8);
    }
}
