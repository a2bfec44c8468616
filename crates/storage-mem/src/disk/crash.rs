//! Building the disk a power loss (or a process restart) leaves behind.

use std::collections::{BTreeMap, BTreeSet};

use super::fault::Instruments;
use super::state::{DataOperation, Directory, File, FileId, State, to_index, write_at};
use crate::memory::length_u64;
use crate::random::Random;

/// What of the un-synced state a power loss keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Survival {
    /// Nothing: only durable bytes and names remain (the deterministic worst case).
    NothingUnsynced,
    /// A state chosen by the seed in which each pending write of a file is independently kept, dropped or torn
    /// (see the crate docs for the model).
    Seeded(u64),
    /// A state chosen by the seed in which each file keeps a prefix of its pending writes (ext4 `data=ordered`).
    SeededInOrder(u64),
    /// Everything the page cache held (a process kill: the kernel writes it all back later).
    Everything,
}

/// The disk after a power loss under `survival`, as the next open finds it: every byte and name durable, nothing
/// pending, orphaned temp files removed (durably, by the open's directory sync) and counted, fresh instruments.
pub(crate) fn after_power_loss(state: &State, survival: Survival) -> State {
    let names = surviving_names(&state.directory, survival);
    let reachable: BTreeSet<FileId> = names.values().copied().collect();
    let files = reachable
        .into_iter()
        .filter_map(|id| {
            let file = state.files.get(&id)?;
            let content = match survival {
                Survival::NothingUnsynced => file.durable.clone(),
                Survival::Everything => file.live.clone(),
                Survival::Seeded(seed) => surviving_subset(file, &mut Random::for_stream(seed, id), state.sector_bytes),
                Survival::SeededInOrder(seed) => {
                    surviving_prefix(file, &mut Random::for_stream(seed, id), state.sector_bytes)
                }
            };
            Some((id, File::durable(content)))
        })
        .collect();
    let mut next = State {
        sector_bytes: state.sector_bytes,
        files,
        directory: Directory::durable(names),
        next_file_id: state.next_file_id,
        next_temp_number: state.next_temp_number,
        instruments: Instruments::default(),
        orphans_removed_at_open: Vec::new(),
    };
    next.orphans_removed_at_open = next.open_directory();
    next
}

/// The disk after a process restart without power loss: the page cache survives, so every byte reads as before,
/// and file data that was not durable is still not durable (a later crash can lose it). Poison, halt, faults and
/// counters are gone. The open removes orphaned temp files and syncs the directory (see
/// [`State::open_directory`]).
pub(crate) fn after_restart(state: &State) -> State {
    let mut next = state.clone();
    next.instruments = Instruments::default();
    next.orphans_removed_at_open = next.open_directory();
    next
}

/// The names after the crash. Namespace operations survive as a prefix of the pending ones, in order: ext4 (and
/// every journaling file system we target) commits metadata to its journal in order.
fn surviving_names(directory: &Directory, survival: Survival) -> BTreeMap<String, FileId> {
    match survival {
        Survival::NothingUnsynced => directory.durable.clone(),
        Survival::Everything => directory.live.clone(),
        Survival::Seeded(seed) | Survival::SeededInOrder(seed) => {
            let mut random = Random::new(seed);
            let kept = random.below(length_u64_of(directory.pending.len()).saturating_add(1));
            let mut names = directory.durable.clone();
            for operation in directory.pending.iter().take(to_index(kept)) {
                operation.apply(&mut names);
            }
            names
        }
    }
}

fn length_u64_of(count: usize) -> u64 {
    u64::try_from(count).unwrap_or(u64::MAX)
}

/// One file's bytes after the crash, when any subset of its un-synced writes may have reached the medium (SQLite's
/// crash VFS, ALICE, LazyFS): each pending operation, in order, is independently kept, dropped, or (a write) torn.
/// A dropped write that a later kept write extends past leaves a hole, which reads as zeros (an unwritten extent).
/// So a valid record can follow lost or garbage bytes: readers must tell a torn tail from corruption by what was
/// acknowledged (the WAL's `synced_lsn`), not by position alone.
fn surviving_subset(file: &File, random: &mut Random, sector_bytes: u64) -> Vec<u8> {
    let mut content = file.durable.clone();
    for operation in &file.pending {
        match (operation, random.below(3)) {
            (_, 0) => {}
            (DataOperation::Write { offset, bytes }, 1) => tear(&mut content, *offset, bytes, sector_bytes, random),
            _ => operation.apply(&mut content),
        }
    }
    content
}

/// One file's bytes after the crash under the in-order model: its durable bytes with a random prefix of its
/// pending operations applied, and the first operation past the prefix, when it is a write, torn with probability
/// one half (ext4's `data=ordered` with in-order writeback). Files are independent of each other.
fn surviving_prefix(file: &File, random: &mut Random, sector_bytes: u64) -> Vec<u8> {
    let mut content = file.durable.clone();
    let kept = to_index(random.below(length_u64_of(file.pending.len()).saturating_add(1)));
    for operation in file.pending.iter().take(kept) {
        operation.apply(&mut content);
    }
    if let Some(DataOperation::Write { offset, bytes }) = file.pending.get(kept) {
        if random.coin() {
            tear(&mut content, *offset, bytes, sector_bytes, random);
        }
    }
    content
}

/// Applies a torn write of `bytes` at `offset`: the new bytes up to a sector boundary inside the write, then
/// garbage (random bytes) up to a later sector boundary or the write's end, which becomes the file's length if it
/// grows the file. Sector boundaries are multiples of `sector_bytes` from the start of the file; the write's own
/// start and end count as boundaries, and no byte outside the write changes (the device does not destroy old data
/// that shares a sector with a torn write, SQLite's "powersafe overwrite").
pub(crate) fn tear(content: &mut Vec<u8>, offset: u64, bytes: &[u8], sector_bytes: u64, random: &mut Random) {
    let sector_bytes = sector_bytes.max(1);
    let end = offset.saturating_add(length_u64(bytes));
    if end == offset {
        return;
    }
    let first_inner = (offset / sector_bytes).saturating_add(1).saturating_mul(sector_bytes);
    let inner_count = if first_inner < end { (end - 1 - first_inner) / sector_bytes + 1 } else { 0 };
    // Boundaries are numbered 0 (the write's start), 1..=inner_count (sector boundaries inside), inner_count + 1
    // (the write's end).
    let boundary = |number: u64| match number {
        0 => offset,
        number if number <= inner_count => first_inner.saturating_add((number - 1).saturating_mul(sector_bytes)),
        _ => end,
    };
    let boundary_count = inner_count + 2;
    let kept_number = random.below(boundary_count - 1);
    let end_number = kept_number + random.below(boundary_count - kept_number);
    let (kept_end, torn_end) = (boundary(kept_number), boundary(end_number));
    let kept_bytes = to_index(kept_end - offset);
    write_at(content, offset, bytes.get(..kept_bytes).unwrap_or_default());
    let mut garbage = vec![0; to_index(torn_end - kept_end)];
    random.fill(&mut garbage);
    write_at(content, kept_end, &garbage);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_write_keeps_whole_sectors_then_garbage_and_never_touches_older_bytes() {
        let old = vec![0xAAu8; 100];
        let new: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let mut lengths = BTreeSet::new();
        let mut torn = 0;
        for seed in 0..300 {
            let mut content = old.clone();
            tear(&mut content, 100, &new, 64, &mut Random::new(seed));
            assert_eq!(&content[..100], &old[..], "seed {seed}: bytes before the write changed");
            let length = content.len() as u64;
            assert!(length == 1100 || length % 64 == 0 || length == 100, "seed {seed}: length {length}");
            assert!(length <= 1100);
            lengths.insert(length);
            if content[100..] != new[..content.len() - 100] {
                torn += 1;
            }
        }
        assert!(torn > 0, "some seeds tear the write");
        assert!(lengths.len() > 5, "lengths vary with the seed: {lengths:?}");
        assert!(lengths.contains(&100) && lengths.contains(&1100), "{lengths:?}");
    }

    #[test]
    fn an_empty_write_cannot_tear() {
        let mut content = b"abc".to_vec();
        tear(&mut content, 3, b"", 512, &mut Random::new(1));
        assert_eq!(content, b"abc");
    }
}
