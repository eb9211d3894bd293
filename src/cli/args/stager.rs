//! The `stager` command line (parsed in `src/bin/stager.rs`; also read by the
//! man page and completion generator).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "stager",
    version,
    about = "Archive files to tape and recall them"
)]
pub struct Cli {
    /// A client config (`[client] endpoints`) or the daemon's config.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// A daemon's stager endpoint (tcp://HOST:PORT or ipc://PATH); several
    /// (repeated or comma-separated) are tried in turn. Overrides the config.
    #[arg(long, global = true, value_delimiter = ',')]
    pub endpoint: Vec<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Queue files for migration; prints "FILE_ID PATH" per file.
    Archive {
        #[arg(required = true)]
        paths: Vec<String>,
        #[arg(long)]
        pool: Option<String>,
        /// A storage class: its routes decide the pools, one per copy; the
        /// file is on tape once every copy is.
        #[arg(long, conflicts_with = "pool")]
        class: Option<String>,
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
    /// Per file: state (queued, on_tape, failed + reason), VID, fSeq; by
    /// id, or by the path it was archived from (then also whether its
    /// disk copy is there).
    Status {
        #[arg(long)]
        json: bool,
        #[arg(value_name = "FILE_ID|PATH")]
        files: Vec<String>,
    },
    /// Drop the disk copies of files that are on tape (every copy) and
    /// that no stage request pins; a file rewritten since it was archived
    /// is kept. Prints "evicted PATH" or "kept PATH: why" per path.
    Evict {
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Per recall: state (queued, running, done, failed + reason), file id, destination.
    Recalls {
        #[arg(long)]
        json: bool,
        recall_ids: Vec<u64>,
    },
    /// Delete files: never recalled again (an operator may undelete one
    /// within the recycle retention, until its tape is reclaimed).
    Delete {
        #[arg(required = true)]
        file_ids: Vec<u64>,
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
