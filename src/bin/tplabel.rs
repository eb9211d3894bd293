//! tplabel: label a cartridge in a drive (VOL1 + HDR1 PRELABEL).

use clap::Parser;

use tapeserver::cli::args::tplabel::*;

fn main() -> std::process::ExitCode {
    tapeserver::cli::quiet_on_closed_pipe();
    let cli = Cli::parse();
    tapeserver::cli::exit_with((|| {
        let config = tapeserver::cli::client_config(cli.config)?;
        let new = cli.pool.zip(cli.capacity);
        tapeserver::cli::admin::tplabel(&config, &cli.drive, &cli.vid, cli.force, new)
    })())
}
