//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A directory under cargo's per-target temp dir (a real disk, not tmpfs), removed on drop.
pub struct TempDirectory {
    path: PathBuf,
}

impl TempDirectory {
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let number = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wal-{label}-{}-{number}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// SplitMix64, for deterministic test data.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

/// The crash and fault tests' workload: a deterministic mix of appends, batches, transactions, checkpoints and syncs
/// over small segments, a model of what it issued and was told, and the check of a recovered log against it.
pub mod workload {
    use std::collections::BTreeMap;

    use storage_mem::SimulatedDisk;
    use wal::{Lsn, SyncPolicy, Wal, WalError, WalOptions};

    use super::SplitMix;

    #[derive(Clone, Debug)]
    pub enum Step {
        Append(Vec<u8>),
        Batch(Vec<Vec<u8>>),
        Transaction(Vec<Vec<u8>>),
        /// `checkpoint(applied)`.
        Checkpoint(u64),
        Sync,
    }

    /// What a run issued and what it was told.
    #[derive(Debug, Default)]
    pub struct Model {
        /// First LSN of every record issued (the last one maybe not written), with its operations.
        pub records: BTreeMap<u64, Vec<Vec<u8>>>,
        /// Every LSN up to this one was acknowledged (durable).
        pub acknowledged_lsn: u64,
        /// The highest LSN any call framed or may have framed.
        pub issued_lsn: u64,
        /// The highest `applied` passed to `checkpoint` (operations up to it may be gone).
        pub checkpoint_applied: u64,
        /// The error that stopped the run.
        pub first_error: Option<WalError>,
    }

    pub fn options(policy: SyncPolicy) -> WalOptions {
        WalOptions { segment_bytes_max: 300, sync_policy: policy, salt_seed: Some(99), ..WalOptions::default() }
    }

    pub fn payload(random: &mut SplitMix, tag: usize) -> Vec<u8> {
        let mut bytes = format!("op{tag}:").into_bytes();
        let filler = random.below(70) as usize;
        bytes.extend((0..filler).map(|index| (tag + index) as u8));
        bytes
    }

    /// A deterministic mix of every kind of step; LSNs reach about 40, with rotations every few records.
    pub fn workload(policy: SyncPolicy) -> Vec<Step> {
        let mut random = SplitMix(7);
        let mut steps = Vec::new();
        let mut tag = 0;
        let mut lsn = 0u64;
        for index in 0..26 {
            let step = match random.below(10) {
                0..=4 => {
                    tag += 1;
                    lsn += 1;
                    Step::Append(payload(&mut random, tag))
                }
                5 | 6 => {
                    let count = 2 + random.below(3) as usize;
                    lsn += count as u64;
                    Step::Batch(
                        (0..count)
                            .map(|_| {
                                tag += 1;
                                payload(&mut random, tag)
                            })
                            .collect(),
                    )
                }
                7 => {
                    let count = 1 + random.below(3) as usize;
                    lsn += count as u64;
                    Step::Transaction(
                        (0..count)
                            .map(|_| {
                                tag += 1;
                                payload(&mut random, tag)
                            })
                            .collect(),
                    )
                }
                _ => Step::Checkpoint(lsn.saturating_sub(8)),
            };
            steps.push(step);
            if policy == SyncPolicy::Manual && index % 3 == 2 {
                steps.push(Step::Sync);
            }
        }
        steps.push(Step::Sync);
        steps
    }

    /// Runs `steps` until the first error, then drops the log (which closes it when it can: those I/O points are
    /// part of the workload); returns what was issued and acknowledged.
    pub fn run(disk: &SimulatedDisk, policy: SyncPolicy, steps: &[Step]) -> Model {
        let mut model = Model::default();
        let wal = match Wal::open(disk.clone(), options(policy)) {
            Ok(wal) => wal,
            Err(error) => {
                model.first_error = Some(error);
                return model;
            }
        };
        let every_commit = policy == SyncPolicy::EveryCommit;
        let mut next_lsn = 1u64;
        for step in steps {
            let result = match step {
                Step::Append(bytes) => {
                    model.records.insert(next_lsn, vec![bytes.clone()]);
                    model.issued_lsn = next_lsn;
                    next_lsn += 1;
                    wal.append(bytes).map(|lsn| lsn.get())
                }
                Step::Batch(operations) | Step::Transaction(operations) => {
                    model.records.insert(next_lsn, operations.clone());
                    next_lsn += operations.len() as u64;
                    model.issued_lsn = next_lsn - 1;
                    let borrowed: Vec<&[u8]> = operations.iter().map(Vec::as_slice).collect();
                    if matches!(step, Step::Batch(_)) {
                        wal.append_batch(&borrowed).map(|range| range.last.get())
                    } else {
                        let mut transaction = wal.transaction();
                        for operation in &borrowed {
                            transaction.stage(operation).unwrap();
                        }
                        transaction.commit().map(|range| range.last.get())
                    }
                }
                Step::Checkpoint(applied) => {
                    model.checkpoint_applied = model.checkpoint_applied.max(*applied);
                    wal.checkpoint(Lsn(*applied)).map(|_| 0)
                }
                Step::Sync => wal.sync().map(|lsn| lsn.get()),
            };
            match result {
                Ok(last) => {
                    let acknowledged = match step {
                        Step::Sync => true,
                        Step::Checkpoint(_) => false,
                        _ => every_commit,
                    };
                    if acknowledged {
                        assert_eq!(last, next_lsn - 1, "the call reports the LSNs the model predicts");
                        model.acknowledged_lsn = last;
                    }
                }
                Err(error) => {
                    model.first_error = Some(error);
                    break;
                }
            }
        }
        model
    }

    /// Opens the crashed disk and checks the recovered log against the model; returns the recovered operations.
    pub fn verify(disk: &SimulatedDisk, model: &Model, context: &str) -> BTreeMap<u64, Vec<u8>> {
        let wal = Wal::open(disk.clone(), options(SyncPolicy::EveryCommit))
            .unwrap_or_else(|error| panic!("{context}: open failed: {error}"));
        let mut recovered = BTreeMap::new();
        let mut expected_next: Option<u64> = None;
        for entry in wal.replay(Lsn(1)).unwrap() {
            let entry = entry.unwrap_or_else(|error| panic!("{context}: replay failed: {error}"));
            let first = entry.lsn().get();
            if let Some(expected) = expected_next {
                assert_eq!(first, expected, "{context}: a gap in the recovered LSNs");
            }
            let issued =
                model.records.get(&first).unwrap_or_else(|| panic!("{context}: entry {first} was never issued"));
            let operations: Vec<Vec<u8>> = entry.operations().map(|(_, bytes)| bytes.to_vec()).collect();
            assert_eq!(&operations, issued, "{context}: entry {first} differs from what was issued (or is split)");
            for (lsn, bytes) in entry.operations() {
                recovered.insert(lsn.get(), bytes.to_vec());
            }
            expected_next = Some(entry.lsn_range().last.get() + 1);
        }
        let last = recovered.keys().next_back().copied().unwrap_or(0);
        assert!(last <= model.issued_lsn, "{context}: recovered {last} past the issued {}", model.issued_lsn);
        for lsn in (model.checkpoint_applied + 1)..=model.acknowledged_lsn {
            assert!(recovered.contains_key(&lsn), "{context}: acknowledged LSN {lsn} lost (recovered up to {last})");
        }
        assert_eq!(wal.next_lsn().get(), last.max(wal.first_lsn().get() - 1) + 1, "{context}: next LSN");
        recovered
    }

    /// After recovery, a new durable append must survive another crash together with everything recovered.
    pub fn append_then_crash_again(
        disk: &SimulatedDisk,
        recovered: &BTreeMap<u64, Vec<u8>>,
        crash: impl Fn(&SimulatedDisk) -> SimulatedDisk,
        context: &str,
    ) {
        let wal = Wal::open(disk.clone(), options(SyncPolicy::EveryCommit)).unwrap();
        let lsn = wal.append(b"after the crash").unwrap_or_else(|error| panic!("{context}: append failed: {error}"));
        disk.halt_at(disk.operation_count());
        drop(wal);
        let again = crash(disk);
        let wal = Wal::open(again.clone(), options(SyncPolicy::EveryCommit))
            .unwrap_or_else(|error| panic!("{context}: second open failed: {error}"));
        let mut replayed = BTreeMap::new();
        for entry in wal.replay(Lsn(1)).unwrap() {
            for (operation_lsn, bytes) in entry.unwrap().operations() {
                replayed.insert(operation_lsn.get(), bytes.to_vec());
            }
        }
        let mut expected = recovered.clone();
        expected.insert(lsn.get(), b"after the crash".to_vec());
        assert_eq!(replayed, expected, "{context}: the second crash lost or changed records");
    }
}
