//! tapeserverd: the tape server daemon (`run`), its installer (`init`) and
//! its config checker (`check-config`).

use anyhow::Context;
use clap::Parser;
use std::process::ExitCode;
use tapeserver::config::Config;
use tapeserver::daemon::{self, init};

use tapeserver::cli::args::tapeserverd::*;

fn main() -> ExitCode {
    tapeserver::util::restrict_umask();
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
            host,
            dry_run,
            archive_roots,
            recall_roots,
            media,
            pools,
            time_model,
            time_scale,
            gateway,
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
                host,
                dry_run,
                archive_roots,
                recall_roots,
                media,
                pools,
                time_model,
                time_scale,
                gateway,
            };
            let planned = init::init(&dir, &options)
                .with_context(|| format!("cannot initialise {}", dir.display()))?;
            if dry_run {
                let how = if planned.joining { "join" } else { "create" };
                eprintln!(
                    "dry run, nothing written: host {} would {how} the library at {} with drives {}, label and register {} new cartridges in the catalogue at {}, and write {}",
                    planned.host,
                    planned.library.display(),
                    planned.drives.join(", "),
                    planned.new_cartridges,
                    planned.scheduler,
                    planned.config.display()
                );
            }
            println!("{}", planned.config.display());
            if let Some(gateway) = &planned.gateway {
                println!("{}", gateway.display());
            }
            Ok(())
        })()),
        Command::InitLibrary {
            config,
            tapes,
            capacity,
        } => tapeserver::cli::exit_with((|| {
            let loaded = tapeserver::config::Config::load(&config)?;
            init::init_library(&loaded, tapes, capacity.0)
                .with_context(|| format!("cannot make the library {}", config.display()))?;
            println!(
                "{tapes} labelled cartridges in the library of {}",
                config.display()
            );
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
                Err(e) => {
                    // What `systemctl status` shows (nothing without systemd).
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(&format!(
                        "cannot start: {e}"
                    ))]);
                    return tapeserver::cli::exit_with(Err(e.into()));
                }
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
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(&format!(
                        "cannot start: {e}"
                    ))]);
                    tracing::error!(error = %e, "tapeserverd cannot run: {e}");
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
