//! CRC-32 (IEEE 802.3: reflected, polynomial `0xEDB88320`, initial value and final XOR `0xFFFFFFFF`), the checksum
//! of every on-disk format of the workspace (WAL records and segments, snapshots, the vecdb configuration).
//!
//! The values are those of `crc32fast` (the checksums on disk were written with it, and stay readable). Natively
//! this module is `crc32fast` itself, with its carry-less-multiplication kernels. On `wasm32` it is the same
//! slicing-by-16 algorithm as `crc32fast`'s portable code, but the 16 KiB of tables are computed on first use instead
//! of being stored in the module: stored, they were 16 KiB of the `.wasm` that gzip can barely compress
//! (docs/browser.md, "Bundle size"). Building them takes a few microseconds, once per process.
//!
//! ```
//! use storage_core::crc32;
//!
//! assert_eq!(crc32::hash(b"123456789"), 0xCBF4_3926);
//! let mut hasher = crc32::Hasher::new();
//! hasher.update(b"1234");
//! hasher.update(b"56789");
//! assert_eq!(hasher.finalize(), 0xCBF4_3926);
//! ```

/// The CRC-32 of `bytes` (identical to `crc32fast::hash`).
pub fn hash(bytes: &[u8]) -> u32 {
    let mut hasher = Hasher::new();
    hasher.update(bytes);
    hasher.finalize()
}

/// A CRC-32 over bytes given in pieces: the result is that of [`hash`] over their concatenation.
#[derive(Clone, Debug, Default)]
pub struct Hasher {
    #[cfg(not(target_arch = "wasm32"))]
    inner: crc32fast::Hasher,
    /// The CRC of the bytes so far (not inverted: the value [`Hasher::finalize`] would return).
    #[cfg(target_arch = "wasm32")]
    crc: u32,
}

impl Hasher {
    /// A hasher over no bytes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        #[cfg(not(target_arch = "wasm32"))]
        self.inner.update(bytes);
        #[cfg(target_arch = "wasm32")]
        {
            self.crc = portable::update(self.crc, bytes);
        }
    }

    /// The CRC-32 of every byte added.
    pub fn finalize(self) -> u32 {
        #[cfg(not(target_arch = "wasm32"))]
        return self.inner.finalize();
        #[cfg(target_arch = "wasm32")]
        return self.crc;
    }
}

/// Slicing-by-16 with tables built at run time (what `wasm32` uses; natively only its tests, against `crc32fast`).
#[cfg(any(test, target_arch = "wasm32"))]
mod portable {
    use std::sync::OnceLock;

    /// The reflected IEEE polynomial.
    const POLYNOMIAL: u32 = 0xEDB8_8320;
    /// Bytes folded per step of the main loop.
    const SLICE_BYTES: usize = 16;

    /// `TABLES[k][b]`: the CRC contribution of byte `b` followed by `k` zero bytes.
    type Tables = [[u32; 256]; SLICE_BYTES];

    fn tables() -> &'static Tables {
        static TABLES: OnceLock<Box<Tables>> = OnceLock::new();
        TABLES.get_or_init(build_tables)
    }

    fn build_tables() -> Box<Tables> {
        let mut tables: Box<Tables> = Box::new([[0; 256]; SLICE_BYTES]);
        let [first, rest @ ..] = &mut *tables;
        for (byte, entry) in (0u32..).zip(first.iter_mut()) {
            let mut crc = byte;
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ POLYNOMIAL } else { crc >> 1 };
            }
            *entry = crc;
        }
        let mut previous = *first;
        for table in rest {
            for (entry, &before) in table.iter_mut().zip(previous.iter()) {
                *entry = (before >> 8) ^ at(first, before);
            }
            previous = *table;
        }
        tables
    }

    /// `table[index & 0xFF]`.
    #[inline(always)]
    #[expect(clippy::indexing_slicing, reason = "the index is masked to 0..=255 and the table has 256 entries")]
    fn at(table: &[u32; 256], index: u32) -> u32 {
        table[(index & 0xFF) as usize]
    }

    /// The CRC of the bytes behind `crc` (a finalized value) followed by `bytes`.
    pub(super) fn update(crc: u32, bytes: &[u8]) -> u32 {
        let tables = tables();
        let mut crc = !crc;
        let mut blocks = bytes.chunks_exact(SLICE_BYTES);
        for block in &mut blocks {
            let Ok(block) = <&[u8; SLICE_BYTES]>::try_from(block) else { continue };
            let word = u32::from_le_bytes([block[0], block[1], block[2], block[3]]) ^ crc;
            crc = at(&tables[0x0], u32::from(block[0xf]))
                ^ at(&tables[0x1], u32::from(block[0xe]))
                ^ at(&tables[0x2], u32::from(block[0xd]))
                ^ at(&tables[0x3], u32::from(block[0xc]))
                ^ at(&tables[0x4], u32::from(block[0xb]))
                ^ at(&tables[0x5], u32::from(block[0xa]))
                ^ at(&tables[0x6], u32::from(block[0x9]))
                ^ at(&tables[0x7], u32::from(block[0x8]))
                ^ at(&tables[0x8], u32::from(block[0x7]))
                ^ at(&tables[0x9], u32::from(block[0x6]))
                ^ at(&tables[0xa], u32::from(block[0x5]))
                ^ at(&tables[0xb], u32::from(block[0x4]))
                ^ at(&tables[0xc], word >> 24)
                ^ at(&tables[0xd], word >> 16)
                ^ at(&tables[0xe], word >> 8)
                ^ at(&tables[0xf], word);
        }
        for &byte in blocks.remainder() {
            crc = (crc >> 8) ^ at(&tables[0], crc ^ u32::from(byte));
        }
        !crc
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn check_values_of_the_ieee_crc() {
        // The standard check value, and the empty input.
        assert_eq!(portable::update(0, b"123456789"), 0xCBF4_3926);
        assert_eq!(hash(b"123456789"), 0xCBF4_3926);
        assert_eq!(portable::update(0, b""), 0);
        assert_eq!(hash(b""), 0);
    }

    #[test]
    fn the_runtime_tables_give_crc32fast_values_at_every_length_and_alignment() {
        // Every length through several 16-byte blocks plus a remainder, at every start offset within a block.
        let data: Vec<u8> = (0u32..600).map(|index| (index.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for start in 0..16 {
            for end in start..data.len() {
                let bytes = &data[start..end];
                assert_eq!(portable::update(0, bytes), crc32fast::hash(bytes), "bytes {start}..{end}");
            }
        }
        for byte in 0..=u8::MAX {
            assert_eq!(portable::update(0, &[byte; 37]), crc32fast::hash(&[byte; 37]), "byte {byte}");
        }
    }

    proptest! {
        #[test]
        fn the_portable_crc_equals_crc32fast(bytes in proptest::collection::vec(any::<u8>(), 0..2048), cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
            let expected = crc32fast::hash(&bytes);
            prop_assert_eq!(portable::update(0, &bytes), expected);
            prop_assert_eq!(hash(&bytes), expected);
            // Fed in pieces (a Hasher's update), split at arbitrary points.
            let mut points: Vec<usize> = cuts.iter().map(|cut| cut % (bytes.len() + 1)).collect();
            points.sort_unstable();
            let (mut crc, mut hasher, mut from) = (0, Hasher::new(), 0);
            for point in points.into_iter().chain([bytes.len()]) {
                crc = portable::update(crc, &bytes[from..point]);
                hasher.update(&bytes[from..point]);
                from = point;
            }
            prop_assert_eq!(crc, expected);
            prop_assert_eq!(hasher.finalize(), expected);
        }
    }
}
