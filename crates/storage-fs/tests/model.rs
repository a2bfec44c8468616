//! Random operation sequences against a `BTreeMap` model of the store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeMap;

use common::{TestDirectory, key};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use storage_core::{PersistenceError, StorageBackend};
use storage_fs::{FileBackend, FileOptions};

/// Few keys, so operations collide; one with a separator, two sharing a prefix.
const KEYS: &[&str] = &["log", "log2", "wal/0001", "manifest"];

#[derive(Clone, Debug)]
enum Step {
    Append(usize, Vec<u8>),
    AtomicWrite(usize, Vec<u8>),
    /// Truncate to this fraction (in 1/8) of the current length, or past the end when 9.
    Truncate(usize, u8),
    Delete(usize),
    Sync(usize),
    Read(usize),
    ReadRange(usize, u64, u64),
    List(&'static str),
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    let key_index = 0..KEYS.len();
    let bytes = proptest::collection::vec(any::<u8>(), 0..48);
    prop_oneof![
        4 => (key_index.clone(), bytes.clone()).prop_map(|(key, data)| Step::Append(key, data)),
        2 => (key_index.clone(), bytes).prop_map(|(key, data)| Step::AtomicWrite(key, data)),
        2 => (key_index.clone(), 0..=9u8).prop_map(|(key, eighths)| Step::Truncate(key, eighths)),
        1 => key_index.clone().prop_map(Step::Delete),
        2 => key_index.clone().prop_map(Step::Sync),
        2 => key_index.clone().prop_map(Step::Read),
        2 => (key_index, 0..64u64, 0..64u64).prop_map(|(key, offset, length)| Step::ReadRange(key, offset, length)),
        1 => prop_oneof![Just(""), Just("log"), Just("wal/"), Just("m")].prop_map(Step::List),
        1 => Just(Step::Reopen),
    ]
}

fn open(directory: &TestDirectory) -> FileBackend {
    // Two open files at most, so closing and reopening files is exercised too.
    FileBackend::open_with(directory.path(), FileOptions::default().with_open_files_max(2)).unwrap()
}

fn run(steps: &[Step]) {
    let directory = TestDirectory::new("model");
    let mut backend = open(&directory);
    let mut model: BTreeMap<&'static str, Vec<u8>> = BTreeMap::new();
    for (index, step) in steps.iter().enumerate() {
        let context = format!("step {index}: {step:?}");
        match *step {
            Step::Append(k, ref data) => {
                backend.append(&key(KEYS[k]), data).unwrap();
                model.entry(KEYS[k]).or_default().extend_from_slice(data);
            }
            Step::AtomicWrite(k, ref data) => {
                backend.atomic_write(&key(KEYS[k]), data).unwrap();
                model.insert(KEYS[k], data.clone());
            }
            Step::Truncate(k, eighths) => {
                let current = model.get(KEYS[k]).map_or(0, |value| value.len() as u64);
                let target = if eighths == 9 { current + 1 } else { current * u64::from(eighths) / 8 };
                let result = backend.truncate(&key(KEYS[k]), target);
                match model.get_mut(KEYS[k]) {
                    None => assert!(matches!(result, Err(PersistenceError::NotFound { .. })), "{context}"),
                    Some(_) if target > current => {
                        assert!(matches!(result, Err(PersistenceError::InvalidArgument { .. })), "{context}");
                    }
                    Some(value) => {
                        result.unwrap();
                        value.truncate(target as usize);
                    }
                }
            }
            Step::Delete(k) => {
                assert_eq!(backend.delete(&key(KEYS[k])).unwrap(), model.remove(KEYS[k]).is_some(), "{context}");
            }
            Step::Sync(k) => backend.sync(&key(KEYS[k])).unwrap(),
            Step::Read(k) => {
                assert_eq!(backend.read(&key(KEYS[k])).unwrap().as_ref(), model.get(KEYS[k]), "{context}");
                assert_eq!(
                    backend.len(&key(KEYS[k])).unwrap(),
                    model.get(KEYS[k]).map(|value| value.len() as u64),
                    "{context}"
                );
            }
            Step::ReadRange(k, offset, length) => {
                let result = backend.read_range(&key(KEYS[k]), offset, length);
                match model.get(KEYS[k]) {
                    None => assert!(matches!(result, Err(PersistenceError::NotFound { .. })), "{context}"),
                    Some(value) => {
                        let start = (offset as usize).min(value.len());
                        let end = (offset + length).min(value.len() as u64) as usize;
                        assert_eq!(result.unwrap(), value[start..end.max(start)], "{context}");
                    }
                }
            }
            Step::List(prefix) => {
                let listed: Vec<String> =
                    backend.list(prefix).unwrap().iter().map(|listed| listed.as_str().to_owned()).collect();
                let expected: Vec<String> =
                    model.keys().filter(|name| name.starts_with(prefix)).map(|name| (*name).to_owned()).collect();
                assert_eq!(listed, expected, "{context}");
            }
            Step::Reopen => {
                // A reopen in the same process keeps the page cache, so even un-synced appends are there.
                drop(backend);
                backend = open(&directory);
            }
        }
    }
    for (name, value) in &model {
        assert_eq!(backend.read(&key(name)).unwrap().as_ref(), Some(value), "final value of {name}");
    }
}

proptest! {
    #![proptest_config(Config { cases: 48, rng_seed: RngSeed::Fixed(0x0005_7012_A6E0_0F5E), ..Config::default() })]

    #[test]
    fn random_operation_sequences_match_a_btreemap_model(steps in proptest::collection::vec(step(), 1..40)) {
        run(&steps);
    }
}
