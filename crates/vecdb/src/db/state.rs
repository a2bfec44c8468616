//! [`DatabaseState`]: the whole logical state of a database (configuration, HNSW index with tombstones, metadata
//! by id) as a [`snapshot::StateMachine`] the durable layer logs, applies, snapshots and recovers.
//!
//! # Snapshot sections
//! | tag | content |
//! |---|---|
//! | producer | `"vecdb"` and the [`DbConfig`] encoding |
//! | 1 | the index, as [`HnswIndex::encode_into`] writes it (vectors in every encoding, graph, tombstones) |
//! | 2 | metadata: count `u64`, then per live id with non-empty metadata, ids strictly ascending: id `u64`, the metadata's canonical encoding |
//!
//! So recovery decodes the graph as it was and never rebuilds it.
//!
//! # Digest
//! Over the logical state only: the configuration, every live id with its stored vector (ids ascending), the ids
//! of tombstones (ascending, with repeats), and every id's metadata. The graph's shape is not part of it.

use snapshot::{DigestBuilder, PartHasher, Snapshot, SnapshotError, SnapshotReader, SnapshotWriter, StateDigest};

use super::config::DbConfig;
use super::operation::{Operation, OperationKind};
use crate::codec::{Reader, WriteLe};
use crate::error::VecDbError;
use crate::filter::Filter;
use crate::index::hnsw::{check_node_capacity, splitmix64};
use crate::index::vectors::prepare_vector;
use crate::index::{FILTER_EXACT_PERCENT_MAX, HnswIndex, K_MAX};
use crate::metadata::{self, Metadata};

/// Most records in one [`crate::Db::insert_batch`]: the log's limit on operations per batch.
pub const BATCH_ITEMS_MAX: usize = wal::format::BATCH_OPERATIONS_MAX as usize;
/// Most bytes one batch takes in the log (its encoded operations plus 4 bytes each and 4 more): the log's record
/// limit, which the database configures its log with.
pub const BATCH_BYTES_MAX: usize = wal::format::RECORD_BYTES_MAX as usize;

const _: () = assert!(super::operation::OPERATION_BYTES_MAX + 8 <= BATCH_BYTES_MAX, "any one operation fits");

/// Nodes sampled to estimate how many vectors a filter matches, in an index of more than four times as many nodes
/// (smaller ones are counted exactly).
pub const FILTER_SAMPLE_NODES: usize = 1024;
/// The seed of the sample's positions.
const FILTER_SAMPLE_SEED: u64 = 0xF117_E85A_3E1E;
/// The sample stops early, after at least this many nodes, once its estimate is at least twice `stop_at`: the
/// search then takes the graph path whatever the rest of the sample would say (a filter matching most vectors
/// no longer pays for the whole sample).
pub const FILTER_SAMPLE_NODES_MIN: usize = 128;
const _: () = assert!(FILTER_SAMPLE_NODES_MIN <= FILTER_SAMPLE_NODES);

const INDEX_SECTION_TAG: u32 = 1;
const METADATA_SECTION_TAG: u32 = 2;

const DIGEST_CONFIG_PART: u32 = 0;
const DIGEST_LIVE_PART: u32 = 1;
const DIGEST_TOMBSTONES_PART: u32 = 2;
const DIGEST_METADATA_PART: u32 = 3;

/// One stored vector: its id, its vector (as stored: normalized to length 1 under cosine) and its metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The id, chosen by the caller and never renumbered.
    pub id: u64,
    /// The vector.
    pub vector: Vec<f32>,
    /// Its metadata (empty: none).
    pub metadata: Metadata,
}

impl Record {
    /// A record.
    pub fn new(id: u64, vector: Vec<f32>, metadata: Metadata) -> Self {
        Self { id, vector, metadata }
    }
}

/// One search result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// The id.
    pub id: u64,
    /// Its distance to the query under the database's metric (smaller is closer; see [`crate::Metric`]).
    pub distance: f32,
}

/// How a search runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchOptions {
    /// Search breadth (`None`: the configured `ef_search`); at least `k` is used.
    pub ef: Option<usize>,
    /// Only vectors whose metadata matches are returned. The filter is applied during the graph search, and a
    /// selective filter is searched exactly, so `k` results come back whenever `k` matching vectors exist.
    pub filter: Option<Filter>,
}

impl SearchOptions {
    /// Options with a filter parsed from `text`.
    ///
    /// # Errors
    /// [`VecDbError::Filter`] with the byte position of the problem.
    pub fn filtered(text: &str) -> Result<Self, VecDbError> {
        Ok(Self { ef: None, filter: Some(Filter::parse(text)?) })
    }

    /// These options with the search breadth `ef`.
    #[must_use]
    pub fn with_ef(mut self, ef: usize) -> Self {
        self.ef = Some(ef);
        self
    }
}

/// The logical state of a database.
#[derive(Clone, Debug)]
pub struct DatabaseState {
    config: DbConfig,
    index: HnswIndex,
    /// Metadata by node, in the index's node order (as long as the index's node list): `None` for empty metadata
    /// and for tombstones. By node, so that a filter looks it up without hashing during the graph search.
    node_metadata: Vec<Option<Box<Metadata>>>,
}

static NO_METADATA: &Metadata = &Metadata::new();

impl DatabaseState {
    /// An empty state.
    ///
    /// # Errors
    /// The errors of [`DbConfig::validate`].
    pub fn new(config: DbConfig) -> Result<Self, VecDbError> {
        config.validate()?;
        Ok(Self { config, index: HnswIndex::new(config.index)?, node_metadata: Vec::new() })
    }

    /// The configuration.
    pub fn config(&self) -> &DbConfig {
        &self.config
    }

    /// The index (read-only).
    pub fn index(&self) -> &HnswIndex {
        &self.index
    }

    /// Live vectors.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there is no live vector.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u64) -> bool {
        self.index.contains(id)
    }

    /// Every live id, ascending.
    pub fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.index.ids().collect();
        ids.sort_unstable();
        ids
    }

    /// The metadata of a live id (empty when it has none).
    pub fn metadata(&self, id: u64) -> Option<&Metadata> {
        self.index.live_node(id).map(|node| self.node_metadata(node).unwrap_or(NO_METADATA))
    }

    /// The metadata of a node (`None`: empty, or a tombstone).
    fn node_metadata(&self, node: u32) -> Option<&Metadata> {
        self.node_metadata.get(node as usize).and_then(|slot| slot.as_deref())
    }

    fn set_node_metadata(&mut self, node: u32, metadata: Metadata) {
        let position = node as usize;
        if self.node_metadata.len() <= position {
            self.node_metadata.resize_with(position + 1, || None);
        }
        if let Some(slot) = self.node_metadata.get_mut(position) {
            *slot = (!metadata.is_empty()).then(|| Box::new(metadata));
        }
    }

    fn clear_node_metadata(&mut self, node: u32) {
        if let Some(slot) = self.node_metadata.get_mut(node as usize) {
            *slot = None;
        }
    }

    /// The record of a live id: its stored vector (normalized under cosine) and its metadata.
    ///
    /// # Errors
    /// [`VecDbError::UnknownId`].
    pub fn get(&self, id: u64) -> Result<Record, VecDbError> {
        let vector = self.index.vector(id).ok_or(VecDbError::UnknownId { id })?;
        let metadata = self.metadata(id).cloned().unwrap_or_default();
        Ok(Record { id, vector: vector.to_vec(), metadata })
    }

    fn node_matches(&self, node: u32, filter: &Filter, empty_matches: bool) -> bool {
        self.node_metadata(node).map_or(empty_matches, |metadata| filter.matches(metadata))
    }

    /// How many live vectors match `filter`, counting no further than `stop_at` (so a filter that matches many is
    /// cheap to count).
    pub fn matching_count(&self, filter: &Filter, stop_at: usize) -> usize {
        let empty_matches = filter.matches(NO_METADATA);
        let mut count = 0;
        for node in 0..self.index.node_count() {
            let Ok(node) = u32::try_from(node) else { break };
            if !self.index.is_deleted_node(node) && self.node_matches(node, filter, empty_matches) {
                count += 1;
                if count >= stop_at {
                    break;
                }
            }
        }
        count
    }

    /// About how many live vectors match `filter`: counted exactly (up to `stop_at`) in an index of at most
    /// `4 * FILTER_SAMPLE_NODES` nodes, estimated from `FILTER_SAMPLE_NODES` nodes drawn at fixed pseudo-random
    /// positions in a larger one. The sample stops after [`FILTER_SAMPLE_NODES_MIN`] nodes or more once its estimate
    /// reaches `2 * stop_at` (the caller only compares the estimate with `stop_at`).
    /// An estimate only steers the search (exact scan or graph search); a graph search that finds fewer than `k`
    /// matches falls back to an exact scan, so results do not depend on it.
    pub fn estimated_matching_count(&self, filter: &Filter, stop_at: usize) -> usize {
        let node_count = self.index.node_count();
        if node_count <= 4 * FILTER_SAMPLE_NODES {
            return self.matching_count(filter, stop_at);
        }
        let empty_matches = filter.matches(NO_METADATA);
        // Pseudo-random positions from a fixed seed: deterministic, and blind to periodic patterns in the data
        // (ids assigned round-robin to categories would alias with an evenly spaced sample).
        let mut seed = FILTER_SAMPLE_SEED;
        let (mut sampled, mut matched) = (0_usize, 0_usize);
        // u64 throughout: matched <= FILTER_SAMPLE_NODES (2^10) times live <= NODE_COUNT_MAX (2^32) fits.
        let live = self.index.len() as u64;
        let clearly_above = (stop_at as u64).saturating_mul(2);
        for _ in 0..FILTER_SAMPLE_NODES {
            let position = splitmix64(&mut seed) % node_count as u64;
            let Ok(node) = u32::try_from(position) else { continue };
            if !self.index.is_deleted_node(node) {
                sampled += 1;
                matched += usize::from(self.node_matches(node, filter, empty_matches));
                if sampled >= FILTER_SAMPLE_NODES_MIN
                    && matched as u64 * live >= clearly_above.saturating_mul(sampled as u64)
                {
                    break;
                }
            }
        }
        if sampled == 0 {
            return self.matching_count(filter, stop_at);
        }
        let estimate = matched as u64 * live / sampled as u64;
        usize::try_from(estimate).unwrap_or(usize::MAX)
    }

    fn check_k(k: usize) -> Result<(), VecDbError> {
        if k == 0 {
            return Err(VecDbError::KIsZero);
        }
        if k > K_MAX {
            return Err(VecDbError::LimitExceeded { what: "K_MAX", value: k as u64, limit: K_MAX as u64 });
        }
        Ok(())
    }

    /// The `k` nearest live (and matching) vectors to `query`, closest first.
    ///
    /// # Errors
    /// [`VecDbError::KIsZero`], [`VecDbError::LimitExceeded`] (`K_MAX`, `EF_MAX`), and the vector errors
    /// (dimension, NaN or infinity, zero under cosine) for the query.
    pub fn search(&self, query: &[f32], k: usize, options: &SearchOptions) -> Result<Vec<Hit>, VecDbError> {
        Self::check_k(k)?;
        let hits = match &options.filter {
            None => self.index.search(query, k, options.ef, None)?,
            Some(filter) => {
                let empty_matches = filter.matches(NO_METADATA);
                let accept = |node: u32| self.node_matches(node, filter, empty_matches);
                // The index searches exactly at or below this many matches: counting one past it is enough.
                let ef = options.ef.unwrap_or(self.config.index.ef_search).max(k);
                let exact_below = (self.index.len() / 100 * FILTER_EXACT_PERCENT_MAX).max(ef);
                let matching = self.estimated_matching_count(filter, exact_below.saturating_add(1));
                self.index.search_with_matching_count(query, k, options.ef, &accept, matching)?
            }
        };
        Ok(hits.into_iter().map(|(id, distance)| Hit { id, distance }).collect())
    }

    /// The exact `k` nearest live (and matching) vectors, by scanning all of them.
    ///
    /// # Errors
    /// As [`Self::search`].
    pub fn exact_search(&self, query: &[f32], k: usize, filter: Option<&Filter>) -> Result<Vec<Hit>, VecDbError> {
        Self::check_k(k)?;
        let hits = match filter {
            None => self.index.exact_search(query, k, None)?,
            Some(filter) => {
                let empty_matches = filter.matches(NO_METADATA);
                let accept = |node: u32| self.node_matches(node, filter, empty_matches);
                self.index.exact_search(query, k, Some(&accept))?
            }
        };
        Ok(hits.into_iter().map(|(id, distance)| Hit { id, distance }).collect())
    }

    /// Checks a vector against the dimension and the metric's rules.
    fn check_vector(&self, vector: &[f32]) -> Result<(), VecDbError> {
        let mut prepared = Vec::new();
        Ok(prepare_vector(self.config.index.metric, self.config.index.dimension, vector, &mut prepared)?)
    }

    /// The operation inserting (or replacing) `record`, checked against this state.
    ///
    /// # Errors
    /// The vector errors, metadata errors, and [`VecDbError::LimitExceeded`] when the index is full.
    pub fn prepare_upsert(&self, record: Record) -> Result<Operation, VecDbError> {
        self.check_vector(&record.vector)?;
        check_node_capacity(self.index.node_count(), &self.config.index)?;
        Operation::upsert(record.id, record.vector, record.metadata)
    }

    /// The operations inserting (or replacing) every record, in order, as one batch, checked against this state:
    /// all or none are valid.
    ///
    /// # Errors
    /// [`VecDbError::EmptyBatch`], [`VecDbError::LimitExceeded`] (`BATCH_ITEMS_MAX`, `BATCH_BYTES_MAX`,
    /// `NODE_COUNT_MAX`), and the first bad record's error.
    pub fn prepare_batch(&self, records: Vec<Record>) -> Result<Vec<Operation>, VecDbError> {
        if records.is_empty() {
            return Err(VecDbError::EmptyBatch);
        }
        if records.len() > BATCH_ITEMS_MAX {
            return Err(VecDbError::LimitExceeded {
                what: "BATCH_ITEMS_MAX",
                value: records.len() as u64,
                limit: BATCH_ITEMS_MAX as u64,
            });
        }
        check_node_capacity(self.index.node_count().saturating_add(records.len() - 1), &self.config.index)?;
        let mut batch_bytes: usize = 4;
        let mut operations = Vec::with_capacity(records.len());
        for record in records {
            self.check_vector(&record.vector)?;
            let operation = Operation::upsert(record.id, record.vector, record.metadata)?;
            batch_bytes = batch_bytes.saturating_add(4 + operation.encoded_len());
            operations.push(operation);
        }
        if batch_bytes > BATCH_BYTES_MAX {
            return Err(VecDbError::LimitExceeded {
                what: "BATCH_BYTES_MAX",
                value: batch_bytes as u64,
                limit: BATCH_BYTES_MAX as u64,
            });
        }
        Ok(operations)
    }

    /// The operation deleting a live id.
    ///
    /// # Errors
    /// [`VecDbError::UnknownId`].
    pub fn prepare_delete(&self, id: u64) -> Result<Operation, VecDbError> {
        if !self.index.contains(id) {
            return Err(VecDbError::UnknownId { id });
        }
        Ok(Operation::delete(id))
    }

    /// The operation replacing the metadata of a live id.
    ///
    /// # Errors
    /// [`VecDbError::UnknownId`] and the metadata errors.
    pub fn prepare_update_metadata(&self, id: u64, metadata: Metadata) -> Result<Operation, VecDbError> {
        if !self.index.contains(id) {
            return Err(VecDbError::UnknownId { id });
        }
        Operation::update_metadata(id, metadata)
    }
}

impl snapshot::StateMachine for DatabaseState {
    type Operation = Operation;

    fn encode_operation(operation: &Operation, out: &mut Vec<u8>) {
        operation.encode_into(out);
    }

    fn decode_operation(bytes: &[u8]) -> Result<Operation, String> {
        Operation::decode(bytes).map_err(|error| error.to_string())
    }

    /// Total and deterministic: an operation that no longer fits the state (a delete or metadata update of an id a
    /// concurrent writer deleted first; a vector of the wrong dimension, which the database never logs) is a no-op.
    fn apply(&mut self, operation: Operation) {
        match operation.into_kind() {
            OperationKind::Upsert { id, vector, metadata } => {
                if self.check_vector(&vector).is_err()
                    || check_node_capacity(self.index.node_count(), &self.config.index).is_err()
                {
                    return;
                }
                if let Some(old) = self.index.live_node(id) {
                    let _ = self.index.mark_deleted(id);
                    self.clear_node_metadata(old);
                }
                // Cannot fail: the vector and the capacity were checked above.
                if let Ok(node) = self.index.insert(id, &vector) {
                    self.set_node_metadata(node, metadata);
                }
            }
            OperationKind::Delete { id } => {
                if let Some(node) = self.index.live_node(id) {
                    let _ = self.index.mark_deleted(id);
                    self.clear_node_metadata(node);
                }
            }
            OperationKind::UpdateMetadata { id, metadata } => {
                if let Some(node) = self.index.live_node(id) {
                    self.set_node_metadata(node, metadata);
                }
            }
            OperationKind::Compact => {
                if self.index.deleted_count() == 0 {
                    return;
                }
                let Ok(rebuilt) = self.index.rebuild_without_tombstones() else { return };
                // Live nodes keep their ids, under new node numbers: move each one's metadata along.
                let mut old = std::mem::take(&mut self.node_metadata);
                let mut moved = Vec::with_capacity(rebuilt.node_count());
                for node in 0..rebuilt.node_count() {
                    let slot = u32::try_from(node)
                        .ok()
                        .and_then(|node| rebuilt.external_id(node))
                        .and_then(|id| self.index.live_node(id))
                        .and_then(|old_node| old.get_mut(old_node as usize))
                        .and_then(Option::take);
                    moved.push(slot);
                }
                self.index = rebuilt;
                self.node_metadata = moved;
            }
        }
    }
}

fn decode_error(reason: String) -> SnapshotError {
    SnapshotError::Decode { key: String::new(), reason }
}

impl Snapshot for DatabaseState {
    const PRODUCER: &'static str = "vecdb";

    fn configuration(&self) -> Vec<u8> {
        self.config.encode()
    }

    fn snapshot_bytes_hint(&self) -> usize {
        let dimension = self.config.index.dimension;
        let quantized = usize::from(!matches!(self.config.index.encoding, crate::VectorEncoding::F32));
        let per_node = 8 + 2 + dimension * (4 + quantized) + (self.config.index.m0() + 1) * 4;
        let metadata: usize = self.node_metadata.iter().flatten().map(|item| 8 + metadata::encoded_len(item)).sum();
        256 + self.index.node_count() * per_node + dimension * 8 + metadata
    }

    fn encode_sections(&self, writer: &mut SnapshotWriter) -> Result<(), SnapshotError> {
        writer.begin_section(INDEX_SECTION_TAG)?;
        self.index.encode_into(writer.buffer());
        writer.end_section()?;
        writer.begin_section(METADATA_SECTION_TAG)?;
        let with_metadata: Vec<(u64, &Metadata)> = self
            .ids()
            .into_iter()
            .filter_map(|id| self.metadata(id).filter(|item| !item.is_empty()).map(|item| (id, item)))
            .collect();
        let buffer = writer.buffer();
        buffer.put_u64(with_metadata.len() as u64);
        for (id, item) in with_metadata {
            buffer.put_u64(id);
            metadata::encode_into(item, buffer).map_err(|error| SnapshotError::Encode { reason: error.to_string() })?;
        }
        writer.end_section()
    }

    fn decode_sections(configuration: &[u8], reader: &SnapshotReader<'_>) -> Result<Self, SnapshotError> {
        let config =
            DbConfig::decode(configuration).map_err(|error| decode_error(format!("configuration: {error}")))?;
        let index = HnswIndex::decode(reader.section(INDEX_SECTION_TAG)?)
            .map_err(|error| decode_error(format!("index: {error}")))?;
        if index.config() != &config.index {
            return Err(decode_error("the index's configuration differs from the database's".to_owned()));
        }
        let bytes = reader.section(METADATA_SECTION_TAG)?;
        let metadata_error = |error: &dyn std::fmt::Display| decode_error(format!("metadata: {error}"));
        let mut section = Reader::new(bytes);
        let count = usize::try_from(section.u64().map_err(|error| metadata_error(&error))?).unwrap_or(usize::MAX);
        // Each entry takes at least an id and a key count.
        section.check_count(count, 8 + 2).map_err(|error| metadata_error(&error))?;
        let mut state = Self { config, index, node_metadata: Vec::new() };
        state.node_metadata.resize_with(state.index.node_count(), || None);
        let mut previous: Option<u64> = None;
        for _ in 0..count {
            let id = section.u64().map_err(|error| metadata_error(&error))?;
            if previous.is_some_and(|previous| previous >= id) {
                return Err(decode_error(format!("metadata: id {id} is out of order or appears twice")));
            }
            previous = Some(id);
            let Some(node) = state.index.live_node(id) else {
                return Err(decode_error(format!("metadata: id {id} is not a live vector")));
            };
            let rest = bytes.get(section.offset()..).unwrap_or_default();
            let (item, length) = metadata::decode_prefix(rest).map_err(|error| metadata_error(&error))?;
            section.take(length).map_err(|error| metadata_error(&error))?;
            if item.is_empty() {
                return Err(decode_error(format!("metadata: id {id} has an empty entry")));
            }
            state.set_node_metadata(node, item);
        }
        section.finish().map_err(|error| metadata_error(&error))?;
        Ok(state)
    }

    fn digest(&self) -> StateDigest {
        let mut live = PartHasher::new();
        let mut row_bytes = Vec::with_capacity(self.config.index.dimension * 4);
        let ids = self.ids();
        live.update(&(ids.len() as u64).to_le_bytes());
        for &id in &ids {
            live.update(&id.to_le_bytes());
            row_bytes.clear();
            for &value in self.index.vector(id).unwrap_or_default() {
                row_bytes.extend_from_slice(&value.to_le_bytes());
            }
            live.update(&row_bytes);
        }
        let mut tombstone_ids: Vec<u64> = (0..self.index.node_count())
            .filter_map(|node| u32::try_from(node).ok())
            .filter(|&node| self.index.is_deleted_node(node))
            .filter_map(|node| self.index.external_id(node))
            .collect();
        tombstone_ids.sort_unstable();
        let mut tombstones = PartHasher::new();
        tombstones.update(&(tombstone_ids.len() as u64).to_le_bytes());
        for id in tombstone_ids {
            tombstones.update(&id.to_le_bytes());
        }
        let mut metadata_hasher = PartHasher::new();
        let mut encoded = Vec::new();
        for &id in &ids {
            if let Some(item) = self.metadata(id).filter(|item| !item.is_empty()) {
                encoded.clear();
                encoded.put_u64(id);
                let _ = metadata::encode_into(item, &mut encoded);
                metadata_hasher.update(&encoded);
            }
        }
        let mut builder = DigestBuilder::new();
        builder.part(DIGEST_CONFIG_PART, &self.config.encode());
        builder.part_digest(DIGEST_LIVE_PART, live.finish());
        builder.part_digest(DIGEST_TOMBSTONES_PART, tombstones.finish());
        builder.part_digest(DIGEST_METADATA_PART, metadata_hasher.finish());
        builder.finish()
    }
}

#[cfg(test)]
mod tests {
    use snapshot::StateMachine;

    use super::*;
    use crate::index::Metric;
    use crate::metadata::Value;

    fn state() -> DatabaseState {
        let mut config = DbConfig::new(4, Metric::L2);
        config.index.m = 4;
        config.index.ef_construction = 16;
        DatabaseState::new(config).unwrap()
    }

    fn tagged(tag: &str) -> Metadata {
        let mut metadata = Metadata::new();
        metadata.insert("tag".into(), Value::from(tag));
        metadata
    }

    fn upsert(state: &mut DatabaseState, id: u64, value: f32, metadata: Metadata) {
        let operation = state.prepare_upsert(Record::new(id, vec![value, 1.0, 0.0, 0.0], metadata)).unwrap();
        state.apply(operation);
    }

    #[test]
    fn apply_is_total_for_operations_that_no_longer_fit() {
        let mut state = state();
        upsert(&mut state, 1, 1.0, tagged("a"));
        let before = state.digest();
        state.apply(Operation::delete(99));
        state.apply(Operation::update_metadata(99, tagged("b")).unwrap());
        state.apply(Operation::upsert(5, vec![1.0, 2.0], Metadata::new()).unwrap());
        state.apply(Operation::compact());
        assert_eq!(state.digest(), before);
    }

    #[test]
    fn the_digest_covers_ids_vectors_tombstones_and_metadata() {
        let mut state = state();
        upsert(&mut state, 1, 1.0, tagged("a"));
        upsert(&mut state, 2, 2.0, Metadata::new());
        let base = state.digest();
        let mut changed_metadata = state.clone();
        changed_metadata.apply(Operation::update_metadata(2, tagged("b")).unwrap());
        let mut replaced = state.clone();
        upsert(&mut replaced, 2, 2.5, Metadata::new());
        let mut deleted = state.clone();
        deleted.apply(Operation::delete(2));
        let mut compacted = deleted.clone();
        compacted.apply(Operation::compact());
        let digests = [base, changed_metadata.digest(), replaced.digest(), deleted.digest(), compacted.digest()];
        for (i, a) in digests.iter().enumerate() {
            for b in &digests[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn a_snapshot_holds_the_whole_state() {
        let mut state = state();
        for id in 0..40 {
            upsert(&mut state, id, id as f32, if id % 3 == 0 { tagged("x") } else { Metadata::new() });
        }
        state.apply(Operation::delete(4));
        let bytes = snapshot::encode_snapshot(&state, 7).unwrap();
        let (decoded, lsn, digest) = snapshot::decode_snapshot::<DatabaseState>(&bytes).unwrap();
        assert_eq!((lsn, digest), (7, state.digest()));
        assert_eq!(decoded.ids(), state.ids());
        assert_eq!(decoded.get(3).unwrap(), state.get(3).unwrap());
        assert!(
            bytes.len() <= state.snapshot_bytes_hint() + 1024,
            "{} > hint {}",
            bytes.len(),
            state.snapshot_bytes_hint()
        );
    }
}
