//! tapegw: the WLCG Tape REST API gateway (see `tapeserver::gateway`).

use std::process::ExitCode;

use clap::Parser;
use tapeserver::cli::args::tapegw::*;
use tapeserver::gateway;

fn main() -> ExitCode {
    tapeserver::util::restrict_umask();
    match Cli::parse().command {
        Command::CheckConfig { file } => tapeserver::cli::exit_with(
            gateway::config::GatewayConfig::load(&file)
                .map_err(anyhow::Error::from)
                .and_then(|c| gateway::auth::Verifier::new(&c).map_err(anyhow::Error::msg))
                .map(|_| println!("{}: ok", file.display())),
        ),
        Command::Token {
            config,
            scope,
            lifetime,
            subject,
            audience,
        } => tapeserver::cli::exit_with(
            gateway::config::GatewayConfig::load(&config)
                .map_err(anyhow::Error::from)
                .and_then(|c| {
                    gateway::token::issue(&c, &scope, *lifetime, &subject, audience.as_deref())
                        .map_err(anyhow::Error::msg)
                })
                .map(|t| println!("{t}")),
        ),
        Command::Run { config } => {
            tapeserver::logging::init("info");
            match gateway::run(&config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "tapegw cannot run");
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
