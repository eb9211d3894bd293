//! The `tpconfig` command line (parsed in `src/bin/tpconfig.rs`; also read by the
//! man page and completion generator).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, ValueEnum)]
pub enum Wanted {
    Up,
    Down,
}

#[derive(Parser)]
#[command(
    name = "tpconfig",
    version,
    about = "Mark a tape drive up or down, or close a stale mount"
)]
pub struct Cli {
    #[arg(long)]
    pub config: Option<PathBuf>,
    pub drive: Option<String>,
    #[arg(value_enum)]
    pub state: Option<Wanted>,
    /// Close a stale mount by id (see tpstat --mounts): its drive is gone or
    /// its host was renamed. Its unreported work is requeued.
    #[arg(long, value_name = "MOUNT_ID", conflicts_with_all = ["drive", "state"])]
    pub close_mount: Option<u64>,
}
