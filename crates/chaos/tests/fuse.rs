//! The power-loss file system mounted for real: `FileBackend` works on it, the kernel delivers `fsync` and the
//! directory `fsync` as the model expects, and a power cut keeps exactly what was synced.
//!
//! Needs `/dev/fuse` and the right to mount (root, as on our machines and CI's). There is no skip: without them
//! the test fails and says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chaos::power_loss::filesystem::{Mounted, lock};
use chaos::power_loss::model::{PowerLossModel, TearMode};
use storage_core::{Key, StorageBackend};
use storage_fs::FileBackend;

fn mount_point(label: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("chaos-fuse-{label}-{}", std::process::id()))
}

#[test]
fn file_backend_on_the_power_loss_file_system_keeps_synced_bytes_across_power_cuts() {
    let model = Arc::new(Mutex::new(PowerLossModel::new()));
    let mounted = Mounted::mount(Arc::clone(&model), &mount_point("before"))
        .expect("mounting the FUSE file system (needs /dev/fuse and root)");
    let store = mounted.path().join("store");
    let key = Key::new("wal/1").unwrap();
    let manifest = Key::new("manifest").unwrap();
    {
        let backend = FileBackend::open(&store).unwrap();
        backend.append(&key, b"synced;").unwrap();
        backend.sync(&key).unwrap();
        backend.atomic_write(&manifest, b"version 1").unwrap();
        backend.append(&key, b"pending;").unwrap();
        assert_eq!(backend.read(&key).unwrap().as_deref(), Some(&b"synced;pending;"[..]));
        assert_eq!(backend.list("").unwrap(), vec![manifest.clone(), key.clone()]);
    }
    let served = lock(&model).served();
    assert!(served.file_syncs >= 2 && served.directory_syncs >= 2, "the kernel delivers both syncs: {served:?}");
    assert_eq!(lock(&model).pending_counts(), (0, 1), "only the last append is not durable");
    lock(&model).cut_power();
    assert!(std::fs::read_dir(&store).is_err(), "after the cut every call fails");
    let mut images = Vec::new();
    for seed in 0..16 {
        let mode = if seed % 2 == 0 { TearMode::AnySubset } else { TearMode::InOrder };
        images.push(lock(&model).crash_image(seed, mode, 4).0);
    }
    mounted.unmount().unwrap();
    let mut pending_survived = false;
    for (index, image) in images.into_iter().enumerate() {
        let mounted = Mounted::mount(Arc::new(Mutex::new(image)), &mount_point(&format!("after-{index}"))).unwrap();
        let backend = FileBackend::open(mounted.path().join("store")).unwrap();
        let value = backend.read(&key).unwrap().unwrap();
        assert!(value.starts_with(b"synced;"), "image {index}: {value:?}");
        pending_survived |= value == b"synced;pending;";
        assert_eq!(backend.read(&manifest).unwrap().as_deref(), Some(&b"version 1"[..]), "image {index}");
        drop(backend);
        mounted.unmount().unwrap();
    }
    assert!(pending_survived, "some image kept the un-synced append");
}
