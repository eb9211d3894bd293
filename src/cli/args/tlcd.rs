//! The `tlcd` command line (parsed in `src/bin/tlcd.rs`; also read by the
//! man page and completion generator).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tlcd",
    version,
    about = "Tape library controller: the one process that moves a library's cartridges"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the controller in the foreground.
    Run {
        #[arg(long, default_value = "/etc/tapeserver/tlcd.toml")]
        config: PathBuf,
    },
    /// Validate a config file.
    CheckConfig { file: PathBuf },
}
