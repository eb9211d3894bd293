//! Crash consistency under random kills (see `chaos_harness`): a few
//! iterations here, each process kind killed at least once; `scripts/chaos`
//! runs the full count. Set CHAOS_SEED to replay a run.

mod chaos_harness;
mod common;

use chaos_harness::{Settings, run};

fn check(name: &str, settings: &Settings) {
    let report = run(settings);
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
