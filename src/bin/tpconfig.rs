//! tpconfig: mark a drive up or down (down while running drains), or close
//! a stale mount by id.

use anyhow::bail;
use clap::Parser;

use tapeserver::cli::args::tpconfig::*;

fn main() -> std::process::ExitCode {
    tapeserver::cli::quiet_on_closed_pipe();
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
