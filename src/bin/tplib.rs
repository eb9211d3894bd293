//! tplib: the tape library as its controller sees it, and operator moves.

use clap::Parser;
use tapeserver::cli::library::{self, Target};

use tapeserver::cli::args::tplib::*;

fn main() -> std::process::ExitCode {
    tapeserver::cli::quiet_on_closed_pipe();
    let cli = Cli::parse();
    tapeserver::cli::exit_with((|| {
        let target = Target::find(cli.config, cli.endpoints)?;
        match cli.command {
            Command::Status { json } => library::status(&target, json),
            Command::Mount { vid, drive } => library::mount(&target, &vid, &drive),
            Command::Dismount { vid, drive } => library::dismount(&target, &vid, &drive),
            Command::Refresh => library::refresh(&target),
            Command::Path { device, switch } => {
                library::path(&target, &device, matches!(switch, Switch::Enable))
            }
            Command::Move {
                source,
                destination,
            } => library::move_medium(&target, source, destination),
            Command::Ping => library::ping(&target),
        }
    })())
}
