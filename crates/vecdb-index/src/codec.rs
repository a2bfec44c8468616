//! Little-endian byte writing and bounded reading shared by every encoding of the crate.
//!
//! The [`Reader`] never panics and never allocates more than the input could hold: every count read from the
//! input is checked against the bytes that remain before anything is sized from it.

use crate::error::IndexError;

/// Appends fixed-width little-endian values to a buffer.
pub trait WriteLe {
    fn put_u8(&mut self, value: u8);
    fn put_u16(&mut self, value: u16);
    fn put_u32(&mut self, value: u32);
    fn put_u64(&mut self, value: u64);
    fn put_f32(&mut self, value: f32);
    fn put_f64(&mut self, value: f64);
}

impl WriteLe for Vec<u8> {
    fn put_u8(&mut self, value: u8) {
        self.push(value);
    }
    fn put_u16(&mut self, value: u16) {
        self.extend_from_slice(&value.to_le_bytes());
    }
    fn put_u32(&mut self, value: u32) {
        self.extend_from_slice(&value.to_le_bytes());
    }
    fn put_u64(&mut self, value: u64) {
        self.extend_from_slice(&value.to_le_bytes());
    }
    fn put_f32(&mut self, value: f32) {
        self.extend_from_slice(&value.to_le_bytes());
    }
    fn put_f64(&mut self, value: f64) {
        self.extend_from_slice(&value.to_le_bytes());
    }
}

/// A cursor over encoded bytes whose every read is bounds-checked.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, offset: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    /// Offset of the next byte.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// An error at the current offset.
    pub fn corrupt(&self, reason: &'static str) -> IndexError {
        IndexError::Corrupt { offset: self.offset, reason }
    }

    /// The next `length` bytes.
    pub fn take(&mut self, length: usize) -> Result<&'a [u8], IndexError> {
        let end = self.offset.checked_add(length).filter(|&end| end <= self.bytes.len());
        match end.and_then(|end| self.bytes.get(self.offset..end).map(|taken| (end, taken))) {
            Some((end, taken)) => {
                self.offset = end;
                Ok(taken)
            }
            None => Err(self.corrupt("unexpected end of input")),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], IndexError> {
        let bytes = self.take(N)?;
        let mut array = [0; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    pub fn u8(&mut self) -> Result<u8, IndexError> {
        Ok(u8::from_le_bytes(self.array()?))
    }
    pub fn u16(&mut self) -> Result<u16, IndexError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, IndexError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, IndexError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub fn f32(&mut self) -> Result<f32, IndexError> {
        Ok(f32::from_le_bytes(self.array()?))
    }
    pub fn f64(&mut self) -> Result<f64, IndexError> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// Checks that `count` items of at least `item_bytes` each can still be read, so that sizing a buffer from
    /// `count` is safe.
    pub fn check_count(&self, count: usize, item_bytes: usize) -> Result<(), IndexError> {
        match count.checked_mul(item_bytes) {
            Some(bytes) if bytes <= self.remaining() => Ok(()),
            _ => Err(self.corrupt("a count is larger than the bytes that remain")),
        }
    }

    /// Reads `count` little-endian `f32`s.
    pub fn f32s(&mut self, count: usize) -> Result<Vec<f32>, IndexError> {
        self.check_count(count, 4)?;
        let bytes = self.take(count * 4)?;
        Ok(bytes.chunks_exact(4).map(|chunk| chunk.try_into().map_or(0.0, f32::from_le_bytes)).collect())
    }

    /// Reads `count` little-endian `u32`s.
    pub fn u32s(&mut self, count: usize) -> Result<Vec<u32>, IndexError> {
        self.check_count(count, 4)?;
        let bytes = self.take(count * 4)?;
        Ok(bytes.chunks_exact(4).map(|chunk| chunk.try_into().map_or(0, u32::from_le_bytes)).collect())
    }

    /// Fails unless every byte was read.
    pub fn finish(&self) -> Result<(), IndexError> {
        if self.remaining() == 0 { Ok(()) } else { Err(self.corrupt("trailing bytes after the end")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_truncation_and_oversized_counts_without_panicking() {
        let mut bytes = Vec::new();
        bytes.put_u32(7);
        bytes.put_u16(9);
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u32().unwrap(), 7);
        assert!(matches!(reader.u32(), Err(IndexError::Corrupt { offset: 4, .. })));
        assert!(reader.check_count(usize::MAX, 4).is_err());
        assert!(reader.check_count(1, 2).is_ok());
        assert!(reader.take(usize::MAX).is_err());
        assert!(reader.finish().is_err());
        assert_eq!(reader.u16().unwrap(), 9);
        assert!(reader.finish().is_ok());
    }
}
