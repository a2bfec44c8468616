//! Raw little-endian `f32` and `u32` files (row after row, no header: what numpy's `tofile` and `fromfile` read
//! and write), their checksums, and atomic writes.

use std::io::Write;
use std::path::Path;

use crate::error::BenchError;

/// Reads a file of little-endian `f32`.
///
/// # Errors
/// [`BenchError::Io`], or [`BenchError::Dataset`] when its length is not a multiple of 4.
pub fn read_f32s(path: &Path) -> Result<Vec<f32>, BenchError> {
    let bytes = read_words(path)?;
    Ok(bytes.chunks_exact(4).map(|chunk| chunk.try_into().map(f32::from_le_bytes).unwrap_or(f32::NAN)).collect())
}

/// Reads a file of little-endian `u32`.
///
/// # Errors
/// As [`read_f32s`].
pub fn read_u32s(path: &Path) -> Result<Vec<u32>, BenchError> {
    let bytes = read_words(path)?;
    Ok(bytes.chunks_exact(4).map(|chunk| chunk.try_into().map(u32::from_le_bytes).unwrap_or(u32::MAX)).collect())
}

fn read_words(path: &Path) -> Result<Vec<u8>, BenchError> {
    let bytes = std::fs::read(path).map_err(BenchError::io(path))?;
    if bytes.len() % 4 != 0 {
        return Err(BenchError::Dataset {
            reason: format!("{} is {} bytes, not a whole number of 4-byte words", path.display(), bytes.len()),
        });
    }
    Ok(bytes)
}

/// The little-endian bytes of `values`.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|value| value.to_le_bytes()).collect()
}

/// The little-endian bytes of `values`.
pub fn u32_bytes(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|value| value.to_le_bytes()).collect()
}

/// Writes `bytes` to `path` all or nothing: a temporary file in the same directory, synced, then renamed over
/// `path`. A crash leaves the old file or the new one, never half of one.
///
/// # Errors
/// [`BenchError::Io`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BenchError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp{}", std::process::id()));
    let temporary = std::path::PathBuf::from(temporary);
    let mut file = std::fs::File::create(&temporary).map_err(BenchError::io(&temporary))?;
    file.write_all(bytes).map_err(BenchError::io(&temporary))?;
    file.sync_all().map_err(BenchError::io(&temporary))?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(BenchError::io(path))
}

/// A file's length and CRC-32 (the checksum the manifest records), or `None` when it does not exist.
///
/// # Errors
/// [`BenchError::Io`] for any failure but "not found".
pub fn length_and_crc32(path: &Path) -> Result<Option<(u64, u32)>, BenchError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some((bytes.len() as u64, crc32fast::hash(&bytes)))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(BenchError::Io { path: path.to_path_buf(), source: error }),
    }
}

/// Parses the JSON file at `path`; `None` when it does not exist.
///
/// # Errors
/// [`BenchError::Io`] for other read failures, [`BenchError::Json`] for invalid JSON.
pub fn read_json(path: &Path) -> Result<Option<serde_json::Value>, BenchError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| BenchError::Json { path: path.to_path_buf(), reason: error.to_string() }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(BenchError::Io { path: path.to_path_buf(), source: error }),
    }
}

/// Writes `value` as pretty JSON to `path`, atomically.
///
/// # Errors
/// As [`write_atomic`].
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), BenchError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|error| BenchError::Json { path: path.to_path_buf(), reason: error.to_string() })?;
    write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_and_u32_files_round_trip_and_a_ragged_file_is_an_error() {
        let directory = std::env::temp_dir().join(format!("vecdb-bench-files-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let floats = directory.join("values.f32");
        write_atomic(&floats, &f32_bytes(&[1.5, -2.0, f32::MAX])).unwrap();
        assert_eq!(read_f32s(&floats).unwrap(), vec![1.5, -2.0, f32::MAX]);
        let integers = directory.join("values.u32");
        write_atomic(&integers, &u32_bytes(&[0, 7, u32::MAX])).unwrap();
        assert_eq!(read_u32s(&integers).unwrap(), vec![0, 7, u32::MAX]);
        let (length, crc) = length_and_crc32(&integers).unwrap().unwrap();
        assert_eq!((length, crc), (12, crc32fast::hash(&u32_bytes(&[0, 7, u32::MAX]))));
        assert_eq!(length_and_crc32(&directory.join("missing")).unwrap(), None);
        let ragged = directory.join("ragged");
        write_atomic(&ragged, &[1, 2, 3]).unwrap();
        assert!(matches!(read_f32s(&ragged), Err(BenchError::Dataset { .. })));
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
