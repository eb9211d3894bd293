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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tapeserver::cli::exit_with((|| {
        let config = tapeserver::cli::client_config(cli.config)?;
        if cli.mounts {
            tapeserver::cli::admin::mounts(&config, cli.json)
        } else {
            tapeserver::cli::admin::tpstat(&config, cli.json)
        }
    })())
}
