//! The repack scenario: a tape of many files of mixed sizes (0 B to 50 MB)
//! is repacked, with `--reclaim`, while a process of each kind (session,
//! parent, forker, controller, the library, PostgreSQL) is SIGKILLed at a
//! moment data moves. Then every file must be on tape exactly once (its
//! class's one copy), recall byte-exact, the old tape hold no live copy,
//! and the buffer never have held more than its bound.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tapeserver::config::{Config, Interval};

use super::checks::{self, BufferMonitor, LinkMonitor};
use super::site::{self, Site, setup};
use super::units;
use super::{Report, Rng, Settings, kill_at_a_moment, queue_archives, queue_recalls, settle};
use crate::common::pattern;

/// 0 B, a block's neighbours, mostly small, some MB, now and then up to
/// 50 MB.
fn size(rng: &mut Rng, i: usize) -> usize {
    match (i, rng.below(20)) {
        (0, _) => 0,
        (1, _) => 50_000_000,
        (_, 0) => rng.below(50_000_000) as usize,
        (_, 1..=5) => rng.below(4 << 20) as usize,
        _ => rng.below(300_000) as usize,
    }
}

/// Slower drives for the repack (a reload, as an operator's SIGHUP): it
/// lasts long enough for a kill of every kind to land while data moves.
fn slow_drives(site: &mut Site, report: &mut Report) {
    let mut cfg = Config::load(&site.config).expect("config");
    for d in &mut cfg.drives {
        if let Some(f) = d.faults.as_mut() {
            f.block_delay = Some(Interval(Duration::from_millis(20)));
        }
    }
    std::fs::write(&site.config, cfg.to_toml().expect("render")).expect("write config");
    let reloads = |site: &Site| site.daemon.log().matches("configuration reloaded").count();
    let before = reloads(site);
    match site.daemon.main_pid() {
        Some(pid) => {
            // SAFETY: kill(2) with SIGHUP on the daemon this harness started.
            unsafe {
                libc::kill(pid, libc::SIGHUP);
            }
        }
        None => report.violations.push("no daemon to reload".into()),
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while reloads(site) == before {
        if Instant::now() > deadline {
            report
                .violations
                .push("the daemon did not reload its config".into());
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn run(settings: &Settings, files: usize) -> Report {
    let started = Instant::now();
    let mut rng = Rng(settings.seed | 1);
    let mut report = Report::default();
    units::become_subreaper();
    let mut site = setup(settings);
    let monitor = LinkMonitor::start(
        site.drives
            .iter()
            .map(|d| site.path().join("site/library/drives").join(d))
            .collect(),
    );
    let buffer_dir = site.path().join("site/state/repack");
    let buffer = BufferMonitor::start(buffer_dir.clone(), site::REPACK_BUFFER);
    // Every file on V00001: the other tapes wait aside meanwhile.
    let others = ["V00002", "V00003", "V00004", "V00005", "V00006"];
    for vid in others {
        site.run(
            "tapeadmin",
            &["tape-state", vid, "disabled", "--reason", "aside"],
        );
    }
    let paths: Vec<PathBuf> = (0..files)
        .map(|i| {
            let path = site.path().join(format!("site/sources/r{i}"));
            std::fs::write(&path, pattern(size(&mut rng, i), rng.next())).expect("source");
            path
        })
        .collect();
    let archived = queue_archives(&site, paths, &mut report.violations);
    report.archived = archived.len();
    if let Err(e) = settle(&mut site, &archived, &[], &mut report) {
        report.violations.push(format!("archiving: {e}"));
    }
    for vid in others {
        site.run("tapeadmin", &["tape-state", vid, "active"]);
    }
    let on_v1 = site
        .scheduler()
        .tapes()
        .ok()
        .and_then(|t| t.into_iter().find(|t| t.vid == "V00001"))
        .map_or(0, |t| t.live_files);
    if on_v1 != archived.len() as u64 {
        report.violations.push(format!(
            "V00001 holds {on_v1} of the {} files before the repack",
            archived.len()
        ));
    }

    slow_drives(&mut site, &mut report);
    let out = site.run("tapeadmin", &["repack", "V00001", "--reclaim"]);
    if !out.status.success() {
        report.violations.push(format!(
            "tapeadmin repack: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // The kinds the repack must survive, in a random order, while it runs;
    // then the library and PostgreSQL. Should the repack end first, the
    // fullest tape is repacked next (up to three more) for the rest.
    let mut kinds = vec!["session", "parent", "forker", "controller"];
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.below(i as u64 + 1) as usize);
    }
    kinds.push("library");
    if settings.postgres {
        kinds.push("postgres");
    }
    let mut repacked: HashSet<String> = HashSet::from(["V00001".to_string()]);
    let mut pending: std::collections::VecDeque<&'static str> = kinds.into();
    let mut misses = 0;
    while let Some(&kind) = pending.front() {
        site.restart_dead_units(&mut report, &[]);
        let running = site.scheduler().repacks().is_ok_and(|r| {
            r.iter()
                .any(|r| matches!(r.state.as_str(), "queued" | "running"))
        });
        if !running {
            if repacked.len() >= 4 {
                report.violations.push(format!(
                    "four repacks ended before {pending:?} could be killed"
                ));
                break;
            }
            super::start_repack(&site, &mut repacked, &mut report.violations);
        }
        if kill_at_a_moment(&mut site, kind, &mut rng, &mut report) {
            pending.pop_front();
            report.iterations += 1;
        } else {
            eprintln!("repack: no moment to kill {kind} (the repack ended?)");
            misses += 1;
            if misses > 8 {
                report
                    .violations
                    .push(format!("no moment to kill {pending:?} in {misses} tries"));
                break;
            }
        }
    }
    if let Err(e) = settle(&mut site, &archived, &[], &mut report) {
        report.violations.push(format!("the repack: {e}"));
    }
    let mut found = Vec::new();
    {
        let mut db = site.scheduler();
        checks::catalogue(&mut *db, &archived, &HashSet::new(), &mut found);
        checks::repacks(&mut *db, &buffer_dir, &mut found);
        // (Each repack ended with its tape holding no live copy: it could
        // not have been reclaimed otherwise, which `checks::repacks` sees.)
        if let Ok(r) = db.repacks() {
            report.repacks = r.iter().filter(|r| r.state == "done").count();
            report.repacked_files = r.iter().map(|r| r.files_done).sum();
        }
    }
    report.catalogue_checks += archived.len();
    checks::library(&site.library_state(), site.barcodes, &mut found);

    // Every file back, byte-exact, from its new copy.
    let recall_dir = site.path().join("site/recalls");
    let wanted: Vec<(u64, PathBuf)> = archived
        .iter()
        .map(|f| (f.id, recall_dir.join(format!("r-{}", f.id))))
        .collect();
    let recalls = queue_recalls(&site, &wanted, &mut report.violations);
    match settle(&mut site, &archived, &recalls, &mut report) {
        Ok(()) => {
            let sources = archived.iter().map(|f| (f.id, f.source.clone())).collect();
            let mut db = site.scheduler();
            let exact = checks::recalls(&mut *db, &recalls, &sources, &recall_dir, &mut found);
            report.recalled_exact = exact.len();
            if exact.len() != archived.len() {
                found.push(format!(
                    "{} of {} files recalled byte-exact",
                    exact.len(),
                    archived.len()
                ));
            }
        }
        Err(e) => found.push(format!("recalls: {e}")),
    }
    found.extend(monitor.seen.lock().expect("monitor").drain(..));
    found.extend(buffer.seen.lock().expect("buffer monitor").drain(..));
    report.violations.extend(found);
    report.link_samples = *monitor.samples.lock().expect("monitor");
    report.buffer_peak = *buffer.peak.lock().expect("buffer monitor");
    report.elapsed = started.elapsed();
    if !report.violations.is_empty() {
        eprintln!("--- daemon log tail ---\n{}", site.daemon.log_tail());
        if let Ok(spare) = tempfile::tempdir() {
            let kept = std::mem::replace(&mut site.dir, spare).keep();
            eprintln!("the run's directory is kept in {}", kept.display());
        }
    }
    report
}
