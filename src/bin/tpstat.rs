//! tpstat: one row per drive (state, VID, session, bytes and files moved),
//! or the scheduler's open mounts.

use clap::Parser;

use tapeserver::cli::args::tpstat::*;

fn main() -> std::process::ExitCode {
    tapeserver::cli::quiet_on_closed_pipe();
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
