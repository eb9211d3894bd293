//! The parent at production depth, with real processes: the watchdog kills
//! a stalled session and a cleaner follows, a killed parent recovers on
//! restart, drain, labelling, readtp, reload on SIGHUP, forker death and
//! the shutdown deadline.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Install, pattern};
use tapeserver::config::{ByteSize, FaultsConfig, Interval};

const LONG: Duration = Duration::from_secs(60);
const KIB: usize = 1024;

fn install(tapes: u32, min_files: u64, faults: FaultsConfig) -> Install {
    let install = Install::new(1, tapes);
    install.configure(|c| {
        c.scheduler.mount_min_files = min_files;
        c.scheduler.mount_min_bytes = ByteSize(u64::MAX);
        c.scheduler.mount_max_age = Interval(Duration::from_secs(3));
        c.session.flush_files = 1;
        c.session.heartbeat_interval = Interval(Duration::from_millis(200));
        // Only a test that waits for the watchdog sets a short limit: a
        // loaded machine must not make a slow session look stuck.
        c.watchdog.no_data_movement_timeout = Interval(Duration::from_secs(3600));
        c.drives[0].faults = Some(faults);
    });
    install
}

fn files(install: &Install, n: u64, size: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| install.make_file(&format!("f{i}"), size, 100 + i))
        .collect()
}

fn all_on_tape_once(install: &Install, ids: &[u64]) -> bool {
    let status = install.status();
    let mut places = std::collections::BTreeSet::new();
    ids.iter().all(|id| {
        status
            .iter()
            .find(|f| f.id == *id)
            .is_some_and(|f| f.state == "on_tape" && places.insert((f.vid.clone(), f.fseq)))
    })
}

/// The drive hangs before data block `at` (of each session) for an hour:
/// for the purpose of a test, until it is killed.
fn stall(at: u64) -> FaultsConfig {
    FaultsConfig {
        stall_at_block: Some(at),
        stall: Some(Interval(Duration::from_secs(3600))),
        ..Default::default()
    }
}

/// The drive hangs before data block `at` until the file `release` exists.
fn stall_until(at: u64, release: PathBuf) -> FaultsConfig {
    FaultsConfig {
        stall_at_block: Some(at),
        stall_until: Some(release),
        ..Default::default()
    }
}

/// Removes the drive's faults from the running daemon (SIGHUP), so the
/// sessions after a test's kill run clean.
fn clear_faults(install: &Install, daemon: &common::Daemon) {
    install.configure(|c| c.drives[0].faults = None);
    let reloads = install
        .daemon_log()
        .matches("configuration reloaded")
        .count();
    daemon.signal(libc::SIGHUP);
    install.wait_for("the reload", LONG, || {
        install
            .daemon_log()
            .matches("configuration reloaded")
            .count()
            > reloads
    });
}

#[test]
fn stalled_drive_is_killed_cleaned_and_its_work_finished_later() {
    // One block per file: the first session stalls on file 3 for an hour,
    // until the watchdog sees no data move for 2 s.
    let install = install(1, 4, stall(3));
    install.configure(|c| c.watchdog.no_data_movement_timeout = Interval(Duration::from_secs(2)));
    let _daemon = install.start();
    let sources = files(&install, 4, 100 * KIB);
    let ids = install.archive(&sources);
    install.wait_for("every file on tape", LONG, || {
        all_on_tape_once(&install, &ids)
    });
    let log = install.daemon_log();
    let kill = log
        .lines()
        .find(|l| l.contains("watchdog: killing the session"))
        .expect("the watchdog killed the stalled session");
    // The boundary (timeout plus one tick) is pinned by the catalogue's unit
    // test with a controllable clock; here, only the reason.
    assert!(
        kill.contains("no data moved for") && kill.contains("(limit 2s)"),
        "{kill}"
    );
    assert!(
        log.contains("cleaner: cartridge unloaded and put back"),
        "a cleaner ran"
    );
    // Its files are done; the session may still be unmounting.
    install.wait_for(
        "the drive up again",
        std::time::Duration::from_secs(60),
        || install.drive("drive0")["state"] == "up",
    );
    assert!(!install.drive_loaded("drive0"));
    install.recall_and_compare(&ids.iter().copied().zip(sources).collect::<Vec<_>>(), "out");
}

#[test]
fn parent_killed_during_a_migration_recovers_on_restart() {
    let install = install(1, 5, stall(3));
    let daemon = install.start();
    let sources = files(&install, 5, 100 * KIB);
    let ids = install.archive(&sources);
    install.wait_for("the first file on tape", LONG, || {
        install.state_of(ids[0]).state == "on_tape"
    });
    let session = install.drive("drive0")["pid"]
        .as_i64()
        .expect("session pid") as i32;
    daemon.signal(libc::SIGKILL);
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(10)),
        None,
        "killed by a signal"
    );
    // The forker and the session die with it.
    install.wait_for("the session to die", LONG, || common::exited(session));
    assert!(
        install.drive_loaded("drive0"),
        "the cartridge is still in the drive"
    );
    install.configure(|c| c.drives[0].faults = None);
    let _daemon = install.start();
    install.wait_for("every file on tape", LONG, || {
        all_on_tape_once(&install, &ids)
    });
    let log = install.daemon_log();
    assert!(
        log.contains("holds a cartridge from a previous run"),
        "recovery ran a cleaner"
    );
    let listing: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["ls-tape", "V00001", "--json"])).unwrap();
    let fseqs: Vec<u64> = listing["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fseq"].as_u64().unwrap())
        .collect();
    assert_eq!(fseqs, [1, 2, 3, 4, 5], "exactly once, no gap");
    install.recall_and_compare(&ids.iter().copied().zip(sources).collect::<Vec<_>>(), "out");
}

#[test]
fn killed_session_leaves_nothing_unflushed_reported_and_a_cleaner_follows() {
    let install = install(1, 6, stall(4));
    install.configure(|c| c.session.flush_files = 2);
    let daemon = install.start();
    let sources = files(&install, 6, 100 * KIB);
    let ids = install.archive(&sources);
    install.wait_for("the first flush", LONG, || {
        install.state_of(ids[1]).state == "on_tape"
    });
    // Heartbeats carry the running session's counters to tpstat live.
    install.wait_for("tpstat to show the session's progress", LONG, || {
        let d = install.drive("drive0");
        d["session"] == "migration"
            && d["substate"] == "transferring"
            && d["files"].as_u64().unwrap_or(0) >= 2
            && d["bytes"].as_u64().unwrap_or(0) >= 200 * 1024
    });
    // Drain first so the drive stays down after the cleaner and we can look.
    install.ok("tpconfig", &["drive0", "down"]);
    let pid = install.drive("drive0")["pid"]
        .as_i64()
        .expect("session pid") as i32;
    // SAFETY: kill(2) of the session process this test's daemon forked.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    install.wait_for("the cleaner, then down", LONG, || {
        install.drive("drive0")["state"] == "down" && !install.drive_loaded("drive0")
    });
    let states: Vec<String> = ids.iter().map(|id| install.state_of(*id).state).collect();
    assert_eq!(
        states,
        ["on_tape", "on_tape", "queued", "queued", "queued", "queued"],
        "nothing after the last flush is reported"
    );
    clear_faults(&install, &daemon);
    install.ok("tpconfig", &["drive0", "up"]);
    install.wait_for("every file on tape", LONG, || {
        all_on_tape_once(&install, &ids)
    });
    install.recall_and_compare(&ids.iter().copied().zip(sources).collect::<Vec<_>>(), "out");
}

#[test]
fn down_while_running_drains() {
    // The session holds at its second block until the test releases it.
    let install = install(1, 3, FaultsConfig::default());
    let release = install.path().join("release");
    install.configure(|c| {
        c.drives[0].faults = Some(stall_until(2, release.clone()));
    });
    let _daemon = install.start();
    let sources = files(&install, 3, 100 * KIB);
    let ids = install.archive(&sources);
    install.wait_for("the session to hold", LONG, || {
        install
            .daemon_log()
            .contains("injected fault: drive stalls")
    });
    let said = install.ok("tpconfig", &["drive0", "down"]);
    assert!(said.contains("draining"), "{said}");
    assert_eq!(install.drive("drive0")["state"], "draining");
    std::fs::write(&release, b"").unwrap();
    install.wait_for("the drain to finish", LONG, || {
        install.drive("drive0")["state"] == "down"
    });
    assert!(
        all_on_tape_once(&install, &ids),
        "the session finished its work before the drive went down"
    );
    install.ok("tpconfig", &["drive0", "up"]);
    assert_eq!(install.drive("drive0")["state"], "up");
}

#[test]
fn label_refuses_a_tape_with_files_unless_forced() {
    let install = install(2, 1, FaultsConfig::default());
    let _daemon = install.start();
    let src = install.make_file("a", 10 * KIB, 1);
    let id = install.archive(std::slice::from_ref(&src))[0];
    install.wait_for("the file on tape", LONG, || {
        install.state_of(id).state == "on_tape"
    });
    install.wait_for("the drive idle", LONG, || {
        install.drive("drive0")["state"] == "up"
    });

    let refused = install.run("tplabel", &["drive0", "V00001"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success()
            && stderr.contains("1 catalogued files")
            && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        install.state_of(id).state,
        "on_tape",
        "a refused label changes nothing"
    );
    assert!(
        !install
            .run("tplabel", &["drive0", "bad vid"])
            .status
            .success()
    );
    assert!(
        !install
            .run("tplabel", &["drive9", "V00002"])
            .status
            .success()
    );

    install.ok("tplabel", &["drive0", "V00002"]);
    install.ok("tplabel", &["drive0", "V00001", "--force"]);
    let lost = install.state_of(id);
    assert_eq!(lost.state, "lost", "{lost:?}");
    let listing: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["ls-tape", "V00001", "--json"])).unwrap();
    assert!(listing["files"].as_array().unwrap().is_empty());
    // The relabelled tape takes new files from fSeq 1.
    let again = install.archive(std::slice::from_ref(&src))[0];
    install.wait_for("the new copy on tape", LONG, || {
        install.state_of(again).state == "on_tape"
    });
    assert_eq!(install.state_of(again).fseq, Some(1));
}

#[test]
fn readtp_reads_by_fseq_and_halts_at_the_first_error() {
    let install = install(1, 3, FaultsConfig::default());
    let _daemon = install.start();
    let sizes = [0, 300 * KIB, 5000];
    let sources: Vec<PathBuf> = sizes
        .iter()
        .enumerate()
        .map(|(i, s)| install.make_file(&format!("r{i}"), *s, 7 + i as u64))
        .collect();
    let ids = install.archive(&sources);
    install.wait_for("every file on tape", LONG, || {
        all_on_tape_once(&install, &ids)
    });
    install.wait_for("the drive idle", LONG, || {
        install.drive("drive0")["state"] == "up"
    });
    let dest = install.path().join("readtp");
    std::fs::create_dir_all(&dest).unwrap();
    let out = install.ok("readtp", &["V00001", "1-3", dest.to_str().unwrap()]);
    assert_eq!(out.lines().count(), 3, "{out}");
    for (i, src) in sources.iter().enumerate() {
        let read = std::fs::read(dest.join(format!("V00001.{}", i + 1))).unwrap();
        assert!(
            read == std::fs::read(src).unwrap(),
            "fSeq {} differs",
            i + 1
        );
    }
    let single = install.path().join("single");
    std::fs::create_dir_all(&single).unwrap();
    install.ok("readtp", &["V00001", "2", single.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(single.join("V00001.2")).unwrap(),
        pattern(300 * KIB, 8)
    );
    let past = install.path().join("past");
    std::fs::create_dir_all(&past).unwrap();
    let failed = install.run("readtp", &["V00001", "3-5", past.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        !failed.status.success()
            && stderr.contains("fSeq 4")
            && stderr.contains("halted after 1 files"),
        "{stderr}"
    );
    assert!(past.join("V00001.3").exists() && !past.join("V00001.4").exists());
    assert!(
        !install
            .run("readtp", &["V00001", "0-2", past.to_str().unwrap()])
            .status
            .success()
    );
    assert!(
        !install
            .run("readtp", &["V00001", "1", "/etc"])
            .status
            .success(),
        "destinations stay under the recall roots"
    );
}

#[test]
fn sighup_with_a_broken_config_keeps_serving_and_a_good_one_applies() {
    let install = install(1, 1, FaultsConfig::default());
    let daemon = install.start();
    let good = std::fs::read_to_string(&install.config).unwrap();
    std::fs::write(&install.config, format!("{good}\nthis is not toml = = =\n")).unwrap();
    daemon.signal(libc::SIGHUP);
    install.wait_for("the reload to be refused", LONG, || {
        install
            .daemon_log()
            .contains("new configuration is rejected")
    });
    // The daemon kept its config; the clients read the file, so mend it.
    std::fs::write(&install.config, &good).unwrap();
    let src = install.make_file("after-hup", 1000, 3);
    let id = install.archive(std::slice::from_ref(&src))[0];
    install.wait_for("the file on tape", LONG, || {
        install.state_of(id).state == "on_tape"
    });

    // A valid config with one more drive.
    install.configure(|c| {
        let mut extra = c.drives[0].clone();
        extra.name = "drive1".into();
        extra.device = install.path().join("library/drives/drive1");
        extra.faults = None;
        c.drives.push(extra);
    });
    daemon.signal(libc::SIGHUP);
    install.wait_for("the new drive", LONG, || {
        install.ok("tpstat", &["--json"]).contains("drive1")
    });

    // A new archive root applies at once; a library setting says it needs
    // a restart.
    let outside = tempfile::tempdir().unwrap();
    let far = outside.path().join("far");
    std::fs::write(&far, pattern(5000, 9)).unwrap();
    let refused = install.run("stager", &["archive", far.to_str().unwrap()]);
    assert!(
        !refused.status.success(),
        "outside the roots before the reload"
    );
    let reloads = install
        .daemon_log()
        .matches("configuration reloaded")
        .count();
    install.configure(|c| {
        c.paths.archive_roots.push(outside.path().to_path_buf());
        c.library.move_timeout = Interval(Duration::from_secs(60));
    });
    daemon.signal(libc::SIGHUP);
    install.wait_for("the third reload", LONG, || {
        install
            .daemon_log()
            .matches("configuration reloaded")
            .count()
            > reloads
    });
    let log = install.daemon_log();
    assert!(
        log.contains("restart needed for this change") && log.contains("key=library"),
        "{}",
        install.daemon_log_tail()
    );
    let id = install.archive(std::slice::from_ref(&far))[0];
    install.wait_for("the file from the new root on tape", LONG, || {
        install.state_of(id).state == "on_tape"
    });
    assert_eq!(daemon.stop(), Some(0));
}

/// An operator's `tpconfig down` holds across a restart of the daemon.
#[test]
fn a_drive_put_down_stays_down_across_a_restart() {
    let install = Install::new(2, 1);
    let daemon = install.start();
    install.ok("tpconfig", &["drive1", "down"]);
    assert_eq!(daemon.stop(), Some(0));
    let daemon = install.start();
    assert_eq!(install.drive("drive1")["state"], "down");
    install.ok("tpconfig", &["drive1", "up"]);
    assert_eq!(daemon.stop(), Some(0));
    let _daemon = install.start();
    common::eventually("drive1 up after the restart", || {
        match install.drive("drive1")["state"].as_str() {
            Some("up") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    let err = install.run("tpconfig", &["drive9", "down"]);
    let err = String::from_utf8_lossy(&err.stderr);
    assert!(
        err.contains("no drive named drive9 (the drives: drive0, drive1)"),
        "{err}"
    );
}

#[test]
fn forker_death_stops_the_daemon_with_an_error() {
    let install = install(1, 1, FaultsConfig::default());
    let daemon = install.start();
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", daemon.pid())).unwrap();
    let forker: i32 = children
        .split_whitespace()
        .next()
        .expect("the forker")
        .parse()
        .unwrap();
    // SAFETY: kill(2) of the daemon's forker.
    unsafe {
        libc::kill(forker, libc::SIGKILL);
    }
    assert_eq!(daemon.wait_exit(Duration::from_secs(20)), Some(1));
    assert!(install.daemon_log().contains("the forker died"));
}

#[test]
fn shutdown_deadline_kills_and_cleans_stuck_sessions_then_exits_0() {
    let install = install(1, 1, stall(1));
    install.configure(|c| {
        c.watchdog.shutdown_deadline = Interval(Duration::from_secs(1));
    });
    let daemon = install.start();
    let src = install.make_file("stuck", 100 * KIB, 9);
    let id = install.archive(std::slice::from_ref(&src))[0];
    install.wait_for("the stall", LONG, || {
        install
            .daemon_log()
            .contains("injected fault: drive stalls")
    });
    daemon.signal(libc::SIGTERM);
    assert_eq!(daemon.wait_exit(LONG), Some(0));
    let log = install.daemon_log();
    assert!(
        log.contains("shutdown deadline passed"),
        "the stuck session was killed"
    );
    assert!(
        log.contains("cleaner: cartridge unloaded and put back"),
        "and cleaned before the exit"
    );
    assert!(!install.drive_loaded("drive0"));
    // Its file waits for the next start.
    let again = install.start();
    assert_eq!(install.state_of(id).state, "queued");
    again.signal(libc::SIGTERM);
    assert_eq!(again.wait_exit(LONG), Some(0));
}

#[test]
fn a_failing_cleaner_puts_the_drive_down_and_disables_the_tape() {
    let install = install(2, 1, stall(1));
    // The watchdog ends the stalled session; its cleaner then fails.
    install.configure(|c| c.watchdog.no_data_movement_timeout = Interval(Duration::from_secs(2)));
    let daemon = install.start();
    let src = install.make_file("doomed", 100 * KIB, 11);
    let id = install.archive(std::slice::from_ref(&src))[0];
    install.wait_for("the stall", LONG, || {
        install
            .daemon_log()
            .contains("injected fault: drive stalls")
    });
    // The cartridge goes bad under the stalled session: its VOL1 no longer
    // matches its CRC, so the cleaner cannot identify it.
    let data = install.path().join("library/cartridges/V00001/data");
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&data, bytes).unwrap();
    install.wait_for("the drive to go down", LONG, || {
        install.drive("drive0")["state"] == "down"
    });
    let tape_state = |vid: &str| {
        let tapes: serde_json::Value =
            serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap();
        let tape = tapes["tapes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["vid"] == vid)
            .cloned()
            .unwrap();
        tape["state"].as_str().unwrap().to_string()
    };
    // The drive's state changes before the scheduler thread disables the
    // tape: wait for it.
    common::eventually(
        "no mount loop on a bad cartridge: the tape disabled",
        || match tape_state("V00001") {
            s if s == "disabled" => Ok(()),
            s => Err(s),
        },
    );
    let drive = install.drive("drive0");
    assert!(
        drive["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("cleaner"),
        "{drive}"
    );
    assert_eq!(
        install.state_of(id).state,
        "queued",
        "the file waits for another tape"
    );
    // The library knows the cartridge by its slot: it went back even unidentified.
    assert!(!install.drive_loaded("drive0"));

    // Without the fault (a reload), the operator brings the drive up and the
    // file goes to another tape; the disabled one is never mounted again.
    install.configure(|c| c.drives[0].faults = None);
    daemon.signal(libc::SIGHUP);
    install.wait_for("the reload", LONG, || {
        install.daemon_log().contains("configuration reloaded")
    });
    install.ok("tpconfig", &["drive0", "up"]);
    install.wait_for("the file on tape", LONG, || {
        install.state_of(id).state == "on_tape"
    });
    assert_eq!(install.state_of(id).vid.as_deref(), Some("V00002"));
    let log = install.daemon_log();
    let after_disable = &log[log.find("tape disabled").unwrap()..];
    assert!(
        !after_disable.contains("session for V00001"),
        "the disabled tape was mounted again"
    );
}
