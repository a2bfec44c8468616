//! Dataset files: fvecs, npy (float32, C or Fortran order), raw little-endian f32 with a given dimension, and JSON
//! lines with ids, vectors and metadata.

use std::path::Path;

use vecdb::index::DIMENSION_MAX;
use vecdb::{Metadata, Record};

use crate::error::{CliError, Result};
use crate::json;

/// A dataset file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// From the file name: `.fvecs`, `.npy`, `.jsonl` / `.ndjson`, anything else raw.
    Auto,
    /// Rows of a little-endian `i32` dimension then that many `f32`s (the ANN benchmarks' format).
    Fvecs,
    /// A NumPy array of shape (rows, dimension), `<f4`, C or Fortran order.
    Npy,
    /// Row-major little-endian `f32`s; needs `--dimension`.
    Raw,
    /// One JSON object per line: `{"id": 7, "vector": [..], "metadata": {"key": "value" | number | bool}}`.
    Jsonl,
}

/// Vectors read from a file, row-major, with ids and metadata when the file has them.
#[derive(Debug, Default)]
pub struct Dataset {
    /// Components per row.
    pub dimension: usize,
    /// The rows, one after another.
    pub values: Vec<f32>,
    /// Per row, its id (JSON lines only).
    pub ids: Option<Vec<u64>>,
    /// Per row, its metadata (JSON lines only).
    pub metadata: Option<Vec<Metadata>>,
}

impl Dataset {
    /// Rows.
    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.dimension).unwrap_or(0)
    }

    /// Row `index`.
    pub fn row(&self, index: usize) -> Option<&[f32]> {
        let start = index.checked_mul(self.dimension)?;
        self.values.get(start..start.checked_add(self.dimension)?)
    }

    /// Rows `range` as records: the file's ids (or `first_id + row`) and metadata (or none).
    pub fn records(&self, range: std::ops::Range<usize>, first_id: u64) -> Vec<Record> {
        range
            .filter_map(|index| {
                let vector = self.row(index)?.to_vec();
                let id = match &self.ids {
                    Some(ids) => *ids.get(index)?,
                    None => first_id.saturating_add(index as u64),
                };
                let metadata = self.metadata.as_ref().and_then(|all| all.get(index).cloned()).unwrap_or_default();
                Some(Record::new(id, vector, metadata))
            })
            .collect()
    }
}

/// The format of `path`: `format` unless it is [`Format::Auto`], else from the file name.
pub fn resolve(path: &Path, format: Format) -> Format {
    if format != Format::Auto {
        return format;
    }
    match path.extension().and_then(|extension| extension.to_str()) {
        Some("fvecs") => Format::Fvecs,
        Some("npy") => Format::Npy,
        Some("jsonl" | "ndjson") => Format::Jsonl,
        _ => Format::Raw,
    }
}

/// Reads a whole dataset.
///
/// # Errors
/// I/O errors, and [`CliError::Format`] for a malformed file.
pub fn read(path: &Path, format: Format, dimension: Option<usize>) -> Result<Dataset> {
    let bytes = std::fs::read(path).map_err(|error| CliError::io(path, error))?;
    let dataset = match resolve(path, format) {
        Format::Fvecs => parse_fvecs(&bytes),
        Format::Npy => parse_npy(&bytes),
        Format::Raw => match dimension {
            Some(dimension) => parse_raw(&bytes, dimension),
            None => Err("raw f32 files need --dimension".to_owned()),
        },
        Format::Jsonl => parse_json_lines(&bytes),
        Format::Auto => Err("unknown format".to_owned()),
    }
    .map_err(|reason| CliError::format(path, reason))?;
    if let Some(expected) = dimension {
        if dataset.dimension != expected {
            return Err(CliError::format(
                path,
                format!("rows have {} components, but --dimension is {expected}", dataset.dimension),
            ));
        }
    }
    Ok(dataset)
}

fn check_dimension(dimension: usize) -> Result<(), String> {
    if dimension == 0 || dimension > DIMENSION_MAX {
        return Err(format!("dimension {dimension} is outside 1..={DIMENSION_MAX}"));
    }
    Ok(())
}

fn f32s(bytes: &[u8]) -> impl Iterator<Item = f32> + '_ {
    bytes.chunks_exact(4).map(|chunk| chunk.try_into().map_or(f32::NAN, f32::from_le_bytes))
}

/// fvecs: each row is a little-endian `i32` dimension, then that many `f32`s; every row has the same dimension.
pub fn parse_fvecs(bytes: &[u8]) -> Result<Dataset, String> {
    let mut dataset = Dataset::default();
    let mut offset = 0;
    let mut row = 0;
    while offset < bytes.len() {
        let header = bytes.get(offset..offset + 4).ok_or(format!("row {row}: truncated dimension at byte {offset}"))?;
        let dimension = i32::from_le_bytes(header.try_into().map_err(|_| "short header".to_owned())?);
        let dimension = usize::try_from(dimension).map_err(|_| format!("row {row}: negative dimension"))?;
        check_dimension(dimension).map_err(|reason| format!("row {row}: {reason}"))?;
        if row == 0 {
            dataset.dimension = dimension;
        } else if dimension != dataset.dimension {
            return Err(format!("row {row} has dimension {dimension}, the first row {}", dataset.dimension));
        }
        let body = bytes
            .get(offset + 4..offset + 4 + dimension * 4)
            .ok_or(format!("row {row}: truncated at byte {offset} (the file is cut short)"))?;
        dataset.values.extend(f32s(body));
        offset += 4 + dimension * 4;
        row += 1;
    }
    if row == 0 {
        return Err("the file holds no rows".to_owned());
    }
    Ok(dataset)
}

/// Raw row-major little-endian `f32`s of a known dimension.
pub fn parse_raw(bytes: &[u8], dimension: usize) -> Result<Dataset, String> {
    check_dimension(dimension)?;
    if bytes.is_empty() || bytes.len() % (dimension * 4) != 0 {
        return Err(format!("{} bytes is not a whole number of rows of {dimension} f32s", bytes.len()));
    }
    Ok(Dataset { dimension, values: f32s(bytes).collect(), ids: None, metadata: None })
}

/// The value of `key` in a NumPy header dictionary (the text after `'key':` up to the next top-level comma).
fn header_field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header.get(start..)?.trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') { rest.find(')')? + 1 } else { rest.find([',', '}']).unwrap_or(rest.len()) };
    rest.get(..end).map(str::trim)
}

/// NumPy `.npy` (format versions 1 to 3): a 2-D `<f4` array in C or Fortran order.
pub fn parse_npy(bytes: &[u8]) -> Result<Dataset, String> {
    let magic = b"\x93NUMPY";
    if bytes.get(..6) != Some(&magic[..]) {
        return Err("not a .npy file (bad magic)".to_owned());
    }
    let major = *bytes.get(6).ok_or("truncated header")?;
    let (header_length, header_start) = match major {
        1 => (
            usize::from(u16::from_le_bytes([*bytes.get(8).ok_or("truncated")?, *bytes.get(9).ok_or("truncated")?])),
            10,
        ),
        2 | 3 => {
            let length = bytes.get(8..12).ok_or("truncated header")?;
            (u32::from_le_bytes(length.try_into().map_err(|_| "truncated header")?) as usize, 12)
        }
        other => return Err(format!("unsupported .npy format version {other}")),
    };
    let header = bytes.get(header_start..header_start + header_length).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "the header is not text")?;
    let descr = header_field(header, "descr").ok_or("the header has no 'descr'")?.trim_matches(['\'', '"']);
    if !matches!(descr, "<f4" | "=f4") {
        return Err(format!("element type {descr:?} is not supported (float32 only: '<f4')"));
    }
    let fortran = match header_field(header, "fortran_order") {
        Some("True") => true,
        Some("False") => false,
        other => return Err(format!("bad 'fortran_order': {other:?}")),
    };
    let shape = header_field(header, "shape").ok_or("the header has no 'shape'")?;
    let dimensions: Vec<usize> = shape
        .trim_matches(['(', ')'])
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| part.parse::<usize>().map_err(|_| format!("bad shape {shape}")))
        .collect::<Result<_, _>>()?;
    let [rows, dimension] = dimensions[..] else {
        return Err(format!("shape {shape} is not 2-D (rows, dimension)"));
    };
    check_dimension(dimension)?;
    let data = bytes.get(header_start + header_length..).unwrap_or_default();
    let expected = rows.checked_mul(dimension).and_then(|count| count.checked_mul(4)).ok_or("the shape overflows")?;
    if data.len() != expected {
        return Err(format!("shape {shape} needs {expected} bytes of data, the file has {}", data.len()));
    }
    let values: Vec<f32> = if fortran {
        // Column-major: element (row, column) is at column * rows + row.
        let columns: Vec<f32> = f32s(data).collect();
        let mut values = vec![0.0; rows * dimension];
        for (column, chunk) in columns.chunks_exact(rows.max(1)).enumerate() {
            for (row, &value) in chunk.iter().enumerate() {
                if let Some(slot) = values.get_mut(row * dimension + column) {
                    *slot = value;
                }
            }
        }
        values
    } else {
        f32s(data).collect()
    };
    Ok(Dataset { dimension, values, ids: None, metadata: None })
}

/// JSON lines: `{"id": u64, "vector": [numbers], "metadata": {..}}` per non-empty line.
pub fn parse_json_lines(bytes: &[u8]) -> Result<Dataset, String> {
    let text = std::str::from_utf8(bytes).map_err(|error| format!("not UTF-8: {error}"))?;
    let mut dataset = Dataset::default();
    let (mut ids, mut all_metadata) = (Vec::new(), Vec::new());
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let at = |reason: String| format!("line {line_number}: {reason}");
        let value: serde_json::Value = serde_json::from_str(line).map_err(|error| at(error.to_string()))?;
        let id = value
            .get("id")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| at("needs an unsigned integer \"id\"".into()))?;
        let vector = value
            .get("vector")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| at("needs a \"vector\" array".into()))?;
        let start = dataset.values.len();
        for component in vector {
            let number = component.as_f64().ok_or_else(|| at("\"vector\" holds a non-number".into()))?;
            dataset.values.push(number as f32);
        }
        let dimension = dataset.values.len() - start;
        if ids.is_empty() {
            check_dimension(dimension).map_err(at)?;
            dataset.dimension = dimension;
        } else if dimension != dataset.dimension {
            return Err(at(format!("the vector has {dimension} components, earlier ones {}", dataset.dimension)));
        }
        let metadata = match value.get("metadata") {
            None | Some(serde_json::Value::Null) => Metadata::new(),
            Some(object) => json::to_metadata(object).map_err(at)?,
        };
        ids.push(id);
        all_metadata.push(metadata);
    }
    if ids.is_empty() {
        return Err("the file holds no rows".to_owned());
    }
    dataset.ids = Some(ids);
    dataset.metadata = Some(all_metadata);
    Ok(dataset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, values: &[f32]) -> Vec<u8> {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let mut header = header.to_owned();
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for value in values {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn npy_reads_c_and_fortran_order_to_the_same_rows() {
        // Rows (1, 2, 3) and (4, 5, 6).
        let c = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let fortran =
            npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        for bytes in [c, fortran] {
            let dataset = parse_npy(&bytes).unwrap();
            assert_eq!((dataset.dimension, dataset.len()), (3, 2));
            assert_eq!(dataset.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        }
        let doubles = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }", &[0.0, 0.0]);
        assert!(parse_npy(&doubles).unwrap_err().contains("float32 only"));
        let short = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", &[1.0]);
        assert!(parse_npy(&short).is_err());
        assert!(parse_npy(b"not numpy").is_err());
    }

    #[test]
    fn fvecs_raw_and_json_lines_parse_and_reject_bad_files() {
        let mut fvecs = Vec::new();
        for row in [[1.0_f32, 2.0], [3.0, 4.0]] {
            fvecs.extend_from_slice(&2_i32.to_le_bytes());
            for value in row {
                fvecs.extend_from_slice(&value.to_le_bytes());
            }
        }
        let dataset = parse_fvecs(&fvecs).unwrap();
        assert_eq!((dataset.dimension, dataset.row(1)), (2, Some(&[3.0_f32, 4.0][..])));
        assert!(parse_fvecs(&fvecs[..fvecs.len() - 1]).is_err());
        let raw = parse_raw(&fvecs[4..12], 2).unwrap();
        assert_eq!(raw.values, vec![1.0, 2.0]);
        assert!(parse_raw(&fvecs[..6], 2).is_err());
        let lines = b"{\"id\": 7, \"vector\": [1, 2.5], \"metadata\": {\"genre\": \"jazz\", \"year\": 1959, \"live\": true}}\n\n{\"id\": 9, \"vector\": [0, 1]}\n";
        let dataset = parse_json_lines(lines).unwrap();
        let records = dataset.records(0..2, 0);
        assert_eq!(records[0].id, 7);
        assert_eq!(records[0].vector, vec![1.0, 2.5]);
        assert_eq!(records[0].metadata.len(), 3);
        assert_eq!(records[1].id, 9);
        assert!(
            parse_json_lines(b"{\"id\": 1, \"vector\": [1]}\n{\"id\": 2, \"vector\": [1, 2]}")
                .unwrap_err()
                .starts_with("line 2")
        );
        assert!(parse_json_lines(b"{\"id\": 1, \"vector\": [1], \"metadata\": {\"x\": [1]}}").is_err());
    }
}
