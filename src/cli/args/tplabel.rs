//! The `tplabel` command line (parsed in `src/bin/tplabel.rs`; also read by the
//! man page and completion generator).

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(name = "tplabel", version, about = "Label a tape cartridge")]
pub struct Cli {
    #[arg(long)]
    pub config: Option<PathBuf>,
    pub drive: String,
    pub vid: String,
    /// Relabel a cartridge that holds catalogued files; they are marked lost.
    #[arg(long)]
    pub force: bool,
}
