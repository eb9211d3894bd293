//! Crash consistency under random kills (see `chaos_harness`): a few
//! iterations here, each process kind killed at least once; `scripts/chaos`
//! runs the full count. Set CHAOS_SEED to replay a run.

mod chaos_harness;
mod common;

use chaos_harness::{Settings, run};

/// Files on the tape the repack scenario repacks (`CHAOS_REPACK_FILES`).
fn repack_files() -> usize {
    std::env::var("CHAOS_REPACK_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn check(name: &str, settings: &Settings) {
    assert_clean(name, settings, run(settings));
}

fn assert_clean(name: &str, settings: &Settings, report: chaos_harness::Report) {
    report.print(name, settings.seed);
    assert!(
        report.violations.is_empty(),
        "{} violations (seed {}): {:#?}",
        report.violations.len(),
        settings.seed,
        report.violations
    );
}

/// SQLite scheduler: session, parent, forker, controller and the emulated
/// library (the controller killed with a cartridge in a picker).
#[test]
fn random_kills_lose_and_duplicate_nothing() {
    check("sqlite", &Settings::from_env(5, false));
}

/// PostgreSQL scheduler: the same kinds, and the database server itself.
#[test]
fn random_kills_with_postgres_lose_and_duplicate_nothing() {
    check("postgres", &Settings::from_env(6, true));
}

/// A tape of 200 files from 0 B to 50 MB repacked (and reclaimed) while a
/// process of each kind is killed: every file on tape once, recalled
/// byte-exact, the old tape empty, the buffer within its bound.
#[test]
fn a_repack_under_random_kills_keeps_every_file() {
    let settings = Settings::from_env(1, false);
    let report = chaos_harness::repack::run(&settings, repack_files());
    assert_clean("repack, sqlite", &settings, report);
}

/// The same on PostgreSQL, which is killed too.
#[test]
fn a_repack_under_random_kills_with_postgres_keeps_every_file() {
    let settings = Settings::from_env(1, true);
    let report = chaos_harness::repack::run(&settings, repack_files());
    assert_clean("repack, postgres", &settings, report);
}

/// A stage of more than the disk buffer holds through tapegw, while
/// tapegw (twice), a session and the parent are killed: no file reported
/// online differs from what was archived or is gone while pinned.
#[test]
fn a_stage_through_tapegw_under_random_kills_reports_only_exact_files() {
    let settings = Settings::from_env(1, false);
    let report = chaos_harness::stage::run(&settings, 24);
    assert_clean("stage, sqlite", &settings, report);
}

/// The harness reaps the orphans a killed daemon leaves with the test
/// process (their reaper), while other tests of this binary run their own
/// commands: it must never take the exit status of a command another
/// thread waits for (a site's `tapeserverd init` failed with "No child
/// processes" that way). Each command here has exited and is left
/// unwaited for a second while the harness reaps: it must still be there
/// for its own thread to wait on.
#[test]
fn reaping_orphans_never_takes_another_threads_command() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    chaos_harness::units::become_subreaper();
    let stop = Arc::new(AtomicBool::new(false));
    let reaper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                chaos_harness::units::reap_orphans();
            }
        })
    };
    let mut failures = Vec::new();
    for _ in 0..5 {
        let mut child = std::process::Command::new(common::bin("tapeserverd"))
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let stat = format!("/proc/{}/stat", child.id());
        // Exited, not yet waited for (a busy thread), until the harness
        // takes it or a second passes.
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline && std::path::Path::new(&stat).exists() {
            std::thread::sleep(Duration::from_millis(5));
        }
        match child.wait() {
            Ok(status) if status.success() => {}
            other => failures.push(format!("{other:?}")),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = reaper.join();
    assert!(failures.is_empty(), "{} of 5: {failures:?}", failures.len());
}
