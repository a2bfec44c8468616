//! `chaos`: runs the chaos campaign and prints its table (`cargo xtask chaos` runs this), or, as `chaos writer`,
//! the writer process the kill and power-loss scenarios start and kill.
//!
//! ```text
//! chaos [--quick | --long] [--seed N] [--only NAME] [--work-directory DIR]
//! chaos writer --directory DIR --seed N [--operations-max N] [--segment-bytes N] [--checkpoint-operations N]
//! ```
//!
//! Exits 1 when any scenario lost an acknowledged operation or found corruption, 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use chaos::campaign::{self, DEFAULT_SEED, Environment, Intensity};
use chaos::writer::{EXIT_RECOVERY_FAILED, WriterOptions, run_writer};
use chaos::{ChaosError, render_table};

struct Arguments {
    intensity: Intensity,
    seed: u64,
    only: Option<String>,
    work_directory: Option<PathBuf>,
}

fn parse_seed(text: &str) -> Result<u64, ChaosError> {
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| ChaosError::Usage { reason: format!("bad seed {text:?}") })
}

fn parse(arguments: &[String]) -> Result<Arguments, ChaosError> {
    let mut parsed = Arguments { intensity: Intensity::Quick, seed: DEFAULT_SEED, only: None, work_directory: None };
    let mut iterator = arguments.iter();
    while let Some(argument) = iterator.next() {
        let mut value = || {
            iterator.next().cloned().ok_or_else(|| ChaosError::Usage { reason: format!("{argument} needs a value") })
        };
        match argument.as_str() {
            "--quick" => parsed.intensity = Intensity::Quick,
            "--long" => parsed.intensity = Intensity::Long,
            "--seed" => parsed.seed = parse_seed(&value()?)?,
            "--only" => parsed.only = Some(value()?),
            "--work-directory" => parsed.work_directory = Some(PathBuf::from(value()?)),
            other => return Err(ChaosError::Usage { reason: format!("unknown argument {other:?}") }),
        }
    }
    Ok(parsed)
}

fn campaign(arguments: &[String]) -> Result<bool, ChaosError> {
    let arguments = parse(arguments)?;
    let executable = std::env::current_exe().map_err(|source| ChaosError::io("finding the chaos binary", source))?;
    let work_directory = match arguments.work_directory {
        Some(directory) => directory,
        None => {
            executable.parent().map(|parent| parent.join("chaos-work")).unwrap_or_else(|| PathBuf::from("chaos-work"))
        }
    };
    std::fs::create_dir_all(&work_directory)
        .map_err(|source| ChaosError::io(format!("creating {}", work_directory.display()), source))?;
    let environment = Environment { executable, work_directory, seed: arguments.seed };
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let intensity = match arguments.intensity {
        Intensity::Quick => "--quick",
        Intensity::Long => "--long",
    };
    eprintln!(
        "chaos {intensity} --seed {:#x} ({cores} cores), work directory {}",
        arguments.seed,
        environment.work_directory.display()
    );
    let started = Instant::now();
    let scenarios = campaign::scenarios(arguments.intensity, arguments.seed);
    let summaries = campaign::run(&scenarios, &environment, arguments.only.as_deref());
    println!(
        "chaos {intensity} --seed {:#x}: {} scenarios in {:.0} s on {cores} cores\n",
        arguments.seed,
        summaries.len(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", render_table(&summaries));
    Ok(!summaries.is_empty() && summaries.iter().all(|summary| summary.passed()))
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if arguments.first().map(String::as_str) == Some("writer") {
        let outcome = WriterOptions::from_arguments(arguments.get(1..).unwrap_or_default())
            .and_then(|options| run_writer(&options, &mut std::io::stdout().lock()));
        return match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("chaos writer: {error}");
                ExitCode::from(EXIT_RECOVERY_FAILED)
            }
        };
    }
    match campaign(&arguments) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("chaos: FAILED: acknowledged operations were lost or corruption was found (see the table)");
            ExitCode::from(1)
        }
        Err(error @ ChaosError::Usage { .. }) => {
            eprintln!(
                "chaos: {error}\nusage: chaos [--quick | --long] [--seed N] [--only NAME] [--work-directory DIR]"
            );
            ExitCode::from(2)
        }
        Err(error) => {
            eprintln!("chaos: {error}");
            ExitCode::from(1)
        }
    }
}
