//! stager: queue migrations and recalls, and look at files and tapes.

use clap::Parser;
use tapeserver::cli::stager;

use tapeserver::cli::args::stager::*;

fn main() -> std::process::ExitCode {
    tapeserver::cli::quiet_on_closed_pipe();
    let cli = Cli::parse();
    tapeserver::cli::exit_with((|| {
        let config = tapeserver::config::StagerSettings::load(cli.config, cli.endpoint)
            .map_err(anyhow::Error::from)
            .map_err(|e| e.context("cannot load the stager configuration (use --config FILE, set TAPESERVER_CONFIG, or give --endpoint)"))?;
        if let Some(keys) = config.keys.clone() {
            tapeserver::messaging::curve::set_client_keys(keys);
        }
        match cli.command {
            Command::Archive {
                paths,
                pool,
                class,
                wait,
            } => stager::archive(&config, &paths, pool, class, wait),
            Command::Recall {
                file_id,
                dest,
                wait,
            } => stager::recall(&config, file_id, &dest, wait),
            Command::Status { json, files } => stager::status(&config, &files, json),
            Command::Evict { paths } => stager::evict(&config, &paths),
            Command::Recalls { json, recall_ids } => stager::recalls(&config, &recall_ids, json),
            Command::Delete { file_ids } => stager::delete(&config, &file_ids),
            Command::Tapes { json } => stager::tapes(&config, json),
            Command::LsTape { vid, json } => stager::ls_tape(&config, &vid, json),
        }
    })())
}
