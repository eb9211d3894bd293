//! The library controller on the emulated library, as operators run it:
//! `tlcd` processes, `tplib`, and tape sessions of a real daemon mounting
//! through them. Faults are set as files the emulated library reads; every
//! wait is on a state (a move in the picker, a role, a file on tape).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Install, Tlcd, cartridges, fault, library_state, moves_in_flight, wait_until};
use prost::Message;

fn succeeded(out: &std::process::Output) -> bool {
    out.status.success()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

fn status(tlcd: &Tlcd) -> serde_json::Value {
    let out = tlcd.tplib(&["status", "--json"]);
    assert!(succeeded(&out), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A `tplib` run in the background.
fn spawn_tplib(tlcd: &Tlcd, args: &[&str]) -> std::thread::JoinHandle<std::process::Output> {
    let config = tlcd.config.clone();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    std::thread::spawn(move || {
        Command::new(common::bin("tplib"))
            .arg("--config")
            .arg(config)
            .args(args)
            .output()
            .unwrap()
    })
}

#[test]
fn a_path_taken_offline_mid_move_hands_the_request_to_another_path() {
    let install = Install::new(1, 2);
    let tlcd = Tlcd::start(&install, "tlc-a");
    fault(&install, "changer0.hold", true);
    let mount = spawn_tplib(&tlcd, &["mount", "V00001", "drive0"]);
    wait_until("the move on changer0", || moves_in_flight(&install) == 1);
    fault(&install, "changer0.offline", true);
    fault(&install, "changer0.hold", false);
    let out = mount.join().unwrap();
    assert!(succeeded(&out), "{}\n{}", stderr(&out), tlcd.log());
    let s = status(&tlcd);
    assert_eq!(s["drives"][0]["vid"], "V00001");
    assert_eq!(s["paths"][0]["state"], "offline");
    assert!(
        s["paths"][0]["error"].as_str().unwrap().contains("04/12"),
        "{s}"
    );
    assert_eq!(s["paths"][1]["state"], "ok");
    assert!(tlcd.log().contains("changer path taken out of service"));
    // Back online, the probe puts it back in service.
    fault(&install, "changer0.offline", false);
    wait_until("changer0 back in service", || {
        status(&tlcd)["paths"][0]["state"] == "ok"
    });
    assert_eq!(cartridges(&install).len(), 2);
}

#[test]
fn four_mounts_on_four_paths_are_under_way_at_once() {
    let install = Install::with_args(4, 4, &["--changer-paths", "4"]);
    let tlcd = Tlcd::start(&install, "tlc-a");
    for p in 0..4 {
        fault(&install, &format!("changer{p}.hold"), true);
    }
    let mounts: Vec<_> = (0..4)
        .map(|i| {
            let vid = format!("V0000{}", i + 1);
            let drive = format!("drive{i}");
            spawn_tplib(&tlcd, &["mount", &vid, &drive])
        })
        .collect();
    // All four cartridges sit in four pickers at the same moment.
    wait_until("four moves in flight", || moves_in_flight(&install) == 4);
    let pickers: Vec<String> = library_state(&install)["pickers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["cartridge"]["barcode"].as_str().map(String::from))
        .collect();
    assert_eq!(pickers.len(), 4, "{pickers:?}");
    for p in 0..4 {
        fault(&install, &format!("changer{p}.hold"), false);
    }
    for m in mounts {
        let out = m.join().unwrap();
        assert!(succeeded(&out), "{}\n{}", stderr(&out), tlcd.log());
    }
    let s = status(&tlcd);
    for i in 0..4 {
        assert_eq!(s["drives"][i]["vid"], format!("V0000{}", i + 1));
    }
}

#[test]
fn sigkill_of_the_library_mid_move_loses_and_duplicates_no_cartridge() {
    let install = Install::new(1, 3);
    let before = cartridges(&install);
    let mut tlcd = Tlcd::start(&install, "tlc-a");
    fault(&install, "changer0.hold", true);
    let mount = spawn_tplib(&tlcd, &["mount", "V00002", "drive0"]);
    wait_until("the move in the picker", || moves_in_flight(&install) == 1);
    // The process moving the cartridge (the emulated robot runs inside
    // the controller) dies with the cartridge in its picker.
    tlcd.kill();
    let during = cartridges(&install);
    assert_eq!(during.len(), 3, "in the picker, counted once: {during:?}");
    assert!(during.contains(&(1, "V00002L6".to_string())), "{during:?}");
    fault(&install, "changer0.hold", false);
    // The next access finds the mover gone and puts the cartridge back;
    // the client, still retrying, then gets its mount from the new process.
    tlcd.restart();
    let out = mount.join().unwrap();
    assert!(succeeded(&out), "{}\n{}", stderr(&out), tlcd.log());
    assert!(
        tlcd.log()
            .contains("a move's mover died: its cartridge goes back"),
        "{}",
        tlcd.log()
    );
    let after = cartridges(&install);
    assert_eq!(
        after.len(),
        before.len(),
        "nothing lost, nothing duplicated: {after:?}"
    );
    assert!(after.contains(&(500, "V00002L6".to_string())), "{after:?}");
    assert_eq!(moves_in_flight(&install), 0);
    assert_eq!(status(&tlcd)["drives"][0]["vid"], "V00002");
}

#[test]
fn bad_requests_get_one_clear_sentence_and_the_controller_keeps_serving() {
    let install = Install::new(1, 2);
    let tlcd = Tlcd::start(&install, "tlc-a");
    let refused = |args: &[&str]| {
        let out = tlcd.tplib(args);
        assert!(!succeeded(&out), "tplib {args:?} should fail");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one sentence: {err}");
        assert!(!err.contains("panicked"), "{err}");
        err
    };
    assert_eq!(
        refused(&["mount", "ZZZ999", "drive0"]),
        "error: library has no cartridge ZZZ999"
    );
    assert!(succeeded(&tlcd.tplib(&["mount", "V00001", "drive0"])));
    assert_eq!(
        refused(&["mount", "V00002", "drive0"]),
        "error: cannot mount V00002 into drive0: the drive holds V00001"
    );
    let no_drive = refused(&["mount", "V00002", "drive7"]);
    assert!(
        no_drive.starts_with("error: library has no drive named drive7"),
        "{no_drive}"
    );
    let bad_vid = refused(&["mount", "", "drive0"]);
    assert!(bad_vid.contains("is not a VID"), "{bad_vid}");

    // Garbage on the controller's socket: a refusal, not a crash.
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::REQ).unwrap();
    socket.set_rcvtimeo(30_000).unwrap();
    socket.set_linger(0).unwrap();
    socket.connect(&tlcd.endpoint).unwrap();
    for garbage in [
        &b"\x0a\xff\xff\xff\xff\x0f"[..],
        b"GET / HTTP/1.1\r\n\r\n",
        b"",
    ] {
        socket.send(garbage, 0).unwrap();
        let reply =
            tapeserver::proto::tlc::TlcReply::decode(socket.recv_bytes(0).unwrap().as_slice())
                .expect("a reply the client can decode");
        let Some(tapeserver::proto::tlc::tlc_reply::Result::Error(e)) = reply.result else {
            panic!("garbage was not refused: {reply:?}");
        };
        assert!(
            e.message.starts_with("malformed request") || e.message.contains("has no id"),
            "{}",
            e.message
        );
        assert!(!e.message.contains('\n'));
    }
    assert_eq!(status(&tlcd)["drives"][0]["vid"], "V00001", "still serving");
}

#[test]
fn operators_disable_and_enable_paths_and_refresh_after_manual_moves() {
    let install = Install::new(1, 2);
    let tlcd = Tlcd::start(&install, "tlc-a");
    let path0 = install
        .path()
        .join("library/changer0")
        .display()
        .to_string();
    assert!(succeeded(&tlcd.tplib(&["path", &path0, "disable"])));
    assert_eq!(status(&tlcd)["paths"][0]["state"], "disabled");
    assert!(succeeded(&tlcd.tplib(&["mount", "V00001", "drive0"])));
    assert!(
        tlcd.log().contains("changer1"),
        "the move went to the other path"
    );
    assert!(succeeded(&tlcd.tplib(&["path", &path0, "enable"])));
    wait_until("changer0 back", || {
        status(&tlcd)["paths"][0]["state"] == "ok"
    });
    // An operator opens the door and moves a cartridge by hand.
    tapeserver::library::emulated::EmulatedLibrary::open(&install.path().join("library"))
        .with_state(|s| {
            let c = s.content(1001).and_then(Option::take);
            *s.content(10).expect("the import/export slot") = c;
            Ok(())
        })
        .unwrap();
    assert_eq!(status(&tlcd)["slots"][1]["vid"], "V00002", "not seen yet");
    assert!(succeeded(&tlcd.tplib(&["refresh"])));
    let s = status(&tlcd);
    assert!(s["slots"][1]["vid"].is_null(), "{s}");
    assert_eq!(s["import_export"][0]["vid"], "V00002");
}

/// Two controllers for one library: the standby answers "standby" at once;
/// when the active one is SIGKILLed mid-move it takes over (how long that
/// took is printed: measured, not asserted) and the sessions' mounts
/// succeed through it.
#[test]
fn the_standby_takes_over_when_the_active_controller_is_killed() {
    let install = Install::new(2, 3);
    let mut a = Tlcd::start(&install, "tlc-a");
    wait_until("tlc-a active", || a.role().as_deref() == Some("active"));
    let b = Tlcd::start(&install, "tlc-b");
    assert_eq!(b.role().as_deref(), Some("standby"));
    let standby = b.tplib(&["status"]);
    assert!(!succeeded(&standby));
    assert!(stderr(&standby).contains("standby"), "{}", stderr(&standby));
    install.configure(|c| {
        c.library.controllers = vec![a.endpoint.clone(), b.endpoint.clone()];
        c.library.request_timeout = tapeserver::config::Interval(Duration::from_secs(2));
    });
    let daemon = install.start();
    // The first session's mount stops in the picker; then the active dies.
    fault(&install, "changer0.hold", true);
    fault(&install, "changer1.hold", true);
    let src = install.make_file("ha", 300_000, 31);
    let id = install.archive(std::slice::from_ref(&src))[0];
    wait_until("a session's mount in the picker", || {
        moves_in_flight(&install) == 1
    });
    a.kill();
    let killed = Instant::now();
    // How long the takeover takes is a figure, not a test: a loaded machine
    // may take longer than a site's robot would wait.
    common::eventually("the standby active", || match b.role() {
        Some(r) if r == "active" => Ok(()),
        other => Err(format!("{other:?}")),
    });
    eprintln!("the standby took over in {:?}", killed.elapsed());
    fault(&install, "changer0.hold", false);
    fault(&install, "changer1.hold", false);
    install.wait_for("the file on tape", Duration::from_secs(120), || {
        install.state_of(id).state == "on_tape"
    });
    install.recall_and_compare(&[(id, src)], "back");
    assert_eq!(cartridges(&install).len(), 3);
    assert!(b.log().contains("controller active"));
    drop(daemon);
}

/// A controller restart: clients (sessions, the daemon) find it again by
/// themselves, even a session that started while it was down.
#[test]
fn clients_reconnect_by_themselves_after_a_controller_restart() {
    let install = Install::new(1, 2);
    let mut a = Tlcd::start(&install, "tlc-a");
    install.configure(|c| {
        c.library.controllers = vec![a.endpoint.clone()];
        c.library.request_timeout = tapeserver::config::Interval(Duration::from_secs(1));
    });
    let _daemon = install.start();
    let first = install.make_file("first", 200_000, 1);
    let id1 = install.archive(std::slice::from_ref(&first))[0];
    install.wait_for("the first file on tape", Duration::from_secs(60), || {
        install.state_of(id1).state == "on_tape"
    });
    a.stop();
    let second = install.make_file("second", 200_000, 2);
    let id2 = install.archive(std::slice::from_ref(&second))[0];
    // A session starts and asks for its mount while no controller runs.
    install.wait_for(
        "a session waiting for its mount",
        Duration::from_secs(60),
        || install.drive("drive0")["state"] == "running",
    );
    a.restart();
    install.wait_for("the second file on tape", Duration::from_secs(120), || {
        install.state_of(id2).state == "on_tape"
    });
    install.recall_and_compare(&[(id1, first), (id2, second)], "back");
}
