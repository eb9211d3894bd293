//! tplabel: label a cartridge in a drive (VOL1 + HDR1 PRELABEL).

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(name = "tplabel", version, about = "Label a tape cartridge")]
struct Cli {
    #[arg(long)]
    config: Option<PathBuf>,
    drive: String,
    vid: String,
    /// Relabel a cartridge that holds catalogued files; they are marked lost.
    #[arg(long)]
    force: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tapeserver::cli::exit_with((|| {
        let config = tapeserver::cli::client_config(cli.config)?;
        tapeserver::cli::admin::tplabel(&config, &cli.drive, &cli.vid, cli.force)
    })())
}
