//! Every command's arguments, as clap parses them: the binaries parse
//! them, and `commands` hands them to the man page and shell completion
//! generator (`examples/gen_docs.rs`).

use clap::CommandFactory;

pub mod readtp;
pub mod stager;
pub mod tapeadmin;
pub mod tapegw;
pub mod tapeserverd;
pub mod tlcd;
pub mod tpconfig;
pub mod tplabel;
pub mod tplib;
pub mod tpstat;

/// Every binary's command, by name.
pub fn commands() -> Vec<clap::Command> {
    vec![
        readtp::Cli::command(),
        stager::Cli::command(),
        tapegw::Cli::command(),
        tapeadmin::Cli::command(),
        tapeserverd::Cli::command(),
        tlcd::Cli::command(),
        tpconfig::Cli::command(),
        tplabel::Cli::command(),
        tplib::Cli::command(),
        tpstat::Cli::command(),
    ]
}
