//! The stage scenario: files archived through a small disk buffer (a tmpfs
//! kept between watermarks) and evicted are staged back through tapegw in
//! one request while tapegw, sessions and the parent are SIGKILLed. The
//! client does what FTS does: once the API says a file is online it reads
//! it, and releases it a few polls later (a transfer takes time), and the
//! collector evicts what was released. A file reported COMPLETED must be
//! there, byte for byte, when first seen and again just before its release
//! (the collector, starved for room meanwhile, must not take a pinned
//! copy); none may fail; all come back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tapeserver::config::DiskBufferConfig;
use tapeserver::config::Interval;
use tapeserver::config::disk_buffer::Percent;

use super::site::setup_with;
use super::units;
use super::{Report, Rng, Settings, kill_at_a_moment};
use crate::common::gateway::Gateway;
use crate::common::pattern;
use crate::common::tmpfs::Tmpfs;

/// The buffer: smaller than what is staged, so staging takes rounds of
/// recalls, each waiting for the client to release the last.
const BUFFER: &str = "16m";
/// Polls a file stays pinned after it was first read.
const HOLD_POLLS: u32 = 4;

pub fn run(settings: &Settings, files: usize) -> Report {
    let started = Instant::now();
    let mut rng = Rng(settings.seed | 1);
    let mut report = Report::default();
    units::become_subreaper();
    let mut tmpfs = None;
    let mut site = setup_with(settings, &["--gateway"], |cfg, site| {
        let buffer = Tmpfs::mount(&site.join("buffer"), BUFFER);
        cfg.buffer = Some(DiskBufferConfig {
            path: Some(buffer.path().to_path_buf()),
            high_watermark: Percent(75),
            low_watermark: Percent(25),
            collect_interval: Interval(Duration::from_millis(300)),
        });
        tmpfs = Some(buffer);
    });
    let Some(buffer) = tmpfs else {
        report.violations.push("no buffer was mounted".into());
        return report;
    };
    // Up to 1.5 MB each, archived four at a time and evicted, so that the
    // buffer never holds more than a few.
    let mut expected: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    let paths: Vec<String> = (0..files)
        .map(|i| buffer.path().join(format!("s{i:03}")).display().to_string())
        .collect();
    for batch in paths.chunks(4) {
        for p in batch {
            let (size, seed) = (100_000 + rng.below(1_400_000) as usize, rng.next());
            std::fs::write(p, pattern(size, seed)).expect("source");
            expected.insert(p.clone(), (size, seed));
        }
        let mut args = vec!["archive", "--wait"];
        args.extend(batch.iter().map(String::as_str));
        let out = site.run("stager", &args);
        let mut evict = vec!["evict"];
        evict.extend(batch.iter().map(String::as_str));
        let evicted = site.run("stager", &evict);
        for (what, o) in [("archive", out), ("evict", evicted)] {
            if !o.status.success() {
                report.violations.push(format!(
                    "stager {what}: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ));
            }
        }
    }
    report.archived = expected.len();

    let ca = site.path().join("site/gateway/ca.pem");
    let gw_config = site.path().join("site/tapegw.toml");
    let gw = Some(Gateway::launch(&ca, &gw_config));
    let token = gw
        .as_ref()
        .map(|g| g.token("storage.stage:/", "fts"))
        .unwrap_or_default();
    let body = json!({ "files": paths.iter().map(|p| json!({ "path": p })).collect::<Vec<_>>() });
    let created = gw.as_ref().map(|g| {
        g.curl(
            "POST",
            "/api/v1/stage",
            Some(&token),
            Some(&body.to_string()),
        )
    });
    let Some(id) = created
        .filter(|c| c.status == 201)
        .and_then(|c| c.json()["requestId"].as_str().map(String::from))
    else {
        report
            .violations
            .push("the stage request was refused".into());
        return report;
    };

    let mut kinds = vec!["tapegw", "session", "parent", "tapegw"];
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.below(i as u64 + 1) as usize);
    }
    // The client runs on its own: the kills wait for moments when data
    // moves, and data moves only as the client releases what it read.
    let gw = Arc::new(Mutex::new(gw));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (gw, stop, expected) = (gw.clone(), stop.clone(), expected.clone());
        let (ca, gw_config) = (ca.clone(), gw_config.clone());
        std::thread::spawn(move || {
            let mut client = Client {
                id,
                token,
                expected,
                verified: BTreeSet::new(),
                held: BTreeMap::new(),
                violations: Vec::new(),
                last_answer: String::new(),
                stalled: false,
            };
            let deadline = Instant::now() + Duration::from_secs(600);
            while !client.done() && !stop.load(Ordering::Relaxed) {
                if Instant::now() > deadline {
                    client.violations.push(format!(
                        "{} of {} files staged in 10 minutes; the last answer: {}",
                        client.verified.len(),
                        client.expected.len(),
                        client.last_answer
                    ));
                    client.stalled = true;
                    break;
                }
                {
                    let mut guard = gw.lock().unwrap_or_else(|p| p.into_inner());
                    let g = guard.get_or_insert_with(|| Gateway::launch(&ca, &gw_config));
                    client.poll(g);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            client
        })
    };
    let mut misses = 0;
    for kind in kinds {
        loop {
            site.restart_dead_units(&mut report, &[]);
            if client.is_finished() {
                break;
            }
            if kind == "tapegw" {
                let killed = gw.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(g) = killed {
                    g.kill();
                    *report.kills.entry("tapegw").or_default() += 1;
                    report.iterations += 1;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            if kill_at_a_moment(&mut site, kind, &mut rng, &mut report) {
                report.iterations += 1;
                break;
            }
            misses += 1;
            if misses > 20 {
                report
                    .violations
                    .push(format!("no moment to kill {kind} in {misses} tries"));
                break;
            }
        }
    }
    while !client.is_finished() {
        site.restart_dead_units(&mut report, &[]);
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let client = match client.join() {
        Ok(c) => c,
        Err(_) => {
            report.violations.push("the client panicked".into());
            return report;
        }
    };
    report.violations.extend(client.violations);
    if client.stalled {
        // What CI shows of a failure is its violations: say where it stood.
        report.violations.push(stall_snapshot(&site));
    }
    report.recalled_exact = client.verified.len();
    report.elapsed = started.elapsed();
    if !report.violations.is_empty() {
        eprintln!("--- daemon log tail ---\n{}", site.daemon.log_tail());
        if let Some(g) = &*gw.lock().unwrap_or_else(|p| p.into_inner()) {
            eprintln!("--- tapegw log ---\n{}", g.log());
        }
    }
    drop(gw.lock().unwrap_or_else(|p| p.into_inner()).take());
    // The site's directory goes with it, but for the buffer's mount point
    // while mounted: removed once unmounted.
    let dir = site.path().to_path_buf();
    drop(site);
    drop(buffer);
    let _ = std::fs::remove_dir_all(dir);
    report
}

/// The client, as FTS is: reads each file the API says is online, holds
/// its pin a few polls (a transfer), checks it again and releases it.
struct Client {
    id: String,
    token: String,
    expected: BTreeMap<String, (usize, u64)>,
    verified: BTreeSet<String>,
    /// Read, pinned, and the polls each has been held for.
    held: BTreeMap<String, u32>,
    violations: Vec<String>,
    /// The last status answer, in short (to say where a stall stood).
    last_answer: String,
    stalled: bool,
}

impl Client {
    fn done(&self) -> bool {
        self.verified.len() == self.expected.len() && self.held.is_empty()
    }

    fn poll(&mut self, g: &Gateway) {
        let status = g.curl(
            "GET",
            &format!("/api/v1/stage/{}", self.id),
            Some(&self.token),
            None,
        );
        if status.status != 200 {
            // The daemon restarting: the gateway answers 503 meanwhile.
            self.last_answer = format!(
                "HTTP {}: {}",
                status.status,
                status.body.chars().take(300).collect::<String>()
            );
            return;
        }
        let status = status.json();
        let mut states: BTreeMap<String, usize> = BTreeMap::new();
        for f in status["files"].as_array().into_iter().flatten() {
            *states.entry(f["state"].to_string()).or_default() += 1;
        }
        self.last_answer = format!(
            "HTTP 200, files by state {states:?}, held {}",
            self.held.len()
        );
        for path in check_online(
            &status,
            &self.expected,
            &mut self.verified,
            &mut self.violations,
        ) {
            self.held.insert(path, 0);
        }
        let mut online = Vec::new();
        let (expected, violations) = (&self.expected, &mut self.violations);
        self.held.retain(|path, polls| {
            *polls += 1;
            if *polls < HOLD_POLLS {
                return true;
            }
            if let Some(why) = differs(path, expected) {
                violations.push(format!("{path}: pinned, yet before its release {why}"));
            }
            online.push(path.clone());
            false
        });
        if online.is_empty() {
            return;
        }
        let released = g.curl(
            "POST",
            &format!("/api/v1/release/{}", self.id),
            Some(&self.token),
            Some(&json!({ "paths": online }).to_string()),
        );
        if released.status != 200 {
            // Not released: held again, released at a later poll.
            for p in online {
                self.held.insert(p, HOLD_POLLS);
            }
        }
    }
}

/// Where the site stood when the stage stalled, in a few lines: the
/// drives, the buffer, the daemon's last warnings.
fn stall_snapshot(site: &super::site::Site) -> String {
    let drives = site
        .tpstat()
        .map(|s| s["drives"].to_string())
        .unwrap_or_else(|| "no tpstat".into());
    let buffer = site.run("tapeadmin", &["buffer", "--json"]);
    let queue = site.run("tapeadmin", &["queues"]);
    let mounts = site.run("tapeadmin", &["mounts"]);
    let log = site.daemon.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    let last: Vec<&str> = log.lines().rev().take(6).collect();
    format!(
        "stalled: drives {drives}; buffer {}; queues {}; mounts {}; last warnings {:#?}; last lines {:#?}",
        String::from_utf8_lossy(&buffer.stdout).trim(),
        String::from_utf8_lossy(&queue.stdout)
            .chars()
            .take(600)
            .collect::<String>(),
        String::from_utf8_lossy(&mounts.stdout)
            .chars()
            .take(400)
            .collect::<String>(),
        &warnings[warnings.len().saturating_sub(8)..],
        last
    )
}

/// The files the API says are online and this client has not read yet:
/// each must be at its path, byte for byte (it is pinned until released).
fn check_online(
    status: &Value,
    expected: &BTreeMap<String, (usize, u64)>,
    verified: &mut BTreeSet<String>,
    violations: &mut Vec<String>,
) -> Vec<String> {
    let mut online = Vec::new();
    for f in status["files"].as_array().into_iter().flatten() {
        let Some(path) = f["path"].as_str() else {
            continue;
        };
        match f["state"].as_str() {
            Some("FAILED") | Some("CANCELLED") => {
                violations.push(format!("{path}: {} ({})", f["state"], f["error"]));
                // Counted, so that the run ends.
                verified.insert(path.to_string());
            }
            Some("COMPLETED") if !verified.contains(path) => {
                if !expected.contains_key(path) {
                    violations.push(format!("{path}: not asked for"));
                    continue;
                }
                if let Some(why) = differs(path, expected) {
                    violations.push(format!("{path}: reported COMPLETED, but {why}"));
                }
                verified.insert(path.to_string());
                online.push(path.to_string());
            }
            _ => {}
        }
    }
    online
}

/// Why the file at `path` is not the one archived there, if it is not.
fn differs(path: &str, expected: &BTreeMap<String, (usize, u64)>) -> Option<String> {
    let &(size, seed) = expected.get(path)?;
    match std::fs::read(path) {
        Ok(bytes) if bytes == pattern(size, seed) => None,
        Ok(bytes) => Some(format!(
            "its {} bytes are not the {size} archived",
            bytes.len()
        )),
        Err(e) => Some(format!("it is gone: {e}")),
    }
}
