//! tplib: the tape library as its controller sees it, and operator moves.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use tapeserver::cli::library::{self, Target};

#[derive(Parser)]
#[command(
    name = "tplib",
    version,
    about = "Show the tape library and move cartridges through its controller"
)]
struct Cli {
    /// A tapeserver.toml or a tlcd.toml naming the controllers.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// A controller endpoint (repeat for several); overrides the config.
    #[arg(long = "endpoint", global = true)]
    endpoints: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Switch {
    Enable,
    Disable,
}

#[derive(Subcommand)]
enum Command {
    /// Controller role, changer paths, drives and slots. --json:
    /// {"controller":{"endpoint","role"},"paths":[{"device","state","error"}],
    /// "drives":[{"name","address","serial","vid"}],"slots":[{"address","vid"}]}
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Mount a cartridge into a drive (succeeds if it is already there).
    Mount { vid: String, drive: String },
    /// Put a drive's cartridge back in a slot (succeeds if it is home).
    Dismount { vid: String, drive: String },
    /// Read the element status again (after manual intervention).
    Refresh,
    /// Take a changer path out of service, or back.
    Path { device: String, switch: Switch },
    /// Move a cartridge between two element addresses (import, export, repair).
    Move { source: u16, destination: u16 },
    /// Ask every controller endpoint whether it is active or standby.
    Ping,
}

fn main() -> std::process::ExitCode {
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
