//! tapeserverd: the tape server daemon (`run`), its installer (`init`) and
//! its config checker (`check-config`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tapeserver::config::{ByteSize, Config};
use tapeserver::daemon::{self, init};

#[derive(Parser)]
#[command(
    name = "tapeserverd",
    version,
    about = "Tape server daemon: migrates disk files to tape and recalls them"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    },
    /// Run the daemon in the foreground.
    Run {
        #[arg(long, env = "TAPESERVER_CONFIG", default_value = tapeserver::config::DEFAULT_CONFIG_PATH)]
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

fn parse_capacity(text: &str) -> Result<ByteSize, String> {
    parse_size::parse_size(text)
        .map(ByteSize)
        .map_err(|e| format!("expected a size such as \"20GiB\": {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Init {
            dir,
            drives,
            tapes,
            capacity,
            scheduler,
            password_file,
            library,
            drive_prefix,
            controllers,
            changer_paths,
            move_time,
        } => tapeserver::cli::exit_with((|| {
            let options = init::InitOptions {
                drives,
                tapes,
                capacity: capacity.0,
                scheduler_url: scheduler,
                password_file,
                library,
                drive_prefix,
                controllers,
                changer_paths,
                move_time,
            };
            let path = init::init(&dir, &options)
                .with_context(|| format!("cannot initialise {}", dir.display()))?;
            println!("{}", path.display());
            Ok(())
        })()),
        Command::Keygen { name, dir } => tapeserver::cli::exit_with((|| {
            let pair = tapeserver::messaging::curve::KeyPair::generate()?;
            let (secret, public) = pair.write(&dir, &name)?;
            println!(
                "{}\n{}\npublic key: {}",
                secret.display(),
                public.display(),
                pair.public
            );
            Ok(())
        })()),
        Command::CheckConfig { file } => tapeserver::cli::exit_with(
            Config::load(&file)
                .map(|_| println!("{}: ok", file.display()))
                .map_err(Into::into),
        ),
        Command::Run {
            config: config_path,
        } => {
            let config = match Config::load(&config_path) {
                Ok(c) => c,
                Err(e) => return tapeserver::cli::exit_with(Err(e.into())),
            };
            tapeserver::logging::init(&config.daemon.log_level);
            tracing::info!(
                config = %config_path.display(),
                scheduler = %config.scheduler.url,
                library = ?config.library.kind,
                controllers = ?config.controller_endpoints(),
                drives = config.drives.len(),
                block_size = config.session.block_size.0,
                block_count = config.session.block_count,
                flush_files = config.session.flush_files,
                flush_bytes = config.session.flush_bytes.0,
                "configuration loaded (keys not in the file take their documented defaults)"
            );
            match daemon::run(config, &config_path) {
                Ok(0) => ExitCode::SUCCESS,
                Ok(code) => ExitCode::from(code as u8),
                Err(e) => {
                    tracing::error!(error = %e, "tapeserverd cannot run");
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
