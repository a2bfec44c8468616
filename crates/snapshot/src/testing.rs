//! A small vector-store state (ids to f32 vectors of one dimension) for tests, benches and chaos runs.

use std::collections::BTreeMap;

use crate::error::SnapshotError;
use crate::format::{DigestBuilder, PartHasher, SnapshotReader, SnapshotWriter, StateDigest};
use crate::manager::Snapshot;

const IDS_TAG: u32 = 1;
const VECTORS_TAG: u32 = 2;

/// Ids to vectors, all of `dimension` floats.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorState {
    /// Floats per vector.
    pub dimension: u32,
    /// The vectors, by id.
    pub vectors: BTreeMap<u64, Vec<f32>>,
}

impl VectorState {
    /// An empty state.
    pub fn new(dimension: u32) -> Self {
        Self { dimension, vectors: BTreeMap::new() }
    }
}

impl Snapshot for VectorState {
    const PRODUCER: &'static str = "snapshot-testing-vectors";

    fn configuration(&self) -> Vec<u8> {
        self.dimension.to_le_bytes().to_vec()
    }

    fn snapshot_bytes_hint(&self) -> usize {
        self.vectors.len() * (8 + self.dimension as usize * 4) + 64
    }

    fn encode_sections(&self, writer: &mut SnapshotWriter) -> Result<(), SnapshotError> {
        writer.begin_section(IDS_TAG)?;
        for id in self.vectors.keys() {
            writer.buffer().extend_from_slice(&id.to_le_bytes());
        }
        writer.end_section()?;
        writer.begin_section(VECTORS_TAG)?;
        for vector in self.vectors.values() {
            let buffer = writer.buffer();
            for value in vector {
                buffer.extend_from_slice(&value.to_le_bytes());
            }
        }
        writer.end_section()
    }

    fn decode_sections(configuration: &[u8], reader: &SnapshotReader<'_>) -> Result<Self, SnapshotError> {
        let invalid = |reason: String| SnapshotError::Decode { key: String::new(), reason };
        let dimension = configuration
            .try_into()
            .map(u32::from_le_bytes)
            .map_err(|_| invalid(format!("configuration is {} bytes, expected 4", configuration.len())))?;
        let ids = reader.section(IDS_TAG)?;
        let vectors = reader.section(VECTORS_TAG)?;
        let vector_bytes = dimension as usize * 4;
        if ids.len() % 8 != 0 || (ids.len() / 8).checked_mul(vector_bytes) != Some(vectors.len()) {
            return Err(invalid(format!("{} id bytes do not match {} vector bytes", ids.len(), vectors.len())));
        }
        let mut entries = Vec::with_capacity(ids.len() / 8);
        let mut previous: Option<u64> = None;
        for (index, id) in ids.chunks_exact(8).enumerate() {
            // By offset, not by zipping chunks: a dimension of 0 has ids but no vector bytes.
            let vector = vectors
                .get(index * vector_bytes..(index + 1) * vector_bytes)
                .ok_or_else(|| invalid(format!("no vector bytes for id number {index}")))?;
            let id = u64::from_le_bytes(id.try_into().map_err(|_| invalid("short id".to_owned()))?);
            if previous.is_some_and(|previous| previous >= id) {
                return Err(invalid(format!("id {id} is out of order or appears twice")));
            }
            previous = Some(id);
            let mut values = vec![0f32; dimension as usize];
            for (value, bytes) in values.iter_mut().zip(vector.chunks_exact(4)) {
                *value = bytes.try_into().map(f32::from_le_bytes).unwrap_or(f32::NAN);
            }
            entries.push((id, values));
        }
        // Ascending ids: the map is bulk-built in one pass.
        Ok(Self { dimension, vectors: entries.into_iter().collect() })
    }

    fn digest(&self) -> StateDigest {
        let mut ids = PartHasher::new();
        let mut vectors = PartHasher::new();
        for (id, vector) in &self.vectors {
            ids.update(&id.to_le_bytes());
            // The floats' little-endian bytes, viewed in place (see the endianness guard in lib.rs).
            vectors.update(bytemuck::cast_slice(vector));
        }
        let mut builder = DigestBuilder::new();
        builder.part(0, &self.dimension.to_le_bytes());
        builder.part_digest(IDS_TAG, ids.finish());
        builder.part_digest(VECTORS_TAG, vectors.finish());
        builder.finish()
    }
}

/// A change to a [`VectorState`].
#[derive(Clone, Debug, PartialEq)]
pub enum VectorOperation {
    /// Insert or replace a vector.
    Upsert {
        /// The id.
        id: u64,
        /// The vector (its length must be the state's dimension; others are ignored on apply).
        vector: Vec<f32>,
    },
    /// Remove a vector (a no-op when the id is missing).
    Delete {
        /// The id.
        id: u64,
    },
}

impl crate::durable::StateMachine for VectorState {
    type Operation = VectorOperation;

    fn encode_operation(operation: &VectorOperation, out: &mut Vec<u8>) {
        match operation {
            VectorOperation::Upsert { id, vector } => {
                out.push(1);
                out.extend_from_slice(&id.to_le_bytes());
                for value in vector {
                    out.extend_from_slice(&value.to_le_bytes());
                }
            }
            VectorOperation::Delete { id } => {
                out.push(2);
                out.extend_from_slice(&id.to_le_bytes());
            }
        }
    }

    fn decode_operation(bytes: &[u8]) -> Result<VectorOperation, String> {
        let (&tag, rest) = bytes.split_first().ok_or("empty operation")?;
        let id = rest.get(..8).and_then(|id| id.try_into().ok()).map(u64::from_le_bytes).ok_or("short id")?;
        let values = rest.get(8..).unwrap_or_default();
        match tag {
            1 if values.len() % 4 == 0 => Ok(VectorOperation::Upsert {
                id,
                vector: values.chunks_exact(4).map(|b| b.try_into().map(f32::from_le_bytes).unwrap_or(0.0)).collect(),
            }),
            2 if values.is_empty() => Ok(VectorOperation::Delete { id }),
            other => Err(format!("unknown operation tag {other} or bad length {}", bytes.len())),
        }
    }

    fn apply(&mut self, operation: VectorOperation) {
        match operation {
            VectorOperation::Upsert { id, vector } if vector.len() == self.dimension as usize => {
                self.vectors.insert(id, vector);
            }
            VectorOperation::Upsert { .. } => {}
            VectorOperation::Delete { id } => {
                self.vectors.remove(&id);
            }
        }
    }
}
