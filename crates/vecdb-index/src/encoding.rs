//! The whole index as bytes ([`HnswIndex::encode_into`] / [`HnswIndex::decode`]) and its logical digest
//! ([`HnswIndex::digest`]).
//!
//! # Format (version 1), all integers little-endian
//! ```text
//! magic            8 bytes  "VDBHNSW\0"
//! format version   u32      1 (see IndexFormatVersion)
//! dimension        u32
//! metric           u8       0 = L2, 1 = cosine, 2 = dot product
//! m                u32
//! ef_construction  u32
//! ef_search        u32
//! encoding         u8       0 = f32, 1 = 8-bit trained ranges, 2 = 8-bit fixed range
//!   (encoding 2)   f32 min, f32 max
//! seed             u64
//! level rng state  u64
//! node count       u32      N
//! deleted count    u32      must equal the number of deleted flags set
//! entry point      u32      u32::MAX when N = 0
//! max level        u8
//! external ids     N x u64
//! levels           N x u8   each < LEVELS_MAX; the entry point's is the max level, the largest of all
//! deleted flags    N x u8   0 or 1
//! vectors          N x dimension x f32, row-major, all finite
//! (8-bit encodings only)
//!   range length   u32      0 (trained, no vector yet) or dimension
//!   lows           range length x f32, finite
//!   steps          range length x f32, finite, >= 0
//!   codes          N x dimension x u8
//! layer-0 links    N x (1 + 2m) x u32: count <= 2m, then neighbors < N, unused slots 0
//! upper links      for each node with level L > 0 in node order: L blocks of (1 + m) x u32, block l-1 for
//!                  layer l: count <= m, neighbors < N whose level >= l, unused slots 0
//! ```
//! The id map is not stored: it is rebuilt as "each id's last node", and decoding checks that every earlier
//! node of an id is deleted (an id has at most one live node).

use std::collections::HashMap;

use super::config::{HnswConfig, LEVELS_MAX, NODE_COUNT_MAX, VectorEncoding};
use super::distance::Metric;
use super::hnsw::HnswIndex;
use super::scratch::ScratchPool;
use super::vectors::{QuantizationRange, ScalarQuantizer, VectorStore};
use crate::codec::{Reader, WriteLe};
use crate::digest::StateDigest;
use crate::error::IndexError;

/// First bytes of an encoded index.
pub const INDEX_MAGIC: [u8; 8] = *b"VDBHNSW\0";

/// Versions of the index encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexFormatVersion {
    /// The format described in the module docs.
    V1 = 1,
}

impl IndexFormatVersion {
    /// The version written by this code.
    pub const CURRENT: Self = Self::V1;
}

const NO_NODE: u32 = u32::MAX;

/// Appends `config`'s fields (the layout of the module docs; `vecdb`'s `DbConfig` embeds the same layout).
#[doc(hidden)]
pub fn write_config(config: &HnswConfig, out: &mut Vec<u8>) {
    // Every field was validated against limits far below u32::MAX.
    let narrow = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
    out.put_u32(narrow(config.dimension));
    out.put_u8(config.metric.code());
    out.put_u32(narrow(config.m));
    out.put_u32(narrow(config.ef_construction));
    out.put_u32(narrow(config.ef_search));
    match config.encoding {
        VectorEncoding::F32 => out.put_u8(0),
        VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Trained } => out.put_u8(1),
        VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min, max } } => {
            out.put_u8(2);
            out.put_f32(min);
            out.put_f32(max);
        }
    }
    out.put_u64(config.seed);
}

fn read_config(reader: &mut Reader<'_>) -> Result<HnswConfig, IndexError> {
    let config = read_config_fields(reader)?;
    config.validate().map_err(|_| reader.corrupt("the configuration is out of its limits"))?;
    Ok(config)
}

/// Reads the fields [`write_config`] wrote, checking each code but not the limits (the caller validates the
/// whole configuration it is part of).
#[doc(hidden)]
pub fn read_config_fields(reader: &mut Reader<'_>) -> Result<HnswConfig, IndexError> {
    let dimension = reader.u32()? as usize;
    let metric_offset = reader.offset();
    let metric = Metric::from_code(reader.u8()?)
        .ok_or(IndexError::Corrupt { offset: metric_offset, reason: "unknown metric" })?;
    let m = reader.u32()? as usize;
    let ef_construction = reader.u32()? as usize;
    let ef_search = reader.u32()? as usize;
    let encoding = match reader.u8()? {
        0 => VectorEncoding::F32,
        1 => VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Trained },
        2 => {
            let min = reader.f32()?;
            let max = reader.f32()?;
            VectorEncoding::ScalarQuantized8 { range: QuantizationRange::Fixed { min, max } }
        }
        _ => return Err(reader.corrupt("unknown vector encoding")),
    };
    let seed = reader.u64()?;
    Ok(HnswConfig { dimension, metric, m, ef_construction, ef_search, encoding, seed })
}

impl HnswIndex {
    /// Appends the whole index (configuration, vectors in every encoding, graph, tombstones, id map, level
    /// generator state) to `out`, so that [`HnswIndex::decode`] gives back an index that searches and inserts
    /// exactly as this one. The format is in the module docs of `index::encoding`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let narrow = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
        out.reserve(self.encoded_len_estimate());
        out.extend_from_slice(&INDEX_MAGIC);
        out.put_u32(IndexFormatVersion::CURRENT as u32);
        write_config(&self.config, out);
        out.put_u64(self.rng_state);
        out.put_u32(narrow(self.node_count()));
        out.put_u32(narrow(self.deleted_count));
        out.put_u32(self.entry_point.unwrap_or(NO_NODE));
        out.put_u8(u8::try_from(self.max_level).unwrap_or(u8::MAX));
        for &id in &self.external_ids {
            out.put_u64(id);
        }
        out.extend_from_slice(&self.levels);
        out.extend(self.deleted.iter().map(|&deleted| u8::from(deleted)));
        for &value in self.vectors.as_slice() {
            out.put_f32(value);
        }
        if let Some(quantizer) = &self.quantizer {
            out.put_u32(narrow(quantizer.lows().len()));
            for &low in quantizer.lows() {
                out.put_f32(low);
            }
            for &step in quantizer.steps() {
                out.put_f32(step);
            }
            out.extend_from_slice(quantizer.codes());
        }
        for &value in &self.level0_links {
            out.put_u32(value);
        }
        for links in &self.upper_links {
            for &value in links {
                out.put_u32(value);
            }
        }
    }

    fn encoded_len_estimate(&self) -> usize {
        let node_count = self.node_count();
        let per_node = 8 + 2 + self.config.dimension * 4 + (self.config.m0() + 1) * 4;
        let codes = self.quantizer.as_ref().map_or(0, |quantizer| quantizer.codes().len() + self.config.dimension * 8);
        let upper: usize = self.upper_links.iter().map(Vec::len).sum();
        64 + node_count * per_node + codes + upper * 4
    }

    /// The index encoded by [`HnswIndex::encode_into`]. Every field is checked (limits, link targets, levels,
    /// finiteness, counts against the bytes that remain), so garbage gives an error, never a panic or a huge
    /// allocation.
    ///
    /// # Errors
    /// [`IndexError::Corrupt`] with the offset of the first problem found.
    pub fn decode(bytes: &[u8]) -> Result<Self, IndexError> {
        let mut reader = Reader::new(bytes);
        if reader.take(INDEX_MAGIC.len())? != INDEX_MAGIC {
            return Err(IndexError::Corrupt { offset: 0, reason: "not an encoded index (bad magic)" });
        }
        if reader.u32()? != IndexFormatVersion::V1 as u32 {
            return Err(reader.corrupt("unknown index format version"));
        }
        let config = read_config(&mut reader)?;
        let dimension = config.dimension;
        let rng_state = reader.u64()?;
        // Compared as u64: on 32-bit targets NODE_COUNT_MAX is usize::MAX.
        let node_count = u64::from(reader.u32()?);
        if node_count > NODE_COUNT_MAX as u64 {
            return Err(reader.corrupt("node count over NODE_COUNT_MAX"));
        }
        let node_count = node_count as usize;
        let deleted_count = reader.u32()? as usize;
        let entry_offset = reader.offset();
        let entry_point = reader.u32()?;
        let max_level = usize::from(reader.u8()?);
        let quantized = matches!(config.encoding, VectorEncoding::ScalarQuantized8 { .. });
        // Lower bound of each node's bytes, so that no buffer is sized from a count the input cannot back.
        let node_bytes_min = 8 + 1 + 1 + dimension * 4 + usize::from(quantized) * dimension + (config.m0() + 1) * 4;
        reader.check_count(node_count, node_bytes_min)?;

        let mut external_ids = Vec::with_capacity(node_count);
        for _ in 0..node_count {
            external_ids.push(reader.u64()?);
        }
        let levels_offset = reader.offset();
        let levels = reader.take(node_count)?.to_vec();
        if levels.iter().any(|&level| usize::from(level) >= LEVELS_MAX) {
            return Err(IndexError::Corrupt { offset: levels_offset, reason: "a level is not below LEVELS_MAX" });
        }
        let deleted_offset = reader.offset();
        let deleted_bytes = reader.take(node_count)?;
        let mut deleted = Vec::with_capacity(node_count);
        for &flag in deleted_bytes {
            match flag {
                0 => deleted.push(false),
                1 => deleted.push(true),
                _ => {
                    return Err(IndexError::Corrupt { offset: deleted_offset, reason: "a deleted flag is not 0 or 1" });
                }
            }
        }
        if deleted.iter().filter(|&&flag| flag).count() != deleted_count {
            return Err(IndexError::Corrupt { offset: deleted_offset, reason: "deleted count does not match flags" });
        }

        // Entry point and max level.
        let highest = levels.iter().copied().max().map(usize::from);
        let entry_point = match (entry_point, highest) {
            (NO_NODE, None) if max_level == 0 => None,
            (node, Some(highest))
                if levels.get(node as usize).map(|&level| usize::from(level)) == Some(highest)
                    && highest == max_level =>
            {
                Some(node)
            }
            _ => {
                return Err(IndexError::Corrupt {
                    offset: entry_offset,
                    reason: "the entry point is not a node of the highest level",
                });
            }
        };

        let vectors_offset = reader.offset();
        let values = reader.f32s(node_count * dimension)?;
        if values.iter().any(|value| !value.is_finite()) {
            return Err(IndexError::Corrupt { offset: vectors_offset, reason: "a vector component is not finite" });
        }
        let vectors = VectorStore::from_values(dimension, values);

        let quantizer = match config.encoding {
            VectorEncoding::F32 => None,
            VectorEncoding::ScalarQuantized8 { range } => {
                let range_offset = reader.offset();
                let range_length = reader.u32()? as usize;
                let expected = if range == QuantizationRange::Trained && node_count == 0 { 0 } else { dimension };
                if range_length != expected {
                    return Err(IndexError::Corrupt { offset: range_offset, reason: "quantization range length" });
                }
                let lows = reader.f32s(range_length)?;
                let steps = reader.f32s(range_length)?;
                if lows.iter().any(|low| !low.is_finite()) || steps.iter().any(|step| !step.is_finite() || *step < 0.0)
                {
                    return Err(IndexError::Corrupt { offset: range_offset, reason: "quantization range not finite" });
                }
                let codes = reader.take(node_count * dimension)?.to_vec();
                Some(ScalarQuantizer::from_parts(range, lows, steps, codes))
            }
        };

        let level0_stride = config.m0() + 1;
        let links_offset = reader.offset();
        let level0_links = reader.u32s(node_count * level0_stride)?;
        for slot in level0_links.chunks_exact(level0_stride) {
            check_slot(slot, 0, &levels, links_offset)?;
        }
        let upper_stride = config.m + 1;
        let mut upper_links = Vec::with_capacity(node_count);
        for &level in &levels {
            let length = usize::from(level) * upper_stride;
            let slot_offset = reader.offset();
            let links = reader.u32s(length)?;
            for (layer, slot) in (1..).zip(links.chunks_exact(upper_stride)) {
                check_slot(slot, layer, &levels, slot_offset)?;
            }
            upper_links.push(links);
        }
        reader.finish()?;

        let mut id_to_node = HashMap::with_capacity(node_count);
        for (node, &id) in (0_u32..).zip(&external_ids) {
            if let Some(previous) = id_to_node.insert(id, node) {
                if !deleted.get(previous as usize).copied().unwrap_or(true) {
                    return Err(IndexError::Corrupt { offset: 0, reason: "two live nodes share an id" });
                }
            }
        }
        Ok(Self {
            config,
            vectors,
            quantizer,
            external_ids,
            levels,
            deleted,
            deleted_count,
            level0_links,
            upper_links,
            id_to_node,
            entry_point,
            max_level,
            rng_state,
            scratch: ScratchPool::default(),
        })
    }

    /// A deterministic 64-bit digest (FNV-1a) of the logical state: the configuration, every live id with its
    /// stored vector (ids ascending), and the ids of tombstones (ascending, with repeats). The graph and the
    /// quantization codes are derived from these and the insert order, and are not included; two indexes
    /// built by the same operations have the same digest whatever their node order.
    pub fn digest(&self) -> u64 {
        let mut digest = StateDigest::new();
        self.digest_into(&mut digest);
        digest.finish()
    }

    /// Adds the state of [`HnswIndex::digest`] to `digest` (for a caller that digests more, such as metadata).
    pub fn digest_into(&self, digest: &mut StateDigest) {
        let mut config_bytes = Vec::new();
        write_config(&self.config, &mut config_bytes);
        digest.write_bytes(b"vecdb-index-digest-v1");
        digest.write_bytes(&config_bytes);
        let mut live: Vec<(u64, u32)> = Vec::with_capacity(self.len());
        let mut tombstones: Vec<u64> = Vec::with_capacity(self.deleted_count);
        for (node, (&id, &deleted)) in (0_u32..).zip(self.external_ids.iter().zip(&self.deleted)) {
            if deleted {
                tombstones.push(id);
            } else {
                live.push((id, node));
            }
        }
        live.sort_unstable();
        tombstones.sort_unstable();
        digest.write_u64(live.len() as u64);
        for (id, node) in live {
            digest.write_u64(id);
            for &value in self.vectors.row(node) {
                digest.write_f32(value);
            }
        }
        digest.write_u64(tombstones.len() as u64);
        for id in tombstones {
            digest.write_u64(id);
        }
    }
}

/// Checks one link slot: count within the slot, neighbors existing nodes that reach `layer`, unused slots 0.
fn check_slot(slot: &[u32], layer: usize, levels: &[u8], offset: usize) -> Result<(), IndexError> {
    let corrupt = |reason| IndexError::Corrupt { offset, reason };
    let Some((&count, neighbors)) = slot.split_first() else {
        return Err(corrupt("empty link slot"));
    };
    let count = count as usize;
    if count > neighbors.len() {
        return Err(corrupt("a link count is larger than its slot"));
    }
    let (used, unused) = neighbors.split_at(count);
    for &neighbor in used {
        match levels.get(neighbor as usize) {
            Some(&level) if usize::from(level) >= layer => {}
            _ => return Err(corrupt("a link points to a node that is not on its layer")),
        }
    }
    if unused.iter().any(|&value| value != 0) {
        return Err(corrupt("an unused link slot is not zero"));
    }
    Ok(())
}
