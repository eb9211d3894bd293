//! The `tapeserverd` command line (parsed in `src/bin/tapeserverd.rs`; also read by the
//! man page and completion generator).

use std::path::PathBuf;

use crate::config::ByteSize;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tapeserverd",
    version,
    about = "Tape server daemon: migrates disk files to tape and recalls them"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per run: the size of the Init variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Write a single-host installation (config, emulated SCSI library with an embedded controller, labelled cartridges) under DIR.
    Init {
        dir: PathBuf,
        #[arg(long, default_value_t = 2)]
        drives: u32,
        #[arg(long, default_value_t = 10)]
        tapes: u32,
        /// Capacity of each cartridge, e.g. "20GiB".
        #[arg(long, default_value = "20GiB", value_parser = parse_capacity)]
        capacity: ByteSize,
        /// A scheduler shared with other hosts: postgres://USER@HOST[:PORT]/DB
        /// (or sqlite://PATH). No password in the URL: see --password-file.
        #[arg(long)]
        scheduler: Option<String>,
        /// A file holding the PostgreSQL password (its first line).
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// A library directory shared with other hosts: joined if it exists.
        #[arg(long)]
        library: Option<PathBuf>,
        /// Drive names start with this, to stay unique across hosts.
        #[arg(long, default_value = "drive")]
        drive_prefix: String,
        /// tlcd endpoints serving the library, comma-separated (default: a
        /// controller embedded in this daemon).
        #[arg(long, value_delimiter = ',')]
        controllers: Vec<String>,
        /// Changer paths of the emulated library (each with its own picker).
        #[arg(long, default_value_t = 2)]
        changer_paths: u32,
        /// How long the emulated robot takes per move, e.g. "2s".
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        move_time: std::time::Duration,
        /// This host's name in a shared catalogue (written as `[daemon] host`;
        /// default: the host name).
        #[arg(long)]
        host: Option<String>,
        /// Check the options, the library and the drive names; write nothing
        /// (no library, no catalogue entry, no config).
        #[arg(long)]
        dry_run: bool,
        /// Where files may be archived from (repeat for several; default:
        /// DIR). At a site, give every host the same roots: a file queued
        /// through one host may be written by another's drive.
        #[arg(long = "archive-root")]
        archive_roots: Vec<PathBuf>,
        /// Where files may be recalled to (repeat; default: DIR), the same
        /// on every host of a site.
        #[arg(long = "recall-root")]
        recall_roots: Vec<PathBuf>,
        /// Media generations, e.g. "LTO8,LTO9": drives and new cartridges
        /// take them in turn (drive0 LTO8, drive1 LTO9; V00001 L8, V00002
        /// L9...), so a library mixes generations.
        #[arg(long, value_delimiter = ',')]
        media: Vec<String>,
        /// Pools and their share of the new cartridges, e.g.
        /// "default:3,copy2:3" (V00001-V00003 in default, V00004-V00006 in
        /// copy2); replaces --tapes. Route a class's copies to them with
        /// `tapeadmin add-class` and `add-route`.
        #[arg(long, value_delimiter = ',')]
        pools: Vec<String>,
        /// Drives and robot take the time of a real library of this
        /// generation: lto8, lto9 or lto10 (`[library] time_model`).
        #[arg(long)]
        time_model: Option<String>,
        /// How many times faster than real the time model runs, e.g. 100
        /// (a 56 s unload takes 0.56 s).
        #[arg(long, default_value_t = 1.0, requires = "time_model")]
        time_scale: f64,
        /// Also write DIR/tapegw.toml: a WLCG Tape REST API gateway on a
        /// free loopback port, with a CA and certificate made in
        /// DIR/gateway and a local token issuer (`tapegw token`).
        #[arg(long)]
        gateway: bool,
    },
    /// Make the emulated library a config names, where it is missing: its
    /// drives, labelled cartridges registered in its catalogue (what the
    /// package runs so that its config starts out of the box).
    InitLibrary {
        #[arg(long, env = "TAPESERVER_CONFIG", default_value = crate::config::DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        #[arg(long, default_value_t = 10)]
        tapes: u32,
        /// Capacity of each cartridge, e.g. "20GiB".
        #[arg(long, default_value = "20GiB", value_parser = parse_capacity)]
        capacity: ByteSize,
    },
    /// Run the daemon in the foreground.
    Run {
        #[arg(long, env = "TAPESERVER_CONFIG", default_value = crate::config::DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
    /// Validate a config file.
    CheckConfig { file: PathBuf },
    /// Write a CURVE key pair: DIR/NAME.key (mode 0600, for `[security]
    /// key_file` or a client's `key_file`) and DIR/NAME.pub (the public key
    /// to list on the other side). Never overwrites.
    Keygen {
        name: String,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

pub fn parse_capacity(text: &str) -> Result<ByteSize, String> {
    parse_size::parse_size(text)
        .map(ByteSize)
        .map_err(|e| format!("expected a size such as \"20GiB\": {e}"))
}
