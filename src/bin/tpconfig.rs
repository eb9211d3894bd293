//! tpconfig: mark a drive up or down (down while running drains), or close
//! a stale mount by id.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, ValueEnum)]
enum Wanted {
    Up,
    Down,
}

#[derive(Parser)]
#[command(
    name = "tpconfig",
    version,
    about = "Mark a tape drive up or down, or close a stale mount"
)]
struct Cli {
    #[arg(long)]
    config: Option<PathBuf>,
    drive: Option<String>,
    #[arg(value_enum)]
    state: Option<Wanted>,
    /// Close a stale mount by id (see tpstat --mounts): its drive is gone or
    /// its host was renamed. Its unreported work is requeued.
    #[arg(long, value_name = "MOUNT_ID", conflicts_with_all = ["drive", "state"])]
    close_mount: Option<u64>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tapeserver::cli::exit_with((|| {
        let config = tapeserver::cli::client_config(cli.config)?;
        match (cli.close_mount, cli.drive, cli.state) {
            (Some(id), _, _) => tapeserver::cli::admin::close_mount(&config, id),
            (None, Some(drive), Some(state)) => {
                tapeserver::cli::admin::tpconfig(&config, &drive, matches!(state, Wanted::Up))
            }
            _ => bail!("usage: tpconfig DRIVE up|down, or tpconfig --close-mount MOUNT_ID"),
        }
    })())
}
