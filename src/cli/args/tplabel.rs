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
    /// A new cartridge (not in the catalogue yet): register it in this pool
    /// once it is labelled, ready for writing.
    #[arg(long, requires = "capacity")]
    pub pool: Option<String>,
    /// The new cartridge's capacity, e.g. "18TB" (with --pool).
    #[arg(long, value_parser = super::tapeadmin::parse_capacity, requires = "pool")]
    pub capacity: Option<u64>,
}
