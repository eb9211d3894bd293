//! readtp: read tape files by fSeq into a directory, halting at the first error.

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "readtp",
    version,
    about = "Read tape files by fSeq (operator read, no catalogue)"
)]
struct Cli {
    #[arg(long)]
    config: Option<PathBuf>,
    vid: String,
    /// One fSeq ("5") or a range ("3-7").
    fseq: String,
    dest_dir: String,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tapeserver::cli::exit_with((|| {
        let config = tapeserver::cli::client_config(cli.config)?;
        tapeserver::cli::admin::readtp(&config, &cli.vid, &cli.fseq, &cli.dest_dir)
    })())
}
