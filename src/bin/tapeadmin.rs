//! tapeadmin: pools, tapes, queues and mounts of the site's scheduler.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tapeserver::cli::tapeadmin;

#[derive(Parser)]
#[command(
    name = "tapeadmin",
    version,
    about = "Administer pools, tapes, queues and mounts"
)]
struct Cli {
    /// The daemon's config (it names the scheduler and its password file).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pools with their tapes, free space and queued files.
    Pools,
    /// Create a pool (nothing happens if it exists).
    AddPool { name: String },
    /// Register a labelled, empty cartridge in a pool.
    AddTape {
        vid: String,
        #[arg(long)]
        pool: String,
        /// e.g. "18TB".
        #[arg(long, value_parser = parse_capacity)]
        capacity: u64,
    },
    /// Set a tape's state: enable, disable, full, read_only (or active, disabled).
    TapeState {
        vid: String,
        state: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Queued work per pool (archives) and per tape (recalls), with age and size.
    Queues,
    /// Take a queued archive off the queue.
    CancelArchive { file_id: u64 },
    /// Fail a queued recall.
    CancelRecall { recall_id: u64 },
    /// A file's state and its tape copies.
    File { file_id: u64 },
    /// Open mounts of every host.
    Mounts,
    /// Close a stale mount (its unreported work is requeued).
    CloseMount { mount_id: u64 },
}

fn parse_capacity(text: &str) -> Result<u64, String> {
    parse_size::parse_size(text).map_err(|e| format!("expected a size such as \"18TB\": {e}"))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tapeserver::cli::exit_with((|| {
        let config = tapeserver::cli::client_config(cli.config)?;
        let mut db = config
            .open_scheduler()
            .context("cannot open the scheduler")?;
        let db = &mut *db;
        match cli.command {
            Command::Pools => tapeadmin::pools(db, cli.json),
            Command::AddPool { name } => tapeadmin::add_pool(db, &name),
            Command::AddTape {
                vid,
                pool,
                capacity,
            } => tapeadmin::add_tape(db, &vid, &pool, capacity),
            Command::TapeState { vid, state, reason } => {
                tapeadmin::set_tape_state(db, &vid, &state, reason.as_deref())
            }
            Command::Queues => tapeadmin::queues(db, cli.json),
            Command::CancelArchive { file_id } => {
                db.cancel_archive(file_id)?;
                println!("archive of file {file_id} cancelled");
                Ok(())
            }
            Command::CancelRecall { recall_id } => {
                db.cancel_recall(recall_id)?;
                println!("recall {recall_id} cancelled");
                Ok(())
            }
            Command::File { file_id } => tapeadmin::file(db, file_id, cli.json),
            Command::Mounts => tapeadmin::mounts(db, cli.json),
            Command::CloseMount { mount_id } => tapeadmin::close_mount(db, mount_id),
        }
    })())
}
