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
    }
}
