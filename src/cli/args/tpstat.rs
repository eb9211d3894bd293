//! The `tpstat` command line (parsed in `src/bin/tpstat.rs`; also read by the
//! man page and completion generator).

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(name = "tpstat", version, about = "Show the state of the tape drives")]
pub struct Cli {
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print JSON: {"drives":[{"name","state","vid","pid","session","bytes","files",...}]}
    #[arg(long)]
    pub json: bool,
    /// Show the open mounts of every host instead:
    /// {"mounts":[{"id","kind","vid","host","drive","started"}]}
    #[arg(long)]
    pub mounts: bool,
    /// Redraw the table every --interval (in place on a terminal; plain
    /// timestamped tables otherwise), with each drive's current MB/s.
    #[arg(long, conflicts_with_all = ["json", "mounts"])]
    pub watch: bool,
    /// How often --watch redraws, e.g. "2s".
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
    /// Stop --watch after this many views.
    #[arg(long)]
    pub count: Option<u64>,
}
