//! readtp: read tape files by fSeq into a directory, halting at the first error.

use clap::Parser;

use tapeserver::cli::args::readtp::*;

fn main() -> std::process::ExitCode {
    tapeserver::cli::quiet_on_closed_pipe();
    let cli = Cli::parse();
    tapeserver::cli::exit_with((|| {
        let config = tapeserver::cli::client_config(cli.config)?;
        tapeserver::cli::admin::readtp(&config, &cli.vid, &cli.fseq, &cli.dest_dir)
    })())
}
