//! Reusable per-search memory: the visited set, the two heaps and query buffers, so a search allocates nothing
//! once its scratch has grown to size.
//!
//! Heap entries are one `u64` each: the distance mapped to a `u32` that sorts like the `f32` (see
//! [`distance_key`]) in the high half and the node in the low half. Comparing two entries is one integer
//! comparison, and equal distances are ordered by node, so every search is deterministic.

use std::collections::BinaryHeap;
use std::sync::Mutex;

use super::vectors::QuantizedQuery;

/// Maps an `f32` to a `u32` with the same order (IEEE total order: negative values flipped, positive values
/// offset above them).
#[inline(always)]
pub fn distance_key(distance: f32) -> u32 {
    let bits = distance.to_bits();
    if bits >> 31 == 1 { !bits } else { bits | 0x8000_0000 }
}

/// The inverse of [`distance_key`].
#[inline(always)]
pub fn key_distance(key: u32) -> f32 {
    f32::from_bits(if key >> 31 == 1 { key & 0x7FFF_FFFF } else { !key })
}

/// A (distance, node) pair packed so that `u64` order is distance order, then node order.
#[inline(always)]
pub fn pack(distance: f32, node: u32) -> u64 {
    (u64::from(distance_key(distance)) << 32) | u64::from(node)
}

/// The distance of a packed entry.
#[inline(always)]
pub fn packed_distance(entry: u64) -> f32 {
    key_distance((entry >> 32) as u32)
}

/// The node of a packed entry.
#[inline(always)]
pub fn packed_node(entry: u64) -> u32 {
    entry as u32
}

/// A set of visited nodes that clears in O(1): a node is visited when its mark equals the current generation.
///
/// Marks are `u16`, as in hnswlib: half the memory of `u32` marks keeps more of the array in cache, and the
/// array is zeroed once every 65,535 searches when the generation wraps.
#[derive(Clone, Debug, Default)]
pub struct VisitedList {
    marks: Vec<u16>,
    generation: u16,
}

impl VisitedList {
    /// Starts a new search over `node_count` nodes: nothing is visited.
    #[inline]
    pub fn reset(&mut self, node_count: usize) {
        if self.marks.len() < node_count {
            self.marks.resize(node_count, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.fill(0);
            self.generation = 1;
        }
    }

    /// Marks `node` visited; returns whether it was not visited before. Nodes past the end count as visited.
    #[inline(always)]
    pub fn insert(&mut self, node: u32) -> bool {
        match self.marks.get_mut(node as usize) {
            Some(mark) if *mark != self.generation => {
                *mark = self.generation;
                true
            }
            _ => false,
        }
    }
}

/// The heaps and visited set of one layer search.
#[derive(Debug, Default)]
pub struct Traversal {
    /// Nodes already reached.
    pub visited: VisitedList,
    /// Nodes still to expand, closest first (entries stored bit-inverted so the max-heap pops the smallest).
    pub candidates: BinaryHeap<u64>,
    /// The best `ef` accepted nodes so far, farthest on top.
    pub results: BinaryHeap<u64>,
    /// Unvisited neighbors of the node being expanded.
    pub pending: Vec<u32>,
    /// Sorted output of a layer search (closest first) or of neighbor selection.
    pub sorted: Vec<u64>,
}

/// Everything one search or insert needs besides the index.
#[derive(Debug, Default)]
pub struct SearchScratch {
    /// Heaps and visited set.
    pub traversal: Traversal,
    /// The query as searched (normalized under cosine).
    pub query: Vec<f32>,
    /// The query prepared for quantized distances.
    pub quantized: QuantizedQuery,
    /// Neighbors chosen by the selection heuristic.
    pub selected: Vec<u64>,
    /// Entry points for the next layer.
    pub entries: Vec<u64>,
    /// Candidates when an overfull neighbor list is pruned.
    pub pruning: Vec<u64>,
    /// The neighbors kept by pruning.
    pub pruned: Vec<u64>,
}

/// Scratch spaces shared by concurrent searches: each search takes one (or makes one) and gives it back.
#[derive(Debug, Default)]
pub struct ScratchPool {
    free: Mutex<Vec<SearchScratch>>,
}

/// Scratch spaces kept for reuse at most; more concurrent searches allocate and drop their own.
pub const SCRATCH_POOL_MAX: usize = 64;

impl ScratchPool {
    /// A scratch space from the pool, or a new one.
    pub fn take(&self) -> SearchScratch {
        let mut free = self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        free.pop().unwrap_or_default()
    }

    /// Returns a scratch space for reuse.
    pub fn give_back(&self, scratch: SearchScratch) {
        let mut free = self.free.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if free.len() < SCRATCH_POOL_MAX {
            free.push(scratch);
        }
    }

    /// A scratch space without locking (the caller has exclusive access).
    pub fn take_exclusive(&mut self) -> SearchScratch {
        let free = self.free.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        free.pop().unwrap_or_default()
    }

    /// Returns a scratch space without locking.
    pub fn give_back_exclusive(&mut self, scratch: SearchScratch) {
        let free = self.free.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        if free.len() < SCRATCH_POOL_MAX {
            free.push(scratch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_entries_sort_by_distance_then_node() {
        let values = [f32::NEG_INFINITY, -3.5, -0.0, 0.0, 1e-30, 0.5, 2.0, f32::INFINITY];
        for pair in values.windows(2) {
            assert!(distance_key(pair[0]) <= distance_key(pair[1]), "{pair:?}");
        }
        for &value in &values {
            assert_eq!(key_distance(distance_key(value)).to_bits(), value.to_bits());
            assert_eq!(packed_distance(pack(value, 9)).to_bits(), value.to_bits());
            assert_eq!(packed_node(pack(value, 9)), 9);
        }
        assert!(pack(1.0, 2) < pack(1.0, 3));
        assert!(pack(1.0, u32::MAX) < pack(1.5, 0));
    }

    #[test]
    fn scratch_pool_keeps_at_most_its_limit() {
        let pool = ScratchPool::default();
        let taken: Vec<SearchScratch> = (0..SCRATCH_POOL_MAX + 3).map(|_| pool.take()).collect();
        for scratch in taken {
            pool.give_back(scratch);
        }
        let mut pool = pool;
        assert_eq!(pool.free.get_mut().unwrap().len(), SCRATCH_POOL_MAX);
        let scratch = pool.take_exclusive();
        pool.give_back_exclusive(scratch);
        assert_eq!(pool.free.get_mut().unwrap().len(), SCRATCH_POOL_MAX);
    }

    #[test]
    fn visited_list_clears_by_generation_and_survives_wrapping() {
        let mut visited = VisitedList::default();
        for _ in 0..70_000 {
            visited.reset(4);
            assert!(visited.insert(1));
            assert!(!visited.insert(1));
            assert!(visited.insert(3));
        }
        assert!(!visited.insert(4), "past the end counts as visited");
    }
}
