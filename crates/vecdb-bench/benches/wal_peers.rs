//! Durable appends against a Rust peer and against the disk, on the same disk in the same run, interleaved.
//!
//! For 1, 2, 4, 8 and 16 writer threads, each append of a 64-byte record durable before it returns:
//! - `raw_append`: every writer does its own `pwrite` + `fdatasync` at the end of one shared, growing file (no
//!   group commit; each sync also commits the new file length);
//! - `raw_overwrite`: the same into a preallocated, already synced file (each sync writes data only): the disk's
//!   floor for independent syncs;
//! - `wal`: vecdb's `wal::Wal` on `FileBackend` under `SyncPolicy::EveryCommit` (concurrent appenders share one
//!   sync: group commit);
//! - `okaywal`: okaywal 0.3.1 (`begin_entry`, `write_chunk`, `commit`; it also groups syncs), default
//!   configuration, no recovery manager (`LogVoid`);
//! - `raw_group`: the floor of group commit for a closed loop of N writers, with no log at all: one thread
//!   `pwrite`s N records' worth (N x 96 bytes, what the WAL frames for N 64-byte payloads) at the end of a growing
//!   file and `fdatasync`s, then unparks the N - 1 other threads, which only acknowledge and park again; the next
//!   sync starts when all have. Counted as N appends per sync. Every group commit pays at least this: one sync of
//!   the group's bytes and a wake-up of each writer it releases.
//!
//! A cloud disk's sync latency drifts by several times within minutes, so the systems are not measured one after
//! the other (as criterion would) but in rounds: each round runs a short burst of each system (in a rotating
//! order), and the median burst rate counts. Latencies are per append, over every burst.
//!
//! ```text
//! cargo bench -p vecdb-bench --bench wal_peers [-- --quick]      # VECDB_BENCH_OUT=file.json writes the figures
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use okaywal::{LogVoid, WriteAheadLog};
use serde_json::{Value, json};
use storage_fs::FileBackend;
use wal::{Wal, WalOptions};

const WRITER_COUNTS: [usize; 5] = [1, 2, 4, 8, 16];
const RECORD: [u8; 64] = [0x5A; 64];
/// The preallocated file of `raw_overwrite` (offsets wrap around inside it).
const OVERWRITE_FILE_BYTES: u64 = 64 << 20;
const SYSTEMS: [&str; 5] = ["raw_append", "raw_overwrite", "wal", "okaywal", "raw_group"];
/// What the WAL writes for one `RECORD` (its 32-byte record header included): `raw_group`'s bytes per writer.
const FRAMED_RECORD_BYTES: usize = 96;

/// A fresh directory under cargo's per-target temp dir, removed on drop.
struct Directory(PathBuf);

impl Directory {
    fn new(label: &str) -> Self {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wal-peers-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Directory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The four systems, open for one writer count.
struct Systems {
    _directory: Directory,
    append_file: File,
    append_offset: AtomicU64,
    overwrite_file: File,
    overwrite_offset: AtomicU64,
    wal: Wal<FileBackend>,
    okaywal: WriteAheadLog,
    group_file: File,
    group_offset: AtomicU64,
}

impl Systems {
    fn open(writers: usize) -> Self {
        let directory = Directory::new(&writers.to_string());
        let append_file =
            OpenOptions::new().create(true).truncate(true).write(true).open(directory.0.join("append")).unwrap();
        let overwrite_file =
            OpenOptions::new().create(true).truncate(true).write(true).open(directory.0.join("overwrite")).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for chunk in 0..OVERWRITE_FILE_BYTES / zeros.len() as u64 {
            overwrite_file.write_all_at(&zeros, chunk * zeros.len() as u64).unwrap();
        }
        overwrite_file.sync_all().unwrap();
        File::open(&directory.0).unwrap().sync_all().unwrap();
        let wal = Wal::open(FileBackend::open(directory.0.join("wal")).unwrap(), WalOptions::default()).unwrap();
        let okaywal = WriteAheadLog::recover(directory.0.join("okaywal"), LogVoid).unwrap();
        let group_file =
            OpenOptions::new().create(true).truncate(true).write(true).open(directory.0.join("group")).unwrap();
        Self {
            _directory: directory,
            append_file,
            append_offset: AtomicU64::new(0),
            overwrite_file,
            overwrite_offset: AtomicU64::new(0),
            wal,
            okaywal,
            group_file,
            group_offset: AtomicU64::new(0),
        }
    }

    /// One durable append of `RECORD` to `system`.
    fn append(&self, system: &str) {
        match system {
            "raw_append" => {
                let at = self.append_offset.fetch_add(RECORD.len() as u64, Ordering::Relaxed);
                self.append_file.write_all_at(black_box(&RECORD), at).unwrap();
                self.append_file.sync_data().unwrap();
            }
            "raw_overwrite" => {
                let at = self.overwrite_offset.fetch_add(RECORD.len() as u64, Ordering::Relaxed) % OVERWRITE_FILE_BYTES;
                self.overwrite_file.write_all_at(black_box(&RECORD), at).unwrap();
                self.overwrite_file.sync_data().unwrap();
            }
            "wal" => {
                self.wal.append(black_box(&RECORD)).unwrap();
            }
            "okaywal" => {
                let mut entry = self.okaywal.begin_entry().unwrap();
                entry.write_chunk(black_box(&RECORD)).unwrap();
                entry.commit().unwrap();
            }
            other => panic!("unknown system {other}"),
        }
    }

    /// `writers` threads appending until `burst` has passed; returns appends per second and each append's
    /// latency in microseconds.
    fn burst(&self, system: &str, writers: usize, burst: Duration) -> (f64, Vec<u32>) {
        if system == "raw_group" {
            return self.group_burst(writers, burst);
        }
        let latencies = Mutex::new(Vec::new());
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..writers {
                scope.spawn(|| {
                    let mut own = Vec::new();
                    while started.elapsed() < burst {
                        let append_started = Instant::now();
                        self.append(system);
                        own.push(append_started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    }
                    latencies.lock().unwrap().extend(own);
                });
            }
        });
        let elapsed = started.elapsed().as_secs_f64();
        let latencies = latencies.into_inner().unwrap();
        (latencies.len() as f64 / elapsed, latencies)
    }
}

impl Systems {
    /// `raw_group` (see the module docs): appends per second, and each group's latency (sync plus the wake-ups)
    /// once per record it counted.
    fn group_burst(&self, writers: usize, burst: Duration) -> (f64, Vec<u32>) {
        let followers = writers - 1;
        let generation = AtomicU64::new(0);
        let acknowledged = AtomicU64::new(0);
        let stop = AtomicBool::new(false);
        let leader = std::thread::current();
        let group = vec![0x5A_u8; FRAMED_RECORD_BYTES * writers];
        let mut latencies = Vec::new();
        let mut records = 0u64;
        let started = Instant::now();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..followers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut seen = 0;
                        while !stop.load(Ordering::Acquire) {
                            let now = generation.load(Ordering::Acquire);
                            if now == seen {
                                std::thread::park();
                                continue;
                            }
                            seen = now;
                            if acknowledged.fetch_add(1, Ordering::AcqRel) + 1 == followers as u64 {
                                leader.unpark();
                            }
                        }
                    })
                })
                .collect();
            let threads: Vec<std::thread::Thread> = handles.iter().map(|handle| handle.thread().clone()).collect();
            while started.elapsed() < burst {
                let group_started = Instant::now();
                let at = self.group_offset.fetch_add(group.len() as u64, Ordering::Relaxed);
                self.group_file.write_all_at(black_box(&group), at).unwrap();
                self.group_file.sync_data().unwrap();
                acknowledged.store(0, Ordering::Release);
                generation.fetch_add(1, Ordering::AcqRel);
                for thread in &threads {
                    thread.unpark();
                }
                while acknowledged.load(Ordering::Acquire) < followers as u64 {
                    std::thread::park();
                }
                let latency_us = group_started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                latencies.extend(std::iter::repeat_n(latency_us, writers));
                records += writers as u64;
            }
            stop.store(true, Ordering::Release);
            for thread in &threads {
                thread.unpark();
            }
        });
        (records as f64 / started.elapsed().as_secs_f64(), latencies)
    }
}

fn percentile(sorted: &[u32], fraction: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|argument| argument == "--quick");
    let (rounds, burst) = if quick { (5, Duration::from_millis(300)) } else { (11, Duration::from_millis(500)) };
    println!("wal_peers: {rounds} rounds of {} ms bursts per system and writer count", burst.as_millis());
    println!(
        "{:>7} {:>14} {:>12} {:>12} {:>12} {:>9} {:>9}",
        "writers", "system", "median/s", "min/s", "max/s", "p50 us", "p99 us"
    );
    let mut points = Vec::new();
    for writers in WRITER_COUNTS {
        let systems = Systems::open(writers);
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); SYSTEMS.len()];
        let mut latencies: Vec<Vec<u32>> = vec![Vec::new(); SYSTEMS.len()];
        // One untimed warm-up burst each (files created, caches and okaywal's segments in place).
        for system in SYSTEMS {
            systems.burst(system, writers, burst / 3);
        }
        for round in 0..rounds {
            for offset in 0..SYSTEMS.len() {
                let index = (round + offset) % SYSTEMS.len();
                let (rate, mut measured) = systems.burst(SYSTEMS[index], writers, burst);
                rates[index].push(rate);
                latencies[index].append(&mut measured);
            }
        }
        for (index, system) in SYSTEMS.iter().enumerate() {
            let median_rate = median(&mut rates[index]);
            latencies[index].sort_unstable();
            let (p50, p99) = (percentile(&latencies[index], 0.5), percentile(&latencies[index], 0.99));
            let (minimum, maximum) = (rates[index][0], rates[index][rates[index].len() - 1]);
            println!("{writers:>7} {system:>14} {median_rate:>12.0} {minimum:>12.0} {maximum:>12.0} {p50:>9} {p99:>9}");
            points.push(json!({
                "system": system,
                "writers": writers,
                "appends_per_second": median_rate,
                "appends_per_second_min": minimum,
                "appends_per_second_max": maximum,
                "latency_p50_us": p50,
                "latency_p99_us": p99,
                "appends": latencies[index].len(),
            }));
        }
        systems.okaywal.shutdown().unwrap();
    }
    let figures: Value = json!({
        "record_bytes": RECORD.len(),
        "rounds": rounds,
        "burst_ms": burst.as_millis() as u64,
        "points": points,
    });
    if let Ok(path) = std::env::var("VECDB_BENCH_OUT") {
        std::fs::write(&path, serde_json::to_string_pretty(&figures).unwrap()).unwrap();
        println!("wal_peers: wrote {path}");
    }
}
