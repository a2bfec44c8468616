//! Property tests: random call sequences on both backends against a `BTreeMap` model of the live state, and, for the
//! simulated disk, of the durable state a power loss that loses everything un-synced must leave.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use storage_core::{Key, PersistenceError, StorageBackend};
use storage_mem::{MemoryBackend, SimulatedDisk};

const KEYS: [&str; 3] = ["a", "b/c", "wal/1"];

#[derive(Clone, Debug)]
enum Call {
    Append(usize, Vec<u8>),
    AtomicWrite(usize, Vec<u8>),
    Truncate(usize, u64),
    Delete(usize),
    Sync(usize),
    Read(usize),
    ReadRange(usize, u64, u64),
}

fn call() -> impl Strategy<Value = Call> {
    let key = 0..KEYS.len();
    let data = prop::collection::vec(any::<u8>(), 0..40);
    prop_oneof![
        3 => (key.clone(), data.clone()).prop_map(|(key, data)| Call::Append(key, data)),
        2 => (key.clone(), data).prop_map(|(key, data)| Call::AtomicWrite(key, data)),
        1 => (key.clone(), 0..50u64).prop_map(|(key, length)| Call::Truncate(key, length)),
        1 => key.clone().prop_map(Call::Delete),
        2 => key.clone().prop_map(Call::Sync),
        1 => key.clone().prop_map(Call::Read),
        1 => (key, 0..50u64, 0..50u64).prop_map(|(key, offset, length)| Call::ReadRange(key, offset, length)),
    ]
}

/// What the test knows about one key of the simulated disk beyond its live bytes: the bytes its file holds
/// durably, and whether its name is durable.
#[derive(Clone, Debug, Default)]
struct DurableEntry {
    name_durable: bool,
    bytes: Vec<u8>,
    /// How many leading bytes of `bytes` no un-synced call has cut off: a crash must keep exactly these.
    stable_bytes: usize,
}

/// The live state (for every backend) and the durable state (for the simulated disk) the calls should produce.
#[derive(Clone, Debug, Default)]
struct Model {
    live: BTreeMap<String, Vec<u8>>,
    durable: BTreeMap<String, DurableEntry>,
}

impl Model {
    /// A directory fsync: every name created so far becomes durable (whatever its file's bytes).
    fn sync_directory(&mut self) {
        for entry in self.durable.values_mut() {
            entry.name_durable = true;
        }
    }

    fn durable_entries(&self) -> impl Iterator<Item = (&String, &DurableEntry)> {
        self.durable.iter().filter(|(_, entry)| entry.name_durable)
    }

    fn durable_view(&self) -> BTreeMap<String, Vec<u8>> {
        self.durable
            .iter()
            .filter(|(_, entry)| entry.name_durable)
            .map(|(name, entry)| (name.clone(), entry.bytes.clone()))
            .collect()
    }

    /// Applies `call` to the model and checks the backend's answer to the same call.
    fn check(&mut self, backend: &impl StorageBackend, call: &Call) {
        let name = |index: &usize| KEYS[*index].to_owned();
        let key = |index: &usize| Key::new(KEYS[*index]).unwrap();
        match call {
            Call::Append(index, data) => {
                backend.append(&key(index), data).unwrap();
                let name = name(index);
                if !self.live.contains_key(&name) {
                    self.durable.insert(name.clone(), DurableEntry::default());
                }
                self.live.entry(name).or_default().extend_from_slice(data);
            }
            Call::AtomicWrite(index, data) => {
                backend.atomic_write(&key(index), data).unwrap();
                self.live.insert(name(index), data.clone());
                let entry = DurableEntry { name_durable: true, bytes: data.clone(), stable_bytes: data.len() };
                self.durable.insert(name(index), entry);
                self.sync_directory();
            }
            Call::Truncate(index, length) => {
                let result = backend.truncate(&key(index), *length);
                match self.live.get_mut(&name(index)) {
                    None => assert!(matches!(result, Err(PersistenceError::NotFound { .. })), "{result:?}"),
                    Some(value) if *length > value.len() as u64 => {
                        assert!(matches!(result, Err(PersistenceError::InvalidArgument { .. })), "{result:?}")
                    }
                    Some(value) => {
                        result.unwrap();
                        value.truncate(*length as usize);
                        let entry = self.durable.get_mut(&name(index)).unwrap();
                        entry.stable_bytes = entry.stable_bytes.min(*length as usize);
                    }
                }
            }
            Call::Delete(index) => {
                let existed = backend.delete(&key(index)).unwrap();
                assert_eq!(existed, self.live.remove(&name(index)).is_some());
                if existed {
                    self.durable.remove(&name(index));
                    self.sync_directory();
                }
            }
            Call::Sync(index) => {
                backend.sync(&key(index)).unwrap();
                if let Some(value) = self.live.get(&name(index)) {
                    let entry = self.durable.entry(name(index)).or_default();
                    entry.bytes = value.clone();
                    entry.stable_bytes = value.len();
                    if !entry.name_durable {
                        self.sync_directory();
                    }
                }
            }
            Call::Read(index) => {
                assert_eq!(backend.read(&key(index)).unwrap().as_ref(), self.live.get(&name(index)));
                assert_eq!(
                    backend.len(&key(index)).unwrap(),
                    self.live.get(&name(index)).map(|value| value.len() as u64)
                );
            }
            Call::ReadRange(index, offset, length) => {
                let result = backend.read_range(&key(index), *offset, *length);
                match self.live.get(&name(index)) {
                    None => assert!(matches!(result, Err(PersistenceError::NotFound { .. })), "{result:?}"),
                    Some(value) => {
                        let start = (*offset as usize).min(value.len());
                        let end = ((offset + length) as usize).min(value.len());
                        assert_eq!(result.unwrap(), &value[start..end]);
                    }
                }
            }
        }
    }
}

/// Every key and value the backend holds, through the trait.
fn contents(backend: &impl StorageBackend) -> BTreeMap<String, Vec<u8>> {
    backend
        .list("")
        .unwrap()
        .into_iter()
        .map(|key| {
            let value = backend.read(&key).unwrap().unwrap();
            (key.as_str().to_owned(), value)
        })
        .collect()
}

proptest! {
    // A fixed seed keeps the run deterministic; set `PROPTEST_RNG_SEED` to explore other sequences.
    #![proptest_config(ProptestConfig {
        cases: 96,
        rng_seed: RngSeed::Fixed(
            std::env::var("PROPTEST_RNG_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or(0x5EED_D15C),
        ),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn memory_backend_matches_a_map(calls in prop::collection::vec(call(), 0..24)) {
        let backend = MemoryBackend::new();
        let mut model = Model::default();
        for call in &calls {
            model.check(&backend, call);
        }
        prop_assert_eq!(contents(&backend), model.live);
    }

    #[test]
    fn simulated_disk_matches_a_map_and_keeps_exactly_what_was_made_durable(
        calls in prop::collection::vec(call(), 0..24),
        sector_bytes in prop::sample::select(vec![1u64, 8, 512]),
        seed in any::<u64>(),
    ) {
        let disk = SimulatedDisk::with_sector_bytes(sector_bytes);
        let mut model = Model::default();
        for call in &calls {
            model.check(&disk, call);
        }
        prop_assert_eq!(contents(&disk), model.live.clone());
        prop_assert_eq!(disk.live_image(), model.live.clone());
        prop_assert_eq!(disk.durable_image(), model.durable_view());
        let worst = disk.crash_losing_everything_unsynced();
        prop_assert_eq!(contents(&worst), model.durable_view());
        prop_assert_eq!(contents(&disk.crash_keeping_everything()), model.live.clone());
        prop_assert_eq!(contents(&disk.reopen()), model.live.clone());
        // A reopen syncs the directory (as the file-system backend's open does), and nothing else.
        let mut reopened = model.clone();
        reopened.sync_directory();
        prop_assert_eq!(contents(&disk.reopen().crash_losing_everything_unsynced()), reopened.durable_view());

        // Any seeded crash keeps every durable name, with the synced bytes no un-synced truncate cut off.
        let crashed = contents(&disk.crash(seed));
        for (name, entry) in model.durable_entries() {
            let value = crashed.get(name);
            prop_assert!(value.is_some(), "durable key {} lost", name);
            let value = value.unwrap();
            prop_assert!(value.len() >= entry.stable_bytes, "{}: {} bytes left", name, value.len());
            prop_assert_eq!(&value[..entry.stable_bytes], &entry.bytes[..entry.stable_bytes]);
        }
    }
}
