//! stager: queue migrations and recalls, and look at files and tapes.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tapeserver::cli::stager;

#[derive(Parser)]
#[command(
    name = "stager",
    version,
    about = "Archive files to tape and recall them"
)]
struct Cli {
    /// A client config (`[client] endpoints`) or the daemon's config.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// A daemon's stager endpoint (tcp://HOST:PORT or ipc://PATH); several
    /// (repeated or comma-separated) are tried in turn. Overrides the config.
    #[arg(long, global = true, value_delimiter = ',')]
    endpoint: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Queue files for migration; prints "FILE_ID PATH" per file.
    Archive {
        #[arg(required = true)]
        paths: Vec<String>,
        #[arg(long)]
        pool: Option<String>,
        /// Return when every file is on tape.
        #[arg(long)]
        wait: bool,
    },
    /// Queue a recall into the new file DEST; prints "RECALL_ID FILE_ID DEST".
    Recall {
        file_id: u64,
        dest: String,
        /// Return when the file is written and its checksum verified.
        #[arg(long)]
        wait: bool,
    },
    /// Per file: state (queued, on_tape, failed + reason), VID, fSeq.
    Status {
        #[arg(long)]
        json: bool,
        file_ids: Vec<u64>,
    },
    /// Per recall: state (queued, running, done, failed + reason), file id, destination.
    Recalls {
        #[arg(long)]
        json: bool,
        recall_ids: Vec<u64>,
    },
    /// Tapes with state and usage.
    Tapes {
        #[arg(long)]
        json: bool,
    },
    /// Files on one tape.
    LsTape {
        vid: String,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tapeserver::cli::exit_with((|| {
        let config = tapeserver::config::StagerSettings::load(cli.config, cli.endpoint)
            .map_err(anyhow::Error::from)
            .map_err(|e| e.context("cannot load the stager configuration (use --config FILE, set TAPESERVER_CONFIG, or give --endpoint)"))?;
        if let Some(keys) = config.keys.clone() {
            tapeserver::messaging::curve::set_client_keys(keys);
        }
        match cli.command {
            Command::Archive { paths, pool, wait } => stager::archive(&config, &paths, pool, wait),
            Command::Recall {
                file_id,
                dest,
                wait,
            } => stager::recall(&config, file_id, &dest, wait),
            Command::Status { json, file_ids } => stager::status(&config, &file_ids, json),
            Command::Recalls { json, recall_ids } => stager::recalls(&config, &recall_ids, json),
            Command::Tapes { json } => stager::tapes(&config, json),
            Command::LsTape { vid, json } => stager::ls_tape(&config, &vid, json),
        }
    })())
}
