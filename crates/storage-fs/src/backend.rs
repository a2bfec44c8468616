//! [`FileBackend`]: the [`StorageBackend`] on a local file system, one directory per store and one file per key.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use storage_core::{Key, Operation, PersistenceError, Result, StorageBackend};

use crate::lock::DirectoryLock;
use crate::name;
use crate::poison::Poison;

/// How many value files a handle keeps open unless told otherwise ([`FileOptions::with_open_files_max`]).
pub const OPEN_FILES_MAX_DEFAULT: usize = 256;

/// The largest [`FileOptions::with_open_files_max`] accepted: well under the usual `RLIMIT_NOFILE` hard limit.
pub const OPEN_FILES_MAX: usize = 65_536;

/// Per-key bookkeeping kept per open file before idle entries are swept (see `Entries`).
const ENTRIES_PER_OPEN_FILE: usize = 4;

/// Permissions of the files the backend creates (before the umask).
const FILE_MODE: u32 = 0o644;

/// Tuning for [`FileBackend::open_with`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileOptions {
    /// How many value files stay open at once (1 to [`OPEN_FILES_MAX`]). A soft limit: past it, opening another
    /// file closes the least recently used idle one. A closed file is reopened on its next use; nothing is lost:
    /// its dirty pages stay in the page cache, the key's next `sync` flushes them through the new descriptor, and
    /// Linux (4.16 and later) reports a writeback error no descriptor has seen yet to that `fdatasync` too.
    pub open_files_max: usize,
}

impl Default for FileOptions {
    fn default() -> Self {
        Self { open_files_max: OPEN_FILES_MAX_DEFAULT }
    }
}

impl FileOptions {
    /// Sets [`Self::open_files_max`].
    #[must_use]
    pub fn with_open_files_max(mut self, open_files_max: usize) -> Self {
        self.open_files_max = open_files_max;
        self
    }
}

/// A store in one directory of a local file system: each key is one file, a lock file keeps other handles out.
///
/// # Layout
/// Key `wal/0001` is the file `wal%0001` (see the crate docs); `.lock` is the lock file; `.tmp-*` are the temp files
/// of [`atomic_write`](StorageBackend::atomic_write) calls in progress. Other files are ignored.
///
/// # Durability contract
/// Assumes a local POSIX file system with ext4/xfs semantics: `fdatasync` makes a file's data and its size durable
/// (not its other metadata); `fsync` of a directory makes the entries created, renamed or removed in it durable;
/// `rename` within a directory replaces the target atomically, also across a crash. Network file systems and
/// disks that lie about flushes are out of scope.
///
/// - [`open`](Self::open) creates missing directories (fsyncing each parent), takes the lock, removes orphaned temp
///   files and fsyncs the directory. Every entry present at open is then durable, including files an earlier
///   process created but never synced.
/// - `append` is one `write` to a file opened with `O_APPEND` (more only on short writes). Durable only after `sync`.
/// - `sync(key)` is one `fdatasync` of the key's file, which covers every completed `append` and `truncate` (the size
///   is data for `fdatasync`), plus one `fsync` of the directory when the file's entry was created or replaced
///   since the directory was last fsynced. Nothing else: no reopen, no `stat`.
/// - `atomic_write` writes a unique temp file in the same directory, `fdatasync`s it, `rename`s it over the target
///   and fsyncs the directory. A crash at any point leaves the old value or the new one, never a mix; a crash
///   before the rename leaves a temp file, removed (and reported) by the next open.
/// - `delete` is `unlink` plus an `fsync` of the directory.
/// - Dropping the handle syncs nothing: un-synced appends stay in the page cache, where they survive a process
///   crash but not a power loss.
///
/// # Failures and poisoning (fsyncgate)
/// A failed `fdatasync` or `fsync` (of a file or of the directory) may have dropped the dirty pages it was meant to
/// write, so after one the handle no longer knows what is durable: it is poisoned, returns the failure once and
/// [`PersistenceError::Poisoned`] from every later call, and never retries the sync. Reopen the store (drop this
/// handle, then [`open`](Self::open)) to recover from what is durable. The same holds after a failed `truncate`
/// and a failed `atomic_write`, with one exception: the disk filling up while the temp copy is created or written
/// (before its sync and the rename) returns [`PersistenceError::DiskFull`], removes the temp file and leaves the
/// handle usable, since the target was never touched (the contract of [`StorageBackend`]).
///
/// A failed `append` poisons too, because a short write may have left part of the data at the end of the file,
/// with one exception: when the disk is full (`ENOSPC`, `EDQUOT`) before any byte of this append reached the file,
/// the value is unchanged, so the call returns [`PersistenceError::DiskFull`] and the handle stays usable (free some
/// space, or delete a value, and go on). An append that fails that way on a missing key leaves the key existing and
/// empty. A disk-full error in the middle of an append (some bytes written) returns `DiskFull` and poisons.
/// Failed opens, reads, lists and unlinks change nothing durable and do not poison.
///
/// # Concurrency
/// Methods take `&self`. Calls on one key are serialised by a per-key lock, held only for that key's file I/O:
/// appends to different keys do not wait for each other, and `sync` holds no lock while it waits for the disk,
/// so appends to the key go on meanwhile (the next `sync` covers them). A second handle on the same directory,
/// in this process or another, fails to open with [`PersistenceError::Locked`].
pub struct FileBackend {
    directory: PathBuf,
    directory_file: OwnedFd,
    entries: Mutex<Entries>,
    /// Value files open now (in [`Slot::file`]).
    open_files: AtomicUsize,
    open_files_max: usize,
    /// Orders uses of entries, for closing the least recently used file.
    use_counter: AtomicU64,
    /// Numbers every create, rename and unlink in the directory (starting at 1).
    directory_changes: AtomicU64,
    /// Every directory change up to this number is durable (the directory was fsynced after it).
    directory_synced_through: AtomicU64,
    temp_counter: AtomicU64,
    process_id: u32,
    poison: Poison,
    orphans_removed_at_open: Vec<String>,
    /// Dropped after the value files, so none is open when another handle gets the lock.
    _lock: DirectoryLock,
    #[cfg(test)]
    pub(crate) faults: Faults,
}

/// The per-key entries, swept of idle ones when they grow past `sweep_at_count`.
struct Entries {
    by_key: HashMap<Key, Arc<Entry>>,
    sweep_at_count: usize,
}

/// What the handle knows about one key.
struct Entry {
    file_name: String,
    /// The per-key lock: shared for reads, exclusive for changes of the file and of the slot.
    slot: RwLock<Slot>,
    /// When the entry was last used (a tick of [`FileBackend::use_counter`]).
    last_used: AtomicU64,
}

struct Slot {
    /// The key's file, open `O_RDWR | O_APPEND`, when it is open. Shared, so `sync` can run outside the lock.
    file: Option<Arc<OwnedFd>>,
    /// The number of the last directory change to this key's entry (its creation, a rename onto it, its unlink),
    /// 0 when there was none since open. Durable once `directory_synced_through` reaches it.
    entry_change: u64,
}

/// A failed write: the error, and how many bytes reached the file first.
struct WriteFailure {
    error: io::Error,
    written_bytes: usize,
}

impl FileBackend {
    /// Opens (creating it when missing) the store in `directory`, with default [`FileOptions`].
    ///
    /// Fails with [`PersistenceError::Locked`] while another handle, in this or another process, has it open.
    pub fn open(directory: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(directory, FileOptions::default())
    }

    /// Opens (creating it when missing) the store in `directory`.
    pub fn open_with(directory: impl AsRef<Path>, options: FileOptions) -> Result<Self> {
        let directory = directory.as_ref().to_path_buf();
        let location = directory.display().to_string();
        if !(1..=OPEN_FILES_MAX).contains(&options.open_files_max) {
            return Err(PersistenceError::InvalidArgument {
                operation: Operation::Open,
                key: location,
                reason: format!("open_files_max is {}; it must be 1 to {OPEN_FILES_MAX}", options.open_files_max),
            });
        }
        let open_error = |errno: Errno| errno_error(Operation::Open, &location, errno);
        create_directory_durably(&directory)
            .map_err(|error| PersistenceError::from_io(Operation::Open, &location, error))?;
        let directory_file =
            rustix::fs::open(&directory, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                .map_err(open_error)?;
        let lock = DirectoryLock::acquire(&directory_file, &location)?;
        let orphans_removed_at_open = remove_temp_files(&directory_file).map_err(open_error)?;
        rustix::fs::fsync(&directory_file).map_err(open_error)?;
        Ok(Self {
            directory,
            directory_file,
            entries: Mutex::new(Entries {
                by_key: HashMap::new(),
                sweep_at_count: options.open_files_max.saturating_mul(ENTRIES_PER_OPEN_FILE),
            }),
            open_files: AtomicUsize::new(0),
            open_files_max: options.open_files_max,
            use_counter: AtomicU64::new(0),
            directory_changes: AtomicU64::new(0),
            directory_synced_through: AtomicU64::new(0),
            temp_counter: AtomicU64::new(0),
            process_id: std::process::id(),
            poison: Poison::default(),
            orphans_removed_at_open,
            _lock: lock,
            #[cfg(test)]
            faults: Faults::default(),
        })
    }

    /// The store's directory.
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// The names of the temp files (`.tmp-*`) an interrupted `atomic_write` left behind, removed by this open.
    pub fn orphans_removed_at_open(&self) -> &[String] {
        &self.orphans_removed_at_open
    }

    /// True once a failed write or sync has poisoned this handle (see the type's docs).
    pub fn is_poisoned(&self) -> bool {
        self.poison.is_poisoned()
    }

    /// How many value files this handle has open now (at most about `open_files_max`).
    pub fn open_files(&self) -> usize {
        self.open_files.load(Ordering::Relaxed)
    }

    fn entry(&self, key: &Key) -> Arc<Entry> {
        let mut entries = lock(&self.entries);
        let entry = match entries.by_key.get(key) {
            Some(entry) => Arc::clone(entry),
            None => {
                if entries.by_key.len() >= entries.sweep_at_count {
                    self.sweep_idle_entries(&mut entries);
                }
                let entry = Arc::new(Entry {
                    file_name: name::file_name(key),
                    slot: RwLock::new(Slot { file: None, entry_change: 0 }),
                    last_used: AtomicU64::new(0),
                });
                entries.by_key.insert(key.clone(), Arc::clone(&entry));
                entry
            }
        };
        entry.last_used.store(self.use_counter.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        entry
    }

    /// Forgets entries nobody uses that have no open file and no directory change still to make durable.
    fn sweep_idle_entries(&self, entries: &mut Entries) {
        let synced_through = self.directory_synced_through.load(Ordering::SeqCst);
        entries.by_key.retain(|_, entry| {
            if Arc::strong_count(entry) > 1 {
                return true;
            }
            match entry.slot.try_read() {
                Ok(slot) => slot.file.is_some() || slot.entry_change > synced_through,
                Err(_) => true,
            }
        });
        let base = self.open_files_max.saturating_mul(ENTRIES_PER_OPEN_FILE);
        entries.sweep_at_count = base.max(entries.by_key.len().saturating_mul(2));
    }

    /// The key's file, opening it (and creating it when `create`) if needed. `None` when the key is missing.
    fn open_file(
        &self,
        entry: &Entry,
        slot: &mut Slot,
        create: bool,
        operation: Operation,
        key: &Key,
    ) -> Result<Option<Arc<OwnedFd>>> {
        if let Some(file) = &slot.file {
            return Ok(Some(Arc::clone(file)));
        }
        let flags = OFlags::RDWR | OFlags::APPEND | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let file = match rustix::fs::openat(&self.directory_file, entry.file_name.as_str(), flags, Mode::empty()) {
            Ok(file) => file,
            Err(Errno::NOENT) if create => {
                // Exclusive: every creator of this key holds its slot lock, so the name is still free.
                let file = rustix::fs::openat(
                    &self.directory_file,
                    entry.file_name.as_str(),
                    flags | OFlags::CREATE | OFlags::EXCL,
                    Mode::from_raw_mode(FILE_MODE),
                )
                .map_err(|errno| errno_error(operation, key.as_str(), errno))?;
                slot.entry_change = self.record_directory_change();
                file
            }
            Err(Errno::NOENT) => return Ok(None),
            Err(errno) => return Err(errno_error(operation, key.as_str(), errno)),
        };
        let file = Arc::new(file);
        slot.file = Some(Arc::clone(&file));
        if self.open_files.fetch_add(1, Ordering::Relaxed) >= self.open_files_max {
            self.close_least_recently_used_file();
        }
        Ok(Some(file))
    }

    /// Closes the file of the least recently used entry that is not busy (the caller's own entry is busy).
    fn close_least_recently_used_file(&self) {
        let victim = {
            let entries = lock(&self.entries);
            entries
                .by_key
                .values()
                .filter(|entry| matches!(entry.slot.try_read(), Ok(slot) if slot.file.is_some()))
                .min_by_key(|entry| entry.last_used.load(Ordering::Relaxed))
                .map(Arc::clone)
        };
        // Never wait here: the caller holds its own entry's lock.
        let Some(victim) = victim else { return };
        if let Ok(mut slot) = victim.slot.try_write() {
            self.close_file(&mut slot);
        }
    }

    fn close_file(&self, slot: &mut Slot) {
        if slot.file.take().is_some() {
            self.open_files.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn record_directory_change(&self) -> u64 {
        self.directory_changes.fetch_add(1, Ordering::SeqCst).saturating_add(1)
    }

    /// Fsyncs the directory unless every change up to `change` is durable already. A failure poisons.
    fn sync_directory_through(&self, change: u64, operation: Operation, key: &Key) -> Result<()> {
        if self.directory_synced_through.load(Ordering::SeqCst) >= change {
            return Ok(());
        }
        let covered = self.directory_changes.load(Ordering::SeqCst);
        if let Err(errno) = self.fsync_directory() {
            let error = errno_error(operation, key.as_str(), errno);
            return Err(self.poison.poison(error, operation, key.as_str()));
        }
        self.directory_synced_through.fetch_max(covered, Ordering::SeqCst);
        Ok(())
    }

    fn fsync_directory(&self) -> rustix::io::Result<()> {
        #[cfg(test)]
        if let Some(errno) = take(&self.faults.next_directory_sync) {
            return Err(errno);
        }
        rustix::fs::fsync(&self.directory_file)
    }

    fn fdatasync(&self, file: &OwnedFd) -> rustix::io::Result<()> {
        #[cfg(test)]
        if let Some(errno) = take(&self.faults.next_file_sync) {
            return Err(errno);
        }
        rustix::fs::fdatasync(file)
    }

    fn write_all(&self, file: &OwnedFd, data: &[u8]) -> Result<(), WriteFailure> {
        let mut written_bytes = 0;
        #[cfg(test)]
        if let Some((bytes_before_failure, errno)) = take(&self.faults.next_write) {
            let head = data.get(..bytes_before_failure.min(data.len())).unwrap_or_default();
            write_loop(file, head, &mut written_bytes)?;
            return Err(WriteFailure { error: errno.into(), written_bytes });
        }
        write_loop(file, data, &mut written_bytes)
    }

    /// Runs `body` on the key's open file under the key's lock (shared when the file is open already); `None` when
    /// the key is missing.
    fn with_file<T>(
        &self,
        key: &Key,
        operation: Operation,
        body: impl FnOnce(&OwnedFd) -> Result<T>,
    ) -> Result<Option<T>> {
        self.poison.check(operation, key.as_str())?;
        let entry = self.entry(key);
        {
            let slot = read(&entry.slot);
            if let Some(file) = &slot.file {
                return body(file).map(Some);
            }
        }
        let mut slot = write(&entry.slot);
        match self.open_file(&entry, &mut slot, false, operation, key)? {
            Some(file) => body(&file).map(Some),
            None => Ok(None),
        }
    }

    /// The temp-file part of `atomic_write`; `atomic_write` removes the temp file when this fails.
    /// The steps of `atomic_write`. An error carries whether it struck before the temp copy was synced: up to
    /// there the target is untouched and nothing is in doubt.
    fn replace(&self, entry: &Entry, temp_name: &str, data: &[u8], key: &Key) -> Result<(), (PersistenceError, bool)> {
        let operation = Operation::AtomicWrite;
        let error = |errno: Errno| errno_error(operation, key.as_str(), errno);
        let temp = rustix::fs::openat(
            &self.directory_file,
            temp_name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(FILE_MODE),
        )
        .map_err(|errno| (error(errno), true))?;
        self.write_all(&temp, data)
            .map_err(|failure| (PersistenceError::from_io(operation, key.as_str(), failure.error), true))?;
        self.fdatasync(&temp).map_err(|errno| (error(errno), false))?;
        drop(temp);
        let change = {
            let mut slot = write(&entry.slot);
            // Later calls must open the new file, never append to the replaced one.
            self.close_file(&mut slot);
            rustix::fs::renameat(&self.directory_file, temp_name, &self.directory_file, entry.file_name.as_str())
                .map_err(|errno| (error(errno), false))?;
            let change = self.record_directory_change();
            slot.entry_change = change;
            change
        };
        self.sync_directory_through(change, operation, key).map_err(|failure| (failure, false))
    }
}

impl StorageBackend for FileBackend {
    fn name(&self) -> &'static str {
        "fs"
    }

    fn read(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.with_file(key, Operation::Read, |file| {
            let length = file_length(file).map_err(|errno| errno_error(Operation::Read, key.as_str(), errno))?;
            read_at(file, 0, length, Operation::Read, key)
        })
    }

    fn read_range(&self, key: &Key, offset: u64, length: u64) -> Result<Vec<u8>> {
        let operation = Operation::ReadRange;
        let bytes = self.with_file(key, operation, |file| {
            let file_bytes = file_length(file).map_err(|errno| errno_error(operation, key.as_str(), errno))?;
            let end = offset.saturating_add(length).min(file_bytes);
            read_at(file, offset, end.saturating_sub(offset), operation, key)
        })?;
        bytes.ok_or_else(|| PersistenceError::NotFound { operation, key: key.as_str().to_owned() })
    }

    fn len(&self, key: &Key) -> Result<Option<u64>> {
        self.with_file(key, Operation::Len, |file| {
            file_length(file).map_err(|errno| errno_error(Operation::Len, key.as_str(), errno))
        })
    }

    fn append(&self, key: &Key, data: &[u8]) -> Result<()> {
        let operation = Operation::Append;
        self.poison.check(operation, key.as_str())?;
        let entry = self.entry(key);
        let mut slot = write(&entry.slot);
        let Some(file) = self.open_file(&entry, &mut slot, true, operation, key)? else {
            return Err(PersistenceError::NotFound { operation, key: key.as_str().to_owned() });
        };
        match self.write_all(&file, data) {
            Ok(()) => Ok(()),
            Err(WriteFailure { error, written_bytes }) => {
                let error = PersistenceError::from_io(operation, key.as_str(), error);
                if written_bytes == 0 && error.is_disk_full() {
                    // Nothing reached the file: the value is unchanged and the handle stays usable.
                    Err(error)
                } else {
                    Err(self.poison.poison(error, operation, key.as_str()))
                }
            }
        }
    }

    fn sync(&self, key: &Key) -> Result<()> {
        let operation = Operation::Sync;
        self.poison.check(operation, key.as_str())?;
        let entry = self.entry(key);
        let open = {
            let slot = read(&entry.slot);
            slot.file.as_ref().map(|file| (Arc::clone(file), slot.entry_change))
        };
        let (file, entry_change) = match open {
            Some(open) => open,
            None => {
                let mut slot = write(&entry.slot);
                match self.open_file(&entry, &mut slot, false, operation, key)? {
                    Some(file) => (file, slot.entry_change),
                    None => return Ok(()),
                }
            }
        };
        // No lock held while the disk works: appends to this key go on, and this or a later sync covers them.
        if let Err(errno) = self.fdatasync(&file) {
            let error = errno_error(operation, key.as_str(), errno);
            return Err(self.poison.poison(error, operation, key.as_str()));
        }
        self.sync_directory_through(entry_change, operation, key)
    }

    fn atomic_write(&self, key: &Key, data: &[u8]) -> Result<()> {
        let operation = Operation::AtomicWrite;
        self.poison.check(operation, key.as_str())?;
        let entry = self.entry(key);
        let counter = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        let temp_name = name::temp_file_name(&entry.file_name, self.process_id, counter);
        self.replace(&entry, &temp_name, data, key).map_err(|(error, before_sync)| {
            // Best effort; after a successful rename the name is gone already. An orphan is removed at next open.
            let _ = rustix::fs::unlinkat(&self.directory_file, temp_name.as_str(), AtFlags::empty());
            // The disk filling up while the temp copy is written leaves the old value untouched and nothing in
            // doubt, so the caller may free space and retry. Any other failure (a failed sync above all) poisons.
            if before_sync && error.is_disk_full() { error } else { self.poison.poison(error, operation, key.as_str()) }
        })
    }

    fn truncate(&self, key: &Key, length: u64) -> Result<()> {
        let operation = Operation::Truncate;
        self.poison.check(operation, key.as_str())?;
        let entry = self.entry(key);
        let mut slot = write(&entry.slot);
        let Some(file) = self.open_file(&entry, &mut slot, false, operation, key)? else {
            return Err(PersistenceError::NotFound { operation, key: key.as_str().to_owned() });
        };
        let current = file_length(&file).map_err(|errno| errno_error(operation, key.as_str(), errno))?;
        if length > current {
            return Err(PersistenceError::InvalidArgument {
                operation,
                key: key.as_str().to_owned(),
                reason: format!("cannot truncate a {current}-byte value to {length} bytes"),
            });
        }
        rustix::fs::ftruncate(&*file, length).map_err(|errno| {
            let error = errno_error(operation, key.as_str(), errno);
            self.poison.poison(error, operation, key.as_str())
        })
    }

    fn delete(&self, key: &Key) -> Result<bool> {
        let operation = Operation::Delete;
        self.poison.check(operation, key.as_str())?;
        let entry = self.entry(key);
        let (existed, change) = {
            let mut slot = write(&entry.slot);
            self.close_file(&mut slot);
            match rustix::fs::unlinkat(&self.directory_file, entry.file_name.as_str(), AtFlags::empty()) {
                Ok(()) => {
                    slot.entry_change = self.record_directory_change();
                    (true, slot.entry_change)
                }
                // Already gone; still wait for an unlink of it that is not durable yet.
                Err(Errno::NOENT) => (false, slot.entry_change),
                Err(errno) => return Err(errno_error(operation, key.as_str(), errno)),
            }
        };
        self.sync_directory_through(change, operation, key)?;
        Ok(existed)
    }

    fn list(&self, prefix: &str) -> Result<Vec<Key>> {
        let operation = Operation::List;
        self.poison.check(operation, prefix)?;
        let error = |errno: Errno| errno_error(operation, prefix, errno);
        let mut directory = rustix::fs::Dir::read_from(&self.directory_file).map_err(error)?;
        let mut keys = Vec::new();
        while let Some(item) = directory.read() {
            let item = item.map_err(error)?;
            let Some(key) = item.file_name().to_str().ok().and_then(name::key_from_file_name) else {
                continue;
            };
            if key.has_prefix(prefix) {
                keys.push(key);
            }
        }
        keys.sort_unstable();
        Ok(keys)
    }

    fn orphans_removed_at_open(&self) -> Vec<String> {
        self.orphans_removed_at_open.clone()
    }
}

impl fmt::Debug for FileBackend {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("FileBackend")
            .field("directory", &self.directory)
            .field("open_files", &self.open_files())
            .field("poisoned", &self.is_poisoned())
            .finish_non_exhaustive()
    }
}

fn errno_error(operation: Operation, key: &str, errno: Errno) -> PersistenceError {
    PersistenceError::from_io(operation, key, io::Error::from(errno))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded state stays consistent even if a holder panicked: every update is a single assignment.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn file_length(file: &OwnedFd) -> rustix::io::Result<u64> {
    let stat = rustix::fs::fstat(file)?;
    Ok(u64::try_from(stat.st_size).unwrap_or(0))
}

/// Writes all of `data` with as many `write` calls as it takes (one, unless the kernel writes short), counting
/// what reached the file in `written_bytes`.
fn write_loop(file: &OwnedFd, data: &[u8], written_bytes: &mut usize) -> Result<(), WriteFailure> {
    let mut remaining = data;
    while !remaining.is_empty() {
        match rustix::io::write(file, remaining) {
            Ok(0) => {
                return Err(WriteFailure { error: io::ErrorKind::WriteZero.into(), written_bytes: *written_bytes });
            }
            Ok(count) => {
                *written_bytes = written_bytes.saturating_add(count);
                remaining = remaining.get(count..).unwrap_or_default();
            }
            Err(Errno::INTR) => {}
            Err(errno) => return Err(WriteFailure { error: errno.into(), written_bytes: *written_bytes }),
        }
    }
    Ok(())
}

/// Reads up to `length` bytes from `offset` with `pread`, stopping early only at the end of the file.
fn read_at(file: &OwnedFd, offset: u64, length: u64, operation: Operation, key: &Key) -> Result<Vec<u8>> {
    let length = usize::try_from(length).map_err(|_| PersistenceError::InvalidArgument {
        operation,
        key: key.as_str().to_owned(),
        reason: format!("{length} bytes do not fit in memory"),
    })?;
    let mut buffer = vec![0; length];
    let mut filled = 0;
    while let Some(rest) = buffer.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        let position = offset.saturating_add(filled as u64);
        match rustix::io::pread(file, rest, position) {
            Ok(0) => break,
            Ok(count) => filled = filled.saturating_add(count),
            Err(Errno::INTR) => {}
            Err(errno) => return Err(errno_error(operation, key.as_str(), errno)),
        }
    }
    buffer.truncate(filled);
    Ok(buffer)
}

/// Creates `directory` and its missing parents, fsyncing each parent after creating a child in it, so the new
/// directory survives a crash.
fn create_directory_durably(directory: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut current = Some(directory);
    while let Some(path) = current {
        if path.as_os_str().is_empty() || path.is_dir() {
            break;
        }
        missing.push(path);
        current = path.parent();
    }
    for path in missing.iter().rev() {
        match std::fs::create_dir(path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let parent = rustix::fs::open(parent, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        rustix::fs::fsync(parent)?;
    }
    Ok(())
}

/// Removes every temp file in the directory (orphans of a crash: the lock is held) and returns their names, sorted.
fn remove_temp_files(directory: impl AsFd) -> rustix::io::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut listing = rustix::fs::Dir::read_from(&directory)?;
    while let Some(item) = listing.read() {
        let item = item?;
        if let Ok(text) = item.file_name().to_str() {
            if name::is_temp_file_name(text) {
                names.push(text.to_owned());
            }
        }
    }
    names.sort_unstable();
    for temp in &names {
        match rustix::fs::unlinkat(&directory, temp.as_str(), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(errno) => return Err(errno),
        }
    }
    Ok(names)
}

/// Switches that make the next file sync, directory sync or write fail, for tests of the failure paths.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub(crate) next_file_sync: Mutex<Option<Errno>>,
    pub(crate) next_directory_sync: Mutex<Option<Errno>>,
    /// Writes this many bytes of the next write for real, then fails it with the error.
    pub(crate) next_write: Mutex<Option<(usize, Errno)>>,
}

#[cfg(test)]
fn take<T>(switch: &Mutex<Option<T>>) -> Option<T> {
    lock(switch).take()
}

#[cfg(test)]
mod tests;
