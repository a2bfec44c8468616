//! Process crashes: a real writer process is killed with SIGKILL again and again, and nothing it acknowledged
//! (synced, then printed) may be lost.
//!
//! A process kill keeps the page cache, so this checks the backend's own logic (write before acknowledge, no lost
//! or reordered appends, torn-tail handling through `truncate` + `sync`, the lock released by death), not power
//! loss: that needs a crash-simulating backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{SplitMix64, TestDirectory, key};
use storage_core::StorageBackend;
use storage_fs::FileBackend;

/// Set in the writer child: the store directory it writes to.
const WRITER_DIRECTORY: &str = "STORAGE_FS_CRASH_WRITER_DIRECTORY";
const TEST_NAME: &str = "sigkill_never_loses_a_synced_record";

const KILLS: usize = 200;
const KILL_DELAY_US_MAX: u64 = 15_000;
const SEED: u64 = 0x5EED_C0FF_EE00_0001;
/// A writer stops by itself after this many records, so a child whose parent died cannot run forever.
const WRITER_RECORDS_MAX: u64 = 20_000;

const HEADER_BYTES: usize = 8 + 4;
const CHECKSUM_BYTES: usize = 4;
const PAYLOAD_BYTES_MAX: u64 = 2_000;
const RECORD_BYTES_MAX: usize = HEADER_BYTES + PAYLOAD_BYTES_MAX as usize + CHECKSUM_BYTES;

/// Record `sequence`: sequence (u64 LE), payload length (u32 LE, 1 to 2000, derived from the sequence), the
/// payload (pseudo-random bytes derived from the sequence), crc32 of all that (u32 LE).
fn record(sequence: u64) -> Vec<u8> {
    let mut random = SplitMix64(sequence ^ 0xA5A5_A5A5_A5A5_A5A5);
    let payload_bytes = 1 + random.below(PAYLOAD_BYTES_MAX);
    let mut bytes = Vec::with_capacity(RECORD_BYTES_MAX);
    bytes.extend_from_slice(&sequence.to_le_bytes());
    bytes.extend_from_slice(&u32::try_from(payload_bytes).unwrap().to_le_bytes());
    bytes.extend((0..payload_bytes).map(|_| random.next_u64() as u8));
    let checksum = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

/// How many records from the start of `log` have a valid frame (sequence = index, a length in range, a matching
/// crc32), and where the last of them ends. What the writer trusts when it restarts; the parent checks more.
fn scan(log: &[u8]) -> (u64, usize) {
    let mut count = 0;
    let mut offset = 0;
    loop {
        let Some(header) = log.get(offset..offset + HEADER_BYTES) else { return (count, offset) };
        let sequence = u64::from_le_bytes(header[..8].try_into().unwrap());
        let payload_bytes = u64::from(u32::from_le_bytes(header[8..].try_into().unwrap()));
        if sequence != count || !(1..=PAYLOAD_BYTES_MAX).contains(&payload_bytes) {
            return (count, offset);
        }
        let end = offset + HEADER_BYTES + payload_bytes as usize;
        let (Some(framed), Some(checksum)) = (log.get(offset..end), log.get(end..end + CHECKSUM_BYTES)) else {
            return (count, offset);
        };
        if crc32fast::hash(framed).to_le_bytes() != checksum {
            return (count, offset);
        }
        count += 1;
        offset = end + CHECKSUM_BYTES;
    }
}

/// Every record the writers can have written, in order, built once (regenerating them per check is slow in debug).
struct ExpectedLog {
    bytes: Vec<u8>,
    /// Where record `index` ends.
    record_ends: Vec<usize>,
}

impl ExpectedLog {
    /// How many records at the start of `log` are exactly the expected ones (payloads included).
    fn intact_records(&mut self, log: &[u8]) -> u64 {
        while self.bytes.len() < log.len() {
            self.bytes.extend_from_slice(&record(self.record_ends.len() as u64));
            self.record_ends.push(self.bytes.len());
        }
        let intact = |records: usize| {
            records == 0
                || log.get(..self.record_ends[records - 1]) == Some(&self.bytes[..self.record_ends[records - 1]])
        };
        // The records that fit in `log`; usually all are intact, else binary search for the last intact one.
        let mut high = self.record_ends.partition_point(|&end| end <= log.len());
        if intact(high) {
            return high as u64;
        }
        let mut low = 0; // intact(low) holds, intact(high) does not
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if intact(middle) { low = middle } else { high = middle }
        }
        low as u64
    }
}

/// The child: recover the log (drop a torn tail durably), then append + sync + acknowledge until killed.
fn run_writer(directory: &str) {
    let log = key("log");
    let backend = FileBackend::open(directory).unwrap();
    let existing = backend.read(&log).unwrap().unwrap_or_default();
    let (count, valid_end) = scan(&existing);
    if valid_end < existing.len() {
        backend.truncate(&log, valid_end as u64).unwrap();
    }
    backend.sync(&log).unwrap();
    let mut stdout = std::io::stdout().lock();
    // Leading newline: libtest may have printed "test ... " without one.
    writeln!(stdout, "\nready {count}").unwrap();
    stdout.flush().unwrap();
    for sequence in count..count + WRITER_RECORDS_MAX {
        backend.append(&log, &record(sequence)).unwrap();
        backend.sync(&log).unwrap();
        writeln!(stdout, "ack {sequence}").unwrap();
        stdout.flush().unwrap();
    }
}

#[test]
fn sigkill_never_loses_a_synced_record() {
    if let Ok(directory) = std::env::var(WRITER_DIRECTORY) {
        run_writer(&directory);
        return;
    }
    let directory = TestDirectory::new("sigkill");
    let log = key("log");
    let mut random = SplitMix64(SEED);
    let mut acknowledged_total = 0_u64;
    let mut acknowledged_next = 0_u64; // every sequence below this was acknowledged by some writer
    let mut torn_tails_seen = 0;
    let mut kills_during_startup = 0;
    let mut expected = ExpectedLog { bytes: Vec::new(), record_ends: Vec::new() };
    for run in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(WRITER_DIRECTORY, directory.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_sender, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_sender.send(line).is_err() {
                    break;
                }
            }
        });
        // Every fourth run is killed while it may still be starting or recovering; the rest once they write.
        let during_startup = run % 4 == 0;
        let mut received = Vec::new();
        if during_startup {
            kills_during_startup += 1;
        } else {
            loop {
                match lines.recv_timeout(Duration::from_secs(30)) {
                    Ok(line) if line.starts_with("ready ") => break,
                    Ok(line) => received.push(line),
                    Err(error) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!("run {run}: the writer never became ready ({error})");
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_micros(random.below(KILL_DELAY_US_MAX)));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        reader.join().unwrap();
        received.extend(lines.try_iter());
        assert_eq!(status.signal(), Some(9), "run {run}: the writer must die by SIGKILL, not on its own: {status}");

        // The child is dead (waited for), so its lock is gone: open and check.
        let acknowledged: Vec<u64> = received
            .iter()
            .filter_map(|line| line.strip_prefix("ack "))
            .map(|number| number.parse().unwrap())
            .collect();
        let backend = FileBackend::open(directory.path()).unwrap();
        let bytes = backend.read(&log).unwrap().unwrap_or_default();
        let (count, valid_end) = scan(&bytes);
        assert_eq!(expected.intact_records(&bytes), count, "run {run}: a record with a valid frame has wrong bytes");
        assert!(
            bytes.len() - valid_end < RECORD_BYTES_MAX,
            "run {run}: {} bytes after the last valid record: more than one torn record",
            bytes.len() - valid_end
        );
        if valid_end < bytes.len() {
            torn_tails_seen += 1;
        }
        for (index, &sequence) in acknowledged.iter().enumerate() {
            if index > 0 {
                assert_eq!(sequence, acknowledged[index - 1] + 1, "run {run}: acknowledgements are in order");
            }
            assert!(sequence < count, "run {run}: acknowledged record {sequence} lost; {count} records are intact");
        }
        if let Some(&last) = acknowledged.last() {
            acknowledged_next = acknowledged_next.max(last + 1);
        }
        assert!(count >= acknowledged_next, "run {run}: an earlier acknowledged record is gone ({count} intact)");
        acknowledged_total += acknowledged.len() as u64;
        drop(backend);
    }
    eprintln!(
        "{KILLS} kills ({kills_during_startup} during startup), {acknowledged_total} acknowledged records, \
         {acknowledged_next} records in the log, {torn_tails_seen} torn tails seen"
    );
    assert!(acknowledged_total > 0, "the writers must get records acknowledged for the test to mean anything");
}
