//! tlcd: the tape library controller, standalone, for a library shared by
//! several tape servers (see `tapeserver::library::controller`).

use clap::Parser;
use std::process::ExitCode;
use tapeserver::config::tlcd::TlcdConfig;

use tapeserver::cli::args::tlcd::*;

fn main() -> ExitCode {
    tapeserver::util::restrict_umask();
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
            let controller = match tapeserver::settings::controller_config(&config) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "tlcd cannot run");
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match tapeserver::library::controller::standalone::run(controller) {
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
