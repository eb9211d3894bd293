//! tapeadmin: pools, tapes, queues and mounts of the site's scheduler.

use anyhow::Context;
use clap::Parser;
use tapeserver::cli::tapeadmin;

use tapeserver::cli::args::tapeadmin::*;

fn main() -> std::process::ExitCode {
    tapeserver::cli::quiet_on_closed_pipe();
    let cli = Cli::parse();
    tapeserver::cli::exit_with((|| {
        let config = tapeserver::cli::client_config(cli.config)?;
        let mut db =
            tapeserver::settings::open_scheduler(&config).context("cannot open the scheduler")?;
        let db = &mut *db;
        match cli.command {
            Command::Pools => tapeadmin::pools(db, cli.json),
            Command::AddPool { name } => tapeadmin::add_pool(db, &name),
            Command::AddTape {
                vid,
                pool,
                capacity,
                media,
            } => {
                let library = tapeserver::settings::library_client(&config);
                tapeadmin::add_tape(db, &library, &vid, &pool, capacity, media.as_deref())
            }
            Command::TapeState { vid, state, reason } => {
                tapeadmin::set_tape_state(db, &vid, &state, reason.as_deref())
            }
            Command::Queues => tapeadmin::queues(db, &config.scheduler.shares, cli.json),
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
            Command::Retry { file_ids } => tapeadmin::retry(db, &file_ids, false),
            Command::RetryRecall { recall_ids } => tapeadmin::retry(db, &recall_ids, true),
            Command::File { file_id } => tapeadmin::file(db, file_id, cli.json),
            Command::Mounts => tapeadmin::mounts(db, cli.json),
            Command::Buffer => tapeserver::cli::buffer::report(db, &config, cli.json),
            Command::CloseMount { mount_id } => tapeadmin::close_mount(db, mount_id),
            Command::Undelete { file_ids } => {
                for id in file_ids {
                    db.undelete(id, config.scheduler.recycle_retention.0)?;
                    println!("file {id} undeleted");
                }
                Ok(())
            }
            Command::Verify { vid, sample } => tapeadmin::verify(db, &vid, sample),
            Command::AddClass { name, copies } => {
                db.add_class(&name, copies)?;
                println!("storage class {name} of {copies} copies created: add a route per copy");
                Ok(())
            }
            Command::AddRoute { class, copy, pool } => {
                db.add_route(&class, copy, &pool)?;
                println!("copy {copy} of class {class} goes to pool {pool}");
                Ok(())
            }
            Command::Classes => tapeadmin::classes(db, cli.json),
            Command::MoveTape { vid, pool } => {
                db.move_tape(&vid, &pool)?;
                println!("tape {vid} moved to pool {pool}");
                Ok(())
            }
            Command::Export { vid } => {
                let library = tapeserver::settings::library_client(&config);
                tapeadmin::export(db, &library, &vid)
            }
            Command::Import { pool, capacity } => {
                let library = tapeserver::settings::library_client(&config);
                let new_tapes = pool.as_deref().zip(capacity);
                tapeadmin::import(db, &library, new_tapes)
            }
            Command::Repack {
                vid,
                to_pool,
                add_copies,
                reclaim,
            } => {
                let request = tapeserver::scheduler::RepackRequest {
                    to_pool,
                    add_copies,
                    reclaim,
                };
                tapeserver::cli::repacks::repack(db, &vid, &request, &tapeadmin::operator())
            }
            Command::Repacks => tapeserver::cli::repacks::repacks(db, cli.json),
            Command::Reclaim { vid } => {
                let forgotten = db.reclaim(&vid)?;
                println!(
                    "tape {vid} reclaimed: {forgotten} deleted files' copies forgotten; its next write starts at fSeq 1"
                );
                Ok(())
            }
        }
    })())
}
