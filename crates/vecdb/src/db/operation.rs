//! [`Operation`]: one logged change to a database, and its encoding in the write-ahead log.
//!
//! Operations are built only through constructors that check what can be checked without the state (finite
//! components, valid metadata), so every operation encodes, and decoding checks the same rules: the log never holds
//! an operation whose encoding a replay would reject. Checks that need the state (the dimension, a zero vector
//! under cosine, an unknown id) are made by the database before logging, and `apply` treats an operation that no
//! longer fits as a no-op (see [`crate::db::DatabaseState`]).
//!
//! # Encoding (little-endian)
//! ```text
//! tag              u8: 1 = upsert, 2 = delete, 3 = update metadata, 4 = compact
//! upsert           id u64, component count u32, count x f32 (finite), metadata (fills the rest)
//! delete           id u64
//! update metadata  id u64, metadata (fills the rest)
//! compact          nothing
//! ```
//! Metadata is in the canonical encoding of [`crate::metadata`].

use crate::codec::{Reader, WriteLe};
use crate::error::VecDbError;
use crate::index::DIMENSION_MAX;
use crate::metadata::{self, Metadata};

const TAG_UPSERT: u8 = 1;
const TAG_DELETE: u8 = 2;
const TAG_UPDATE_METADATA: u8 = 3;
const TAG_COMPACT: u8 = 4;

/// The largest encoded operation: an upsert of [`DIMENSION_MAX`] components with the largest metadata.
pub const OPERATION_BYTES_MAX: usize = 1 + 8 + 4 + DIMENSION_MAX * 4 + metadata::METADATA_ENCODED_BYTES_MAX;

/// What an [`Operation`] does.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OperationKind {
    /// Inserts `id`, or replaces its vector and metadata when it is live.
    Upsert {
        /// The id.
        id: u64,
        /// The vector as given (normalized when applied under cosine).
        vector: Vec<f32>,
        /// Its metadata (empty: none).
        metadata: Metadata,
    },
    /// Deletes `id` (a tombstone in the graph until compaction).
    Delete {
        /// The id.
        id: u64,
    },
    /// Replaces the metadata of `id`.
    UpdateMetadata {
        /// The id.
        id: u64,
        /// The new metadata (empty: none).
        metadata: Metadata,
    },
    /// Rebuilds the graph without tombstones; ids stay as they are.
    Compact,
}

/// One logged change. Build it with [`Operation::upsert`], [`Operation::delete`], [`Operation::update_metadata`]
/// or [`Operation::compact`].
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    kind: OperationKind,
}

fn check_finite(vector: &[f32]) -> Result<(), VecDbError> {
    if vector.len() > DIMENSION_MAX {
        return Err(VecDbError::LimitExceeded {
            what: "DIMENSION_MAX",
            value: vector.len() as u64,
            limit: DIMENSION_MAX as u64,
        });
    }
    match vector.iter().position(|value| !value.is_finite()) {
        Some(index) => Err(VecDbError::NonFiniteValue { index }),
        None => Ok(()),
    }
}

impl Operation {
    /// Inserts or replaces `id`.
    ///
    /// # Errors
    /// [`VecDbError::NonFiniteValue`], [`VecDbError::LimitExceeded`] (more than `DIMENSION_MAX` components), and
    /// the errors of [`metadata::validate`].
    pub fn upsert(id: u64, vector: Vec<f32>, metadata: Metadata) -> Result<Self, VecDbError> {
        check_finite(&vector)?;
        metadata::validate(&metadata)?;
        Ok(Self { kind: OperationKind::Upsert { id, vector, metadata } })
    }

    /// Deletes `id`.
    pub fn delete(id: u64) -> Self {
        Self { kind: OperationKind::Delete { id } }
    }

    /// Replaces the metadata of `id`.
    ///
    /// # Errors
    /// The errors of [`metadata::validate`].
    pub fn update_metadata(id: u64, metadata: Metadata) -> Result<Self, VecDbError> {
        metadata::validate(&metadata)?;
        Ok(Self { kind: OperationKind::UpdateMetadata { id, metadata } })
    }

    /// Rebuilds the graph without tombstones.
    pub fn compact() -> Self {
        Self { kind: OperationKind::Compact }
    }

    /// What the operation does.
    pub fn kind(&self) -> &OperationKind {
        &self.kind
    }

    /// Takes the operation apart.
    pub fn into_kind(self) -> OperationKind {
        self.kind
    }

    /// The length of [`Self::encode_into`]'s output.
    pub fn encoded_len(&self) -> usize {
        match &self.kind {
            OperationKind::Upsert { vector, metadata, .. } => {
                1 + 8 + 4 + vector.len() * 4 + metadata::encoded_len(metadata)
            }
            OperationKind::Delete { .. } => 1 + 8,
            OperationKind::UpdateMetadata { metadata, .. } => 1 + 8 + metadata::encoded_len(metadata),
            OperationKind::Compact => 1,
        }
    }

    /// Appends the encoding of the module docs to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        match &self.kind {
            OperationKind::Upsert { id, vector, metadata } => {
                out.put_u8(TAG_UPSERT);
                out.put_u64(*id);
                // At most DIMENSION_MAX components (checked by the constructor).
                out.put_u32(u32::try_from(vector.len()).unwrap_or(u32::MAX));
                for &value in vector {
                    out.put_f32(value);
                }
                encode_metadata(metadata, out);
            }
            OperationKind::Delete { id } => {
                out.put_u8(TAG_DELETE);
                out.put_u64(*id);
            }
            OperationKind::UpdateMetadata { id, metadata } => {
                out.put_u8(TAG_UPDATE_METADATA);
                out.put_u64(*id);
                encode_metadata(metadata, out);
            }
            OperationKind::Compact => out.put_u8(TAG_COMPACT),
        }
    }

    /// Decodes an operation that fills `bytes` exactly, checking every rule the constructors check.
    ///
    /// # Errors
    /// [`VecDbError::Corrupt`] for anything [`Self::encode_into`] would not write.
    pub fn decode(bytes: &[u8]) -> Result<Self, VecDbError> {
        if bytes.len() > OPERATION_BYTES_MAX {
            return Err(VecDbError::Corrupt { offset: OPERATION_BYTES_MAX, reason: "longer than OPERATION_BYTES_MAX" });
        }
        let mut reader = Reader::new(bytes);
        let kind = match reader.u8()? {
            TAG_UPSERT => {
                let id = reader.u64()?;
                let count = reader.u32()? as usize;
                if count > DIMENSION_MAX {
                    return Err(reader.corrupt("more components than DIMENSION_MAX").into());
                }
                let vector_offset = reader.offset();
                let vector = reader.f32s(count)?;
                if vector.iter().any(|value| !value.is_finite()) {
                    return Err(VecDbError::Corrupt { offset: vector_offset, reason: "a component is not finite" });
                }
                let metadata = metadata::decode(bytes.get(reader.offset()..).unwrap_or_default())?;
                OperationKind::Upsert { id, vector, metadata }
            }
            TAG_DELETE => {
                let id = reader.u64()?;
                reader.finish()?;
                OperationKind::Delete { id }
            }
            TAG_UPDATE_METADATA => {
                let id = reader.u64()?;
                let metadata = metadata::decode(bytes.get(reader.offset()..).unwrap_or_default())?;
                OperationKind::UpdateMetadata { id, metadata }
            }
            TAG_COMPACT => {
                reader.finish()?;
                OperationKind::Compact
            }
            _ => return Err(VecDbError::Corrupt { offset: 0, reason: "unknown operation tag" }),
        };
        Ok(Self { kind })
    }
}

/// Appends valid metadata (every operation's metadata was validated when it was built or decoded).
fn encode_metadata(metadata: &Metadata, out: &mut Vec<u8>) {
    let result = metadata::encode_into(metadata, out);
    debug_assert!(result.is_ok(), "operations hold only validated metadata");
    if result.is_err() {
        // Unreachable: keep the encoding decodable (no metadata) rather than writing a record replay rejects.
        out.put_u16(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::Value;

    fn sample_metadata() -> Metadata {
        let mut metadata = Metadata::new();
        metadata.insert("genre".into(), Value::from("jazz"));
        metadata.insert("year".into(), Value::from(1959.0));
        metadata.insert("live".into(), Value::from(true));
        metadata
    }

    #[test]
    fn every_operation_kind_round_trips_through_its_encoding() {
        let operations = [
            Operation::upsert(7, vec![1.0, -2.5, 0.0], sample_metadata()).unwrap(),
            Operation::upsert(u64::MAX, vec![], Metadata::new()).unwrap(),
            Operation::delete(3),
            Operation::update_metadata(9, sample_metadata()).unwrap(),
            Operation::update_metadata(9, Metadata::new()).unwrap(),
            Operation::compact(),
        ];
        for operation in operations {
            let mut bytes = Vec::new();
            operation.encode_into(&mut bytes);
            assert_eq!(bytes.len(), operation.encoded_len());
            assert_eq!(Operation::decode(&bytes).unwrap(), operation);
        }
    }

    #[test]
    fn constructors_reject_what_a_replay_would_reject() {
        assert!(matches!(
            Operation::upsert(1, vec![1.0, f32::NAN], Metadata::new()),
            Err(VecDbError::NonFiniteValue { index: 1 })
        ));
        assert!(matches!(
            Operation::upsert(1, vec![0.0; DIMENSION_MAX + 1], Metadata::new()),
            Err(VecDbError::LimitExceeded { what: "DIMENSION_MAX", .. })
        ));
        let mut bad = Metadata::new();
        bad.insert("Bad Key".into(), Value::from(1.0));
        assert!(matches!(Operation::update_metadata(1, bad), Err(VecDbError::MetadataKeyInvalid { .. })));
    }

    #[test]
    fn damaged_operations_are_rejected_without_panicking() {
        let mut bytes = Vec::new();
        Operation::upsert(7, vec![1.0, 2.0], sample_metadata()).unwrap().encode_into(&mut bytes);
        for length in 0..bytes.len() {
            assert!(Operation::decode(&bytes[..length]).is_err(), "prefix of {length} bytes");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(Operation::decode(&trailing).is_err());
        let mut infinite = bytes.clone();
        infinite[13..17].copy_from_slice(&f32::INFINITY.to_le_bytes());
        assert!(matches!(Operation::decode(&infinite), Err(VecDbError::Corrupt { offset: 13, .. })));
        assert!(Operation::decode(&[9]).is_err());
        assert!(Operation::decode(&[TAG_COMPACT, 0]).is_err());
        let mut huge = vec![TAG_UPSERT];
        huge.extend_from_slice(&1_u64.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(Operation::decode(&huge).is_err());
        // Every byte flipped: an error or another valid operation, never a panic.
        for offset in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[offset] ^= 0x55;
            let _ = Operation::decode(&flipped);
        }
    }

    #[test]
    fn the_largest_operation_is_at_the_limit() {
        let mut metadata = Metadata::new();
        // Fill the metadata up to its encoded limit with strings.
        let mut index = 0;
        while metadata::encoded_len(&metadata) + 1 + 6 + 1 + 2 + metadata::METADATA_STRING_BYTES_MAX
            <= metadata::METADATA_ENCODED_BYTES_MAX
        {
            metadata.insert(format!("k{index:05}"), Value::String("x".repeat(metadata::METADATA_STRING_BYTES_MAX)));
            index += 1;
        }
        let remaining = metadata::METADATA_ENCODED_BYTES_MAX - metadata::encoded_len(&metadata) - (1 + 6 + 1 + 2);
        metadata.insert("z_last".into(), Value::String("y".repeat(remaining)));
        assert_eq!(metadata::encoded_len(&metadata), metadata::METADATA_ENCODED_BYTES_MAX);
        let operation = Operation::upsert(1, vec![0.5; DIMENSION_MAX], metadata).unwrap();
        assert_eq!(operation.encoded_len(), OPERATION_BYTES_MAX);
        let mut bytes = Vec::new();
        operation.encode_into(&mut bytes);
        assert_eq!(Operation::decode(&bytes).unwrap(), operation);
        bytes.push(0);
        assert!(Operation::decode(&bytes).is_err());
    }
}
