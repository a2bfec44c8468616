//! The behaviour suite every backend runs (feature `conformance`).
//!
//! Written once against [`AsyncStorageBackend`], so the same checks run on the native backends (through
//! [`run_all_blocking`]) and on IndexedDB in a browser (awaiting [`run_all`] in a `wasm-bindgen-test`).
//! A failed check panics with the case's name: this module is test code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::future::Future;

use crate::{AsyncStorageBackend, Key, PersistenceError, block_on};

/// Makes stores for the suite.
pub trait Harness {
    /// The backend under test.
    type Backend: AsyncStorageBackend;
    /// A new, empty store.
    fn fresh(&mut self) -> impl Future<Output = Self::Backend>;
    /// Closes `backend` and opens the same store again, or `None` when the backend keeps nothing across a reopen
    /// (then the persistence checks are skipped for it, and only for it).
    fn reopen(&mut self, backend: Self::Backend) -> impl Future<Output = Option<Self::Backend>>;
}

/// The names of the cases, in the order [`run_all`] runs them.
pub const CASES: &[&str] = &[
    "missing_keys_follow_the_contract",
    "append_really_appends",
    "empty_value_exists",
    "atomic_write_replaces_the_whole_value",
    "range_reads_are_exact_or_short_never_padded",
    "truncate_shortens_and_appends_continue_at_the_new_end",
    "delete_removes_and_reports_existence",
    "list_filters_by_prefix_and_sorts",
    "large_values_round_trip",
    "bad_keys_are_rejected_with_a_typed_error",
    "synced_data_persists_across_reopen",
];

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

/// Runs every case on fresh stores from `harness`.
pub async fn run_all<H: Harness>(harness: &mut H) {
    missing_keys_follow_the_contract(&harness.fresh().await).await;
    append_really_appends(&harness.fresh().await).await;
    empty_value_exists(&harness.fresh().await).await;
    atomic_write_replaces_the_whole_value(&harness.fresh().await).await;
    range_reads_are_exact_or_short_never_padded(&harness.fresh().await).await;
    truncate_shortens_and_appends_continue_at_the_new_end(&harness.fresh().await).await;
    delete_removes_and_reports_existence(&harness.fresh().await).await;
    list_filters_by_prefix_and_sorts(&harness.fresh().await).await;
    large_values_round_trip(&harness.fresh().await).await;
    bad_keys_are_rejected_with_a_typed_error();
    synced_data_persists_across_reopen(harness).await;
}

/// [`run_all`] on this thread, for harnesses whose futures need no runtime (every sync backend).
pub fn run_all_blocking<H: Harness>(harness: &mut H) {
    block_on(run_all(harness));
}

/// Missing keys: `read`/`len` are `None`, `read_range`/`truncate` are `NotFound`, `delete` is `false`, `sync` is Ok.
pub async fn missing_keys_follow_the_contract<B: AsyncStorageBackend>(backend: &B) {
    let missing = key("missing");
    assert_eq!(backend.read(&missing).await.unwrap(), None, "read of a missing key");
    assert_eq!(backend.len(&missing).await.unwrap(), None, "len of a missing key");
    assert!(
        matches!(backend.read_range(&missing, 0, 1).await, Err(PersistenceError::NotFound { .. })),
        "read_range of a missing key is NotFound"
    );
    assert!(
        matches!(backend.truncate(&missing, 0).await, Err(PersistenceError::NotFound { .. })),
        "truncate of a missing key is NotFound"
    );
    assert!(!backend.delete(&missing).await.unwrap(), "delete of a missing key is Ok(false)");
    backend.sync(&missing).await.unwrap();
    assert_eq!(backend.read(&missing).await.unwrap(), None, "sync does not create a key");
    assert!(backend.list("").await.unwrap().is_empty(), "a fresh store lists nothing");
}

/// Appends add at the end, never overwrite, and create the key.
pub async fn append_really_appends<B: AsyncStorageBackend>(backend: &B) {
    let log = key("log");
    backend.append(&log, b"hello").await.unwrap();
    backend.append(&log, b", ").await.unwrap();
    backend.append(&log, b"").await.unwrap();
    backend.append(&log, b"world").await.unwrap();
    assert_eq!(backend.read(&log).await.unwrap().as_deref(), Some(&b"hello, world"[..]));
    assert_eq!(backend.len(&log).await.unwrap(), Some(12));
    backend.sync(&log).await.unwrap();
    backend.append(&log, b"!").await.unwrap();
    assert_eq!(backend.read(&log).await.unwrap().as_deref(), Some(&b"hello, world!"[..]));
    let other = key("log2");
    backend.append(&other, b"x").await.unwrap();
    assert_eq!(backend.read(&log).await.unwrap().as_deref(), Some(&b"hello, world!"[..]), "keys are independent");
}

/// A value of length zero exists and is listed.
pub async fn empty_value_exists<B: AsyncStorageBackend>(backend: &B) {
    let empty = key("empty");
    backend.atomic_write(&empty, b"").await.unwrap();
    assert_eq!(backend.read(&empty).await.unwrap(), Some(Vec::new()));
    assert_eq!(backend.len(&empty).await.unwrap(), Some(0));
    assert_eq!(backend.list("").await.unwrap(), vec![empty.clone()]);
    let appended = key("appended-empty");
    backend.append(&appended, b"").await.unwrap();
    assert_eq!(backend.len(&appended).await.unwrap(), Some(0), "an empty append creates the key");
}

/// `atomic_write` leaves exactly the new bytes, whatever was there.
pub async fn atomic_write_replaces_the_whole_value<B: AsyncStorageBackend>(backend: &B) {
    let blob = key("blob");
    backend.atomic_write(&blob, &[7; 1000]).await.unwrap();
    backend.atomic_write(&blob, b"short").await.unwrap();
    assert_eq!(backend.read(&blob).await.unwrap().as_deref(), Some(&b"short"[..]), "no tail of the longer value");
    backend.append(&blob, b"+tail").await.unwrap();
    backend.atomic_write(&blob, b"fresh").await.unwrap();
    assert_eq!(backend.read(&blob).await.unwrap().as_deref(), Some(&b"fresh"[..]), "appends are replaced too");
    backend.append(&blob, b"!").await.unwrap();
    assert_eq!(backend.read(&blob).await.unwrap().as_deref(), Some(&b"fresh!"[..]), "append after atomic_write");
}

/// Range reads return exactly the bytes that exist in the range.
pub async fn range_reads_are_exact_or_short_never_padded<B: AsyncStorageBackend>(backend: &B) {
    let data = key("data");
    let bytes: Vec<u8> = (0..=255u8).collect();
    backend.append(&data, &bytes[..100]).await.unwrap();
    backend.append(&data, &bytes[100..]).await.unwrap();
    assert_eq!(backend.read_range(&data, 0, 256).await.unwrap(), bytes);
    assert_eq!(backend.read_range(&data, 90, 20).await.unwrap(), &bytes[90..110], "a range across two appends");
    assert_eq!(backend.read_range(&data, 250, 100).await.unwrap(), &bytes[250..], "short at the end");
    assert!(backend.read_range(&data, 256, 10).await.unwrap().is_empty(), "empty at the end");
    assert!(backend.read_range(&data, 1000, 10).await.unwrap().is_empty(), "empty past the end");
    assert!(backend.read_range(&data, 10, 0).await.unwrap().is_empty(), "zero length");
    assert_eq!(backend.read_range(&data, 0, u64::MAX).await.unwrap(), bytes, "a huge length is only a bound");
}

/// `truncate` shortens; growing is an error; later appends continue at the new end.
pub async fn truncate_shortens_and_appends_continue_at_the_new_end<B: AsyncStorageBackend>(backend: &B) {
    let log = key("log");
    backend.append(&log, b"0123456789").await.unwrap();
    backend.truncate(&log, 4).await.unwrap();
    assert_eq!(backend.read(&log).await.unwrap().as_deref(), Some(&b"0123"[..]));
    assert!(
        matches!(backend.truncate(&log, 5).await, Err(PersistenceError::InvalidArgument { .. })),
        "truncate cannot grow a value"
    );
    assert_eq!(backend.len(&log).await.unwrap(), Some(4), "a failed truncate changes nothing");
    backend.truncate(&log, 4).await.unwrap();
    backend.append(&log, b"ab").await.unwrap();
    assert_eq!(backend.read(&log).await.unwrap().as_deref(), Some(&b"0123ab"[..]));
    backend.truncate(&log, 0).await.unwrap();
    assert_eq!(backend.read(&log).await.unwrap(), Some(Vec::new()), "truncate to zero keeps the key");
    backend.sync(&log).await.unwrap();
}

/// `delete` removes the key and says whether it was there.
pub async fn delete_removes_and_reports_existence<B: AsyncStorageBackend>(backend: &B) {
    let doomed = key("doomed");
    let kept = key("kept");
    backend.append(&doomed, b"bytes").await.unwrap();
    backend.atomic_write(&kept, b"bytes").await.unwrap();
    assert!(backend.delete(&doomed).await.unwrap());
    assert!(!backend.delete(&doomed).await.unwrap());
    assert_eq!(backend.read(&doomed).await.unwrap(), None);
    assert_eq!(backend.list("").await.unwrap(), vec![kept.clone()]);
    backend.append(&doomed, b"new").await.unwrap();
    assert_eq!(backend.read(&doomed).await.unwrap().as_deref(), Some(&b"new"[..]), "a deleted key starts afresh");
}

/// `list` is a sorted string-prefix filter.
pub async fn list_filters_by_prefix_and_sorts<B: AsyncStorageBackend>(backend: &B) {
    for name in ["wal/0002", "wal/0001", "wal2", "snapshot/0001", "w", "wal/0010"] {
        backend.atomic_write(&key(name), name.as_bytes()).await.unwrap();
    }
    let names = |keys: Vec<Key>| keys.iter().map(|k| k.as_str().to_owned()).collect::<Vec<_>>();
    assert_eq!(names(backend.list("wal/").await.unwrap()), ["wal/0001", "wal/0002", "wal/0010"]);
    assert_eq!(names(backend.list("wal").await.unwrap()), ["wal/0001", "wal/0002", "wal/0010", "wal2"]);
    assert_eq!(
        names(backend.list("").await.unwrap()),
        ["snapshot/0001", "w", "wal/0001", "wal/0002", "wal/0010", "wal2"]
    );
    assert!(backend.list("nothing").await.unwrap().is_empty());
}

/// A multi-megabyte value written in chunks reads back whole and by range.
pub async fn large_values_round_trip<B: AsyncStorageBackend>(backend: &B) {
    let big = key("big");
    let chunk_bytes = 64 * 1024;
    let mut expected = Vec::new();
    for index in 0..40u32 {
        let chunk: Vec<u8> = (0..chunk_bytes).map(|i| (i as u32 ^ index.wrapping_mul(2_654_435_761)) as u8).collect();
        backend.append(&big, &chunk).await.unwrap();
        expected.extend_from_slice(&chunk);
    }
    backend.sync(&big).await.unwrap();
    assert_eq!(backend.len(&big).await.unwrap(), Some(expected.len() as u64));
    assert!(backend.read(&big).await.unwrap().unwrap() == expected, "whole read of a large value");
    let offset = chunk_bytes as u64 * 3 - 17;
    let range = backend.read_range(&big, offset, 200_000).await.unwrap();
    assert!(range == expected[offset as usize..offset as usize + 200_000], "range read of a large value");
    let blob = key("big-blob");
    backend.atomic_write(&blob, &expected).await.unwrap();
    assert!(backend.read(&blob).await.unwrap().unwrap() == expected, "large atomic_write");
}

/// Malformed keys never reach a backend: [`Key::new`] rejects them with [`PersistenceError::InvalidKey`].
pub fn bad_keys_are_rejected_with_a_typed_error() {
    for bad in ["", "UPPER", "with space", "/lead", "trail/", "a//b", ".hidden", "a/.tmp", "ü"] {
        assert!(matches!(Key::new(bad), Err(PersistenceError::InvalidKey { .. })), "key {bad:?} must be rejected");
    }
    assert!(Key::new("k".repeat(crate::KEY_BYTES_MAX + 1)).is_err());
}

/// Synced appends, atomic writes, truncations and deletes are there after a reopen.
pub async fn synced_data_persists_across_reopen<H: Harness>(harness: &mut H) {
    let backend = harness.fresh().await;
    let log = key("wal/0001");
    let blob = key("manifest");
    let doomed = key("doomed");
    backend.append(&log, b"first;").await.unwrap();
    backend.append(&log, b"second;").await.unwrap();
    backend.sync(&log).await.unwrap();
    backend.atomic_write(&blob, b"version 1").await.unwrap();
    backend.atomic_write(&blob, b"version 2").await.unwrap();
    backend.atomic_write(&doomed, b"x").await.unwrap();
    assert!(backend.delete(&doomed).await.unwrap());
    let cut = key("cut");
    backend.append(&cut, b"0123456789").await.unwrap();
    backend.truncate(&cut, 3).await.unwrap();
    backend.sync(&cut).await.unwrap();
    let Some(backend) = harness.reopen(backend).await else {
        return;
    };
    assert_eq!(backend.read(&log).await.unwrap().as_deref(), Some(&b"first;second;"[..]));
    assert_eq!(backend.read(&blob).await.unwrap().as_deref(), Some(&b"version 2"[..]));
    assert_eq!(backend.read(&doomed).await.unwrap(), None);
    assert_eq!(backend.read(&cut).await.unwrap().as_deref(), Some(&b"012"[..]));
    backend.append(&log, b"third;").await.unwrap();
    assert_eq!(backend.read(&log).await.unwrap().as_deref(), Some(&b"first;second;third;"[..]));
}
