//! The power-loss file system's model, with no I/O: files and directories in memory, each change either durable
//! or pending, and the image a power cut leaves.
//!
//! - **Data.** Each file has *live* bytes (what reads see) and *durable* bytes, with the writes and truncations made
//!   since its last `fsync`/`fdatasync` pending, in order. `fsync` of the file makes them durable (data and length).
//! - **Names.** Creates, links of new directories, renames and unlinks change the live tree at once and are
//!   pending, in order, until an `fsync` of a directory, which makes every pending one durable (a journaling file
//!   system commits metadata in order, and a directory fsync commits the journal). A file whose data was fsynced
//!   but whose name never became durable is lost with its data.
//! - **Power cut.** [`PowerLossModel::cut_power`] fails every later call with EIO; [`PowerLossModel::crash_image`]
//!   then builds, from a seed, what the disk holds: the durable tree plus a *prefix* of the pending name changes,
//!   and for each surviving file its durable bytes plus its pending changes as [`TearMode`] says: LazyFS-style
//!   *any subset* (each change kept, dropped, or a write torn at a sector boundary with garbage after it, so a later
//!   write can survive an earlier lost one and holes read as zeros) or *in order* (a prefix, the next write possibly
//!   torn).

use std::collections::{BTreeMap, BTreeSet};

use crate::random::SplitMix64;

/// The root directory's node number (FUSE's root inode).
pub const ROOT: u64 = 1;

/// The most bytes one file may hold (writes past it fail with EFBIG): the model lives in memory.
pub const FILE_BYTES_MAX: u64 = 64 << 20;

/// A directory's entries: name to node.
type Entries = BTreeMap<Vec<u8>, u64>;

/// Every directory's entries, by directory node.
type Tree = BTreeMap<u64, Entries>;

/// A node's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
}

/// Why a call failed; the FUSE layer maps each to an errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileSystemError {
    /// ENOENT.
    NotFound,
    /// EEXIST.
    Exists,
    /// ENOTDIR.
    NotDirectory,
    /// EISDIR.
    IsDirectory,
    /// ENOTEMPTY.
    NotEmpty,
    /// EINVAL.
    Invalid,
    /// EFBIG: past [`FILE_BYTES_MAX`].
    TooLarge,
    /// EIO: the power is cut.
    PowerCut,
}

/// How many changing calls a model served (a proof that the kernel delivers what the model expects: `fsync` and
/// `fsync` of a directory arrive as such).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServedCounts {
    /// Writes.
    pub writes: u64,
    /// Syncs of a file (`fsync`, `fdatasync`).
    pub file_syncs: u64,
    /// Syncs of a directory.
    pub directory_syncs: u64,
    /// Creates, removes and renames.
    pub name_changes: u64,
}

impl ServedCounts {
    /// Adds `other`'s counts to this one.
    pub fn add(&mut self, other: &Self) {
        self.writes += other.writes;
        self.file_syncs += other.file_syncs;
        self.directory_syncs += other.directory_syncs;
        self.name_changes += other.name_changes;
    }
}

/// How a crash treats each file's pending changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TearMode {
    /// Each pending change independently kept, dropped, or (a write) torn.
    AnySubset,
    /// A prefix of the pending changes, the next write possibly torn.
    InOrder,
}

/// When an armed power cut fires by itself (see [`PowerLossModel::arm_cut`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutTrigger {
    /// At the `n`th changing call (create, remove, rename, write, truncate, sync), counted from 0 since arming:
    /// that call fails and changes nothing.
    AtChange(u64),
    /// At the `n`th sync (of a file or a directory), counted from 0 since arming: the sync fails and makes nothing
    /// durable, so everything written since the previous sync is pending at the cut (where crash bugs cluster).
    AtSync(u64),
    /// At the `n`th sync of a file with at least `pending_bytes_min` bytes of pending writes (a snapshot's temp
    /// file, a rewritten log tail): multi-sector writes pending at the cut, which tears need.
    AtLargeSync {
        /// Which large sync, from 0.
        index: u64,
        /// What counts as large.
        pending_bytes_min: u64,
    },
}

/// What a crash did to the pending changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrashReport {
    /// Pending name changes lost.
    pub namespace_changes_lost: u64,
    /// Pending name changes kept.
    pub namespace_changes_kept: u64,
    /// Pending writes and truncations kept whole.
    pub data_changes_kept: u64,
    /// Pending writes and truncations dropped.
    pub data_changes_dropped: u64,
    /// Pending writes torn (new bytes up to a sector boundary, garbage after).
    pub writes_torn: u64,
}

impl CrashReport {
    /// Adds `other`'s counts to this one.
    pub fn add(&mut self, other: &Self) {
        self.namespace_changes_lost += other.namespace_changes_lost;
        self.namespace_changes_kept += other.namespace_changes_kept;
        self.data_changes_kept += other.data_changes_kept;
        self.data_changes_dropped += other.data_changes_dropped;
        self.writes_torn += other.writes_torn;
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum DataChange {
    Write { offset: u64, bytes: Vec<u8> },
    Truncate { length: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum NamespaceChange {
    Link { parent: u64, name: Vec<u8>, node: u64 },
    Unlink { parent: u64, name: Vec<u8> },
    Rename { source_parent: u64, source_name: Vec<u8>, target_parent: u64, target_name: Vec<u8> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Node {
    kind: NodeKind,
    live: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<DataChange>,
}

impl Node {
    fn new(kind: NodeKind) -> Self {
        Self { kind, live: Vec::new(), durable: Vec::new(), pending: Vec::new() }
    }
}

/// The file system's whole state (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerLossModel {
    nodes: BTreeMap<u64, Node>,
    live_tree: Tree,
    durable_tree: Tree,
    pending_namespace: Vec<NamespaceChange>,
    next_node: u64,
    halted: bool,
    trigger: Option<CutTrigger>,
    changes_since_armed: u64,
    syncs_since_armed: u64,
    large_syncs_since_armed: u64,
    served: ServedCounts,
}

/// The kind of a changing call, for [`CutTrigger`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Change,
    /// A sync, with the bytes of pending writes it would make durable.
    Sync {
        pending_bytes: u64,
    },
}

impl Default for PowerLossModel {
    fn default() -> Self {
        Self::new()
    }
}

fn write_into(data: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    if data.len() < start {
        data.resize(start, 0);
    }
    let overlap = data.len().saturating_sub(start).min(bytes.len());
    if let (Some(target), Some(source)) = (data.get_mut(start..start + overlap), bytes.get(..overlap)) {
        target.copy_from_slice(source);
    }
    data.extend_from_slice(bytes.get(overlap..).unwrap_or_default());
}

fn set_length(data: &mut Vec<u8>, length: u64) {
    data.resize(usize::try_from(length).unwrap_or(usize::MAX), 0);
}

fn apply_namespace(tree: &mut Tree, nodes: &BTreeMap<u64, Node>, change: &NamespaceChange) {
    match change {
        NamespaceChange::Link { parent, name, node } => {
            tree.entry(*parent).or_default().insert(name.clone(), *node);
            if nodes.get(node).is_some_and(|node| node.kind == NodeKind::Directory) {
                tree.entry(*node).or_default();
            }
        }
        NamespaceChange::Unlink { parent, name } => {
            if let Some(entries) = tree.get_mut(parent) {
                entries.remove(name);
            }
        }
        NamespaceChange::Rename { source_parent, source_name, target_parent, target_name } => {
            let moved = tree.get_mut(source_parent).and_then(|entries| entries.remove(source_name));
            if let Some(node) = moved {
                tree.entry(*target_parent).or_default().insert(target_name.clone(), node);
            }
        }
    }
}

/// Applies a write torn at a sector boundary inside it: the new bytes up to the cut, garbage from the cut up to a
/// later boundary or the write's end. Returns false (nothing applied) when no sector boundary lies inside the write.
fn tear_into(data: &mut Vec<u8>, offset: u64, bytes: &[u8], sector_bytes: u64, random: &mut SplitMix64) -> bool {
    let end = offset + bytes.len() as u64;
    let first_boundary = (offset / sector_bytes + 1) * sector_bytes;
    if first_boundary >= end {
        return false;
    }
    let boundaries = (end - 1 - first_boundary) / sector_bytes + 1;
    let cut = first_boundary + sector_bytes * random.below(boundaries);
    let kept = usize::try_from(cut - offset).unwrap_or(usize::MAX);
    write_into(data, offset, bytes.get(..kept).unwrap_or_default());
    let garbage_end =
        if random.chance(1, 2) { end } else { end.min(cut + sector_bytes * (1 + random.below(boundaries))) };
    let garbage: Vec<u8> = (cut..garbage_end).map(|_| random.next_u64() as u8).collect();
    write_into(data, cut, &garbage);
    true
}

/// A file's bytes after a crash: `durable`, then its pending changes as `mode` decides.
fn survive(
    durable: &[u8],
    pending: &[DataChange],
    mode: TearMode,
    sector_bytes: u64,
    random: &mut SplitMix64,
    report: &mut CrashReport,
) -> Vec<u8> {
    let mut data = durable.to_vec();
    let keep = |data: &mut Vec<u8>, change: &DataChange| match change {
        DataChange::Write { offset, bytes } => write_into(data, *offset, bytes),
        DataChange::Truncate { length } => set_length(data, *length),
    };
    match mode {
        TearMode::AnySubset => {
            for change in pending {
                match (random.below(4), change) {
                    (0, _) => report.data_changes_dropped += 1,
                    (1, DataChange::Write { offset, bytes }) => {
                        if tear_into(&mut data, *offset, bytes, sector_bytes, random) {
                            report.writes_torn += 1;
                        } else {
                            report.data_changes_dropped += 1;
                        }
                    }
                    _ => {
                        keep(&mut data, change);
                        report.data_changes_kept += 1;
                    }
                }
            }
        }
        TearMode::InOrder => {
            let kept = usize::try_from(random.below(pending.len() as u64 + 1)).unwrap_or(0);
            for change in pending.iter().take(kept) {
                keep(&mut data, change);
                report.data_changes_kept += 1;
            }
            let rest = pending.len().saturating_sub(kept) as u64;
            let torn = match pending.get(kept) {
                Some(DataChange::Write { offset, bytes }) if random.chance(1, 2) => {
                    tear_into(&mut data, *offset, bytes, sector_bytes, random)
                }
                _ => false,
            };
            report.writes_torn += u64::from(torn);
            report.data_changes_dropped += rest - u64::from(torn);
        }
    }
    data
}

impl PowerLossModel {
    /// An empty file system: the root directory, durable.
    pub fn new() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(ROOT, Node::new(NodeKind::Directory));
        let tree: Tree = [(ROOT, Entries::new())].into_iter().collect();
        Self {
            nodes,
            live_tree: tree.clone(),
            durable_tree: tree,
            pending_namespace: Vec::new(),
            next_node: ROOT + 1,
            halted: false,
            trigger: None,
            changes_since_armed: 0,
            syncs_since_armed: 0,
            large_syncs_since_armed: 0,
            served: ServedCounts::default(),
        }
    }

    fn check_power(&self) -> Result<(), FileSystemError> {
        if self.halted { Err(FileSystemError::PowerCut) } else { Ok(()) }
    }

    /// Claims one changing call: fails when the power is cut, or cuts it now when the armed trigger says so.
    fn step(&mut self, step: Step) -> Result<(), FileSystemError> {
        self.check_power()?;
        let (sync, large) = match (step, self.trigger) {
            (Step::Sync { pending_bytes }, Some(CutTrigger::AtLargeSync { pending_bytes_min, .. })) => {
                (true, pending_bytes >= pending_bytes_min)
            }
            (Step::Sync { .. }, _) => (true, false),
            (Step::Change, _) => (false, false),
        };
        let fire = match self.trigger {
            Some(CutTrigger::AtChange(n)) => self.changes_since_armed == n,
            Some(CutTrigger::AtSync(n)) => sync && self.syncs_since_armed == n,
            Some(CutTrigger::AtLargeSync { index, .. }) => large && self.large_syncs_since_armed == index,
            None => false,
        };
        self.changes_since_armed += 1;
        self.syncs_since_armed += u64::from(sync);
        self.large_syncs_since_armed += u64::from(large);
        if fire {
            self.halted = true;
            return Err(FileSystemError::PowerCut);
        }
        Ok(())
    }

    /// Arms a power cut that fires by itself at a later call (replacing any armed one); counts start now.
    pub fn arm_cut(&mut self, trigger: CutTrigger) {
        self.trigger = Some(trigger);
        self.changes_since_armed = 0;
        self.syncs_since_armed = 0;
        self.large_syncs_since_armed = 0;
    }

    fn node(&self, node: u64) -> Result<&Node, FileSystemError> {
        self.nodes.get(&node).ok_or(FileSystemError::NotFound)
    }

    fn file_mut(&mut self, node: u64) -> Result<&mut Node, FileSystemError> {
        match self.nodes.get_mut(&node) {
            Some(found) if found.kind == NodeKind::File => Ok(found),
            Some(_) => Err(FileSystemError::IsDirectory),
            None => Err(FileSystemError::NotFound),
        }
    }

    fn entries(&self, directory: u64) -> Result<&Entries, FileSystemError> {
        match self.node(directory)?.kind {
            NodeKind::Directory => self.live_tree.get(&directory).ok_or(FileSystemError::NotFound),
            NodeKind::File => Err(FileSystemError::NotDirectory),
        }
    }

    /// The node `name` in `parent`.
    pub fn lookup(&self, parent: u64, name: &[u8]) -> Result<u64, FileSystemError> {
        self.check_power()?;
        self.entries(parent)?.get(name).copied().ok_or(FileSystemError::NotFound)
    }

    /// A node's kind and length in bytes (live).
    pub fn attributes(&self, node: u64) -> Result<(NodeKind, u64), FileSystemError> {
        self.check_power()?;
        let found = self.node(node)?;
        Ok((found.kind, found.live.len() as u64))
    }

    /// Creates `name` in `parent` (a file, or a directory): pending until a directory sync.
    pub fn create(&mut self, parent: u64, name: &[u8], kind: NodeKind) -> Result<u64, FileSystemError> {
        self.step(Step::Change)?;
        if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
            return Err(FileSystemError::Invalid);
        }
        if self.entries(parent)?.contains_key(name) {
            return Err(FileSystemError::Exists);
        }
        self.served.name_changes += 1;
        let node = self.next_node;
        self.next_node += 1;
        self.nodes.insert(node, Node::new(kind));
        let change = NamespaceChange::Link { parent, name: name.to_vec(), node };
        apply_namespace(&mut self.live_tree, &self.nodes, &change);
        self.pending_namespace.push(change);
        Ok(node)
    }

    /// Removes `name` from `parent`: a file (`unlink`), or an empty directory (`rmdir`, `kind` directory).
    pub fn remove(&mut self, parent: u64, name: &[u8], kind: NodeKind) -> Result<(), FileSystemError> {
        self.step(Step::Change)?;
        let node = self.lookup(parent, name)?;
        match (kind, self.node(node)?.kind) {
            (NodeKind::File, NodeKind::Directory) => return Err(FileSystemError::IsDirectory),
            (NodeKind::Directory, NodeKind::File) => return Err(FileSystemError::NotDirectory),
            (NodeKind::Directory, NodeKind::Directory) if !self.entries(node)?.is_empty() => {
                return Err(FileSystemError::NotEmpty);
            }
            _ => {}
        }
        self.served.name_changes += 1;
        let change = NamespaceChange::Unlink { parent, name: name.to_vec() };
        apply_namespace(&mut self.live_tree, &self.nodes, &change);
        self.pending_namespace.push(change);
        Ok(())
    }

    /// Renames `source_name` in `source_parent` to `target_name` in `target_parent`, replacing a file there.
    pub fn rename(
        &mut self,
        source_parent: u64,
        source_name: &[u8],
        target_parent: u64,
        target_name: &[u8],
    ) -> Result<(), FileSystemError> {
        self.step(Step::Change)?;
        let source = self.lookup(source_parent, source_name)?;
        if target_name.is_empty() || target_name.contains(&b'/') {
            return Err(FileSystemError::Invalid);
        }
        if let Some(&target) = self.entries(target_parent)?.get(target_name) {
            if target == source {
                return Ok(());
            }
            match (self.node(source)?.kind, self.node(target)?.kind) {
                (NodeKind::File, NodeKind::Directory) => return Err(FileSystemError::IsDirectory),
                (NodeKind::Directory, NodeKind::File) => return Err(FileSystemError::NotDirectory),
                (NodeKind::Directory, NodeKind::Directory) if !self.entries(target)?.is_empty() => {
                    return Err(FileSystemError::NotEmpty);
                }
                _ => {}
            }
        }
        self.served.name_changes += 1;
        let change = NamespaceChange::Rename {
            source_parent,
            source_name: source_name.to_vec(),
            target_parent,
            target_name: target_name.to_vec(),
        };
        apply_namespace(&mut self.live_tree, &self.nodes, &change);
        self.pending_namespace.push(change);
        Ok(())
    }

    /// Up to `size` bytes of a file from `offset` (live).
    pub fn read(&self, node: u64, offset: u64, size: u64) -> Result<&[u8], FileSystemError> {
        self.check_power()?;
        let found = self.node(node)?;
        if found.kind != NodeKind::File {
            return Err(FileSystemError::IsDirectory);
        }
        let length = found.live.len() as u64;
        let start = usize::try_from(offset.min(length)).unwrap_or(usize::MAX);
        let end = usize::try_from(offset.saturating_add(size).min(length)).unwrap_or(usize::MAX);
        Ok(found.live.get(start..end).unwrap_or_default())
    }

    /// Writes `bytes` at `offset` (a gap reads as zeros): live now, pending until the file's sync.
    pub fn write(&mut self, node: u64, offset: u64, bytes: &[u8]) -> Result<(), FileSystemError> {
        self.step(Step::Change)?;
        if offset.saturating_add(bytes.len() as u64) > FILE_BYTES_MAX {
            return Err(FileSystemError::TooLarge);
        }
        self.served.writes += 1;
        let file = self.file_mut(node)?;
        write_into(&mut file.live, offset, bytes);
        file.pending.push(DataChange::Write { offset, bytes: bytes.to_vec() });
        Ok(())
    }

    /// Sets a file's length (zeros when it grows): live now, pending until the file's sync.
    pub fn set_length(&mut self, node: u64, length: u64) -> Result<(), FileSystemError> {
        self.step(Step::Change)?;
        if length > FILE_BYTES_MAX {
            return Err(FileSystemError::TooLarge);
        }
        let file = self.file_mut(node)?;
        set_length(&mut file.live, length);
        file.pending.push(DataChange::Truncate { length });
        Ok(())
    }

    /// `fsync`/`fdatasync` of a file: its data and length become durable (not its name).
    pub fn sync_file(&mut self, node: u64) -> Result<(), FileSystemError> {
        let pending_bytes = self.file_mut(node).map_or(0, |file| {
            let bytes = file.pending.iter().map(|change| match change {
                DataChange::Write { bytes, .. } => bytes.len() as u64,
                DataChange::Truncate { .. } => 0,
            });
            bytes.sum()
        });
        self.step(Step::Sync { pending_bytes })?;
        self.served.file_syncs += 1;
        let file = self.file_mut(node)?;
        file.durable.clone_from(&file.live);
        file.pending.clear();
        Ok(())
    }

    /// `fsync` of a directory: every pending name change becomes durable.
    pub fn sync_directory(&mut self, node: u64) -> Result<(), FileSystemError> {
        self.step(Step::Sync { pending_bytes: 0 })?;
        self.entries(node)?;
        self.served.directory_syncs += 1;
        for change in std::mem::take(&mut self.pending_namespace) {
            apply_namespace(&mut self.durable_tree, &self.nodes, &change);
        }
        Ok(())
    }

    /// A directory's entries with their nodes and kinds, sorted by name.
    pub fn list(&self, directory: u64) -> Result<Vec<(Vec<u8>, u64, NodeKind)>, FileSystemError> {
        self.check_power()?;
        let entries = self.entries(directory)?;
        Ok(entries
            .iter()
            .filter_map(|(name, &node)| self.nodes.get(&node).map(|found| (name.clone(), node, found.kind)))
            .collect())
    }

    /// Cuts the power: every later call fails with [`FileSystemError::PowerCut`].
    pub fn cut_power(&mut self) {
        self.halted = true;
    }

    /// True once the power was cut.
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// The changing calls this model served (since it was made; a crash image starts from zero).
    pub fn served(&self) -> ServedCounts {
        self.served
    }

    /// How many name changes and data changes are pending (not durable).
    pub fn pending_counts(&self) -> (usize, usize) {
        (self.pending_namespace.len(), self.nodes.values().map(|node| node.pending.len()).sum())
    }

    /// The file system a power cut now leaves, chosen by `seed` (see the module docs): everything durable,
    /// nothing pending, the power on.
    pub fn crash_image(&self, seed: u64, mode: TearMode, sector_bytes: u64) -> (Self, CrashReport) {
        let sector_bytes = sector_bytes.max(1);
        let mut random = SplitMix64::new(seed);
        let mut report = CrashReport::default();
        let pending = self.pending_namespace.len() as u64;
        let kept = random.below(pending + 1);
        report.namespace_changes_kept = kept;
        report.namespace_changes_lost = pending - kept;
        let mut tree = self.durable_tree.clone();
        for change in self.pending_namespace.iter().take(usize::try_from(kept).unwrap_or(usize::MAX)) {
            apply_namespace(&mut tree, &self.nodes, change);
        }
        // Only nodes a surviving name reaches survive.
        let mut reachable = BTreeSet::from([ROOT]);
        let mut queue = vec![ROOT];
        while let Some(directory) = queue.pop() {
            for &node in tree.get(&directory).into_iter().flat_map(Entries::values) {
                if reachable.insert(node) && tree.contains_key(&node) {
                    queue.push(node);
                }
            }
        }
        tree.retain(|directory, _| reachable.contains(directory));
        let mut nodes = BTreeMap::new();
        for &node in &reachable {
            let Some(found) = self.nodes.get(&node) else { continue };
            let data = match found.kind {
                NodeKind::File => survive(&found.durable, &found.pending, mode, sector_bytes, &mut random, &mut report),
                NodeKind::Directory => Vec::new(),
            };
            nodes.insert(node, Node { kind: found.kind, live: data.clone(), durable: data, pending: Vec::new() });
        }
        let image = Self {
            nodes,
            live_tree: tree.clone(),
            durable_tree: tree,
            pending_namespace: Vec::new(),
            next_node: self.next_node,
            halted: false,
            trigger: None,
            changes_since_armed: 0,
            syncs_since_armed: 0,
            large_syncs_since_armed: 0,
            served: ServedCounts::default(),
        };
        (image, report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECTOR: u64 = 16;

    fn contents(model: &PowerLossModel, name: &[u8]) -> Option<Vec<u8>> {
        let node = model.lookup(ROOT, name).ok()?;
        model.read(node, 0, u64::MAX).ok().map(<[u8]>::to_vec)
    }

    /// Every image of `model` over many seeds, in both modes.
    fn images(model: &PowerLossModel) -> Vec<PowerLossModel> {
        (0..64)
            .flat_map(|seed| {
                [TearMode::AnySubset, TearMode::InOrder].map(|mode| model.crash_image(seed, mode, SECTOR).0)
            })
            .collect()
    }

    #[test]
    fn synced_data_and_synced_names_survive_every_crash() {
        let mut model = PowerLossModel::new();
        let file = model.create(ROOT, b"log", NodeKind::File).unwrap();
        model.write(file, 0, &[7; 40]).unwrap();
        model.sync_file(file).unwrap();
        model.sync_directory(ROOT).unwrap();
        model.write(file, 40, &[9; 40]).unwrap();
        for image in images(&model) {
            let data = contents(&image, b"log").unwrap();
            assert_eq!(data.get(..40), Some(&[7u8; 40][..]), "synced bytes never change");
            assert!(data.len() <= 80);
        }
    }

    #[test]
    fn unsynced_writes_are_kept_dropped_or_torn_at_sector_boundaries() {
        let mut model = PowerLossModel::new();
        let file = model.create(ROOT, b"log", NodeKind::File).unwrap();
        model.sync_directory(ROOT).unwrap();
        model.write(file, 0, &[1; 48]).unwrap();
        model.write(file, 48, &[2; 48]).unwrap();
        let (mut kept_all, mut hole, mut torn) = (false, false, false);
        for image in images(&model) {
            let data = contents(&image, b"log").unwrap();
            kept_all |=
                data.len() == 96 && data.iter().take(48).all(|&b| b == 1) && data.iter().skip(48).all(|&b| b == 2);
            // The second write survived the first: the first's range reads as zeros.
            hole |= data.len() == 96 && data.iter().take(48).all(|&b| b == 0);
            let garbage = data.iter().take(48).any(|&b| b != 1 && b != 0);
            torn |= garbage && data.first() == Some(&1) && data.len() % SECTOR as usize == 0;
        }
        assert!(kept_all && hole && torn, "kept {kept_all}, hole {hole}, torn {torn}");
    }

    #[test]
    fn a_name_that_was_never_made_durable_can_vanish_with_its_synced_data() {
        let mut model = PowerLossModel::new();
        let file = model.create(ROOT, b"segment", NodeKind::File).unwrap();
        model.write(file, 0, b"header").unwrap();
        model.sync_file(file).unwrap();
        let outcomes: BTreeSet<Option<Vec<u8>>> =
            images(&model).iter().map(|image| contents(image, b"segment")).collect();
        assert_eq!(outcomes, BTreeSet::from([None, Some(b"header".to_vec())]));
    }

    #[test]
    fn an_unsynced_rename_leaves_the_old_or_the_new_value_never_a_mix() {
        let mut model = PowerLossModel::new();
        let old = model.create(ROOT, b"manifest", NodeKind::File).unwrap();
        model.write(old, 0, b"old").unwrap();
        model.sync_file(old).unwrap();
        model.sync_directory(ROOT).unwrap();
        let temp = model.create(ROOT, b".tmp", NodeKind::File).unwrap();
        model.write(temp, 0, b"new").unwrap();
        model.sync_file(temp).unwrap();
        model.rename(ROOT, b".tmp", ROOT, b"manifest").unwrap();
        assert_eq!(contents(&model, b"manifest").as_deref(), Some(&b"new"[..]));
        let outcomes: BTreeSet<Option<Vec<u8>>> =
            images(&model).iter().map(|image| contents(image, b"manifest")).collect();
        assert_eq!(outcomes, BTreeSet::from([Some(b"old".to_vec()), Some(b"new".to_vec())]));
        model.sync_directory(ROOT).unwrap();
        assert!(images(&model).iter().all(|image| contents(image, b"manifest").as_deref() == Some(&b"new"[..])));
    }

    #[test]
    fn a_power_cut_fails_every_call_and_the_image_has_power_and_nothing_pending() {
        let mut model = PowerLossModel::new();
        let directory = model.create(ROOT, b"store", NodeKind::Directory).unwrap();
        let file = model.create(directory, b"a", NodeKind::File).unwrap();
        model.write(file, 0, b"x").unwrap();
        model.cut_power();
        assert_eq!(model.write(file, 1, b"y"), Err(FileSystemError::PowerCut));
        assert_eq!(model.lookup(ROOT, b"store"), Err(FileSystemError::PowerCut));
        let (image, report) = model.crash_image(3, TearMode::AnySubset, SECTOR);
        assert!(!image.is_halted());
        assert_eq!(image.pending_counts(), (0, 0));
        assert_eq!(report.namespace_changes_kept + report.namespace_changes_lost, 2);
    }

    #[test]
    fn an_armed_cut_fires_at_its_call_and_fails_it() {
        let mut model = PowerLossModel::new();
        let file = model.create(ROOT, b"log", NodeKind::File).unwrap();
        model.arm_cut(CutTrigger::AtSync(1));
        model.write(file, 0, b"a").unwrap();
        model.sync_file(file).unwrap();
        model.write(file, 1, b"b").unwrap();
        assert_eq!(model.sync_file(file), Err(FileSystemError::PowerCut), "the second sync cuts the power");
        assert!(model.is_halted());
        assert_eq!(model.pending_counts(), (1, 1), "the cut sync made nothing durable");
        let mut model = PowerLossModel::new();
        model.arm_cut(CutTrigger::AtChange(2));
        let file = model.create(ROOT, b"log", NodeKind::File).unwrap();
        model.write(file, 0, b"a").unwrap();
        assert_eq!(model.write(file, 1, b"b"), Err(FileSystemError::PowerCut));
        assert_eq!(model.read(file, 0, 8), Err(FileSystemError::PowerCut));
        let mut model = PowerLossModel::new();
        model.arm_cut(CutTrigger::AtLargeSync { index: 0, pending_bytes_min: 100 });
        let file = model.create(ROOT, b"snapshot", NodeKind::File).unwrap();
        model.write(file, 0, &[1; 99]).unwrap();
        model.sync_file(file).unwrap();
        model.write(file, 99, &[2; 100]).unwrap();
        assert_eq!(model.sync_file(file), Err(FileSystemError::PowerCut), "the first sync of 100 pending bytes");
    }

    #[test]
    fn name_rules_are_enforced() {
        let mut model = PowerLossModel::new();
        let directory = model.create(ROOT, b"d", NodeKind::Directory).unwrap();
        let file = model.create(directory, b"f", NodeKind::File).unwrap();
        assert_eq!(model.create(directory, b"f", NodeKind::File), Err(FileSystemError::Exists));
        assert_eq!(model.remove(ROOT, b"d", NodeKind::Directory), Err(FileSystemError::NotEmpty));
        assert_eq!(model.remove(directory, b"f", NodeKind::Directory), Err(FileSystemError::NotDirectory));
        assert_eq!(model.rename(directory, b"f", ROOT, b"d"), Err(FileSystemError::IsDirectory));
        assert_eq!(model.lookup(file, b"x"), Err(FileSystemError::NotDirectory));
        assert_eq!(model.write(file, FILE_BYTES_MAX, b"x"), Err(FileSystemError::TooLarge));
        assert_eq!(model.write(file, FILE_BYTES_MAX - 1, b"x"), Ok(()), "a write ending at the limit");
        model.remove(directory, b"f", NodeKind::File).unwrap();
        model.remove(ROOT, b"d", NodeKind::Directory).unwrap();
        assert!(model.list(ROOT).unwrap().is_empty());
    }
}
