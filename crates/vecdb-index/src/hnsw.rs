//! The HNSW graph (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using
//! Hierarchical Navigable Small World graphs"), laid out and tuned after hnswlib.
//!
//! # Layout
//! - Nodes are dense `u32` indexes in insertion order, never reused (a deleted node stays as a tombstone until
//!   [`HnswIndex::rebuild_without_tombstones`]). Users see stable `u64` ids; `id_to_node` maps each id to its
//!   latest node.
//! - Layer-0 links of every node live in one flat `Vec<u32>` with a fixed stride of `1 + 2M`: a count, then up
//!   to `2M` neighbor slots. Upper layers (rare: a node reaches layer `l` with probability `M^-l`) are one
//!   `Vec<u32>` per node with `level` blocks of stride `1 + M`; nodes only on layer 0 allocate nothing there.
//! - Vectors are in [`VectorStore`] (and [`ScalarQuantizer`] codes when configured).
//!
//! # Algorithms
//! - Level: drawn from a seeded splitmix64 stream so that `P(level >= l) = M^-l` (the paper's `mL = 1/ln(M)`),
//!   computed in integers so it is the same on every platform, capped at `LEVELS_MAX - 1`.
//! - Insert: greedy descent (ef = 1) from the entry point down to the node's level, then on each layer from
//!   there down a beam search with `ef_construction`, the paper's neighbor selection heuristic (algorithm 4 with
//!   `keepPrunedConnections = false`, like hnswlib) choosing `M` links, and back links; a neighbor list that
//!   overflows (`2M` on layer 0, `M` above) is pruned with the same heuristic. The whole result set of one layer
//!   seeds the next (the paper's `ep <- W`).
//! - Deleted nodes still route searches but never enter result sets nor gain new links.
//! - Search: greedy descent to layer 1, then a beam search of breadth `ef` on layer 0. A filter is applied
//!   during that beam search: non-matching nodes are expanded (so the search can walk through them) but only
//!   matching ones enter the results. When the beam search finds fewer than `k` results, or the caller says the
//!   filter matches few nodes, the search is exact over the matching nodes instead, so a selective filter still
//!   returns `k` results when `k` exist.

use std::collections::{BinaryHeap, HashMap};
use std::fmt;

use super::config::{HnswConfig, LEVELS_MAX, NODE_COUNT_MAX, VectorEncoding};
use super::distance::{Metric, dot, l2_squared};
use super::scratch::{ScratchPool, SearchScratch, Traversal, pack, packed_distance, packed_node};
use super::vectors::{ScalarQuantizer, VectorStore, prepare_vector};
use crate::config::{EF_MAX, K_MAX};
use crate::error::IndexError;

/// A filter matching at most this percent of live nodes (as told by the caller) is searched exactly: below it
/// a filtered beam search expands more nodes than a scan computes distances.
pub const FILTER_EXACT_PERCENT_MAX: usize = 5;

/// A search's filter over node indexes ([`HnswIndex::external_id`] gives a node's id).
pub type NodeFilter<'a> = &'a dyn Fn(u32) -> bool;

/// An in-memory HNSW index over `f32` vectors with stable `u64` ids. Inserts and deletes take `&mut self`;
/// searches take `&self` and may run concurrently from many threads.
pub struct HnswIndex {
    pub(super) config: HnswConfig,
    pub(super) vectors: VectorStore,
    pub(super) quantizer: Option<ScalarQuantizer>,
    /// Per node: its user id.
    pub(super) external_ids: Vec<u64>,
    /// Per node: its top layer.
    pub(super) levels: Vec<u8>,
    /// Per node: tombstone flag.
    pub(super) deleted: Vec<bool>,
    pub(super) deleted_count: usize,
    /// Layer-0 links, stride `1 + 2M` (count, then slots).
    pub(super) level0_links: Vec<u32>,
    /// Per node: layers `1..=level`, stride `1 + M` each.
    pub(super) upper_links: Vec<Vec<u32>>,
    /// Each id's latest node (live, or deleted and not reinserted since).
    pub(super) id_to_node: HashMap<u64, u32>,
    pub(super) entry_point: Option<u32>,
    pub(super) max_level: usize,
    /// State of the level generator.
    pub(super) rng_state: u64,
    pub(super) scratch: ScratchPool,
}

impl fmt::Debug for HnswIndex {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("HnswIndex")
            .field("config", &self.config)
            .field("node_count", &self.node_count())
            .field("deleted_count", &self.deleted_count)
            .field("entry_point", &self.entry_point)
            .field("max_level", &self.max_level)
            .finish_non_exhaustive()
    }
}

impl Clone for HnswIndex {
    fn clone(&self) -> Self {
        Self {
            config: self.config,
            vectors: self.vectors.clone(),
            quantizer: self.quantizer.clone(),
            external_ids: self.external_ids.clone(),
            levels: self.levels.clone(),
            deleted: self.deleted.clone(),
            deleted_count: self.deleted_count,
            level0_links: self.level0_links.clone(),
            upper_links: self.upper_links.clone(),
            id_to_node: self.id_to_node.clone(),
            entry_point: self.entry_point,
            max_level: self.max_level,
            rng_state: self.rng_state,
            scratch: ScratchPool::default(),
        }
    }
}

/// The next value of a splitmix64 stream.
#[doc(hidden)]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The level for a uniform 64-bit `draw`: the number of `l` in `1..LEVELS_MAX` with `draw < u64::MAX / m^l`,
/// so `P(level >= l) = m^-l` (the paper's `floor(-ln(U) * mL)` with `mL = 1/ln(m)`), in integer arithmetic so
/// every platform draws the same levels.
pub(crate) fn level_for_draw(draw: u64, m: usize) -> usize {
    let m = m.max(2) as u64;
    let mut threshold = u64::MAX;
    let mut level = 0;
    while level + 1 < LEVELS_MAX {
        threshold /= m;
        if draw >= threshold {
            break;
        }
        level += 1;
    }
    level
}

/// Checks that one more node fits: under [`NODE_COUNT_MAX`] and within the address space for its vector and
/// layer-0 links (which matters on 32-bit targets such as wasm32).
#[doc(hidden)]
pub fn check_node_capacity(node_count: usize, config: &HnswConfig) -> Result<(), IndexError> {
    let exceeded = || IndexError::LimitExceeded {
        what: "NODE_COUNT_MAX",
        value: node_count as u64 + 1,
        limit: NODE_COUNT_MAX as u64,
    };
    // Compared as u64: on 32-bit targets NODE_COUNT_MAX is usize::MAX.
    if node_count as u64 >= NODE_COUNT_MAX as u64 {
        return Err(exceeded());
    }
    let next = node_count + 1;
    let vector_values = next.checked_mul(config.dimension).and_then(|values| values.checked_mul(size_of::<f32>()));
    let link_values = next.checked_mul(config.m0() + 1).and_then(|values| values.checked_mul(size_of::<u32>()));
    match (vector_values, link_values) {
        (Some(vector_bytes), Some(link_bytes))
            if vector_bytes <= isize::MAX as usize && link_bytes <= isize::MAX as usize =>
        {
            Ok(())
        }
        _ => Err(exceeded()),
    }
}

impl HnswIndex {
    /// An empty index.
    ///
    /// # Errors
    /// The configuration's errors from [`HnswConfig::validate`].
    pub fn new(config: HnswConfig) -> Result<Self, IndexError> {
        config.validate()?;
        let quantizer = match config.encoding {
            VectorEncoding::F32 => None,
            VectorEncoding::ScalarQuantized8 { range } => Some(ScalarQuantizer::new(range, config.dimension)),
        };
        Ok(Self {
            config,
            vectors: VectorStore::new(config.dimension),
            quantizer,
            external_ids: Vec::new(),
            levels: Vec::new(),
            deleted: Vec::new(),
            deleted_count: 0,
            level0_links: Vec::new(),
            upper_links: Vec::new(),
            id_to_node: HashMap::new(),
            entry_point: None,
            max_level: 0,
            rng_state: config.seed,
            scratch: ScratchPool::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HnswConfig {
        &self.config
    }

    /// Nodes in the graph, tombstones included.
    pub fn node_count(&self) -> usize {
        self.external_ids.len()
    }

    /// Nodes marked deleted and not yet compacted away.
    pub fn deleted_count(&self) -> usize {
        self.deleted_count
    }

    /// Live (searchable) vectors.
    pub fn len(&self) -> usize {
        self.node_count() - self.deleted_count
    }

    /// Whether there is no live vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a live vector has this id.
    pub fn contains(&self, id: u64) -> bool {
        self.live_node(id).is_some()
    }

    /// Whether this id was inserted and then deleted (and not inserted again). Unknown ids are not deleted.
    pub fn is_deleted(&self, id: u64) -> bool {
        self.id_to_node.get(&id).is_some_and(|&node| self.is_deleted_node(node))
    }

    /// The live node holding this id.
    pub fn live_node(&self, id: u64) -> Option<u32> {
        self.id_to_node.get(&id).copied().filter(|&node| !self.is_deleted_node(node))
    }

    /// The id of a node (tombstones keep theirs).
    pub fn external_id(&self, node: u32) -> Option<u64> {
        self.external_ids.get(node as usize).copied()
    }

    /// The stored vector of a live id (normalized under cosine).
    pub fn vector(&self, id: u64) -> Option<&[f32]> {
        self.live_node(id).map(|node| self.vectors.row(node))
    }

    /// Live ids in node order.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.external_ids.iter().zip(&self.deleted).filter(|(_, deleted)| !**deleted).map(|(&id, _)| id)
    }

    /// Whether a node is a tombstone (nodes past the end count as deleted).
    #[inline(always)]
    pub fn is_deleted_node(&self, node: u32) -> bool {
        self.deleted.get(node as usize).copied().unwrap_or(true)
    }

    /// The top layer of the graph.
    pub fn max_level(&self) -> usize {
        self.max_level
    }

    /// Approximate heap bytes held (vectors, codes, links, id map).
    pub fn heap_bytes(&self) -> usize {
        let upper: usize = self.upper_links.iter().map(|links| links.capacity() * size_of::<u32>()).sum();
        self.vectors.heap_bytes()
            + self.quantizer.as_ref().map_or(0, ScalarQuantizer::heap_bytes)
            + self.external_ids.capacity() * size_of::<u64>()
            + self.levels.capacity()
            + self.deleted.capacity()
            + self.level0_links.capacity() * size_of::<u32>()
            + self.upper_links.capacity() * size_of::<Vec<u32>>()
            + upper
            + self.id_to_node.capacity() * (size_of::<u64>() + size_of::<u32>() + 1)
    }

    /// The neighbors of `node` on `level` (empty for a level the node is not on).
    #[inline(always)]
    pub fn links(&self, node: u32, level: usize) -> &[u32] {
        let slot = if level == 0 {
            let stride = self.config.m0() + 1;
            let start = node as usize * stride;
            self.level0_links.get(start..start + stride)
        } else {
            let stride = self.config.m + 1;
            let start = (level - 1) * stride;
            self.upper_links.get(node as usize).and_then(|links| links.get(start..start + stride))
        };
        match slot {
            Some([count, neighbors @ ..]) => neighbors.get(..*count as usize).unwrap_or(neighbors),
            _ => &[],
        }
    }

    /// The link slot (a count, then the neighbors) of `node` on `level`, to write; `None` for a level the node is
    /// not on. [`Self::links`] reads the same slot with the same arithmetic, kept in its own body because it is the
    /// search's hot path: a range helper shared with it searched 2 to 9% slower in two interleaved runs of the
    /// browser build (`crates/vecdb-wasm/bench/ab.mjs`, glove-50 50k; noisy, but never faster).
    #[inline(always)]
    fn slot_mut(&mut self, node: u32, level: usize) -> Option<&mut [u32]> {
        if level == 0 {
            let stride = self.config.m0() + 1;
            let start = node as usize * stride;
            self.level0_links.get_mut(start..start + stride)
        } else {
            let stride = self.config.m + 1;
            let start = (level - 1) * stride;
            self.upper_links.get_mut(node as usize).and_then(|links| links.get_mut(start..start + stride))
        }
    }

    /// Replaces the neighbors of `node` on `level` with the nodes of packed `entries` (at most the slot's size).
    fn set_links(&mut self, node: u32, level: usize, entries: &[u64]) {
        let slot = self.slot_mut(node, level);
        if let Some([count, neighbors @ ..]) = slot {
            // Unused slots are zeroed so that the memory (and so the encoding) is canonical.
            let mut written = 0_u32;
            let mut entries = entries.iter();
            for neighbor in neighbors.iter_mut() {
                match entries.next() {
                    Some(&entry) => {
                        *neighbor = packed_node(entry);
                        written += 1;
                    }
                    None => *neighbor = 0,
                }
            }
            *count = written;
        }
    }

    /// Appends `neighbor` to the links of `node` on `level`; returns false when the list is full.
    fn push_link(&mut self, node: u32, level: usize, neighbor: u32) -> bool {
        let slot = self.slot_mut(node, level);
        if let Some([count, neighbors @ ..]) = slot {
            if let Some(free) = neighbors.get_mut(*count as usize) {
                *free = neighbor;
                *count += 1;
                return true;
            }
        }
        false
    }

    /// Draws a level for a new node from the seeded stream.
    fn draw_level(&mut self) -> usize {
        level_for_draw(splitmix64(&mut self.rng_state), self.config.m)
    }

    fn check_k(k: usize) -> Result<(), IndexError> {
        if k == 0 {
            return Err(IndexError::KIsZero);
        }
        if k > K_MAX {
            return Err(IndexError::LimitExceeded { what: "K_MAX", value: k as u64, limit: K_MAX as u64 });
        }
        Ok(())
    }

    fn check_ef(&self, ef: Option<usize>) -> Result<usize, IndexError> {
        let ef = ef.unwrap_or(self.config.ef_search);
        if ef > EF_MAX {
            return Err(IndexError::LimitExceeded { what: "EF_MAX", value: ef as u64, limit: EF_MAX as u64 });
        }
        Ok(ef)
    }

    /// Checks that `insert(id, vector)` would succeed, without changing anything (to validate a whole batch
    /// before applying any of it).
    ///
    /// # Errors
    /// As [`HnswIndex::insert`].
    pub fn validate_insert(&self, id: u64, vector: &[f32]) -> Result<(), IndexError> {
        if self.contains(id) {
            return Err(IndexError::DuplicateId { id });
        }
        check_node_capacity(self.node_count(), &self.config)?;
        let mut prepared = Vec::new();
        prepare_vector(self.config.metric, self.config.dimension, vector, &mut prepared)
    }

    /// Inserts a vector under `id` and returns its node. To replace a live id, [`HnswIndex::mark_deleted`] it
    /// first (upsert is the caller's decision); a deleted id may be inserted again and maps to the new node.
    ///
    /// # Errors
    /// [`IndexError::DuplicateId`] when `id` is live; [`IndexError::DimensionMismatch`],
    /// [`IndexError::NonFiniteValue`], [`IndexError::ZeroVectorUnderCosine`] for a bad vector;
    /// [`IndexError::LimitExceeded`] past [`NODE_COUNT_MAX`]. Nothing changes on error.
    pub fn insert(&mut self, id: u64, vector: &[f32]) -> Result<u32, IndexError> {
        let mut scratch = self.scratch.take_exclusive();
        let mut prepared = std::mem::take(&mut scratch.query);
        let result = match prepare_vector(self.config.metric, self.config.dimension, vector, &mut prepared) {
            Ok(()) => self.insert_prepared(&mut scratch, id, &prepared),
            Err(error) => Err(error),
        };
        scratch.query = prepared;
        self.scratch.give_back_exclusive(scratch);
        result
    }

    /// Inserts an already prepared (validated, normalized) vector.
    fn insert_prepared(&mut self, scratch: &mut SearchScratch, id: u64, vector: &[f32]) -> Result<u32, IndexError> {
        if self.contains(id) {
            return Err(IndexError::DuplicateId { id });
        }
        let node_count = self.node_count();
        check_node_capacity(node_count, &self.config)?;
        let node = node_count as u32;
        let level = self.draw_level();
        self.vectors.push(vector);
        if let Some(quantizer) = &mut self.quantizer {
            quantizer.push(vector, &self.vectors);
        }
        self.external_ids.push(id);
        self.levels.push(level as u8);
        self.deleted.push(false);
        self.level0_links.resize(self.level0_links.len() + self.config.m0() + 1, 0);
        self.upper_links.push(vec![0; level * (self.config.m + 1)]);
        self.id_to_node.insert(id, node);
        self.connect(scratch, node, level);
        Ok(node)
    }

    /// Marks the live vector `id` deleted: it stays in the graph for routing but never appears in results.
    ///
    /// # Errors
    /// [`IndexError::UnknownId`] when no live vector has this id.
    pub fn mark_deleted(&mut self, id: u64) -> Result<(), IndexError> {
        let node = self.live_node(id).ok_or(IndexError::UnknownId { id })?;
        if let Some(flag) = self.deleted.get_mut(node as usize) {
            *flag = true;
            self.deleted_count += 1;
        }
        Ok(())
    }

    /// A new index holding only the live vectors, under the same ids and configuration (the graph is built
    /// anew from the stored vectors, in node order, so the result is deterministic).
    ///
    /// # Errors
    /// None in practice (the vectors were valid when inserted); errors of [`HnswIndex::insert`] are passed on.
    pub fn rebuild_without_tombstones(&self) -> Result<Self, IndexError> {
        let mut rebuilt = Self::new(self.config)?;
        let mut scratch = SearchScratch::default();
        for (node, (&id, &deleted)) in self.external_ids.iter().zip(&self.deleted).enumerate() {
            if !deleted {
                let row = self.vectors.row(node as u32);
                rebuilt.insert_prepared(&mut scratch, id, row)?;
            }
        }
        Ok(rebuilt)
    }

    /// Links a freshly appended node into the graph.
    fn connect(&mut self, scratch: &mut SearchScratch, node: u32, level: usize) {
        let Some(entry) = self.entry_point else {
            self.entry_point = Some(node);
            self.max_level = level;
            return;
        };
        let metric = self.config.metric;
        let top = self.max_level;
        let (mut current, mut current_distance) = {
            let query = self.vectors.row(node);
            let distance = |other: u32| metric.distance(query, self.vectors.row(other));
            let mut current = (entry, distance(entry));
            for layer in (level + 1..=top).rev() {
                current = self.greedy_closest(&distance, current.0, current.1, layer);
            }
            current
        };
        scratch.entries.clear();
        scratch.entries.push(pack(current_distance, current));
        let restricted = self.deleted_count > 0;
        for layer in (0..=level.min(top)).rev() {
            {
                let query = self.vectors.row(node);
                let distance = |other: u32| metric.distance(query, self.vectors.row(other));
                let accept = |other: u32| !self.is_deleted_node(other);
                let touch = |other: u32| self.vectors.touch(other);
                self.search_layer(
                    &mut scratch.traversal,
                    &distance,
                    &touch,
                    &scratch.entries,
                    self.config.ef_construction,
                    layer,
                    &accept,
                    restricted,
                );
                drain_sorted(&mut scratch.traversal);
                self.select_neighbors(&scratch.traversal.sorted, self.config.m, &mut scratch.selected);
            }
            let selected = std::mem::take(&mut scratch.selected);
            self.set_links(node, layer, &selected);
            for &neighbor in &selected {
                self.link_back(scratch, packed_node(neighbor), node, layer);
            }
            scratch.selected = selected;
            if !scratch.traversal.sorted.is_empty() {
                std::mem::swap(&mut scratch.entries, &mut scratch.traversal.sorted);
            } else {
                // Every candidate was deleted: keep descending from the greedy position.
                scratch.entries.clear();
                scratch.entries.push(pack(current_distance, current));
            }
            if let Some(&closest) = scratch.entries.first() {
                current = packed_node(closest);
                current_distance = packed_distance(closest);
            }
        }
        if level > top {
            self.entry_point = Some(node);
            self.max_level = level;
        }
    }

    /// Adds `new` to the links of `node` on `level`, pruning with the heuristic when the list is full.
    fn link_back(&mut self, scratch: &mut SearchScratch, node: u32, new: u32, level: usize) {
        if self.push_link(node, level, new) {
            return;
        }
        let capacity = if level == 0 { self.config.m0() } else { self.config.m };
        let metric = self.config.metric;
        let base = self.vectors.row(node);
        scratch.pruning.clear();
        scratch.pruning.push(pack(metric.distance(base, self.vectors.row(new)), new));
        for &neighbor in self.links(node, level) {
            scratch.pruning.push(pack(metric.distance(base, self.vectors.row(neighbor)), neighbor));
        }
        scratch.pruning.sort_unstable();
        self.select_neighbors(&scratch.pruning, capacity, &mut scratch.pruned);
        let pruned = std::mem::take(&mut scratch.pruned);
        self.set_links(node, level, &pruned);
        scratch.pruned = pruned;
    }

    /// The paper's algorithm 4 (hnswlib's `getNeighborsByHeuristic2`): walking `candidates` closest first, keep
    /// one when it is closer to the base than to every neighbor kept so far, until `m` are kept.
    fn select_neighbors(&self, candidates: &[u64], m: usize, selected: &mut Vec<u64>) {
        selected.clear();
        if candidates.len() < m {
            selected.extend_from_slice(candidates);
            return;
        }
        let metric = self.config.metric;
        for &candidate in candidates {
            if selected.len() >= m {
                break;
            }
            let candidate_distance = packed_distance(candidate);
            let candidate_row = self.vectors.row(packed_node(candidate));
            let diverse = selected
                .iter()
                .all(|&kept| metric.distance(candidate_row, self.vectors.row(packed_node(kept))) >= candidate_distance);
            if diverse {
                selected.push(candidate);
            }
        }
    }

    /// Greedy walk on one layer (ef = 1): move to the closest neighbor while it is closer.
    #[inline]
    fn greedy_closest<D: Fn(u32) -> f32>(
        &self,
        distance: &D,
        mut current: u32,
        mut current_distance: f32,
        level: usize,
    ) -> (u32, f32) {
        loop {
            let mut changed = false;
            for &neighbor in self.links(current, level) {
                let neighbor_distance = distance(neighbor);
                if neighbor_distance < current_distance {
                    current_distance = neighbor_distance;
                    current = neighbor;
                    changed = true;
                }
            }
            if !changed {
                return (current, current_distance);
            }
        }
    }

    /// Beam search of breadth `ef` on one layer from packed `entries` (hnswlib's `searchBaseLayerST`). Leaves
    /// the best accepted nodes in `traversal.results`. With `restricted` (a filter or tombstones), the search
    /// does not stop at the distance bound until `ef` accepted nodes are found.
    #[expect(clippy::too_many_arguments, reason = "the hot loop takes its closures by generic reference")]
    #[inline]
    fn search_layer<D, T, A>(
        &self,
        traversal: &mut Traversal,
        distance: &D,
        touch: &T,
        entries: &[u64],
        ef: usize,
        level: usize,
        accept: &A,
        restricted: bool,
    ) where
        D: Fn(u32) -> f32,
        T: Fn(u32) -> u32,
        A: Fn(u32) -> bool,
    {
        let Traversal { visited, candidates, results, pending, .. } = traversal;
        visited.reset(self.node_count());
        candidates.clear();
        results.clear();
        for &entry in entries {
            let node = packed_node(entry);
            if visited.insert(node) {
                candidates.push(!entry);
                if accept(node) {
                    results.push(entry);
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        // Distance keys compare like the distances; u32::MAX is above every distance: no bound yet.
        let mut bound = results.peek().map_or(u32::MAX, |&top| key_of(top));
        // Loads issued for memory-level parallelism are folded into `sink`, so the compiler keeps them.
        let mut sink = 0_u32;
        while let Some(inverted) = candidates.pop() {
            let candidate = !inverted;
            if key_of(candidate) > bound && (results.len() >= ef || !restricted) {
                break;
            }
            // The next candidate is likely the one on top now: start loading its links.
            if let Some(&next) = candidates.peek() {
                sink ^= self.links(packed_node(!next), level).first().copied().unwrap_or(0);
            }
            // Two passes over the neighbors: first find the unvisited ones and touch their vectors, so that
            // the cache misses overlap (hnswlib issues prefetch instructions here; this is the safe-Rust
            // equivalent), then compute the distances from cache.
            pending.clear();
            for &neighbor in self.links(packed_node(candidate), level) {
                if visited.insert(neighbor) {
                    pending.push(neighbor);
                    sink ^= touch(neighbor);
                }
            }
            for &neighbor in pending.iter() {
                let entry = pack(distance(neighbor), neighbor);
                if results.len() < ef || key_of(entry) < bound {
                    candidates.push(!entry);
                    if accept(neighbor) {
                        if results.len() < ef {
                            results.push(entry);
                        } else if let Some(mut top) = results.peek_mut() {
                            // entry < top: replace the farthest result (one sift instead of push + pop).
                            *top = entry;
                        }
                    }
                    if let Some(&top) = results.peek() {
                        bound = key_of(top);
                    }
                }
            }
        }
        std::hint::black_box(sink);
    }

    /// The `k` nearest live vectors to `query` (closest first, as `(id, distance)`), searching with breadth
    /// `ef` (`None`: the configured `ef_search`; at least `k` is used). With a `filter` over node indexes only
    /// matching nodes are returned; when the graph search finds fewer than `k` (a selective filter, many
    /// tombstones) the search falls back to [`HnswIndex::exact_search`], so `k` results come back whenever `k`
    /// live matching vectors exist.
    ///
    /// # Errors
    /// [`IndexError::KIsZero`], [`IndexError::LimitExceeded`] (`K_MAX`, `EF_MAX`) and the vector errors of
    /// [`HnswIndex::insert`] for the query.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Option<NodeFilter<'_>>,
    ) -> Result<Vec<(u64, f32)>, IndexError> {
        Self::check_k(k)?;
        let ef = self.check_ef(ef)?.max(k);
        let mut scratch = self.scratch.take();
        let result = self.search_with_scratch(&mut scratch, query, k, ef, filter);
        self.scratch.give_back(scratch);
        result
    }

    /// Like [`HnswIndex::search`] with a filter whose number of matching live nodes the caller knows (or
    /// estimates). At most [`FILTER_EXACT_PERCENT_MAX`] percent of live nodes (or at most `ef` nodes) is
    /// searched exactly right away.
    ///
    /// # Errors
    /// As [`HnswIndex::search`].
    pub fn search_with_matching_count(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: NodeFilter<'_>,
        matching_count: usize,
    ) -> Result<Vec<(u64, f32)>, IndexError> {
        Self::check_k(k)?;
        let ef = self.check_ef(ef)?.max(k);
        let exact_below = (self.len() / 100 * FILTER_EXACT_PERCENT_MAX).max(ef);
        if matching_count <= exact_below {
            return self.exact_search(query, k, Some(filter));
        }
        self.search(query, k, Some(ef), Some(filter))
    }

    /// The exact `k` nearest live (and matching) vectors by scanning every node.
    ///
    /// # Errors
    /// As [`HnswIndex::search`].
    pub fn exact_search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<NodeFilter<'_>>,
    ) -> Result<Vec<(u64, f32)>, IndexError> {
        Self::check_k(k)?;
        let mut scratch = self.scratch.take();
        let result = prepare_vector(self.config.metric, self.config.dimension, query, &mut scratch.query)
            .map(|()| self.exact_prepared(&scratch.query, k, filter, &mut scratch.traversal));
        self.scratch.give_back(scratch);
        result
    }

    fn search_with_scratch(
        &self,
        scratch: &mut SearchScratch,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<NodeFilter<'_>>,
    ) -> Result<Vec<(u64, f32)>, IndexError> {
        prepare_vector(self.config.metric, self.config.dimension, query, &mut scratch.query)?;
        let Some(entry) = self.entry_point else {
            return Ok(Vec::new());
        };
        let live = self.len();
        if live == 0 {
            return Ok(Vec::new());
        }
        let SearchScratch { traversal, query, quantized, .. } = scratch;
        let query: &[f32] = query;
        let vectors = &self.vectors;
        let touch_vector = |n| vectors.touch(n);
        match (&self.quantizer, self.config.metric) {
            (None, Metric::L2) => {
                let distance = |n| l2_squared(query, vectors.row(n));
                self.graph_search(traversal, &distance, &touch_vector, entry, ef, filter);
            }
            (None, Metric::Cosine) => {
                let distance = |n| 1.0 - dot(query, vectors.row(n));
                self.graph_search(traversal, &distance, &touch_vector, entry, ef, filter);
            }
            (None, Metric::DotProduct) => {
                let distance = |n| -dot(query, vectors.row(n));
                self.graph_search(traversal, &distance, &touch_vector, entry, ef, filter);
            }
            (Some(quantizer), metric) => {
                quantizer.prepare_query(metric, query, quantized);
                let dimension = self.config.dimension;
                let prepared = &*quantized;
                let distance = |n| ScalarQuantizer::distance(metric, prepared, quantizer.row_codes(n, dimension));
                let touch_codes = |n| quantizer.touch(n, dimension);
                self.graph_search(traversal, &distance, &touch_codes, entry, ef, filter);
                // Re-rank the ef candidates with exact distances.
                for entry in &mut traversal.sorted {
                    let node = packed_node(*entry);
                    *entry = pack(metric.distance(query, vectors.row(node)), node);
                }
                traversal.sorted.sort_unstable();
            }
        }
        let wanted = if filter.is_some() { k } else { k.min(live) };
        if traversal.sorted.len() < wanted {
            return Ok(self.exact_prepared(query, k, filter, traversal));
        }
        Ok(self.to_hits(traversal.sorted.iter().take(k)))
    }

    fn to_hits<'a>(&self, entries: impl Iterator<Item = &'a u64>) -> Vec<(u64, f32)> {
        entries
            .filter_map(|&entry| self.external_id(packed_node(entry)).map(|id| (id, packed_distance(entry))))
            .collect()
    }

    /// Greedy descent to layer 1, then a beam search on layer 0; leaves the results in `traversal.sorted`.
    #[inline]
    fn graph_search<D: Fn(u32) -> f32, T: Fn(u32) -> u32>(
        &self,
        traversal: &mut Traversal,
        distance: &D,
        touch: &T,
        entry: u32,
        ef: usize,
        filter: Option<NodeFilter<'_>>,
    ) {
        let mut current = (entry, distance(entry));
        for layer in (1..=self.max_level).rev() {
            current = self.greedy_closest(distance, current.0, current.1, layer);
        }
        let entries = [pack(current.1, current.0)];
        let restricted = filter.is_some() || self.deleted_count > 0;
        // One instantiation of the beam search for both cases (the `Option` test costs a branch per accepted
        // node; a second copy of the loop for every distance closure cost about 10 KB in the browser module).
        let accept = |node: u32| !self.is_deleted_node(node) && filter.is_none_or(|filter| filter(node));
        self.search_layer(traversal, distance, touch, &entries, ef, 0, &accept, restricted);
        drain_sorted(traversal);
    }

    /// Exact top-`k` over live, matching nodes for a prepared query.
    fn exact_prepared(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<NodeFilter<'_>>,
        traversal: &mut Traversal,
    ) -> Vec<(u64, f32)> {
        let metric = self.config.metric;
        let heap = &mut traversal.results;
        heap.clear();
        let rows = self.vectors.as_slice().chunks_exact(self.config.dimension);
        for (node, (row, &deleted)) in (0_u32..).zip(rows.zip(&self.deleted)) {
            if deleted || filter.is_some_and(|filter| !filter(node)) {
                continue;
            }
            let entry = pack(metric.distance(query, row), node);
            push_bounded(heap, entry, k);
        }
        drain_sorted(traversal);
        self.to_hits(traversal.sorted.iter())
    }
}

/// The distance key (high half) of a packed entry.
#[inline(always)]
fn key_of(entry: u64) -> u32 {
    (entry >> 32) as u32
}

/// Pushes onto a max-heap kept at `capacity` entries (the largest is dropped).
#[inline]
fn push_bounded(heap: &mut BinaryHeap<u64>, entry: u64, capacity: usize) {
    if heap.len() < capacity {
        heap.push(entry);
    } else if heap.peek().is_some_and(|&top| entry < top) {
        heap.pop();
        heap.push(entry);
    }
}

/// Moves `traversal.results` into `traversal.sorted`, closest first.
#[inline]
fn drain_sorted(traversal: &mut Traversal) {
    traversal.sorted.clear();
    while let Some(entry) = traversal.results.pop() {
        traversal.sorted.push(entry);
    }
    traversal.sorted.reverse();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::M_MAX;

    #[test]
    fn levels_follow_m_to_the_minus_l_and_stop_below_levels_max() {
        assert_eq!(level_for_draw(u64::MAX, 16), 0);
        assert_eq!(level_for_draw(0, 2), LEVELS_MAX - 1, "the smallest draw reaches the top level, no further");
        // 128^10 > 2^64: with M = 128 the highest reachable level is 9.
        assert_eq!(level_for_draw(0, M_MAX), 9);
        assert_eq!(level_for_draw(u64::MAX / 16 - 1, 16), 1);
        assert_eq!(level_for_draw(u64::MAX / 256 - 1, 16), 2);
        let mut state = 1;
        let draws = 100_000;
        let above_zero = (0..draws).filter(|_| level_for_draw(splitmix64(&mut state), 16) > 0).count();
        // Expected draws / 16 = 6250.
        assert!((5_800..6_700).contains(&above_zero), "{above_zero}");
    }

    #[test]
    fn node_capacity_is_checked_at_node_count_max() {
        let config = HnswConfig::new(1, Metric::L2);
        assert!(check_node_capacity(0, &config).is_ok());
        assert!(matches!(
            check_node_capacity(NODE_COUNT_MAX, &config),
            Err(IndexError::LimitExceeded { what: "NODE_COUNT_MAX", .. })
        ));
        #[cfg(target_pointer_width = "64")]
        assert!(check_node_capacity(NODE_COUNT_MAX - 1, &config).is_ok(), "the last node index is u32::MAX - 1");
        // A vector buffer past the address space is refused even under the count limit.
        let mut wide = HnswConfig::new(crate::config::DIMENSION_MAX, Metric::L2);
        wide.m = M_MAX;
        #[cfg(target_pointer_width = "32")]
        assert!(check_node_capacity(1 << 20, &wide).is_err());
        #[cfg(target_pointer_width = "64")]
        assert!(check_node_capacity(NODE_COUNT_MAX - 1, &wide).is_ok());
    }
}
