//! The FUSE side of the power-loss file system: [`PowerLossFilesystem`] answers the kernel from a shared
//! [`PowerLossModel`], and [`Mounted`] mounts it (with `fuser`'s pure-Rust mount: mount(2) as root, `fusermount3`
//! otherwise) and always unmounts it.
//!
//! Files are opened with `FOPEN_DIRECT_IO`, so every read and write reaches the model (no page cache in between)
//! and an `fsync` or `fdatasync` of a file, or an `fsync` of a directory, arrives as `FSYNC`/`FSYNCDIR`. Attribute
//! and entry timeouts are zero. `flock` is left to the kernel (the file system does not claim lock support), which
//! is what `FileBackend`'s lock file needs.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use fuser::{
    AccessFlags, BackgroundSession, BsdFileFlags, Config, Errno, FileAttr, FileHandle, FileType, Filesystem,
    FopenFlags, Generation, INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, SessionACL, TimeOrNow,
    WriteFlags,
};

use crate::error::ChaosError;
use crate::power_loss::model::{FileSystemError, NodeKind, PowerLossModel};

/// Entries and attributes are never cached by the kernel: every lookup asks the model.
const TIMEOUT: Duration = Duration::ZERO;

/// How long an unmount may take before the mount is detached.
const UNMOUNT_TIMEOUT: Duration = Duration::from_secs(10);

/// A model shared by the FUSE session and the campaign (which cuts the power and takes the crash image).
pub type SharedModel = Arc<Mutex<PowerLossModel>>;

/// Locks the model, even after a panic in another holder (nothing under the lock can be left half-changed by one:
/// each model method checks before it changes anything).
pub fn lock(model: &SharedModel) -> MutexGuard<'_, PowerLossModel> {
    model.lock().unwrap_or_else(PoisonError::into_inner)
}

fn errno(error: FileSystemError) -> Errno {
    match error {
        FileSystemError::NotFound => Errno::ENOENT,
        FileSystemError::Exists => Errno::EEXIST,
        FileSystemError::NotDirectory => Errno::ENOTDIR,
        FileSystemError::IsDirectory => Errno::EISDIR,
        FileSystemError::NotEmpty => Errno::ENOTEMPTY,
        FileSystemError::Invalid => Errno::EINVAL,
        FileSystemError::TooLarge => Errno::EFBIG,
        FileSystemError::PowerCut => Errno::EIO,
    }
}

/// The FUSE file system over a shared model.
pub struct PowerLossFilesystem {
    model: SharedModel,
    uid: u32,
    gid: u32,
}

impl PowerLossFilesystem {
    /// A file system answering from `model`, owned by this process's user.
    pub fn new(model: SharedModel) -> Self {
        Self { model, uid: rustix::process::geteuid().as_raw(), gid: rustix::process::getegid().as_raw() }
    }

    fn attributes(&self, model: &PowerLossModel, node: u64) -> Result<FileAttr, FileSystemError> {
        let (kind, size) = model.attributes(node)?;
        let (kind, perm, nlink) = match kind {
            NodeKind::File => (FileType::RegularFile, 0o644, 1),
            NodeKind::Directory => (FileType::Directory, 0o755, 2),
        };
        Ok(FileAttr {
            ino: INodeNo(node),
            size,
            blocks: size.div_ceil(512),
            atime: SystemTime::UNIX_EPOCH,
            mtime: SystemTime::UNIX_EPOCH,
            ctime: SystemTime::UNIX_EPOCH,
            crtime: SystemTime::UNIX_EPOCH,
            kind,
            perm,
            nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    fn entry(&self, reply: ReplyEntry, change: impl FnOnce(&mut PowerLossModel) -> Result<u64, FileSystemError>) {
        let mut model = lock(&self.model);
        match change(&mut model).and_then(|node| self.attributes(&model, node)) {
            Ok(attributes) => reply.entry(&TIMEOUT, &attributes, Generation(0)),
            Err(error) => reply.error(errno(error)),
        }
    }

    fn empty(&self, reply: ReplyEmpty, change: impl FnOnce(&mut PowerLossModel) -> Result<(), FileSystemError>) {
        match change(&mut lock(&self.model)) {
            Ok(()) => reply.ok(),
            Err(error) => reply.error(errno(error)),
        }
    }
}

impl Filesystem for PowerLossFilesystem {
    fn lookup(&self, _request: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        self.entry(reply, |model| model.lookup(parent.0, name.as_bytes()));
    }

    fn getattr(&self, _request: &Request, node: INodeNo, _handle: Option<FileHandle>, reply: ReplyAttr) {
        let model = lock(&self.model);
        match self.attributes(&model, node.0) {
            Ok(attributes) => reply.attr(&TIMEOUT, &attributes),
            Err(error) => reply.error(errno(error)),
        }
    }

    fn setattr(
        &self,
        _request: &Request,
        node: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _handle: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut model = lock(&self.model);
        let changed = match size {
            Some(length) => model.set_length(node.0, length),
            None => Ok(()),
        };
        match changed.and_then(|()| self.attributes(&model, node.0)) {
            Ok(attributes) => reply.attr(&TIMEOUT, &attributes),
            Err(error) => reply.error(errno(error)),
        }
    }

    fn mknod(
        &self,
        _request: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        const FILE_TYPE_MASK: u32 = 0o170_000;
        const REGULAR_FILE: u32 = 0o100_000;
        if mode & FILE_TYPE_MASK != REGULAR_FILE {
            return reply.error(Errno::EPERM);
        }
        self.entry(reply, |model| model.create(parent.0, name.as_bytes(), NodeKind::File));
    }

    fn mkdir(&self, _request: &Request, parent: INodeNo, name: &OsStr, _mode: u32, _umask: u32, reply: ReplyEntry) {
        self.entry(reply, |model| model.create(parent.0, name.as_bytes(), NodeKind::Directory));
    }

    fn unlink(&self, _request: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.empty(reply, |model| model.remove(parent.0, name.as_bytes(), NodeKind::File));
    }

    fn rmdir(&self, _request: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.empty(reply, |model| model.remove(parent.0, name.as_bytes(), NodeKind::Directory));
    }

    fn rename(
        &self,
        _request: &Request,
        parent: INodeNo,
        name: &OsStr,
        new_parent: INodeNo,
        new_name: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if !flags.is_empty() {
            return reply.error(Errno::EINVAL);
        }
        self.empty(reply, |model| model.rename(parent.0, name.as_bytes(), new_parent.0, new_name.as_bytes()));
    }

    fn open(&self, _request: &Request, node: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match lock(&self.model).attributes(node.0) {
            Ok((NodeKind::File, _)) => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            Ok((NodeKind::Directory, _)) => reply.error(Errno::EISDIR),
            Err(error) => reply.error(errno(error)),
        }
    }

    fn read(
        &self,
        _request: &Request,
        node: INodeNo,
        _handle: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match lock(&self.model).read(node.0, offset, u64::from(size)) {
            Ok(bytes) => reply.data(bytes),
            Err(error) => reply.error(errno(error)),
        }
    }

    fn write(
        &self,
        _request: &Request,
        node: INodeNo,
        _handle: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let Ok(length) = u32::try_from(data.len()) else { return reply.error(Errno::EINVAL) };
        match lock(&self.model).write(node.0, offset, data) {
            Ok(()) => reply.written(length),
            Err(error) => reply.error(errno(error)),
        }
    }

    fn flush(&self, _request: &Request, _node: INodeNo, _handle: FileHandle, _owner: LockOwner, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fsync(&self, _request: &Request, node: INodeNo, _handle: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        self.empty(reply, |model| model.sync_file(node.0));
    }

    fn opendir(&self, _request: &Request, node: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match lock(&self.model).attributes(node.0) {
            Ok((NodeKind::Directory, _)) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Ok((NodeKind::File, _)) => reply.error(Errno::ENOTDIR),
            Err(error) => reply.error(errno(error)),
        }
    }

    fn readdir(&self, _request: &Request, node: INodeNo, _handle: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let listing = match lock(&self.model).list(node.0) {
            Ok(listing) => listing,
            Err(error) => return reply.error(errno(error)),
        };
        let dots = [(b".".to_vec(), node.0, NodeKind::Directory), (b"..".to_vec(), node.0, NodeKind::Directory)];
        let entries = dots.into_iter().chain(listing);
        for (index, (name, child, kind)) in entries.enumerate().skip(usize::try_from(offset).unwrap_or(usize::MAX)) {
            let kind = match kind {
                NodeKind::File => FileType::RegularFile,
                NodeKind::Directory => FileType::Directory,
            };
            if reply.add(INodeNo(child), index as u64 + 1, kind, OsStr::from_bytes(&name)) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(&self, _request: &Request, node: INodeNo, _handle: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        self.empty(reply, |model| model.sync_directory(node.0));
    }

    fn statfs(&self, _request: &Request, _node: INodeNo, reply: ReplyStatfs) {
        const BLOCKS: u64 = 1 << 20;
        reply.statfs(BLOCKS, BLOCKS / 2, BLOCKS / 2, 1 << 20, 1 << 19, 4096, 255, 4096);
    }

    fn access(&self, _request: &Request, node: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        self.empty(reply, |model| model.attributes(node.0).map(drop));
    }

    fn create(
        &self,
        _request: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let mut model = lock(&self.model);
        let created = model.create(parent.0, name.as_bytes(), NodeKind::File);
        match created.and_then(|node| self.attributes(&model, node)) {
            Ok(attributes) => {
                reply.created(&TIMEOUT, &attributes, Generation(0), FileHandle(0), FopenFlags::FOPEN_DIRECT_IO);
            }
            Err(error) => reply.error(errno(error)),
        }
    }
}

/// True when `mountpoint` is a mount point in this process's mount namespace.
pub fn is_mounted(mountpoint: &Path) -> bool {
    mount_points().iter().any(|point| point == mountpoint)
}

/// Every mount point (field 5 of `/proc/self/mountinfo`).
pub fn mount_points() -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else { return Vec::new() };
    text.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(field.replace("\\040", " ")))
        .collect()
}

/// Detaches (lazily unmounts) every mount under `directory`: leftovers of an earlier run that was killed.
pub fn detach_mounts_under(directory: &Path) {
    for point in mount_points() {
        if point.starts_with(directory) {
            let _ = rustix::mount::unmount(&point, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

/// A mounted power-loss file system; unmounted on [`Mounted::unmount`] or drop, whatever happens.
pub struct Mounted {
    session: Option<BackgroundSession>,
    mountpoint: PathBuf,
}

impl Mounted {
    /// Mounts a file system over `model` at `mountpoint` (created when missing).
    pub fn mount(model: SharedModel, mountpoint: &Path) -> Result<Self, ChaosError> {
        std::fs::create_dir_all(mountpoint)
            .map_err(|source| ChaosError::io(format!("creating {}", mountpoint.display()), source))?;
        let mountpoint = mountpoint
            .canonicalize()
            .map_err(|source| ChaosError::io(format!("resolving {}", mountpoint.display()), source))?;
        let mut config = Config::default();
        // No `auto_unmount`: as root, fuser mounts with mount(2) and unmounts with umount2(2) synchronously.
        // (Debian's fusermount3 3.14, which `auto_unmount` goes through, exited right after mounting here and so
        // never unmounted.) A mount left by a killed campaign is detached by the next one
        // ([`detach_mounts_under`]). The writer runs as the same user, so no `allow_other` either.
        config.mount_options = vec![
            MountOption::FSName("chaos-power-loss".to_owned()),
            MountOption::Subtype("chaos".to_owned()),
            MountOption::NoAtime,
        ];
        config.acl = SessionACL::Owner;
        let session = fuser::spawn_mount(PowerLossFilesystem::new(model), &mountpoint, &config).map_err(|error| {
            ChaosError::Fuse {
                reason: format!(
                    "mounting at {} failed: {error} (needs /dev/fuse, root, and fusermount3 from Debian's fuse3; \
                     `cargo xtask chaos` installs it)",
                    mountpoint.display()
                ),
            }
        })?;
        let deadline = Instant::now() + UNMOUNT_TIMEOUT;
        while !is_mounted(&mountpoint) {
            if Instant::now() >= deadline {
                return Err(ChaosError::Fuse { reason: format!("{} never showed as mounted", mountpoint.display()) });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(Self { session: Some(session), mountpoint })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// Unmounts and waits until the mount point is gone (detaching it after [`UNMOUNT_TIMEOUT`]).
    pub fn unmount(mut self) -> Result<(), ChaosError> {
        self.unmount_now()
    }

    fn unmount_now(&mut self) -> Result<(), ChaosError> {
        let Some(session) = self.session.take() else { return Ok(()) };
        let finished = std::thread::spawn(move || session.umount_and_join());
        let deadline = Instant::now() + UNMOUNT_TIMEOUT;
        while !finished.is_finished() || is_mounted(&self.mountpoint) {
            if Instant::now() >= deadline {
                let _ = rustix::mount::unmount(&self.mountpoint, rustix::mount::UnmountFlags::DETACH);
                return Err(ChaosError::Fuse {
                    reason: format!("{} did not unmount in time; detached it", self.mountpoint.display()),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = std::fs::remove_dir(&self.mountpoint);
        match finished.join() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(ChaosError::Fuse { reason: format!("unmounting: {error}") }),
            Err(_) => Err(ChaosError::Fuse { reason: "the FUSE session panicked".to_owned() }),
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = self.unmount_now();
    }
}
