//! `vecdb-bench <command>`: the parts of `cargo xtask dataset` and `cargo xtask bench` that run in Rust.
//!
//! ```text
//! vecdb-bench dataset  --npy FILE --out DIR [--threads N]
//! vecdb-bench ann      --dataset DIR --subset 100k|full --out FILE [--efs 16,32,..] [--repetitions N]
//! vecdb-bench recovery --out FILE --work DIR [--dataset DIR [--subset 100k|full]] [--sizes 10000,50000,100000] [--repetitions N]
//! vecdb-bench report   --results DIR --out DIR
//! vecdb-bench durable-db --dataset DIR --work DIR --out FILE [--writers 4] [--replay 1]   (feature durable-db)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;
use vecdb_bench::ann::{AnnSettings, measure_vecdb};
use vecdb_bench::dataset::{GLOVE_SPLIT, Source, Subset, prepare};
use vecdb_bench::files::write_json;
use vecdb_bench::machine::{load_average, machine};
use vecdb_bench::recovery::measure_recovery;
use vecdb_bench::report::{Inputs, render};
use vecdb_bench::{BenchError, npy};

const USAGE: &str = "usage:
  vecdb-bench dataset  --npy FILE --out DIR [--threads N]
  vecdb-bench ann      --dataset DIR --subset 100k|full --out FILE [--efs 16,32,..] [--repetitions N]
  vecdb-bench recovery --out FILE --work DIR [--dataset DIR [--subset 100k|full]] [--sizes 10000,50000,100000] [--repetitions N]
  vecdb-bench report   --results DIR --out DIR
  vecdb-bench durable-db --dataset DIR --work DIR --out FILE [--writers 4] [--replay 1]   (feature durable-db)";

/// `--name value` pairs.
struct Options(BTreeMap<String, String>);

impl Options {
    fn parse(arguments: &[String]) -> Result<Self, BenchError> {
        let mut options = BTreeMap::new();
        let mut rest = arguments.iter();
        while let Some(name) = rest.next() {
            let name =
                name.strip_prefix("--").ok_or_else(|| BenchError::Usage(format!("unexpected {name:?}\n{USAGE}")))?;
            let value = rest.next().ok_or_else(|| BenchError::Usage(format!("--{name} needs a value\n{USAGE}")))?;
            options.insert(name.to_owned(), value.clone());
        }
        Ok(Self(options))
    }

    fn path(&self, name: &str) -> Result<PathBuf, BenchError> {
        self.0.get(name).map(PathBuf::from).ok_or_else(|| BenchError::Usage(format!("--{name} is required\n{USAGE}")))
    }

    fn list(&self, name: &str) -> Result<Option<Vec<usize>>, BenchError> {
        self.0
            .get(name)
            .map(|list| {
                list.split(',')
                    .map(|item| {
                        item.trim()
                            .parse()
                            .map_err(|_| BenchError::Usage(format!("--{name}: {item:?} is not a number")))
                    })
                    .collect()
            })
            .transpose()
    }

    fn number(&self, name: &str, default: usize) -> Result<usize, BenchError> {
        Ok(self.list(name)?.and_then(|list| list.first().copied()).unwrap_or(default))
    }
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let result = match arguments.split_first() {
        Some((command, rest)) => Options::parse(rest).and_then(|options| run(command, &options)),
        None => Err(BenchError::Usage(USAGE.to_owned())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vecdb-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

fn run(command: &str, options: &Options) -> Result<(), BenchError> {
    match command {
        "dataset" => {
            let npy_path = options.path("npy")?;
            let directory = options.path("out")?;
            let report =
                prepare(&directory, &Source::glove(), &GLOVE_SPLIT, options.number("threads", threads())?, || {
                    eprintln!("dataset: reading {}", npy_path.display());
                    let bytes = std::fs::read(&npy_path).map_err(BenchError::io(&npy_path))?;
                    npy::parse_f32_matrix(&bytes)
                })?;
            eprintln!("dataset: kept {:?}, wrote {:?} in {}", report.kept, report.written, directory.display());
            Ok(())
        }
        "ann" => {
            let subset_name = options.0.get("subset").map_or("100k", String::as_str);
            let subset = Subset::load(&options.path("dataset")?, subset_name)?;
            let mut settings = AnnSettings::default();
            if let Some(efs) = options.list("efs")? {
                settings.efs = efs;
            }
            settings.repetitions = options.number("repetitions", settings.repetitions)?;
            eprintln!("ann: vecdb on {subset_name}: {} vectors, {} queries", subset.base_count(), subset.query_count());
            let result = measure_vecdb(&subset, &settings)?;
            write_json(&options.path("out")?, &result.to_json())
        }
        "recovery" => {
            let sizes = options.list("sizes")?.unwrap_or_else(|| vec![10_000, 50_000, 100_000]);
            let (source, dimension) = match options.0.get("dataset") {
                Some(directory) => {
                    let subset =
                        Subset::load(Path::new(directory), options.0.get("subset").map_or("100k", String::as_str))?;
                    (subset.base, subset.dimension)
                }
                None => (Vec::new(), 50),
            };
            let load = load_average();
            let points = measure_recovery(
                &options.path("work")?,
                &source,
                dimension,
                &sizes,
                options.number("repetitions", 5)?,
            )?;
            let value = json!({
                "vectors_from": if source.is_empty() { "a deterministic pattern" } else { "GloVe-50 (cycled)" },
                "load_average": load,
                "points": points.iter().map(vecdb_bench::recovery::RecoveryPoint::to_json).collect::<Vec<_>>(),
            });
            write_json(&options.path("out")?, &value)
        }
        "report" => {
            let inputs = Inputs::load(&options.path("results")?)?;
            let output = options.path("out")?;
            let headlines = render(&inputs, &machine(), &output)?;
            for line in headlines {
                println!("{:<62} {:>14}   {}", line.figure, line.value, line.baseline);
            }
            eprintln!("report: {}", output.join("report.md").display());
            Ok(())
        }
        #[cfg(feature = "durable-db")]
        "durable-db" => {
            let subset = Subset::load(&options.path("dataset")?, "100k")?;
            let work = options.path("work")?;
            let figures = vecdb_bench::durable_db::measure_durable_db(
                &work,
                &subset.base,
                subset.dimension,
                options.number("writers", 4)?,
                options.number("replay", 1)? != 0,
            )?;
            write_json(&options.path("out")?, &figures.to_json())
        }
        "help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(BenchError::Usage(format!("unknown command {other:?}\n{USAGE}"))),
    }
}
