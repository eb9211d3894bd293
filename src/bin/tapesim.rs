//! tapesim: the site simulator. `tapesim run WORKLOAD [--json]` runs a
//! workload file through the real scheduler on a virtual clock, with
//! drives and robots that take a real library's time, and through a FIFO
//! baseline; prints what each cost (`docs/simulator.md`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tapesim",
    version,
    about = "Simulate a tape site's day on the real scheduler"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a workload file and print its figures against the FIFO baseline.
    Run {
        workload: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// An empty catalogue to run on (postgres://... or sqlite://PATH);
        /// default: SQLite in memory.
        #[arg(long)]
        scheduler: Option<String>,
    },
    /// The modelled positioning time of reading FILES random files of a
    /// full cartridge in fSeq order and in the recommended access order.
    Order {
        #[arg(long, default_value_t = 100)]
        files: usize,
        /// Each file's size.
        #[arg(long, default_value = "1GB", value_parser = tapeserver::cli::args::tapeserverd::parse_capacity)]
        size: tapeserver::units::ByteSize,
        #[arg(long, default_value = "lto9")]
        model: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            workload,
            json,
            scheduler,
        } => tapeserver::cli::exit_with((|| {
            let w = tapeserver::sim::workload::Workload::load(&workload)?;
            let report = tapeserver::sim::run(&w, scheduler.as_deref())
                .with_context(|| format!("cannot simulate {}", workload.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.table());
            }
            Ok(())
        })()),
        Command::Order {
            files,
            size,
            model,
            seed,
        } => tapeserver::cli::exit_with((|| {
            use tapeserver::tape::time_model;
            let p = time_model::profile(&model)
                .with_context(|| format!("--model {model:?}: expected lto8, lto9 or lto10"))?;
            let mut rng = tapeserver::sim::Rng(seed | 1);
            let mut places: Vec<(u64, u64)> = (0..files)
                .map(|_| (rng.below(p.capacity.saturating_sub(size.0)), size.0))
                .collect();
            places.sort_unstable();
            let fseq: Vec<usize> = (0..places.len()).collect();
            let tour = time_model::shortest_locate_order(&p, 0, &places);
            let by_fseq = time_model::positioning(&p, 0, &places, &fseq).as_secs_f64();
            let by_tour = time_model::positioning(&p, 0, &places, &tour).as_secs_f64();
            println!(
                "{}",
                serde_json::json!({
                    "model": p.name,
                    "files": files,
                    "fseq_order_s": by_fseq,
                    "access_order_s": by_tour,
                    "cut": 1.0 - by_tour / by_fseq.max(f64::MIN_POSITIVE),
                })
            );
            Ok(())
        })()),
    }
}
