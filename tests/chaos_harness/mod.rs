//! The crash-consistency harness: an archive and recall workload from
//! several stager clients, while a process of the system is SIGKILLed at
//! a moment data moves, and restarted the way systemd would. After every
//! iteration the system must settle and the rules in `checks` must hold.
//! Used by `tests/chaos.rs` (a few iterations) and `scripts/chaos` (the
//! full count, `CHAOS_ITERATIONS`).

pub mod checks;
pub mod repack;
mod report;
pub mod site;
pub mod stage;
pub mod units;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use tapeserver::config::Config;
use tapeserver::scheduler::{FileState, RecallState};

use crate::common::{BLOCK_SIZE, bin, pattern};
use checks::{Archived, LinkMonitor, Recall};
pub use report::Report;
use site::{Site, setup};
use units::{Unit, ppid, sigkill};

pub struct Settings {
    pub iterations: u32,
    /// New files archived per iteration (recalls: as many).
    pub files: usize,
    /// PostgreSQL as the scheduler (and a process kind to kill).
    pub postgres: bool,
    pub seed: u64,
}

impl Settings {
    /// `CHAOS_ITERATIONS` and `CHAOS_SEED` override the defaults.
    pub fn from_env(iterations: u32, postgres: bool) -> Self {
        let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse().ok());
        let seed = env("CHAOS_SEED").unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
        Self {
            iterations: env("CHAOS_ITERATIONS").map_or(iterations, |n: u64| n as u32),
            files: env("CHAOS_FILES").map_or(4, |n: u64| n as usize),
            postgres,
            seed,
        }
    }
}

/// xorshift: reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Sizes that find edge cases: empty, a block and one byte either side,
/// small, a few blocks, and now and then tens of MB.
fn size(rng: &mut Rng) -> usize {
    let bs = BLOCK_SIZE as usize;
    match rng.below(10) {
        0 => 0,
        1 => bs - 1,
        2 => bs,
        3 => bs + 1,
        4 | 5 => rng.below(100_000) as usize + 1,
        6..=8 => rng.below(4 << 20) as usize + bs,
        _ => rng.below(16 << 20) as usize + (8 << 20),
    }
}

/// The moment to kill: data moving on a drive (or, for the library, a
/// cartridge in a picker). None if the workload ended first.
fn wait_for_moment(site: &mut Site, kind: &str, rng: &mut Rng) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let pid = match kind {
            "library" => (site.moves_in_flight() > 0)
                .then(|| site.tlcd.main_pid())
                .flatten(),
            _ => {
                let moving: Vec<i64> = site
                    .tpstat()
                    .and_then(|s| s["drives"].as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter(|d| d["state"] == "running" && d["bytes"].as_u64() > Some(0))
                    .filter_map(|d| d["pid"].as_i64())
                    .collect();
                if moving.is_empty() {
                    None
                } else {
                    // A random moment within the transfer.
                    std::thread::sleep(Duration::from_millis(rng.below(150)));
                    let session = moving[rng.below(moving.len() as u64) as usize] as i32;
                    let parent = site.daemon.main_pid();
                    match kind {
                        "session" => Some(session),
                        "parent" => parent,
                        "forker" => ppid(session).filter(|f| Some(*f) != parent),
                        "controller" => site.tlcd.main_pid(),
                        "postgres" => site.postgres.as_mut().and_then(Unit::main_pid),
                        _ => None,
                    }
                }
            }
        };
        if pid.is_some() {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    eprintln!(
        "no moment to kill {kind} within 60 s: tpstat {:?}, tlcd {:?}",
        site.tpstat().map(|s| s["drives"].to_string()),
        site.tlcd.main_pid()
    );
    None
}

/// SIGKILLs a process of `kind` at a moment data moves and restarts what
/// died, as systemd would; false if no such moment came.
fn kill_at_a_moment(
    site: &mut Site,
    kind: &'static str,
    rng: &mut Rng,
    report: &mut Report,
) -> bool {
    let Some(pid) = wait_for_moment(site, kind, rng) else {
        return false;
    };
    sigkill(pid);
    *report.kills.entry(kind).or_default() += 1;
    // A unit's main process is seen dead (and reaped) before it is
    // restarted: SIGKILL is not instant.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let alive = match kind {
            "parent" => site.daemon.main_pid() == Some(pid),
            "controller" => site.tlcd.main_pid() == Some(pid),
            "postgres" => site.postgres.as_mut().and_then(units::Unit::main_pid) == Some(pid),
            _ => false,
        };
        if !alive {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Without its forker the daemon kills its sessions and exits, and
    // systemd restarts it. (A killed session needs nothing: the daemon
    // deals with it.)
    if kind == "forker" && !site.daemon.wait_main_exit(Duration::from_secs(60)) {
        report
            .violations
            .push("the daemon outlived its forker".into());
        if let Some(p) = site.daemon.main_pid() {
            sigkill(p);
        }
    }
    site.restart_dead_units(report, &[pid]);
    true
}

/// Queues this iteration's archives from three stager clients at once.
fn queue_archives(site: &Site, paths: Vec<PathBuf>, violations: &mut Vec<String>) -> Vec<Archived> {
    let mut handles = Vec::new();
    for chunk in paths.chunks(paths.len().div_ceil(3).max(1)) {
        let config = site.config.clone();
        let chunk = chunk.to_vec();
        handles.push(std::thread::spawn(move || {
            let out = Command::new(bin("stager"))
                .arg("--config")
                .arg(&config)
                .arg("archive")
                .args(&chunk)
                .output()
                .expect("stager");
            (chunk, out)
        }));
    }
    let mut files = Vec::new();
    for h in handles {
        let (chunk, out) = h.join().expect("stager thread");
        if !out.status.success() {
            violations.push(format!(
                "stager archive refused: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            continue;
        }
        let ids = crate::common::archived_ids(&String::from_utf8_lossy(&out.stdout));
        for ((id, _), source) in ids.into_iter().zip(chunk) {
            files.push(Archived { id, source });
        }
    }
    files
}

fn queue_recalls(
    site: &Site,
    wanted: &[(u64, PathBuf)],
    violations: &mut Vec<String>,
) -> Vec<Recall> {
    let mut out = Vec::new();
    for (file_id, destination) in wanted {
        let o = site.run(
            "stager",
            &[
                "recall",
                &file_id.to_string(),
                destination.to_str().expect("utf-8"),
            ],
        );
        let text = String::from_utf8_lossy(&o.stdout);
        let id = text
            .split_whitespace()
            .find_map(|w| w.parse::<u64>().ok())
            .filter(|_| o.status.success());
        match id {
            Some(id) => out.push(Recall {
                id,
                file_id: *file_id,
                destination: destination.clone(),
            }),
            None => violations.push(format!(
                "stager recall {file_id} refused: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
        }
    }
    out
}

/// Waits until every file is on tape, every recall ended and no drive has
/// a session, restarting units that died on their own meanwhile.
fn settle(
    site: &mut Site,
    files: &[Archived],
    recalls: &[Recall],
    report: &mut Report,
) -> Result<(), String> {
    let ids: Vec<u64> = files.iter().map(|f| f.id).collect();
    let rids: Vec<u64> = recalls.iter().map(|r| r.id).collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last = String::new();
    while Instant::now() < deadline {
        site.restart_dead_units(report, &[]);
        let mut db = match Config::load(&site.config)
            .ok()
            .and_then(|c| tapeserver::settings::open_scheduler(&c).ok())
        {
            Some(db) => db,
            None => {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        let files_done = db
            .file_status(&ids)
            .map(|s| {
                let waiting: Vec<_> = s
                    .iter()
                    .filter(|f| {
                        !matches!(
                            f.state,
                            FileState::OnTape | FileState::Failed | FileState::Deleted
                        )
                    })
                    .map(|f| f.id)
                    .collect();
                last = format!("files not yet on tape: {waiting:?}");
                waiting.is_empty()
            })
            .unwrap_or(false);
        let recalls_done = rids.is_empty()
            || db
                .recall_status(&rids)
                .map(|s| {
                    s.iter()
                        .all(|r| matches!(r.state, RecallState::Done | RecallState::Failed))
                })
                .unwrap_or(false);
        let idle = site.tpstat().is_some_and(|s| {
            s["drives"]
                .as_array()
                .is_some_and(|d| d.iter().all(|d| d["state"] == "up" || d["state"] == "down"))
        });
        let repacks_done = db.repacks().is_ok_and(|r| {
            r.iter().all(|r| {
                if !matches!(r.state.as_str(), "done" | "failed") {
                    last = format!(
                        "repack of {} {}: {}/{} files",
                        r.vid, r.state, r.files_done, r.files_total
                    );
                }
                matches!(r.state.as_str(), "done" | "failed")
            })
        });
        if files_done && recalls_done && idle && repacks_done {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("the system did not settle within 300 s: {last}"))
}

/// A drive left down must say why in the log; it is then put back up, as
/// an operator would, for the next iteration.
/// Deletes a file through the stager, then checks a recall of it is refused.
fn delete(site: &Site, id: u64, recall_dir: &std::path::Path, violations: &mut Vec<String>) {
    let out = site.run("stager", &["delete", &id.to_string()]);
    if !out.status.success() {
        violations.push(format!(
            "delete of file {id}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
        return;
    }
    let dest = recall_dir.join(format!("deleted-{id}"));
    let out = site.run(
        "stager",
        &["recall", &id.to_string(), &dest.display().to_string()],
    );
    if out.status.success() || !String::from_utf8_lossy(&out.stderr).contains("deleted") {
        violations.push(format!(
            "a recall of deleted file {id} was not refused: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
}

fn drives_back_up(site: &Site, report: &mut Report) {
    let Some(stat) = site.tpstat() else {
        report
            .violations
            .push("tpstat does not answer after settling".into());
        return;
    };
    let log = site.daemon.log();
    for d in stat["drives"].as_array().into_iter().flatten() {
        if d["state"] != "down" {
            continue;
        }
        let name = d["name"].as_str().unwrap_or_default();
        report.drives_down += 1;
        let reason = log
            .lines()
            .rev()
            .find(|l| l.contains("drive state") && l.contains(&format!("drive={name}")));
        match reason {
            Some(l) if l.contains("to=\"down\"") || l.contains("to=down") => {
                let reason = l.split_once("reason=").map_or(l, |(_, r)| r);
                report.down_reasons.push(format!("{name}: {reason}"));
            }
            other => report.violations.push(format!(
                "{name} is down without a logged reason (last: {other:?})"
            )),
        }
        let _ = site.run("tpconfig", &[name, "up"]);
    }
}

/// Repacks, with `--reclaim`, the tape holding the most live files that
/// was not repacked before, unless a repack still runs.
fn start_repack(site: &Site, repacked: &mut HashSet<String>, violations: &mut Vec<String>) {
    let mut db = site.scheduler();
    if db.repacks().is_ok_and(|r| {
        r.iter()
            .any(|r| matches!(r.state.as_str(), "queued" | "running"))
    }) {
        return;
    }
    let Ok(tapes) = db.tapes() else {
        return;
    };
    let Some(tape) = tapes
        .iter()
        .filter(|t| t.live_files > 0 && !repacked.contains(&t.vid))
        .max_by_key(|t| t.live_files)
    else {
        return;
    };
    let out = site.run("tapeadmin", &["repack", &tape.vid, "--reclaim"]);
    if out.status.success() {
        repacked.insert(tape.vid.clone());
    } else {
        violations.push(format!(
            "tapeadmin repack {}: {}",
            tape.vid,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
}

pub fn run(settings: &Settings) -> Report {
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
    let buffer =
        checks::BufferMonitor::start(site.path().join("site/state/repack"), site::REPACK_BUFFER);
    let mut repacked: HashSet<String> = HashSet::new();
    let mut kinds = vec!["session", "parent", "forker", "controller", "library"];
    if settings.postgres {
        kinds.push("postgres");
    }
    let mut all_files: Vec<Archived> = Vec::new();
    let mut all_recalls: Vec<Recall> = Vec::new();
    let mut sources: HashMap<u64, PathBuf> = HashMap::new();
    let mut unverified: Vec<u64> = Vec::new();
    let mut verified: HashSet<u64> = HashSet::new();
    let mut deleted: HashSet<u64> = HashSet::new();
    let mut first_deleted: Option<u64> = None;
    let mut order: Vec<&str> = Vec::new();
    let recall_dir = site.path().join("site/recalls");
    for iteration in 0..settings.iterations {
        // Kinds in a shuffled round: random, yet each comes up as often.
        if order.is_empty() {
            order = kinds.clone();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
        }
        let kind = order.pop().expect("a kind");
        let paths: Vec<PathBuf> = (0..settings.files)
            .map(|i| {
                let path = site.path().join(format!("site/sources/i{iteration}-{i}"));
                std::fs::write(&path, pattern(size(&mut rng), rng.next())).expect("source");
                path
            })
            .collect();
        let files = queue_archives(&site, paths, &mut report.violations);
        let wanted: Vec<(u64, PathBuf)> = unverified
            .drain(..)
            .map(|id| (id, recall_dir.join(format!("i{iteration}-{id}"))))
            .collect();
        let recalls = queue_recalls(&site, &wanted, &mut report.violations);
        // Every other iteration, the tape with the most live files is
        // repacked (and reclaimed) while the kills go on.
        if iteration % 2 == 1 {
            start_repack(&site, &mut repacked, &mut report.violations);
        }
        for f in &files {
            sources.insert(f.id, f.source.clone());
        }
        report.archived += files.len();
        all_files.extend(files.iter().cloned());
        all_recalls.extend(recalls);

        if !kill_at_a_moment(&mut site, kind, &mut rng, &mut report) {
            eprintln!("iteration {iteration}: no moment to kill {kind}");
        }

        if let Err(e) = settle(&mut site, &all_files, &all_recalls, &mut report) {
            report
                .violations
                .push(format!("iteration {iteration}: {e}"));
            report.iterations = iteration + 1;
            break;
        }
        drives_back_up(&site, &mut report);
        let mut db = site.scheduler();
        let mut found = Vec::new();
        checks::catalogue(&mut *db, &all_files, &deleted, &mut found);
        report.catalogue_checks += all_files.len();
        for id in checks::recalls(&mut *db, &all_recalls, &sources, &recall_dir, &mut found) {
            verified.insert(id);
        }
        checks::library(&site.library_state(), site.barcodes, &mut found);
        checks::repacks(&mut *db, &site.path().join("site/state/repack"), &mut found);
        found.extend(monitor.seen.lock().expect("monitor").drain(..));
        found.extend(buffer.seen.lock().expect("buffer monitor").drain(..));
        for v in found {
            report
                .violations
                .push(format!("iteration {iteration}: {v}"));
        }
        // One file recalled byte-exact already is deleted: it must never
        // be recalled again, whatever is killed next.
        if let Some(victim) = all_files
            .iter()
            .map(|f| f.id)
            .find(|id| verified.contains(id) && !deleted.contains(id))
        {
            delete(&site, victim, &recall_dir, &mut report.violations);
            deleted.insert(victim);
            first_deleted.get_or_insert(victim);
            report.deleted += 1;
        }
        unverified.extend(files.iter().map(|f| f.id));
        report.iterations = iteration + 1;
        eprintln!(
            "iteration {iteration}: killed {kind}, {} files, {} recalls, {} violations",
            all_files.len(),
            all_recalls.len(),
            report.violations.len()
        );
    }
    // A deleted file comes back and must recall again (the first whose
    // tape was not reclaimed by a repack since).
    let _ = first_deleted;
    let mut db = site.scheduler();
    let back = all_files.iter().map(|f| f.id).find(|id| {
        deleted.contains(id) && db.copies_of_files(&[*id]).is_ok_and(|c| c.contains_key(id))
    });
    drop(db);
    if let Some(id) = back {
        let out = site.run("tapeadmin", &["undelete", &id.to_string()]);
        if out.status.success() {
            deleted.remove(&id);
            verified.remove(&id);
        } else {
            report.violations.push(format!(
                "undelete of file {id}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    // The last iterations' files: recalled once more, with no kill.
    let wanted: Vec<(u64, PathBuf)> = all_files
        .iter()
        .filter(|f| !verified.contains(&f.id) && !deleted.contains(&f.id))
        .map(|f| (f.id, recall_dir.join(format!("final-{}", f.id))))
        .collect();
    let recalls = queue_recalls(&site, &wanted, &mut report.violations);
    all_recalls.extend(recalls);
    match settle(&mut site, &all_files, &all_recalls, &mut report) {
        Ok(()) => {
            let mut db = site.scheduler();
            let mut found = Vec::new();
            for id in checks::recalls(&mut *db, &all_recalls, &sources, &recall_dir, &mut found) {
                verified.insert(id);
            }
            report.violations.extend(found);
        }
        Err(e) => report.violations.push(format!("final recalls: {e}")),
    }
    let live_exact = verified.iter().filter(|id| !deleted.contains(id)).count();
    report.recalled_exact = live_exact;
    if live_exact != all_files.len() - deleted.len() {
        report.violations.push(format!(
            "{live_exact} of {} live files recalled byte-exact",
            all_files.len() - deleted.len()
        ));
    }
    report.link_samples = *monitor.samples.lock().expect("monitor");
    report.buffer_peak = *buffer.peak.lock().expect("buffer monitor");
    report
        .violations
        .extend(buffer.seen.lock().expect("buffer monitor").drain(..));
    if let Ok(r) = site.scheduler().repacks() {
        report.repacks = r.iter().filter(|r| r.state == "done").count();
        report.repacked_files = r.iter().map(|r| r.files_done).sum();
    }
    report.elapsed = started.elapsed();
    if !report.violations.is_empty() {
        eprintln!("--- daemon log tail ---\n{}", site.daemon.log_tail());
        eprintln!("--- tlcd log tail ---\n{}", site.tlcd.log_tail());
        // Kept for a post-mortem: logs, catalogue, cartridges.
        if let Ok(spare) = tempfile::tempdir() {
            let kept = std::mem::replace(&mut site.dir, spare).keep();
            eprintln!("the run's directory is kept in {}", kept.display());
        }
    }
    report
}
