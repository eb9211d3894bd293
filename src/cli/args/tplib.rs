//! The `tplib` command line (parsed in `src/bin/tplib.rs`; also read by the
//! man page and completion generator).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "tplib",
    version,
    about = "Show the tape library and move cartridges through its controller"
)]
pub struct Cli {
    /// A tapeserver.toml or a tlcd.toml naming the controllers.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// A controller endpoint (repeat for several); overrides the config.
    #[arg(long = "endpoint", global = true)]
    pub endpoints: Vec<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Switch {
    Enable,
    Disable,
}

#[derive(Subcommand)]
pub enum Command {
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
