//! The parent fails closed when the library cannot be asked: a drive that
//! goes down while the controller is dead is taken to hold its cartridge
//! (which it does), so its tape stays held, it is not brought up without a
//! cleaner, and no other drive is sent to mount its tape; once the
//! controller is back the state resolves and the work goes on. Nor is a
//! drive taken to be empty while the library still moves a cartridge into
//! it for a session that has died.

mod common;

use std::time::Duration;

use common::{Install, Tlcd, fault, library_state, pattern};
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
    let tlcd_endpoint = format!("ipc://{}/tlc0.sock", install.path().display());
    install.configure(|c| c.library.controllers = vec![tlcd_endpoint.clone()]);
    let _tlcd = Tlcd::start(&install, "tlc0");
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

    // The recall's mount stays in the picker while the daemon is killed.
    fault(&install, "changer0.hold", true);
    let back = install.path().join("back");
    install.ok(
        "stager",
        &["recall", &ids[0].to_string(), back.to_str().unwrap()],
    );
    let moving = || {
        library_state(&install)["moves"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
    };
    install.wait_for("the cartridge in the picker", LONG, moving);
    let mut drive = String::new();
    let mut session = 0;
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
    daemon.signal(libc::SIGKILL);
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)), None);
    install.wait_for("the session to die", LONG, || {
        !std::path::Path::new(&format!("/proc/{session}")).exists()
            || std::fs::read_to_string(format!("/proc/{session}/stat"))
                .is_ok_and(|s| s.contains(") Z"))
    });
    assert!(moving(), "the library still moves the cartridge");

    // The next daemon finds the drive empty, but a move into it under way.
    let _daemon = install.start();
    install.wait_for("the daemon to wait for the move", LONG, || {
        install
            .daemon_log()
            .contains("a mount or dismount of the drive is under way in the library")
    });
    let held = open_mounts(&install);
    assert!(
        held.iter()
            .any(|m| m["vid"] == vid.as_str() && m["drive"] == drive.as_str()),
        "{vid} stays held by {drive}'s mount: {held:?}"
    );

    // The move ends: the cartridge is in the drive; a cleaner puts it home
    // and the recall is served from it.
    fault(&install, "changer0.hold", false);
    install.wait_for("the recall served", LONG, || back.exists());
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&sources[0]).unwrap()
    );
    let log = install.daemon_log();
    assert!(
        log.contains("the drive holds a cartridge from a previous run: running a cleaner"),
        "{log}"
    );
    assert!(!log.contains("-> down"), "no drive went down: {log}");
    assert_eq!(install.tape(&vid)["state"], "active");
}
