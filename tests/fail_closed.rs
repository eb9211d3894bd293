//! The parent fails closed when the library cannot be asked: a drive that
//! goes down while the controller is dead is taken to hold its cartridge
//! (which it does), so its tape stays held, it is not brought up without a
//! cleaner, and no other drive is sent to mount its tape; once the
//! controller is back the state resolves and the work goes on. Nor is a
//! drive taken to be empty while the library still moves a cartridge into
//! it for a session that has died.

mod common;

use std::time::Duration;

use common::{Install, Tlcd, fault, moves_in_flight, pattern};
use tapeserver::config::{FaultsConfig, Interval};

const LONG: Duration = Duration::from_secs(120);

fn open_mounts(install: &Install) -> Vec<serde_json::Value> {
    // Answered by the scheduler thread after everything the loop sent it
    // before (one channel, in order).
    let json: serde_json::Value =
        serde_json::from_str(&install.ok("tpstat", &["--mounts", "--json"])).unwrap();
    json["mounts"].as_array().unwrap().clone()
}

#[test]
fn a_drive_down_while_the_controller_is_dead_keeps_its_tape_until_the_library_answers() {
    let install = Install::new(2, 2);
    let release = install.path().join("release");
    let tlcd_endpoint = format!("ipc://{}/tlc0.sock", install.path().display());
    install.configure(|c| {
        c.library.controllers = vec![tlcd_endpoint.clone()];
        c.library.move_timeout = Interval(Duration::from_secs(1));
        c.library.request_timeout = Interval(Duration::from_millis(300));
        // Whichever drive takes the file hangs in it until the controller
        // is gone.
        for d in &mut c.drives {
            d.faults = Some(FaultsConfig {
                stall_at_block: Some(2),
                stall_until: Some(release.clone()),
                ..Default::default()
            });
        }
    });
    let mut tlcd = Tlcd::start(&install, "tlc0");
    let _daemon = install.start();
    let src = install.make_file("f", 1 << 20, 3);
    let id = install.archive(std::slice::from_ref(&src))[0];
    let writing = |d: &str| {
        let d = install.drive(d);
        d["state"] == "running" && d["substate"] == "transferring"
    };
    install.wait_for("a drive writing", LONG, || {
        writing("drive0") || writing("drive1")
    });
    let (drive, other) = if writing("drive0") {
        ("drive0", "drive1")
    } else {
        ("drive1", "drive0")
    };
    let vid = install.drive(drive)["vid"].as_str().unwrap().to_string();

    // The controller dies; the session writes its file and cannot put the
    // cartridge back: the drive goes down with the cartridge in it.
    tlcd.kill();
    std::fs::write(&release, b"").unwrap();
    install.wait_for("the drive down", LONG, || {
        install.drive(drive)["state"] == "down"
    });
    assert_eq!(install.state_of(id).state, "on_tape");
    assert!(install.drive_loaded(drive), "the cartridge is in {drive}");

    // Its tape stays held: the mount is open, nothing can be given it.
    let held = open_mounts(&install);
    assert!(
        held.iter()
            .any(|m| m["vid"] == vid.as_str() && m["drive"] == drive),
        "{vid} is held by {drive}'s open mount: {held:?}{}",
        install.daemon_log_tail()
    );
    // No drive comes up without a cleaner while nobody can say what it holds.
    let refused = install.run("tpconfig", &[drive, "up"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "tpconfig up was refused");
    assert!(
        stderr.contains(&format!(
            "cannot tell whether drive {drive} holds a cartridge"
        )),
        "{stderr}"
    );
    assert_eq!(install.drive(drive)["state"], "down");
    // A recall of the file, and another drive free to serve it: it waits.
    assert_eq!(install.drive(other)["state"], "up");
    let back = install.path().join("back");
    let line = install.ok(
        "stager",
        &["recall", &id.to_string(), back.to_str().unwrap()],
    );
    let recall_id = line.split_whitespace().next().unwrap().to_string();
    let held = open_mounts(&install);
    assert!(
        held.iter()
            .all(|m| m["vid"] != vid.as_str() || m["drive"] == drive),
        "{vid} was given to another drive: {held:?}"
    );

    // The controller comes back: the library says the drive holds the
    // cartridge; tpconfig up runs a cleaner, which puts it home, and the
    // recall is served.
    tlcd.restart();
    install.wait_for("the library read again", LONG, || {
        install
            .daemon_log()
            .contains("the drive is down with the cartridge in it")
    });
    let out = install.ok("tpconfig", &[drive, "up"]);
    assert!(out.contains("a cleaner unloads it"), "{out}");
    install.wait_for("the recall done", LONG, || {
        let json: serde_json::Value =
            serde_json::from_str(&install.ok("stager", &["recalls", "--json", &recall_id]))
                .unwrap();
        assert_ne!(json["recalls"][0]["state"], "failed", "{json}");
        json["recalls"][0]["state"] == "done"
    });
    assert_eq!(std::fs::read(&back).unwrap(), pattern(1 << 20, 3));
}

/// A recall whose mount the library holds in the picker (the daemon is
/// the install's first): what it recalls, where, and who waits for it.
struct HeldMount {
    daemon: common::Daemon,
    source: std::path::PathBuf,
    back: std::path::PathBuf,
    vid: String,
    drive: String,
    session: i32,
}

/// Files archived on a library behind `tlcd`, then a recall whose mount
/// stays in the picker (`changer0.hold`) with its session waiting.
fn a_recall_mount_in_the_picker(install: &Install) -> HeldMount {
    let daemon = install.start();
    let sources: Vec<_> = (0..3)
        .map(|i| install.make_file(&format!("f{i}"), 300 * 1024, 10 + i))
        .collect();
    let ids = install.archive(&sources);
    install.wait_for("every file on tape", LONG, || {
        ids.iter()
            .all(|id| install.state_of(*id).state == "on_tape")
    });
    let vid = install.state_of(ids[0]).vid.unwrap();
    install.wait_for("the drives idle", LONG, || {
        ["drive0", "drive1"]
            .iter()
            .all(|d| install.drive(d)["state"] == "up" && !install.drive_loaded(d))
    });
    fault(install, "changer0.hold", true);
    let back = install.path().join("back");
    install.ok(
        "stager",
        &["recall", &ids[0].to_string(), back.to_str().unwrap()],
    );
    install.wait_for("the cartridge in the picker", LONG, || {
        moves_in_flight(install) > 0
    });
    let (mut drive, mut session) = (String::new(), 0);
    install.wait_for("the session's drive", LONG, || {
        for d in ["drive0", "drive1"] {
            let s = install.drive(d);
            if s["vid"] == vid.as_str() && s["pid"].as_i64().is_some() {
                drive = d.to_string();
                session = s["pid"].as_i64().unwrap_or(0) as i32;
            }
        }
        session != 0
    });
    HeldMount {
        daemon,
        source: sources[0].clone(),
        back,
        vid,
        drive,
        session,
    }
}

/// The move ends: the cartridge lands in the drive, a cleaner puts it
/// home, and the recall is served from it; no mount failed, both drives
/// are up.
fn the_move_ends_and_the_recall_is_served(install: &Install, held: &HeldMount) {
    fault(install, "changer0.hold", false);
    install.wait_for("the recall served", LONG, || held.back.exists());
    assert_eq!(
        std::fs::read(&held.back).unwrap(),
        std::fs::read(&held.source).unwrap()
    );
    let log = install.daemon_log();
    assert!(
        log.contains("cleaner: cartridge unloaded and put back"),
        "{log}"
    );
    assert!(
        !log.contains("session ends with an error"),
        "no mount failed: {log}"
    );
    // The session unmounts after placing the file: wait for it to end.
    install.wait_for("the sessions to end", LONG, || {
        ["drive0", "drive1"]
            .iter()
            .all(|d| install.drive(d)["pid"].is_null())
    });
    for d in ["drive0", "drive1"] {
        assert_eq!(install.drive(d)["state"], "up", "{d}: {log}");
    }
    assert_eq!(install.tape(&held.vid)["state"], "active");
}

fn with_a_controller(install: &Install) -> Tlcd {
    let tlcd_endpoint = format!("ipc://{}/tlc0.sock", install.path().display());
    install.configure(|c| c.library.controllers = vec![tlcd_endpoint.clone()]);
    Tlcd::start(install, "tlc0")
}

/// A daemon killed while the library moves a cartridge into a drive for
/// its recall session: the controller still finishes the move. The next
/// daemon must not take the drive to be empty meanwhile (it would give it
/// another tape, and this one to another drive: both mounts fail and both
/// drives go down). It keeps the tape held and the drive waiting until the
/// move ends, then a cleaner puts the cartridge home and the recall is
/// served.
#[test]
fn a_restarted_daemon_waits_for_a_mount_its_killed_session_asked_for() {
    let install = Install::new(2, 2);
    let _tlcd = with_a_controller(&install);
    let held = a_recall_mount_in_the_picker(&install);
    held.daemon.signal(libc::SIGKILL);
    install.wait_for("the session to die", LONG, || common::exited(held.session));
    assert!(
        moves_in_flight(&install) > 0,
        "the library still moves the cartridge"
    );

    let _daemon = install.start();
    install.wait_for("the daemon to wait for the move", LONG, || {
        install
            .daemon_log()
            .contains("a mount or dismount of the drive is under way in the library")
    });
    let mounts = open_mounts(&install);
    assert!(
        mounts
            .iter()
            .any(|m| m["vid"] == held.vid.as_str() && m["drive"] == held.drive.as_str()),
        "{} stays held by {}'s mount: {mounts:?}",
        held.vid,
        held.drive
    );
    the_move_ends_and_the_recall_is_served(&install, &held);
    assert!(
        install
            .daemon_log()
            .contains("the drive holds a cartridge from a previous run: running a cleaner")
    );
}

/// The same with only the session killed: its cleaner must not find the
/// drive empty while the mount it asked for is still under way.
#[test]
fn a_cleaner_waits_for_a_mount_its_killed_session_asked_for() {
    let install = Install::new(2, 2);
    let _tlcd = with_a_controller(&install);
    let held = a_recall_mount_in_the_picker(&install);
    // SAFETY: kill(2) of the session this test's daemon forked.
    unsafe {
        libc::kill(held.session, libc::SIGKILL);
    }
    install.wait_for("the cleaner to wait for the move", LONG, || {
        install
            .daemon_log()
            .contains("cleaner: a mount or dismount of the drive is under way in the library")
    });
    the_move_ends_and_the_recall_is_served(&install, &held);
}
