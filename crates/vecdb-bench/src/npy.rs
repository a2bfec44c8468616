//! Reads a two-dimensional little-endian `float32` `.npy` array (format versions 1 to 3), in C or Fortran order,
//! into a row-major [`Matrix`].
//!
//! The format (numpy's `NEP 1`): the magic `\x93NUMPY`, a major and a minor version byte, the header's length
//! (2 bytes little-endian in version 1, 4 bytes in versions 2 and 3), then the header, a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': True, 'shape': (400000, 50), }`, padded with spaces and a newline, then the
//! data. In Fortran order the data is column-major: element `(row, column)` sits at `column * rows + row`.

use crate::error::BenchError;

/// The first six bytes of every `.npy` file.
pub const NPY_MAGIC: [u8; 6] = *b"\x93NUMPY";
/// The longest header accepted (numpy itself writes at most a few hundred bytes).
pub const HEADER_BYTES_MAX: usize = 64 * 1024;

/// A row-major matrix of `f32`.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// Rows (vectors).
    pub rows: usize,
    /// Columns (the dimension).
    pub columns: usize,
    /// `rows * columns` values, row after row.
    pub values: Vec<f32>,
}

impl Matrix {
    /// Row `index`, if there is one.
    pub fn row(&self, index: usize) -> Option<&[f32]> {
        let start = index.checked_mul(self.columns)?;
        self.values.get(start..start.checked_add(self.columns)?)
    }
}

/// The parsed header of an `.npy` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The dtype, such as `<f4`.
    pub descr: String,
    /// Whether the data is column-major.
    pub fortran_order: bool,
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Where the data starts in the file.
    pub data_offset: usize,
}

fn npy_error(reason: impl Into<String>) -> BenchError {
    BenchError::Npy { reason: reason.into() }
}

/// Parses the magic, version and header dict of an `.npy` file.
///
/// # Errors
/// [`BenchError::Npy`] when the magic, version or header is malformed.
pub fn parse_header(bytes: &[u8]) -> Result<Header, BenchError> {
    if bytes.get(..6) != Some(&NPY_MAGIC[..]) {
        return Err(npy_error("not an .npy file (bad magic)"));
    }
    let major = *bytes.get(6).ok_or_else(|| npy_error("truncated before the version"))?;
    let (length, start) = match major {
        1 => {
            let length: [u8; 2] = bytes
                .get(8..10)
                .and_then(|slice| slice.try_into().ok())
                .ok_or_else(|| npy_error("truncated header length"))?;
            (usize::from(u16::from_le_bytes(length)), 10)
        }
        2 | 3 => {
            let length: [u8; 4] = bytes
                .get(8..12)
                .and_then(|slice| slice.try_into().ok())
                .ok_or_else(|| npy_error("truncated header length"))?;
            (u32::from_le_bytes(length) as usize, 12)
        }
        other => return Err(npy_error(format!("unsupported format version {other}"))),
    };
    if length > HEADER_BYTES_MAX {
        return Err(npy_error(format!("header of {length} bytes exceeds HEADER_BYTES_MAX ({HEADER_BYTES_MAX})")));
    }
    let text = bytes.get(start..start + length).ok_or_else(|| npy_error("truncated header"))?;
    let text = std::str::from_utf8(text).map_err(|_| npy_error("header is not UTF-8"))?;
    let descr = quoted_value(text, "descr")?;
    let fortran_order = match raw_value(text, "fortran_order")? {
        value if value.starts_with("True") => true,
        value if value.starts_with("False") => false,
        value => return Err(npy_error(format!("fortran_order is neither True nor False: {value:.20}"))),
    };
    let shape_text = raw_value(text, "shape")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|rest| rest.split_once(')'))
        .map(|(inner, _)| inner)
        .ok_or_else(|| npy_error("shape is not a tuple"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| part.parse::<usize>().map_err(|_| npy_error(format!("shape entry {part:?} is not a number"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Header { descr, fortran_order, shape, data_offset: start + length })
}

/// The text after `'key':` (leading spaces trimmed).
fn raw_value<'a>(header: &'a str, key: &str) -> Result<&'a str, BenchError> {
    let pattern = format!("'{key}':");
    let position = header.find(&pattern).ok_or_else(|| npy_error(format!("header has no {key:?}")))?;
    Ok(header.get(position + pattern.len()..).unwrap_or_default().trim_start())
}

fn quoted_value(header: &str, key: &str) -> Result<String, BenchError> {
    let value = raw_value(header, key)?;
    value
        .strip_prefix('\'')
        .and_then(|rest| rest.split_once('\''))
        .map(|(inner, _)| inner.to_owned())
        .ok_or_else(|| npy_error(format!("{key} is not a quoted string")))
}

/// Parses a two-dimensional `<f4` array, transposing Fortran order into row-major order.
///
/// # Errors
/// [`BenchError::Npy`] for another dtype or rank, or when the data is not exactly `rows * columns * 4` bytes.
pub fn parse_f32_matrix(bytes: &[u8]) -> Result<Matrix, BenchError> {
    let header = parse_header(bytes)?;
    if header.descr != "<f4" {
        return Err(npy_error(format!("dtype {:?} is not little-endian float32 ('<f4')", header.descr)));
    }
    let [rows, columns] = header.shape[..] else {
        return Err(npy_error(format!("shape {:?} is not two-dimensional", header.shape)));
    };
    let count = rows.checked_mul(columns).ok_or_else(|| npy_error("shape overflows"))?;
    let data = bytes.get(header.data_offset..).unwrap_or_default();
    if Some(data.len()) != count.checked_mul(4) {
        return Err(npy_error(format!("{} data bytes for a {rows} x {columns} float32 array", data.len())));
    }
    let stored: Vec<f32> =
        data.chunks_exact(4).map(|chunk| chunk.try_into().map(f32::from_le_bytes).unwrap_or(f32::NAN)).collect();
    let values = if header.fortran_order && rows > 1 && columns > 1 {
        // Column-major: column c is stored[c * rows..(c + 1) * rows].
        let mut values = vec![0.0_f32; count];
        for (column, stored_column) in stored.chunks_exact(rows).enumerate() {
            for (row_values, &value) in values.chunks_exact_mut(columns).zip(stored_column) {
                if let Some(slot) = row_values.get_mut(column) {
                    *slot = value;
                }
            }
        }
        values
    } else {
        stored
    };
    Ok(Matrix { rows, columns, values })
}

/// Encodes `matrix` as a version 1 `.npy` file in the given order (for tests and small fixtures).
pub fn encode_f32_matrix(matrix: &Matrix, fortran_order: bool) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': {}, 'shape': ({}, {}), }}",
        if fortran_order { "True" } else { "False" },
        matrix.rows,
        matrix.columns
    );
    // Magic (6) + version (2) + length (2) + header + newline is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = NPY_MAGIC.to_vec();
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    if fortran_order {
        for column in 0..matrix.columns {
            for row in 0..matrix.rows {
                let value = matrix.values.get(row * matrix.columns + column).copied().unwrap_or_default();
                bytes.extend_from_slice(&value.to_le_bytes());
            }
        }
    } else {
        for value in &matrix.values {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Matrix {
        // 3 rows x 2 columns: row r is (r, 10 + r).
        Matrix { rows: 3, columns: 2, values: vec![0.0, 10.0, 1.0, 11.0, 2.0, 12.0] }
    }

    #[test]
    fn fortran_order_is_transposed_into_rows() {
        let bytes = encode_f32_matrix(&sample(), true);
        // On disk, column-major: the first column (0, 1, 2) comes first.
        let header = parse_header(&bytes).unwrap();
        assert!(header.fortran_order);
        assert_eq!(header.data_offset % 64, 0);
        let first = &bytes[header.data_offset..header.data_offset + 12];
        assert_eq!(first, [0.0_f32, 1.0, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
        assert_eq!(parse_f32_matrix(&bytes).unwrap(), sample());
    }

    #[test]
    fn c_order_is_read_as_is() {
        let parsed = parse_f32_matrix(&encode_f32_matrix(&sample(), false)).unwrap();
        assert_eq!(parsed, sample());
        assert_eq!(parsed.row(1), Some(&[1.0, 11.0][..]));
        assert_eq!(parsed.row(3), None);
    }

    /// A version 1 file with this header text followed by `data`.
    fn with_header(text: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = NPY_MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
        bytes.extend_from_slice(text.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn the_glove_header_layout_parses() {
        let bytes = with_header("{'descr': '<f4', 'fortran_order': True, 'shape': (400000, 50), }", &[]);
        let header = parse_header(&bytes).unwrap();
        assert_eq!(header.shape, vec![400_000, 50]);
        assert!(header.fortran_order);
        assert_eq!(header.descr, "<f4");
    }

    #[test]
    fn wrong_dtype_rank_or_length_is_a_typed_error() {
        let mut short = encode_f32_matrix(&sample(), false);
        short.pop();
        assert!(matches!(parse_f32_matrix(&short), Err(BenchError::Npy { .. })));
        let doubles = with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }", &[0; 48]);
        assert!(matches!(parse_f32_matrix(&doubles), Err(BenchError::Npy { reason }) if reason.contains("<f8")));
        let cube = with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2), }", &[0; 32]);
        assert!(matches!(parse_f32_matrix(&cube), Err(BenchError::Npy { reason }) if reason.contains("two-dim")));
        assert!(matches!(parse_f32_matrix(b"not numpy"), Err(BenchError::Npy { .. })));
        let version_9 = [&NPY_MAGIC[..], &[9, 0, 0, 0]].concat();
        assert!(matches!(parse_f32_matrix(&version_9), Err(BenchError::Npy { .. })));
    }

    #[test]
    fn a_header_at_the_limit_parses_and_one_past_it_fails() {
        let build = |length: usize| {
            let mut text = "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 2), }".to_owned();
            while text.len() < length {
                text.push(' ');
            }
            let mut bytes = NPY_MAGIC.to_vec();
            bytes.extend_from_slice(&[2, 0]);
            bytes.extend_from_slice(&(text.len() as u32).to_le_bytes());
            bytes.extend_from_slice(text.as_bytes());
            bytes
        };
        assert!(parse_f32_matrix(&build(HEADER_BYTES_MAX)).is_ok());
        assert!(matches!(parse_f32_matrix(&build(HEADER_BYTES_MAX + 1)), Err(BenchError::Npy { .. })));
    }
}
