//! tpstat: one row per drive (state, VID, session, bytes and files moved),
//! or the scheduler's open mounts.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(name = "tpstat", version, about = "Show the state of the tape drives")]
struct Cli {
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print JSON: {"drives":[{"name","state","vid","pid","session","bytes","files",...}]}
    #[arg(long)]
    json: bool,
    /// Show the open mounts of every host instead:
    /// {"mounts":[{"id","kind","vid","host","drive","started"}]}
    #[arg(long)]
    mounts: bool,
    /// Redraw the table every --interval (in place on a terminal; plain
    /// timestamped tables otherwise), with each drive's current MB/s.
    #[arg(long, conflicts_with_all = ["json", "mounts"])]
    watch: bool,
    /// How often --watch redraws, e.g. "2s".
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    interval: std::time::Duration,
    /// Stop --watch after this many views.
    #[arg(long)]
    count: Option<u64>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tapeserver::cli::exit_with((|| {
        let config = tapeserver::cli::client_config(cli.config)?;
        if cli.watch {
            tapeserver::cli::admin::watch(&config, cli.interval, cli.count)
        } else if cli.mounts {
            tapeserver::cli::admin::mounts(&config, cli.json)
        } else {
            tapeserver::cli::admin::tpstat(&config, cli.json)
        }
    })())
}
