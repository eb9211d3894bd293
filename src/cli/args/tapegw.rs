//! The `tapegw` command line (parsed in `src/bin/tapegw.rs`; also read by
//! the man page and completion generator).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tapegw",
    version,
    about = "The WLCG Tape REST API over HTTPS, a client of tapeserverd's stager endpoints"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve in the foreground until SIGTERM.
    Run {
        #[arg(long, default_value = "/etc/tapeserver/tapegw.toml")]
        config: PathBuf,
    },
    /// Validate a config file (its keys are read too).
    CheckConfig { file: PathBuf },
    /// Print a token signed by the config's local issuer (WLCG token
    /// profile, ES256), as `tapeserverd keygen` makes CURVE keys.
    Token {
        #[arg(long, default_value = "/etc/tapeserver/tapegw.toml")]
        config: PathBuf,
        /// Space-separated scopes, e.g. "storage.stage:/ storage.read:/".
        #[arg(long)]
        scope: String,
        /// How long it is valid (1h, 30m, 2d).
        #[arg(long, default_value = "1h")]
        lifetime: humantime::Duration,
        /// Who it is for (the `sub` claim): stage requests are this
        /// subject's own.
        #[arg(long, default_value = "operator")]
        subject: String,
        /// The `aud` claim (default: the WLCG "any" audience).
        #[arg(long)]
        audience: Option<String>,
    },
}
