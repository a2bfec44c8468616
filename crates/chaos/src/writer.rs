//! The writer process (`chaos writer`) and the parent's side of its protocol.
//!
//! The writer opens `snapshot::Durable<VectorState>` on a [`FileBackend`] (recovering whatever a kill or power cut
//! left), prints `ready <lsn> <state digest>`, then issues the vector workload's units from there (operation `lsn`
//! and the unit boundaries are functions of the seed, see [`crate::vector_model`]) and prints `ack <lsn>` after
//! each one returns, flushing every line: an acknowledged unit is durable before its line exists. Checkpoints run
//! by themselves every [`WriterOptions::checkpoint_operations`] operations.
//!
//! The parent ([`AckChecker`]) reads every line, including those still in the pipe after the kill, and checks
//! each recovered LSN and state against the model: at least every acknowledged LSN, at most one unit more, on a
//! unit boundary, and the state (or its digest) equal to the model's.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use snapshot::testing::VectorState;
use snapshot::{CheckpointPolicy, Durable, DurableOptions, Snapshot};
use storage_fs::FileBackend;

use crate::checker::{Journal, PrefixViolation};
use crate::error::ChaosError;
use crate::vector_model::{self, DIMENSION, UnitChain, VectorModel};
use crate::workloads::durable::{durable_options, recover_vector_state};

/// The exit code of a writer whose recovery failed or whose state digest did not verify.
pub const EXIT_RECOVERY_FAILED: u8 = 3;

/// The most lines of standard error kept from one writer.
const STDERR_BYTES_MAX: u64 = 16 * 1024;

/// How long the parent waits for a killed writer's pipes to close.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What the writer does, passed on its command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// The store's directory.
    pub directory: PathBuf,
    /// The workload's seed.
    pub seed: u64,
    /// The writer stops (closing the store cleanly) once the store holds this many operations.
    pub operations_max: u64,
    /// The log's segment size.
    pub segment_bytes_max: u64,
    /// An automatic checkpoint after this many operations.
    pub checkpoint_operations: u64,
}

impl WriterOptions {
    /// Options for a store in `directory` with the campaign's defaults.
    pub fn new(directory: PathBuf, seed: u64) -> Self {
        Self { directory, seed, operations_max: 1 << 40, segment_bytes_max: 2048, checkpoint_operations: 40 }
    }

    /// The store's options, the same in the writer and in the parent's checker.
    pub fn durable_options(&self) -> DurableOptions {
        let mut options = durable_options(self.seed, self.segment_bytes_max);
        options.checkpoint = CheckpointPolicy { operations_max: Some(self.checkpoint_operations), log_bytes_max: None };
        options
    }

    /// The arguments of `chaos writer`.
    pub fn to_arguments(&self) -> Vec<String> {
        vec![
            "writer".to_owned(),
            "--directory".to_owned(),
            self.directory.display().to_string(),
            "--seed".to_owned(),
            self.seed.to_string(),
            "--operations-max".to_owned(),
            self.operations_max.to_string(),
            "--segment-bytes".to_owned(),
            self.segment_bytes_max.to_string(),
            "--checkpoint-operations".to_owned(),
            self.checkpoint_operations.to_string(),
        ]
    }

    /// Parses the arguments after `writer`.
    pub fn from_arguments(arguments: &[String]) -> Result<Self, ChaosError> {
        let mut options = Self::new(PathBuf::new(), 0);
        let mut iterator = arguments.iter();
        while let Some(flag) = iterator.next() {
            let value = iterator.next().ok_or_else(|| ChaosError::Usage { reason: format!("{flag} needs a value") })?;
            let number = || value.parse::<u64>().map_err(|_| ChaosError::Usage { reason: format!("{flag} {value}") });
            match flag.as_str() {
                "--directory" => options.directory = PathBuf::from(value),
                "--seed" => options.seed = number()?,
                "--operations-max" => options.operations_max = number()?,
                "--segment-bytes" => options.segment_bytes_max = number()?,
                "--checkpoint-operations" => options.checkpoint_operations = number()?,
                other => return Err(ChaosError::Usage { reason: format!("unknown writer flag {other}") }),
            }
        }
        if options.directory.as_os_str().is_empty() {
            return Err(ChaosError::Usage { reason: "writer needs --directory".to_owned() });
        }
        Ok(options)
    }
}

/// The writer's main loop (the `chaos writer` subcommand), printing the protocol to `out`.
pub fn run_writer(options: &WriterOptions, out: &mut impl Write) -> Result<(), ChaosError> {
    let stdout_error = |source| ChaosError::io("writing to standard output", source);
    let backend = FileBackend::open(&options.directory)?;
    let durable = Durable::open(backend, || VectorState::new(DIMENSION), options.durable_options())?;
    let mut lsn = durable.applied_lsn();
    let digest = durable.read().digest();
    if durable.recovery_report().state_digest != digest {
        return Err(ChaosError::Writer {
            reason: format!(
                "recovery reported digest {} for a state whose digest is {digest}",
                durable.recovery_report().state_digest
            ),
        });
    }
    writeln!(out, "ready {lsn} {digest}").and_then(|()| out.flush()).map_err(stdout_error)?;
    while lsn < options.operations_max {
        let count = vector_model::unit_length_at(options.seed, lsn + 1);
        if count == 1 {
            durable.execute(vector_model::operation_at(options.seed, lsn + 1))?;
        } else {
            durable.execute_batch(vector_model::operations(options.seed, lsn + 1, count))?;
        }
        lsn += count;
        writeln!(out, "ack {lsn}").and_then(|()| out.flush()).map_err(stdout_error)?;
    }
    durable.close()?;
    writeln!(out, "done {lsn}").and_then(|()| out.flush()).map_err(stdout_error)
}

/// One line of the writer's protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriterLine {
    /// Recovery finished with `lsn` operations and this state digest.
    Ready {
        /// Operations recovered.
        lsn: u64,
        /// The recovered state's digest, as printed.
        digest: String,
    },
    /// Every operation up to `lsn` is durable.
    Ack {
        /// The last acknowledged operation.
        lsn: u64,
    },
    /// The writer reached its operation limit and closed the store.
    Done {
        /// The last operation.
        lsn: u64,
    },
}

impl WriterLine {
    /// Parses one line.
    pub fn parse(line: &str) -> Result<Self, ChaosError> {
        let bad = || ChaosError::Writer { reason: format!("unexpected line {line:?}") };
        let mut words = line.split_whitespace();
        let kind = words.next().ok_or_else(bad)?;
        let lsn = words.next().and_then(|word| word.parse::<u64>().ok()).ok_or_else(bad)?;
        match kind {
            "ready" => Ok(Self::Ready { lsn, digest: words.next().ok_or_else(bad)?.to_owned() }),
            "ack" => Ok(Self::Ack { lsn }),
            "done" => Ok(Self::Done { lsn }),
            _ => Err(bad()),
        }
    }
}

/// A running writer process with its output collected by two threads.
pub struct WriterProcess {
    child: Child,
    stdout: Option<JoinHandle<Vec<String>>>,
    stderr: Option<JoinHandle<String>>,
    started: Instant,
}

/// What a writer left: its lines, its standard error, how it ended and whether it ended before the kill.
#[derive(Debug)]
pub struct WriterOutcome {
    /// Every line it printed, in order.
    pub lines: Vec<String>,
    /// Its standard error (the start of it).
    pub stderr: String,
    /// Its exit status.
    pub status: ExitStatus,
    /// True when it had exited by itself before it was killed.
    pub exited_by_itself: bool,
}

impl WriterProcess {
    /// Starts `executable writer ...`.
    pub fn spawn(executable: &Path, options: &WriterOptions) -> Result<Self, ChaosError> {
        let mut child = Command::new(executable)
            .args(options.to_arguments())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| ChaosError::io(format!("starting the writer {}", executable.display()), source))?;
        let stdout = child.stdout.take().map(|pipe| {
            std::thread::spawn(move || BufReader::new(pipe).lines().map_while(Result::ok).collect::<Vec<String>>())
        });
        let stderr = child.stderr.take().map(|pipe| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.take(STDERR_BYTES_MAX).read_to_string(&mut text);
                text
            })
        });
        Ok(Self { child, stdout, stderr, started: Instant::now() })
    }

    /// Lets the writer run until `delay` after its start, or until it exits by itself. True when it is still running.
    pub fn run_for(&mut self, delay: Duration) -> Result<bool, ChaosError> {
        self.run_until(self.started + delay, || false)
    }

    /// Lets the writer run until `deadline`, until `stop` says so, or until it exits by itself. True when it is
    /// still running.
    pub fn run_until(&mut self, deadline: Instant, stop: impl Fn() -> bool) -> Result<bool, ChaosError> {
        loop {
            if self.child.try_wait().map_err(|source| ChaosError::io("waiting for the writer", source))?.is_some() {
                return Ok(false);
            }
            let now = Instant::now();
            if now >= deadline || stop() {
                return Ok(true);
            }
            std::thread::sleep((deadline - now).min(Duration::from_micros(500)));
        }
    }

    /// Kills the writer with SIGKILL (unless it already exited), waits for it and collects its output.
    pub fn kill(mut self) -> Result<WriterOutcome, ChaosError> {
        let exited_by_itself =
            self.child.try_wait().map_err(|source| ChaosError::io("waiting for the writer", source))?.is_some();
        if !exited_by_itself {
            // `Child::kill` sends SIGKILL on Unix.
            self.child.kill().map_err(|source| ChaosError::io("killing the writer", source))?;
        }
        let status = self.child.wait().map_err(|source| ChaosError::io("waiting for the writer", source))?;
        let lines = join_with_timeout(self.stdout.take())?.unwrap_or_default();
        let stderr = join_with_timeout(self.stderr.take())?.unwrap_or_default();
        Ok(WriterOutcome { lines, stderr, status, exited_by_itself })
    }
}

impl Drop for WriterProcess {
    fn drop(&mut self) {
        // Never leave a writer behind (an early return on an error).
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn join_with_timeout<T: Send + 'static>(handle: Option<JoinHandle<T>>) -> Result<Option<T>, ChaosError> {
    let Some(handle) = handle else { return Ok(None) };
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while !handle.is_finished() {
        if Instant::now() >= deadline {
            return Err(ChaosError::Writer { reason: "the killed writer's output never closed".to_owned() });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(handle.join().ok())
}

/// The parent's model of a writer's store across kills and power cuts.
#[derive(Clone, Debug)]
pub struct AckChecker {
    chain: UnitChain,
    model: VectorModel,
    /// Every operation up to here was acknowledged (or recovered, which makes it what the disk holds).
    acknowledged_lsn: u64,
}

impl AckChecker {
    /// A checker for the workload seeded with `seed`, before anything was written.
    pub fn new(seed: u64) -> Self {
        Self { chain: UnitChain::new(seed), model: VectorModel::new(seed), acknowledged_lsn: 0 }
    }

    /// The highest acknowledged LSN.
    pub fn acknowledged_lsn(&self) -> u64 {
        self.acknowledged_lsn
    }

    /// The journal the prefix checker needs: everything acknowledged as one unit, then the one unit a writer may
    /// have issued after it without acknowledging it.
    fn journal(&mut self) -> Journal {
        let units = self.chain.units_through(self.acknowledged_lsn);
        let next_boundary = self.chain.boundary(units + 1);
        let mut journal = Journal::new();
        journal.issue(self.acknowledged_lsn);
        journal.acknowledge_all();
        journal.issue(next_boundary - self.acknowledged_lsn);
        journal
    }

    /// Checks a recovered `lsn` whose state `differs` from the model's state at that LSN or not, and on success
    /// moves the acknowledged LSN up to it (a recovered state is what the disk holds from then on).
    fn check(&mut self, lsn: u64, differs: impl FnOnce(&VectorState) -> Option<String>) -> Result<(), PrefixViolation> {
        let journal = self.journal();
        let model = &mut self.model;
        let mut differs = Some(differs);
        // The model is advanced only once the LSN passed the prefix checks, so a garbage LSN costs nothing.
        journal.check_state(lsn, |_| {
            let difference = differs.take().and_then(|differs| differs(model.state_at(lsn)));
            difference.map_or(Ok(()), Err)
        })?;
        self.acknowledged_lsn = self.acknowledged_lsn.max(lsn);
        Ok(())
    }

    /// Checks a writer's `ready` line (its own recovery, compared by digest).
    pub fn on_ready(&mut self, lsn: u64, digest: &str) -> Result<(), PrefixViolation> {
        self.check(lsn, |expected| {
            let expected = expected.digest().to_string();
            (expected != digest).then(|| format!("state digest {digest}, the model's {expected}"))
        })
    }

    /// Records an `ack` line: it must move forward and end a unit.
    pub fn on_ack(&mut self, lsn: u64) -> Result<(), PrefixViolation> {
        if lsn <= self.acknowledged_lsn || !self.chain.is_boundary(lsn) {
            let error = format!("ack {lsn} after {} is not the end of the next unit", self.acknowledged_lsn);
            return Err(PrefixViolation::Failed { error });
        }
        self.acknowledged_lsn = lsn;
        Ok(())
    }

    /// Checks a state the parent recovered itself (compared in full).
    pub fn on_recovered(&mut self, lsn: u64, state: &VectorState) -> Result<(), PrefixViolation> {
        self.check(lsn, |expected| vector_model::difference(expected, state))
    }

    /// Checks every line of a writer's output; returns whether it reached `ready` and the violations found.
    pub fn on_lines(&mut self, lines: &[String]) -> (bool, Vec<PrefixViolation>) {
        let mut ready = false;
        let mut violations = Vec::new();
        for line in lines {
            let verdict = match WriterLine::parse(line) {
                Ok(WriterLine::Ready { lsn, digest }) => {
                    ready = true;
                    self.on_ready(lsn, &digest)
                }
                Ok(WriterLine::Ack { lsn }) => self.on_ack(lsn),
                Ok(WriterLine::Done { .. }) => Ok(()),
                Err(error) => Err(PrefixViolation::Failed { error: error.to_string() }),
            };
            if let Err(violation) = verdict {
                violations.push(violation);
            }
        }
        (ready, violations)
    }
}

/// Opens the store in `directory` in this process (recovery), checks it in full against `checker`, and closes it.
pub fn recover_and_check(
    directory: &Path,
    options: &WriterOptions,
    checker: &mut AckChecker,
) -> Result<u64, PrefixViolation> {
    let backend = FileBackend::open(directory).map_err(|error| PrefixViolation::Failed { error: error.to_string() })?;
    let (lsn, state) = recover_vector_state(backend, options.durable_options())?;
    checker.on_recovered(lsn, &state)?;
    Ok(lsn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_options_round_trip_through_arguments() {
        let options = WriterOptions::new(PathBuf::from("/tmp/store"), 77);
        let arguments = options.to_arguments();
        assert_eq!(arguments.first().map(String::as_str), Some("writer"));
        assert_eq!(WriterOptions::from_arguments(&arguments[1..]).unwrap(), options);
        assert!(matches!(WriterOptions::from_arguments(&["--seed".to_owned()]), Err(ChaosError::Usage { .. })));
        assert!(matches!(WriterOptions::from_arguments(&[]), Err(ChaosError::Usage { .. })));
    }

    #[test]
    fn protocol_lines_parse_and_garbage_is_rejected() {
        assert_eq!(WriterLine::parse("ack 12").unwrap(), WriterLine::Ack { lsn: 12 });
        assert_eq!(WriterLine::parse("ready 3 ab").unwrap(), WriterLine::Ready { lsn: 3, digest: "ab".to_owned() });
        assert!(WriterLine::parse("ack").is_err());
        assert!(WriterLine::parse("hello 1").is_err());
    }

    #[test]
    fn the_ack_checker_accepts_the_writer_protocol_and_rejects_lost_or_invented_writes() {
        let seed = 21;
        let mut chain = UnitChain::new(seed);
        let mut checker = AckChecker::new(seed);
        let mut model = VectorModel::new(seed);
        let empty = model.state_at(0).digest().to_string();
        assert_eq!(checker.on_ready(0, &empty), Ok(()));
        let (third, fourth) = (chain.boundary(3), chain.boundary(4));
        for units in 1..=3 {
            assert_eq!(checker.on_ack(chain.boundary(units)), Ok(()));
        }
        // A restart that lost an acknowledged unit.
        let at_second = model.state_at(chain.boundary(2)).digest().to_string();
        assert!(matches!(
            checker.on_ready(chain.boundary(2), &at_second),
            Err(PrefixViolation::AcknowledgedLost { .. })
        ));
        // A restart with an operation no writer issued yet (two units past the last ack).
        let beyond = chain.boundary(5);
        let at_beyond = model.state_at(beyond).digest().to_string();
        assert!(matches!(checker.on_ready(beyond, &at_beyond), Err(PrefixViolation::NeverIssued { .. })));
        // The right LSN with the wrong state.
        assert!(matches!(checker.on_ready(third, &empty), Err(PrefixViolation::StateMismatch { .. })));
        // The unacknowledged next unit survived: fine, and it counts as durable from now on.
        let at_fourth = model.state_at(fourth).clone();
        assert_eq!(checker.on_recovered(fourth, &at_fourth), Ok(()));
        assert_eq!(checker.acknowledged_lsn(), fourth);
        assert!(checker.on_ack(fourth).is_err(), "an ack must move forward");
    }
}
