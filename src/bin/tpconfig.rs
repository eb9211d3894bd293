//! tpconfig: mark a drive up or down (down while running drains).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, ValueEnum)]
enum Wanted {
    Up,
    Down,
}

#[derive(Parser)]
#[command(name = "tpconfig", version, about = "Mark a tape drive up or down")]
struct Cli {
    #[arg(long)]
    config: Option<PathBuf>,
    drive: String,
    #[arg(value_enum)]
    state: Wanted,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tapeserver::cli::exit_with((|| {
        let config = tapeserver::cli::client_config(cli.config)?;
        tapeserver::cli::admin::tpconfig(&config, &cli.drive, matches!(cli.state, Wanted::Up))
    })())
}
