//! tlcd: the tape library controller, standalone, for a library shared by
//! several tape servers (see `tapeserver::library::controller`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tapeserver::config::tlcd::TlcdConfig;

#[derive(Parser)]
#[command(
    name = "tlcd",
    version,
    about = "Tape library controller: the one process that moves a library's cartridges"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller in the foreground.
    Run {
        #[arg(long, default_value = "/etc/tapeserver/tlcd.toml")]
        config: PathBuf,
    },
    /// Validate a config file.
    CheckConfig { file: PathBuf },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::CheckConfig { file } => tapeserver::cli::exit_with(
            TlcdConfig::load(&file)
                .map(|_| println!("{}: ok", file.display()))
                .map_err(Into::into),
        ),
        Command::Run { config } => {
            let config = match TlcdConfig::load(&config) {
                Ok(c) => c,
                Err(e) => return tapeserver::cli::exit_with(Err(e.into())),
            };
            tapeserver::logging::init(&config.controller.log_level);
            // Started as root: become the configured user before touching
            // the library (its key file and library must be that user's).
            if let Some(user) = &config.security.user {
                match tapeserver::privileges::drop_to(user) {
                    Ok(true) => tracing::info!(user = %user, "tlcd runs unprivileged"),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "tlcd refuses to run as root");
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            match tapeserver::library::controller::standalone::run(&config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "tlcd cannot run");
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
