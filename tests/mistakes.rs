//! A mistake lands on what it concerns: a VID the library does not hold is
//! refused where it is typed (`tapeadmin add-tape`, `tplabel --pool`), and
//! a cartridge that leaves the library later costs its tape (disabled, with
//! the reason), never a drive.

mod common;

use std::time::Duration;

use common::{Install, eventually};

const LONG: Duration = Duration::from_secs(120);

fn tapes(install: &Install) -> serde_json::Value {
    serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap()
}

fn tape(install: &Install, vid: &str) -> Option<serde_json::Value> {
    tapes(install)["tapes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["vid"] == vid)
        .cloned()
}

/// Takes the cartridge out of the emulated library by hand (an operator
/// who removed it), and has the controller read the library again.
fn remove_from_library(install: &Install, vid: &str) {
    let barcode = format!("{vid}L6");
    tapeserver::library::emulated::EmulatedLibrary::open(&install.path().join("library"))
        .with_state(|s| {
            let addresses: Vec<u16> = s
                .cartridges()
                .into_iter()
                .filter(|(_, b)| *b == barcode)
                .map(|(a, _)| a)
                .collect();
            for address in addresses {
                if let Some(slot) = s.content(address) {
                    *slot = None;
                }
            }
            Ok(())
        })
        .unwrap();
    install.ok("tplib", &["refresh"]);
}

#[test]
fn a_vid_the_library_does_not_hold_is_refused_where_it_is_typed() {
    let install = Install::new(1, 2);
    let _daemon = install.start();
    install.ok("tapeadmin", &["add-pool", "raw"]);
    let out = install.run(
        "tapeadmin",
        &["add-tape", "V00099", "--pool", "raw", "--capacity", "1GB"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a typo was registered");
    assert!(
        err.contains("the library holds no cartridge V00099") && err.lines().count() == 1,
        "{err}"
    );
    assert!(tape(&install, "V00099").is_none(), "nothing registered");

    let out = install.run(
        "tplabel",
        &["drive0", "V00099", "--pool", "raw", "--capacity", "1GB"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("the library holds no cartridge V00099"),
        "{err}"
    );
    assert!(tape(&install, "V00099").is_none(), "nothing registered");
    assert_eq!(install.drive("drive0")["state"], "up", "the drive is fine");
}

#[test]
fn a_cartridge_gone_from_the_library_disables_its_tape_not_the_drive() {
    let install = Install::new(1, 2);
    let _daemon = install.start();
    remove_from_library(&install, "V00001");

    // tplabel of a catalogued tape the library no longer holds: the
    // operator's session fails, the drive stays up, the tape is untouched.
    let out = install.run("tplabel", &["drive0", "V00001"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("library has no cartridge V00001"), "{err}");
    assert_eq!(install.drive("drive0")["state"], "up");
    assert_eq!(tape(&install, "V00001").unwrap()["state"], "active");

    // A migration picks V00001 first (the pool's first tape): the session
    // ends with the tape disabled and the reason; the drive stays up and
    // the file goes to V00002.
    let src = install.make_file("f", 300_000, 1);
    let id = install.archive(std::slice::from_ref(&src))[0];
    install.wait_for("the file on tape", LONG, || {
        install.state_of(id).state == "on_tape"
    });
    assert_eq!(install.state_of(id).vid.as_deref(), Some("V00002"));
    let gone = tape(&install, "V00001").unwrap();
    assert_eq!(gone["state"], "disabled", "{gone}");
    assert!(
        gone["reason"]
            .as_str()
            .unwrap_or("")
            .contains("library has no cartridge V00001"),
        "{gone}"
    );
    eventually("the drive up after its session", || {
        match install.drive("drive0")["state"].as_str() {
            Some("up") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    assert!(
        !install.daemon_log().contains("to=\"down\""),
        "the drive never went down{}",
        install.daemon_log_tail()
    );
    install.recall_and_compare(&[(id, src)], "back");
}

#[test]
fn an_operator_queues_a_failed_file_and_a_failed_recall_again() {
    let install = Install::new(1, 2);
    install.configure(|c| c.scheduler.max_file_attempts = 1);
    let _daemon = install.start();
    // The source goes away before the drive takes it: the file fails.
    install.ok("tpconfig", &["drive0", "down"]);
    let src = install.make_file("gone", 10_000, 4);
    let id = install.archive(std::slice::from_ref(&src))[0];
    std::fs::remove_file(&src).unwrap();
    install.ok("tpconfig", &["drive0", "up"]);
    install.wait_for("the file failed", LONG, || {
        install.state_of(id).state == "failed"
    });
    // Mended: the operator queues it again, attempts reset.
    std::fs::write(&src, common::pattern(10_000, 4)).unwrap();
    let out = install.ok("tapeadmin", &["retry", &id.to_string()]);
    assert!(out.contains("queued again"), "{out}");
    install.wait_for("the file on tape", LONG, || {
        install.state_of(id).state == "on_tape"
    });
    let again = install.run("tapeadmin", &["retry", &id.to_string()]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success());
    assert!(err.contains("only a failed file is retried"), "{err}");

    // A recall whose destination appeared meanwhile fails; cleared, it is
    // queued again and done.
    eventually("the drive up", || {
        match install.drive("drive0")["state"].as_str() {
            Some("up") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    install.ok("tpconfig", &["drive0", "down"]);
    let dest = install.path().join("back");
    let line = install.ok(
        "stager",
        &["recall", &id.to_string(), dest.to_str().unwrap()],
    );
    let recall = line.split_whitespace().next().unwrap().to_string();
    std::fs::write(&dest, b"someone else's").unwrap();
    install.ok("tpconfig", &["drive0", "up"]);
    let state = |install: &Install| -> serde_json::Value {
        let json: serde_json::Value =
            serde_json::from_str(&install.ok("stager", &["recalls", "--json", &recall])).unwrap();
        json["recalls"][0].clone()
    };
    install.wait_for("the recall failed", LONG, || {
        state(&install)["state"] == "failed"
    });
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        b"someone else's",
        "untouched"
    );
    std::fs::remove_file(&dest).unwrap();
    install.ok("tapeadmin", &["retry-recall", &recall]);
    install.wait_for("the recall done", LONG, || {
        state(&install)["state"] == "done"
    });
    assert_eq!(std::fs::read(&dest).unwrap(), common::pattern(10_000, 4));
}
