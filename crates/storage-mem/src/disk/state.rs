//! The simulated disk's state: files (inodes) with durable bytes and pending operations, one directory with a durable
//! and a pending namespace, and the `StorageBackend` calls carried out as the file-system backend's system calls.

use std::collections::{BTreeMap, BTreeSet};

use storage_core::{Key, Operation, PersistenceError, Result};

use super::fault::{Instruments, OperationKind};
use crate::memory::{clipped_range, length_u64, truncate_cannot_grow};

/// An inode number. Files outlive their names: an unlinked file whose unlink is not yet durable comes back after a
/// crash with its own contents.
pub(crate) type FileId = u64;

/// The sector size when none is chosen: the traditional 512 B (the smallest a device can report).
pub const SECTOR_BYTES_DEFAULT: u64 = 512;

/// The largest sector size [`crate::SimulatedDisk::with_sector_bytes`] accepts (bigger values are clamped to it).
pub const SECTOR_BYTES_MAX: u64 = 64 * 1024;

/// A change to a file's bytes that is in the page cache but not yet on the medium.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DataOperation {
    /// `bytes` written at `offset` (every write of the backend is an append, so `offset` is the length then).
    Write { offset: u64, bytes: Vec<u8> },
    /// The length set to `length`.
    Truncate { length: u64 },
}

impl DataOperation {
    /// Applies the operation to `content`.
    pub(crate) fn apply(&self, content: &mut Vec<u8>) {
        match self {
            Self::Write { offset, bytes } => write_at(content, *offset, bytes),
            Self::Truncate { length } => content.resize(to_index(*length), 0),
        }
    }
}

/// A `u64` offset or length of an in-memory file as an index. Every such value was once the length of a `Vec`, so
/// it fits; the saturation only keeps this function total.
pub(crate) fn to_index(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// Writes `bytes` at `offset`, filling any gap before it with zeros (a hole reads as zeros) and growing the file.
pub(crate) fn write_at(content: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = to_index(offset);
    if content.len() < start {
        content.resize(start, 0);
    }
    let overlap_bytes = content.len().saturating_sub(start).min(bytes.len());
    let (overwritten, appended) = bytes.split_at_checked(overlap_bytes).unwrap_or((&[], bytes));
    if let Some(target) = content.get_mut(start..start.saturating_add(overlap_bytes)) {
        target.copy_from_slice(overwritten);
    }
    content.extend_from_slice(appended);
}

/// One file: what is on the medium, what is in the page cache on top of it, and the changes between the two.
#[derive(Clone, Debug, Default)]
pub(crate) struct File {
    /// The bytes a power loss keeps for sure.
    pub(crate) durable: Vec<u8>,
    /// Writes and truncates since the last successful `fdatasync`, in order.
    pub(crate) pending: Vec<DataOperation>,
    /// The bytes reads see (the page cache). Usually `durable` with `pending` applied; after a failed `fsync` it
    /// also holds pages that are neither durable nor pending any more (see [`File::drop_dirty_pages`]).
    pub(crate) live: Vec<u8>,
}

impl File {
    /// A file whose bytes are all durable.
    pub(crate) fn durable(content: Vec<u8>) -> Self {
        Self { durable: content.clone(), pending: Vec::new(), live: content }
    }

    fn record(&mut self, operation: DataOperation) {
        operation.apply(&mut self.live);
        self.pending.push(operation);
    }

    /// A successful `fdatasync`: every pending change reaches the medium.
    fn fdatasync(&mut self) {
        for operation in self.pending.drain(..) {
            operation.apply(&mut self.durable);
        }
    }

    /// A failed `fsync` as Linux handles it since 4.13 ("fsyncgate"): the dirty pages are marked clean without
    /// having been written. They stay readable from the page cache, but they are no longer pending, so no later
    /// `fsync` will write them, and a power loss loses them even after a later `fsync` succeeds.
    fn drop_dirty_pages(&mut self) {
        self.pending.clear();
    }
}

/// A change to the directory that is not yet durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NamespaceOperation {
    /// `name` created for the new `file`.
    Create { name: String, file: FileId },
    /// `source` renamed over `target` (replacing whatever `target` named).
    Rename { source: String, target: String },
    /// `name` removed.
    Unlink { name: String },
}

impl NamespaceOperation {
    /// Applies the operation to a name map. A rename whose source is gone changes nothing.
    pub(crate) fn apply(&self, names: &mut BTreeMap<String, FileId>) {
        match self {
            Self::Create { name, file } => {
                names.insert(name.clone(), *file);
            }
            Self::Rename { source, target } => {
                if let Some(file) = names.remove(source) {
                    names.insert(target.clone(), file);
                }
            }
            Self::Unlink { name } => {
                names.remove(name);
            }
        }
    }

    /// True when the operation brings `name` into the directory.
    fn introduces(&self, name: &str) -> bool {
        match self {
            Self::Create { name: created, .. } => created == name,
            Self::Rename { target, .. } => target == name,
            Self::Unlink { .. } => false,
        }
    }
}

/// The one flat directory every file lives in.
#[derive(Clone, Debug, Default)]
pub(crate) struct Directory {
    /// The names a power loss keeps for sure.
    pub(crate) durable: BTreeMap<String, FileId>,
    /// Creates, renames and unlinks since the last directory `fsync`, in order.
    pub(crate) pending: Vec<NamespaceOperation>,
    /// The names lookups see: `durable` with `pending` applied.
    pub(crate) live: BTreeMap<String, FileId>,
}

impl Directory {
    /// A directory whose names are all durable.
    pub(crate) fn durable(names: BTreeMap<String, FileId>) -> Self {
        Self { durable: names.clone(), pending: Vec::new(), live: names }
    }

    pub(crate) fn record(&mut self, operation: NamespaceOperation) {
        operation.apply(&mut self.live);
        self.pending.push(operation);
    }

    fn fsync(&mut self) {
        for operation in self.pending.drain(..) {
            operation.apply(&mut self.durable);
        }
    }

    fn has_pending_entry_for(&self, name: &str) -> bool {
        self.pending.iter().any(|operation| operation.introduces(name))
    }
}

/// Everything one simulated disk holds, plus the handle's instruments.
#[derive(Clone, Debug)]
pub(crate) struct State {
    pub(crate) sector_bytes: u64,
    pub(crate) files: BTreeMap<FileId, File>,
    pub(crate) directory: Directory,
    pub(crate) next_file_id: FileId,
    pub(crate) next_temp_number: u64,
    pub(crate) instruments: Instruments,
    pub(crate) orphans_removed_at_open: Vec<String>,
}

/// The prefix of temp file names (a key never starts with `.`, so they never collide with keys).
pub(crate) const TEMP_PREFIX: &str = ".tmp-";

/// True for names the backend owns (temp files); they are never keys.
pub(crate) fn is_backend_file(name: &str) -> bool {
    name.starts_with('.')
}

impl State {
    /// An empty disk.
    pub(crate) fn new(sector_bytes: u64) -> Self {
        Self {
            sector_bytes: sector_bytes.clamp(1, SECTOR_BYTES_MAX),
            files: BTreeMap::new(),
            directory: Directory::default(),
            next_file_id: 0,
            next_temp_number: 0,
            instruments: Instruments::default(),
            orphans_removed_at_open: Vec::new(),
        }
    }

    /// What the backend's open does to the directory: unlink every orphaned temp file, then `fsync` the directory
    /// (always, as `storage-fs` does), which makes every pending create, rename and unlink durable. Returns how many
    /// orphans it removed. File data is left as it is: what was pending stays pending.
    pub(crate) fn open_directory(&mut self) -> Vec<String> {
        let orphans: Vec<String> = self.directory.live.keys().filter(|name| is_backend_file(name)).cloned().collect();
        for name in &orphans {
            self.directory.record(NamespaceOperation::Unlink { name: name.clone() });
        }
        self.directory.fsync();
        self.collect_unreachable_files();
        orphans
    }

    // ---- Introspection ----------------------------------------------------------------------------------------

    fn image(
        &self,
        names: &BTreeMap<String, FileId>,
        content: impl Fn(&File) -> &Vec<u8>,
    ) -> BTreeMap<String, Vec<u8>> {
        names
            .iter()
            .filter(|(name, _)| !is_backend_file(name))
            .filter_map(|(name, id)| self.files.get(id).map(|file| (name.clone(), content(file).clone())))
            .collect()
    }

    pub(crate) fn durable_image(&self) -> BTreeMap<String, Vec<u8>> {
        self.image(&self.directory.durable, |file| &file.durable)
    }

    pub(crate) fn live_image(&self) -> BTreeMap<String, Vec<u8>> {
        self.image(&self.directory.live, |file| &file.live)
    }

    /// Xors `xor_mask` into byte `byte_offset` of the durable bytes of `name` (and of its live bytes, when the live
    /// name is the same file and that long). False, changing nothing, when there is no such durable byte.
    pub(crate) fn corrupt_durable(&mut self, name: &str, byte_offset: u64, xor_mask: u8) -> bool {
        let Some(&id) = self.directory.durable.get(name) else {
            return false;
        };
        let live_is_same_file = self.directory.live.get(name) == Some(&id);
        let Some(file) = self.files.get_mut(&id) else {
            return false;
        };
        let index = to_index(byte_offset);
        let Some(byte) = file.durable.get_mut(index) else {
            return false;
        };
        *byte ^= xor_mask;
        if live_is_same_file {
            if let Some(byte) = file.live.get_mut(index) {
                *byte ^= xor_mask;
            }
        }
        true
    }

    // ---- Primitive steps (each one I/O point) -------------------------------------------------------------------

    /// Claims an I/O point for `kind` on `file_name`; on failure, poisons as needed and returns the call's error.
    fn enter(&mut self, kind: OperationKind, file_name: &str, operation: Operation, key: &str) -> Result<()> {
        match self.instruments.claim(kind, file_name) {
            Ok(()) => Ok(()),
            Err(failure) => Err(self.instruments.fail(failure, kind, operation, key)),
        }
    }

    /// True when the last failure was an injected fault (not the power going out), so its side effects apply.
    fn failure_was_injected(&self) -> bool {
        !self.instruments.is_halted()
    }

    fn live_file(&self, name: &str) -> Option<(FileId, &File)> {
        let id = *self.directory.live.get(name)?;
        self.files.get(&id).map(|file| (id, file))
    }

    fn create_step(&mut self, name: &str, operation: Operation, key: &str) -> Result<FileId> {
        self.enter(OperationKind::Create, name, operation, key)?;
        let id = self.next_file_id;
        self.next_file_id = id.saturating_add(1);
        self.files.insert(id, File::default());
        self.directory.record(NamespaceOperation::Create { name: name.to_owned(), file: id });
        Ok(id)
    }

    fn write_step(&mut self, id: FileId, name: &str, data: &[u8], operation: Operation, key: &str) -> Result<()> {
        self.enter(OperationKind::Write, name, operation, key)?;
        if let Some(file) = self.files.get_mut(&id) {
            let offset = length_u64(&file.live);
            file.record(DataOperation::Write { offset, bytes: data.to_vec() });
        }
        Ok(())
    }

    fn fdatasync_step(&mut self, id: FileId, name: &str, operation: Operation, key: &str) -> Result<()> {
        let entered = self.enter(OperationKind::Sync, name, operation, key);
        let injected = entered.is_err() && self.failure_was_injected();
        if let Some(file) = self.files.get_mut(&id) {
            match entered {
                Ok(()) => file.fdatasync(),
                Err(_) if injected => file.drop_dirty_pages(),
                Err(_) => {}
            }
        }
        entered
    }

    /// `fsync` of the directory. A failure leaves the namespace changes pending (neither durable nor undone): a
    /// crash decides, and the handle is poisoned, so nothing retries.
    fn directory_sync_step(&mut self, name: &str, operation: Operation, key: &str) -> Result<()> {
        self.enter(OperationKind::DirectorySync, name, operation, key)?;
        self.directory.fsync();
        self.collect_unreachable_files();
        Ok(())
    }

    /// Forgets files no name (durable, pending or live) can reach any more. Only called with nothing pending in the
    /// directory, where the durable and live maps name every reachable file.
    fn collect_unreachable_files(&mut self) {
        if !self.directory.pending.is_empty() {
            return;
        }
        let named: BTreeSet<FileId> =
            self.directory.live.values().chain(self.directory.durable.values()).copied().collect();
        self.files.retain(|id, _| named.contains(id));
    }

    // ---- StorageBackend calls -------------------------------------------------------------------------------

    pub(crate) fn read(&mut self, key: &Key) -> Result<Option<Vec<u8>>> {
        let name = key.as_str();
        self.instruments.check_usable(Operation::Read, name)?;
        self.enter(OperationKind::Read, name, Operation::Read, name)?;
        let Some((_, file)) = self.live_file(name) else {
            return Ok(None);
        };
        let mut bytes = file.live.clone();
        self.instruments.apply_bit_flips(name, 0, &mut bytes);
        Ok(Some(bytes))
    }

    pub(crate) fn read_range(&mut self, key: &Key, offset: u64, length: u64) -> Result<Vec<u8>> {
        let name = key.as_str();
        self.instruments.check_usable(Operation::ReadRange, name)?;
        self.enter(OperationKind::Read, name, Operation::ReadRange, name)?;
        let Some((_, file)) = self.live_file(name) else {
            return Err(PersistenceError::NotFound { operation: Operation::ReadRange, key: name.to_owned() });
        };
        let range = clipped_range(file.live.len(), offset, length);
        let start = length_u64(file.live.get(..range.start).unwrap_or_default());
        let mut bytes = file.live.get(range).unwrap_or_default().to_vec();
        self.instruments.apply_bit_flips(name, start, &mut bytes);
        Ok(bytes)
    }

    pub(crate) fn len(&mut self, key: &Key) -> Result<Option<u64>> {
        let name = key.as_str();
        self.instruments.check_usable(Operation::Len, name)?;
        self.enter(OperationKind::Read, name, Operation::Len, name)?;
        Ok(self.live_file(name).map(|(_, file)| length_u64(&file.live)))
    }

    pub(crate) fn list(&mut self, prefix: &str) -> Result<Vec<Key>> {
        self.instruments.check_usable(Operation::List, prefix)?;
        self.enter(OperationKind::Read, "", Operation::List, prefix)?;
        Ok(self
            .directory
            .live
            .keys()
            .filter(|name| !is_backend_file(name) && name.starts_with(prefix))
            .filter_map(|name| Key::new(name.as_str()).ok())
            .collect())
    }

    /// `open(O_CREAT | O_APPEND)` (a `Create` point when the key is missing) and `write` (a `Write` point).
    pub(crate) fn append(&mut self, key: &Key, data: &[u8]) -> Result<()> {
        let (operation, name) = (Operation::Append, key.as_str());
        self.instruments.check_usable(operation, name)?;
        let id = match self.live_file(name) {
            Some((id, _)) => id,
            None => self.create_step(name, operation, name)?,
        };
        self.write_step(id, name, data, operation, name)
    }

    /// `fdatasync` (a `Sync` point, also for a missing key), then a `DirectorySync` point when the file's name was
    /// created or renamed into place since the last directory `fsync`.
    pub(crate) fn sync(&mut self, key: &Key) -> Result<()> {
        let (operation, name) = (Operation::Sync, key.as_str());
        self.instruments.check_usable(operation, name)?;
        let Some((id, _)) = self.live_file(name) else {
            return self.enter(OperationKind::Sync, name, operation, name);
        };
        self.fdatasync_step(id, name, operation, name)?;
        if self.directory.has_pending_entry_for(name) {
            self.directory_sync_step(name, operation, name)?;
        }
        Ok(())
    }

    /// The file-system recipe: create a temp file, write, `fdatasync` it, rename it over the key, `fsync` the
    /// directory (five points). When an injected fault fails a step after the temp file exists and before the
    /// rename, the temp file is unlinked as a best-effort cleanup (not an I/O point, never failing, not durable
    /// until a later directory sync). After a power loss nothing runs, so the temp file stays (an orphan).
    pub(crate) fn atomic_write(&mut self, key: &Key, data: &[u8]) -> Result<()> {
        let (operation, name) = (Operation::AtomicWrite, key.as_str());
        self.instruments.check_usable(operation, name)?;
        let temp = format!("{TEMP_PREFIX}{name}-{}", self.next_temp_number);
        self.next_temp_number = self.next_temp_number.saturating_add(1);
        let result = self.atomic_write_steps(&temp, name, data);
        if result.is_err() && self.failure_was_injected() && self.directory.live.contains_key(&temp) {
            self.directory.record(NamespaceOperation::Unlink { name: temp });
        }
        result
    }

    fn atomic_write_steps(&mut self, temp: &str, name: &str, data: &[u8]) -> Result<()> {
        let operation = Operation::AtomicWrite;
        let id = self.create_step(temp, operation, name)?;
        self.write_step(id, temp, data, operation, name)?;
        self.fdatasync_step(id, temp, operation, name)?;
        self.enter(OperationKind::Rename, temp, operation, name)?;
        self.directory.record(NamespaceOperation::Rename { source: temp.to_owned(), target: name.to_owned() });
        self.directory_sync_step(name, operation, name)
    }

    /// `ftruncate` (a `Truncate` point, claimed before the key and length are checked).
    pub(crate) fn truncate(&mut self, key: &Key, length: u64) -> Result<()> {
        let (operation, name) = (Operation::Truncate, key.as_str());
        self.instruments.check_usable(operation, name)?;
        self.enter(OperationKind::Truncate, name, operation, name)?;
        let Some(id) = self.directory.live.get(name).copied() else {
            return Err(PersistenceError::NotFound { operation, key: name.to_owned() });
        };
        let Some(file) = self.files.get_mut(&id) else {
            return Err(PersistenceError::NotFound { operation, key: name.to_owned() });
        };
        let current_bytes = length_u64(&file.live);
        if length > current_bytes {
            return Err(truncate_cannot_grow(key, length, current_bytes));
        }
        file.record(DataOperation::Truncate { length });
        Ok(())
    }

    /// `unlink` (an `Unlink` point, also for a missing key), then a `DirectorySync` point when the key existed.
    pub(crate) fn delete(&mut self, key: &Key) -> Result<bool> {
        let (operation, name) = (Operation::Delete, key.as_str());
        self.instruments.check_usable(operation, name)?;
        self.enter(OperationKind::Unlink, name, operation, name)?;
        if !self.directory.live.contains_key(name) {
            return Ok(false);
        }
        self.directory.record(NamespaceOperation::Unlink { name: name.to_owned() });
        self.directory_sync_step(name, operation, name)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_at_appends_overwrites_and_fills_holes_with_zeros() {
        let mut content = b"abc".to_vec();
        write_at(&mut content, 3, b"de");
        assert_eq!(content, b"abcde");
        write_at(&mut content, 1, b"XY");
        assert_eq!(content, b"aXYde");
        write_at(&mut content, 4, b"123");
        assert_eq!(content, b"aXYd123");
        write_at(&mut content, 9, b"!");
        assert_eq!(content, b"aXYd123\0\0!");
    }

    #[test]
    fn sector_size_is_clamped_to_its_limits() {
        assert_eq!(State::new(0).sector_bytes, 1);
        assert_eq!(State::new(SECTOR_BYTES_MAX).sector_bytes, SECTOR_BYTES_MAX);
        assert_eq!(State::new(SECTOR_BYTES_MAX + 1).sector_bytes, SECTOR_BYTES_MAX);
    }
}
