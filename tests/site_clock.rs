//! One clock for a site: every time in the shared catalogue is the
//! database's, so hosts whose own clocks disagree by hours still agree on
//! which leases ran out. Host b runs with its clock an hour ahead (and its
//! sessions too: libfaketime, as a host with a wrong clock would be); host a
//! keeps the right time. Each drive writes and stalls mid-file, its mount
//! open, while both renew their leases: neither reaps the other's live
//! mount. Then b is killed, and a reaps b's mount as soon as b's lease runs
//! out by the database's clock, and finishes b's work.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::pg::TestPg;
use common::{Install, Tlcd, wait_until};
use tapeserver::config::{FaultsConfig, Interval};

/// Debian's libfaketime (multi-threaded flavour).
fn libfaketime() -> String {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("faketime/libfaketimeMT.so.1"))
        .find(|p| p.exists());
    match found {
        Some(p) => p.display().to_string(),
        None => panic!("libfaketime is not installed: scripts/test installs the faketime package"),
    }
}

fn server(db: &TestPg, name: &str, library: Option<&Path>) -> Install {
    let mut args = vec!["--scheduler", db.url.as_str(), "--drive-prefix", name];
    let library = library.map(|l| l.display().to_string());
    if let Some(l) = &library {
        args.extend(["--library", l.as_str()]);
    }
    Install::with_args(1, 3, &args)
}

fn count(pg: &mut postgres::Client, sql: &str) -> i64 {
    pg.query_one(sql, &[]).unwrap().get(0)
}

/// Every descendant of `pid` (its forker and sessions), through /proc.
fn tree(pid: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
        {
            children.entry(ppid).or_default().push(p);
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        out.extend(children.get(&out[i]).cloned().unwrap_or_default());
        i += 1;
    }
    out
}

/// Waits until each host has renewed its leases `rounds` more times:
/// each renewal moves its `expires`, and each round of a host's liveness
/// renews first, then looks for expired peers.
fn wait_for_renewals(pg: &mut postgres::Client, hosts: &[&str], rounds: usize) {
    let mut seen: HashMap<String, HashSet<u64>> = HashMap::new();
    wait_until("lease renewals on every host", || {
        for row in pg
            .query("SELECT host, expires FROM drive_leases", &[])
            .unwrap()
        {
            let (host, expires): (String, f64) = (row.get(0), row.get(1));
            seen.entry(host).or_default().insert(expires.to_bits());
        }
        hosts
            .iter()
            .all(|h| seen.get(*h).map_or(0, HashSet::len) > rounds)
    });
}

#[test]
fn a_host_whose_clock_is_an_hour_ahead_neither_reaps_a_live_peer_nor_is_reaped() {
    let faketime = libfaketime();
    let db = TestPg::new();
    let a = server(&db, "a", None);
    let library = a.path().join("library");
    let b = server(&db, "b", Some(&library));
    let release = a.path().join("release");
    let tlcd_endpoint = format!("ipc://{}/tlc0.sock", a.path().display());
    for (install, host) in [(&a, "a"), (&b, "b")] {
        let release = release.clone();
        let root = a.path().to_path_buf();
        install.configure(|cfg| {
            cfg.daemon.host = Some(host.into());
            cfg.library.controllers = vec![tlcd_endpoint.clone()];
            cfg.scheduler.drive_lease = Interval(Duration::from_secs(2));
            cfg.scheduler.empty_mount_backoff = Interval(Duration::from_millis(200));
            cfg.paths.archive_roots.push(root.clone());
            cfg.session.bulk_files = 1;
            // Each drive writes a file's first data block, then hangs.
            cfg.drives[0].faults = Some(FaultsConfig {
                stall_at_block: Some(5),
                stall_until: Some(release),
                ..Default::default()
            });
        });
    }
    let _tlcd = Tlcd::start(&a, "tlc0");
    let _a = a.start();
    let b_daemon = b.start_with_env(&[
        ("LD_PRELOAD", faketime.as_str()),
        ("FAKETIME", "+1h"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ]);
    let mut pg = db.client();

    // Enough files that the second drive finds work while the first's
    // session has taken some ahead.
    let sources: Vec<PathBuf> = (0..8)
        .map(|i| a.make_file(&format!("f{i}"), 3 << 20, i))
        .collect();
    let ids = a.archive(&sources);
    // Until the release, only a mount that found no work may end: any
    // other was closed under its running session.
    let reaped = |pg: &mut postgres::Client| {
        count(
            pg,
            "SELECT COUNT(*) FROM mounts WHERE ended IS NOT NULL AND empty = 0",
        )
    };
    wait_until("a migration mount open on each host", || {
        assert_eq!(
            reaped(&mut pg),
            0,
            "a live host's mount was closed{}",
            b.daemon_log_tail()
        );
        count(
            &mut pg,
            "SELECT COUNT(DISTINCT host) FROM mounts WHERE ended IS NULL AND kind = 'migration'",
        ) == 2
    });
    let open_mounts = |pg: &mut postgres::Client| -> Vec<(i64, String)> {
        pg.query(
            "SELECT id, host FROM mounts WHERE ended IS NULL ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    };
    let before = open_mounts(&mut pg);

    // Three rounds of each host's liveness, each ending with a look for
    // expired peers: a's lease, stamped by a clock an hour behind b's, would
    // have run out for b at once; b's lease would have run an hour longer.
    wait_for_renewals(&mut pg, &["a", "b"], 3);
    assert_eq!(
        reaped(&mut pg),
        0,
        "a live host's mount was closed{}",
        b.daemon_log_tail()
    );
    assert_eq!(
        open_mounts(&mut pg),
        before,
        "no live host's mount was reaped{}",
        b.daemon_log_tail()
    );
    for (install, drive) in [(&a, "a0"), (&b, "b0")] {
        let drive = install.drive(drive);
        assert_eq!(drive["state"], "running", "{drive}");
    }

    // b dies with its mount open: a reaps it once b's lease has run out by
    // the database's clock, however far ahead b's clock was.
    let b_pid = b_daemon.pid();
    let b_mount = before.iter().find(|(_, h)| h == "b").unwrap().0;
    for pid in tree(b_pid) {
        // SAFETY: kill(2) on processes this test started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    drop(b_daemon);
    wait_until("a reaps b's mount", || {
        count(
            &mut pg,
            &format!("SELECT COUNT(*) FROM mounts WHERE id = {b_mount} AND ended IS NOT NULL"),
        ) == 1
    });
    std::fs::write(&release, b"").unwrap();
    a.wait_for("every file on tape", Duration::from_secs(120), || {
        ids.iter().all(|id| a.state_of(*id).state == "on_tape")
    });
}
