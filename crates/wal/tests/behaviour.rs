//! The behaviour suite (`wal::testing`) over every native backend: memory, simulated disk, file system.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use storage_fs::FileBackend;
use storage_mem::{MemoryBackend, SimulatedDisk};
use wal::testing::{self, Harness};

struct Memory;

impl Harness for Memory {
    type Backend = MemoryBackend;
    async fn fresh(&mut self) -> MemoryBackend {
        MemoryBackend::new()
    }
    async fn reopen(&mut self, backend: MemoryBackend) -> MemoryBackend {
        backend
    }
}

struct Disk;

impl Harness for Disk {
    type Backend = SimulatedDisk;
    async fn fresh(&mut self) -> SimulatedDisk {
        SimulatedDisk::new()
    }
    async fn reopen(&mut self, backend: SimulatedDisk) -> SimulatedDisk {
        backend.reopen()
    }
}

struct Files {
    directories: Vec<common::TempDirectory>,
}

impl Harness for Files {
    type Backend = FileBackend;
    async fn fresh(&mut self) -> FileBackend {
        let directory = common::TempDirectory::new("behaviour");
        let backend = FileBackend::open(directory.path()).unwrap();
        self.directories.push(directory);
        backend
    }
    async fn reopen(&mut self, backend: FileBackend) -> FileBackend {
        let path = backend.directory().to_path_buf();
        drop(backend);
        FileBackend::open(path).unwrap()
    }
}

/// One `#[test]` per case of `wal::testing`, with a fresh `$harness` each.
macro_rules! case_tests {
    ($harness:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let mut harness = $harness;
                storage_core::block_on(testing::$case(&mut harness));
            }
        )*

        #[test]
        fn every_case_of_the_suite_is_instantiated() {
            assert_eq!(vec![$(stringify!($case)),*], testing::CASES.to_vec());
        }
    };
}

/// The suite over one backend, in a module of its own.
macro_rules! behaviour_suite {
    ($module:ident, $harness:expr) => {
        mod $module {
            use super::*;

            case_tests!(
                $harness;
                appends_batches_and_transactions_replay_in_order_after_reopen,
                a_dropped_transaction_writes_nothing,
                records_at_the_size_limit_are_accepted_and_one_byte_more_is_rejected,
                segments_rotate_and_replay_crosses_them_from_any_lsn,
                checkpoint_deletes_whole_segments_and_the_log_reopens_above_one,
                append_after_a_torn_tail_keeps_every_acknowledged_record,
                an_unsealed_tail_is_rewritten_and_a_sealed_one_is_not,
                mid_log_corruption_is_a_typed_error,
                salvage_mode_keeps_the_valid_prefix_and_reports_the_rest,
                empty_batches_and_bad_options_are_rejected,
            );
        }
    };
}

behaviour_suite!(over_memory, Memory);
behaviour_suite!(over_the_simulated_disk, Disk);
behaviour_suite!(over_files, Files { directories: Vec::new() });

#[test]
fn the_whole_suite_runs_blocking_over_memory() {
    testing::run_all_blocking(&mut Memory);
}
