//! `IndexedDbBackend` in headless Chromium: the storage-core conformance suite, the chunk layout (appends are
//! real appends), a seeded model check, and the version-change and blocking behaviour. Run with
//! `cargo xtask browser-test`.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::cell::Cell;
use std::rc::Rc;

use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use js_sys::Array;
use storage_core::conformance::{self, Harness};
use storage_core::{AsyncStorageBackend, Key, PersistenceError};
use storage_idb::{CHUNK_BYTES_MAX, CHUNKS_STORE, IndexedDbBackend};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn key(text: &str) -> Key {
    Key::new(text).unwrap()
}

/// A new, empty database called `name` (deleting what an earlier run may have left).
async fn fresh(name: &str) -> IndexedDbBackend {
    IndexedDbBackend::delete_database(name).await.unwrap();
    IndexedDbBackend::open(name).await.unwrap()
}

/// Fresh stores are uniquely named databases; a reopen drops the handle and opens the same name again.
struct IndexedDbHarness {
    prefix: &'static str,
    opened: u32,
}

impl Harness for IndexedDbHarness {
    type Backend = IndexedDbBackend;

    async fn fresh(&mut self) -> IndexedDbBackend {
        self.opened += 1;
        fresh(&format!("{}-{}", self.prefix, self.opened)).await
    }

    async fn reopen(&mut self, backend: IndexedDbBackend) -> Option<IndexedDbBackend> {
        let name = backend.database_name().to_owned();
        drop(backend);
        Some(IndexedDbBackend::open(&name).await.unwrap())
    }
}

#[wasm_bindgen_test]
async fn the_storage_core_conformance_suite_passes_on_indexed_db() {
    conformance::run_all(&mut IndexedDbHarness { prefix: "conformance", opened: 0 }).await;
}

/// The `[key, offset]` keys of every chunk record in database `name`, read over a second, raw connection.
async fn chunk_keys(name: &str) -> Vec<(String, u64)> {
    let database = Database::open(name).await.unwrap();
    let transaction = database.transaction(CHUNKS_STORE).with_mode(TransactionMode::Readonly).build().unwrap();
    let store = transaction.object_store(CHUNKS_STORE).unwrap();
    let keys: Vec<JsValue> =
        store.get_all_keys::<JsValue>().primitive().unwrap().await.unwrap().map(Result::unwrap).collect();
    drop(store);
    drop(transaction);
    database.close();
    keys.into_iter()
        .map(|chunk_key| {
            let parts = Array::from(&chunk_key);
            (parts.get(0).as_string().unwrap(), parts.get(1).as_f64().unwrap() as u64)
        })
        .collect()
}

#[wasm_bindgen_test]
async fn every_append_is_a_new_chunk_record_and_older_records_stay_as_they_were() {
    let name = "layout-appends";
    let backend = fresh(name).await;
    let log = key("log");
    backend.append(&log, b"a").await.unwrap();
    backend.append(&log, b"bc").await.unwrap();
    backend.append(&log, b"").await.unwrap();
    backend.append(&log, b"def").await.unwrap();
    assert_eq!(backend.read(&log).await.unwrap().as_deref(), Some(&b"abcdef"[..]));
    assert_eq!(backend.chunk_count(&log).await.unwrap(), 3, "one record per non-empty append");
    let log = String::from("log");
    assert_eq!(chunk_keys(name).await, [(log.clone(), 0), (log.clone(), 1), (log.clone(), 3)]);

    let empty = key("empty");
    backend.append(&empty, b"").await.unwrap();
    assert_eq!(backend.len(&empty).await.unwrap(), Some(0));
    assert_eq!(backend.chunk_count(&empty).await.unwrap(), 0, "an empty value has no chunk");

    backend.atomic_write(&key("log"), b"xy").await.unwrap();
    assert_eq!(chunk_keys(name).await, [(log, 0)], "atomic_write leaves exactly the new value's chunks");
}

#[wasm_bindgen_test]
async fn an_append_at_the_chunk_limit_is_one_record_and_one_byte_more_is_two() {
    let backend = fresh("layout-limit").await;
    let big = key("big");
    let at_limit: Vec<u8> = (0..CHUNK_BYTES_MAX).map(|index| (index % 251) as u8).collect();
    backend.append(&big, &at_limit).await.unwrap();
    assert_eq!(backend.chunk_count(&big).await.unwrap(), 1);
    let over_limit: Vec<u8> = (0..=CHUNK_BYTES_MAX).map(|index| (index % 241) as u8).collect();
    backend.append(&big, &over_limit).await.unwrap();
    assert_eq!(backend.chunk_count(&big).await.unwrap(), 3, "a chunk-and-a-byte append makes two records");
    let mut expected = at_limit.clone();
    expected.extend_from_slice(&over_limit);
    assert!(backend.read(&big).await.unwrap().unwrap() == expected);
    // The second append was split at 2 * CHUNK_BYTES_MAX: read across that split and past the end.
    let boundary = CHUNK_BYTES_MAX as u64 * 2 - 5;
    let range = backend.read_range(&big, boundary, 10).await.unwrap();
    assert_eq!(range.len(), 6, "short at the end");
    assert!(range == expected[boundary as usize..], "a range across a split append");
    backend.truncate(&big, CHUNK_BYTES_MAX as u64 + 1).await.unwrap();
    assert_eq!(backend.chunk_count(&big).await.unwrap(), 2, "truncate drops whole chunks past the end");
    assert!(backend.read(&big).await.unwrap().unwrap() == expected[..CHUNK_BYTES_MAX + 1]);
}

/// xorshift64: a deterministic stream for the model check.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 { 0 } else { self.next() % bound }
    }
}

#[wasm_bindgen_test]
async fn seeded_appends_truncates_rewrites_and_reopens_match_a_model() {
    let name = "model";
    let mut backend = fresh(name).await;
    let keys = [key("wal/0001"), key("wal/0002"), key("manifest")];
    let mut model: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    for step in 0..120u32 {
        let which = random.below(keys.len() as u64) as usize;
        let (key, value) = (&keys[which], &mut model[which]);
        match random.below(10) {
            0..=4 => {
                let size = if random.below(20) == 0 { CHUNK_BYTES_MAX + 7 } else { random.below(300) as usize };
                let data: Vec<u8> = (0..size).map(|_| random.next() as u8).collect();
                backend.append(key, &data).await.unwrap();
                value.get_or_insert_with(Vec::new).extend_from_slice(&data);
            }
            5 => match value {
                Some(bytes) => {
                    let length = random.below(bytes.len() as u64 + 1);
                    backend.truncate(key, length).await.unwrap();
                    bytes.truncate(length as usize);
                }
                None => assert!(matches!(backend.truncate(key, 0).await, Err(PersistenceError::NotFound { .. }))),
            },
            6 => {
                let data: Vec<u8> = (0..random.below(500)).map(|_| random.next() as u8).collect();
                backend.atomic_write(key, &data).await.unwrap();
                *value = Some(data);
            }
            7 => {
                assert_eq!(backend.delete(key).await.unwrap(), value.is_some(), "step {step}: delete");
                *value = None;
            }
            8 => {
                backend.sync(key).await.unwrap();
                let reopened = IndexedDbBackend::open(name).await.unwrap();
                drop(std::mem::replace(&mut backend, reopened));
            }
            _ => {}
        }
        // Check the touched key whole and by a random range.
        let stored = backend.read(key).await.unwrap();
        assert!(stored == *value, "step {step}: read of {key}");
        if let Some(bytes) = value {
            let offset = random.below(bytes.len() as u64 + 10);
            let length = random.below(CHUNK_BYTES_MAX as u64 + 20);
            let start = (offset as usize).min(bytes.len());
            let end = (offset.saturating_add(length) as usize).min(bytes.len());
            let range = backend.read_range(key, offset, length).await.unwrap();
            assert!(range == bytes[start..end], "step {step}: read_range({offset}, {length}) of {key}");
        }
    }
    let listed: Vec<&Key> = keys.iter().zip(&model).filter(|(_, value)| value.is_some()).map(|(key, _)| key).collect();
    let mut expected: Vec<Key> = listed.into_iter().cloned().collect();
    expected.sort();
    assert_eq!(backend.list("").await.unwrap(), expected);
}

#[wasm_bindgen_test]
async fn deleting_the_database_elsewhere_closes_this_handle_with_a_typed_error() {
    let name = "closed-by-delete";
    let backend = fresh(name).await;
    let log = key("log");
    backend.append(&log, b"bytes").await.unwrap();
    // Our handle answers the version change by closing, so the deletion is not blocked.
    IndexedDbBackend::delete_database(name).await.unwrap();
    let error = backend.read(&log).await.unwrap_err();
    assert!(
        matches!(&error, PersistenceError::Backend { message, .. }
            if message.starts_with("InvalidStateError") && message.contains("deletes the database")),
        "{error}"
    );
    assert!(matches!(backend.append(&log, b"more").await, Err(PersistenceError::Backend { .. })));
    assert!(!backend.is_poisoned(), "a closed connection is not a failed write");
    drop(backend);
    let reopened = IndexedDbBackend::open(name).await.unwrap();
    assert_eq!(reopened.read(&log).await.unwrap(), None, "the database was deleted");
}

#[wasm_bindgen_test]
async fn an_upgrade_elsewhere_closes_this_handle_and_a_newer_database_is_refused() {
    let name = "newer-version";
    let backend = fresh(name).await;
    let blocked = Rc::new(Cell::new(false));
    let newer = Database::open(name)
        .with_version(7u32)
        .with_on_blocked({
            let blocked = Rc::clone(&blocked);
            move |_event| {
                blocked.set(true);
                Ok(())
            }
        })
        .await
        .unwrap();
    assert!(!blocked.get(), "our handle closed on the version change instead of blocking the upgrade");
    let error = backend.len(&key("k")).await.unwrap_err();
    assert!(
        matches!(&error, PersistenceError::Backend { message, .. } if message.contains("upgrades the database to version 7")),
        "{error}"
    );
    newer.close();
    drop(backend);
    let refused = IndexedDbBackend::open(name).await.unwrap_err();
    assert!(
        matches!(&refused, PersistenceError::Backend { message, .. } if message.starts_with("VersionError")),
        "{refused}"
    );
}

#[wasm_bindgen_test]
async fn deleting_a_database_another_connection_keeps_open_fails_with_locked() {
    let name = "locked-by-raw-connection";
    let backend = fresh(name).await;
    backend.atomic_write(&key("k"), b"v").await.unwrap();
    drop(backend);
    // A raw connection with no versionchange handler never closes by itself.
    let holder = Database::open(name).await.unwrap();
    let error = IndexedDbBackend::delete_database(name).await.unwrap_err();
    assert!(matches!(&error, PersistenceError::Locked { location } if location == name), "{error}");
    holder.close();
    // The deletion was queued; it runs once the holder closed, before this open.
    let reopened = IndexedDbBackend::open(name).await.unwrap();
    assert_eq!(reopened.read(&key("k")).await.unwrap(), None);
}

#[wasm_bindgen_test]
async fn a_database_without_our_object_stores_is_refused_as_corrupted() {
    let name = "foreign";
    IndexedDbBackend::delete_database(name).await.unwrap();
    Database::open(name).with_version(storage_idb::DATABASE_SCHEMA_VERSION).await.unwrap().close();
    let error = IndexedDbBackend::open(name).await.unwrap_err();
    assert!(
        matches!(&error, PersistenceError::Corrupted { reason, .. } if reason.contains("no object store")),
        "{error}"
    );
}

#[wasm_bindgen_test]
async fn dropping_the_handle_closes_its_connection() {
    let name = "dropped";
    let backend = fresh(name).await;
    backend.atomic_write(&key("k"), b"v").await.unwrap();
    drop(backend);
    let blocked = Rc::new(Cell::new(false));
    let upgraded = Database::open(name)
        .with_version(2u32)
        .with_on_blocked({
            let blocked = Rc::clone(&blocked);
            move |_event| {
                blocked.set(true);
                Ok(())
            }
        })
        .await
        .unwrap();
    assert!(!blocked.get(), "no connection of the dropped handle is left to block an upgrade");
    upgraded.close();
}
