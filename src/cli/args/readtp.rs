//! The `readtp` command line (parsed in `src/bin/readtp.rs`; also read by the
//! man page and completion generator).

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "readtp",
    version,
    about = "Read tape files by fSeq (operator read, no catalogue)"
)]
pub struct Cli {
    #[arg(long)]
    pub config: Option<PathBuf>,
    pub vid: String,
    /// One fSeq ("5") or a range ("3-7").
    pub fseq: String,
    pub dest_dir: String,
}
