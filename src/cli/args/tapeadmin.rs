//! The `tapeadmin` command line (parsed in `src/bin/tapeadmin.rs`; also read by the
//! man page and completion generator).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tapeadmin",
    version,
    about = "Administer pools, tapes, queues and mounts"
)]
pub struct Cli {
    /// The daemon's config (it names the scheduler and its password file).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Print JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Pools with their tapes, free space and queued files.
    Pools,
    /// Create a pool (nothing happens if it exists).
    AddPool { name: String },
    /// Register a cartridge that already carries this project's label, empty,
    /// in a pool (a new cartridge: `tplabel DRIVE VID --pool P --capacity SIZE`
    /// labels and registers it).
    AddTape {
        vid: String,
        #[arg(long)]
        pool: String,
        /// e.g. "18TB".
        #[arg(long, value_parser = parse_capacity)]
        capacity: u64,
        /// Its media type (L8, L9, LA, M8, or LTO9...): only drives that can
        /// read or write it are offered it. Default: unknown, any drive.
        #[arg(long)]
        media: Option<String>,
    },
    /// Set a tape's state: enable, disable, full, read_only, broken (never
    /// mounted again), exported (outside the library), repacking (or active,
    /// disabled). Who set it and when are kept (`stager tapes`).
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
    /// Queue failed archives again, their attempts reset (once what failed
    /// them is fixed).
    Retry {
        #[arg(required = true)]
        file_ids: Vec<u64>,
    },
    /// Queue failed recalls again, their attempts reset.
    RetryRecall {
        #[arg(required = true)]
        recall_ids: Vec<u64>,
    },
    /// A file's state and its tape copies.
    File { file_id: u64 },
    /// Open mounts of every host.
    Mounts,
    /// The disk buffer: how full, its watermarks, and what holds it
    /// (pinned copies, files not yet on tape, space reserved by recalls,
    /// copies evicted).
    Buffer,
    /// Close a stale mount (its unreported work is requeued).
    CloseMount { mount_id: u64 },
    /// Bring deleted files back (within [scheduler] recycle_retention, while
    /// their tape has not been reclaimed).
    Undelete {
        #[arg(required = true)]
        file_ids: Vec<u64>,
    },
    /// Queue a tape for verification: a verify mount (when no user work
    /// needs the drive) reads its live files, or a sample (the first, the
    /// last and others spread over the tape), and checks every block and
    /// every file against the catalogue. `stager tapes --json` shows
    /// last_verified and verify_errors; `tapeadmin file` the bad copies.
    Verify {
        vid: String,
        #[arg(long, default_value_t = 0)]
        sample: u64,
    },
    /// Create a storage class asking for COPIES copies of each file (add a
    /// route per copy).
    AddClass {
        name: String,
        #[arg(long)]
        copies: u64,
    },
    /// Send copy COPY of CLASS to POOL (each copy its own pool, so never
    /// two copies on one cartridge).
    AddRoute {
        class: String,
        copy: u64,
        pool: String,
    },
    /// Storage classes with their routes.
    Classes,
    /// Move a tape that holds no live file (new, or reclaimed) to another
    /// pool.
    MoveTape {
        vid: String,
        #[arg(long)]
        pool: String,
    },
    /// Move a cartridge from its slot to a free import/export slot: its tape
    /// becomes exported (never mounted) until `tapeadmin import`.
    Export { vid: String },
    /// Put the exported cartridges found in the import/export slots back
    /// into their slots, each with its state before the export. With
    /// --pool and --capacity, a cartridge the catalogue does not know goes
    /// to a free slot and becomes a tape of that pool, read-only until a
    /// drive has read its VOL1 (a verification is queued; a wrong label
    /// disables it).
    Import {
        #[arg(long, requires = "capacity")]
        pool: Option<String>,
        /// Capacity of each new cartridge, e.g. "18TB".
        #[arg(long, value_parser = parse_capacity, requires = "pool")]
        capacity: Option<u64>,
    },
    /// Empty a tape that holds no live file: its deleted files' copies are
    /// forgotten and its next write mount starts again at fSeq 1.
    Reclaim { vid: String },
    /// Move every live copy off a tape (it goes `repacking`): each file is
    /// read into the repack buffer and archived again, to its route or
    /// --to-pool; the old copy is replaced only once the new one is
    /// recorded. Runs below user work on at most `[repack] max_drives`.
    Repack {
        vid: String,
        /// Write the moved copies to this pool (a new generation's).
        #[arg(long)]
        to_pool: Option<String>,
        /// Also write the copies each file's class asks for that no good
        /// tape holds (after a broken tape: `repack VID --add-copies`).
        #[arg(long)]
        add_copies: bool,
        /// Reclaim the tape once it holds no live copy.
        #[arg(long)]
        reclaim: bool,
    },
    /// Repacks, queued, running and ended, with their progress.
    Repacks,
}

pub fn parse_capacity(text: &str) -> Result<u64, String> {
    parse_size::parse_size(text).map_err(|e| format!("expected a size such as \"18TB\": {e}"))
}
