//! The data-safety holes a review found, each pinned by a test named after
//! it, through the real daemon and clients. Invariants: a file reported
//! on_tape recalls byte-exact; every queued file ends on tape exactly once;
//! a cartridge is never open in two drives; nothing on a tape is
//! overwritten; a recall never leaves a partial or foreign file at its
//! destination; the catalogue stays consistent.

mod common;

use std::time::Duration;

use common::Install;
use tapeserver::config::Interval;

const LONG: Duration = Duration::from_secs(60);
const KIB: usize = 1024;

/// Hole 14: a database error in a session's first request for work was
/// taken for "no work": an empty mount, and at once another.
#[test]
fn a_database_error_is_not_taken_for_no_work() {
    let install = Install::new(1, 2);
    install.configure(|c| {
        c.scheduler.test_failing_fetches = 1;
        c.scheduler.error_backoff = Interval(Duration::from_secs(1));
    });
    let daemon = install.start();
    let src = install.make_file("a", 10 * KIB, 1);
    let id = install.archive(std::slice::from_ref(&src))[0];
    install.wait_for("the session to report the outage", LONG, || {
        install
            .daemon_log()
            .contains("no new mount on this drive for a while")
    });
    let log = install.daemon_log();
    assert!(
        !log.contains("empty mount"),
        "an outage is not an empty mount"
    );
    assert!(!log.contains("tape mounted"), "nothing was mounted");
    assert_eq!(install.drive("drive0")["state"], "up", "the drive stays up");
    assert_eq!(install.state_of(id).state, "queued");
    // The database is back: the file goes to tape.
    install.configure(|c| c.scheduler.test_failing_fetches = 0);
    daemon.signal(libc::SIGHUP);
    install.wait_for("the file on tape", LONG, || {
        install.state_of(id).state == "on_tape"
    });
    install.recall_and_compare(&[(id, src)], "out");
}

/// Archives `n` files of `size` bytes and waits until all are on tape.
fn archived(install: &Install, n: u64, size: usize) -> Vec<(u64, std::path::PathBuf)> {
    let sources: Vec<_> = (0..n)
        .map(|i| install.make_file(&format!("f{i}"), size, 100 + i))
        .collect();
    let ids = install.archive(&sources);
    install.wait_for("every file on tape", LONG, || {
        ids.iter()
            .all(|id| install.state_of(*id).state == "on_tape")
    });
    ids.into_iter().zip(sources).collect()
}

fn tape(install: &Install, vid: &str) -> serde_json::Value {
    let tapes: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap();
    tapes["tapes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["vid"] == vid)
        .cloned()
        .unwrap()
}

/// Hole 1: a zero-filled index tail (what a filesystem shows of an
/// unwritten tail after a power loss) made the load truncate the data file
/// to wherever the zeros pointed: the whole cartridge was gone.
#[test]
fn a_zero_filled_index_tail_loses_no_file_on_tape() {
    let install = Install::new(1, 1);
    let daemon = install.start();
    let files = archived(&install, 3, 300 * KIB);
    assert_eq!(daemon.stop(), Some(0));
    let index = install.path().join("library/cartridges/V00001/index");
    let mut raw = std::fs::read(&index).unwrap();
    raw.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&index, raw).unwrap();
    let _daemon = install.start();
    install.recall_and_compare(&files, "out");
}

/// Hole 1: a cartridge damaged below what its last flush made durable is
/// refused, never trimmed; its tape is disabled with the reason, and the
/// drive stays up.
#[test]
fn a_cartridge_damaged_below_its_flush_is_refused_and_its_tape_disabled() {
    let install = Install::new(1, 1);
    let daemon = install.start();
    let files = archived(&install, 2, 100 * KIB);
    assert_eq!(daemon.stop(), Some(0));
    let index = install.path().join("library/cartridges/V00001/index");
    let mut raw = std::fs::read(&index).unwrap();
    let len = raw.len();
    raw[24 * 5 + 2] ^= 0x01;
    std::fs::write(&index, &raw).unwrap();
    let _daemon = install.start();
    let out = install.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    install.ok(
        "stager",
        &[
            "recall",
            &files[0].0.to_string(),
            out.join("a").to_str().unwrap(),
        ],
    );
    install.wait_for("the tape disabled", LONG, || {
        tape(&install, "V00001")["state"] == "disabled"
    });
    let reason = tape(&install, "V00001")["reason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        reason.contains("block 5") && reason.contains("damaged"),
        "{reason}"
    );
    install.wait_for("the drive idle", LONG, || {
        install.drive("drive0")["state"] == "up"
    });
    assert!(
        !install.drive_loaded("drive0"),
        "the cartridge went back to its slot"
    );
    assert_eq!(
        std::fs::read(&index).unwrap().len(),
        len,
        "nothing was trimmed"
    );
    assert!(!out.join("a").exists());
}

/// Hole 16: a null drive (benchmarks) discards the data it is given, yet
/// its files were reported on_tape.
#[test]
fn a_null_drive_never_reports_a_file_on_tape() {
    let install = Install::new(1, 1);
    install.configure(|c| c.drives[0].kind = tapeserver::config::DriveKind::Null);
    let _daemon = install.start();
    let src = install.make_file("a", 300 * KIB, 1);
    let id = install.archive(std::slice::from_ref(&src))[0];
    install.wait_for("the file settled", LONG, || {
        install.state_of(id).state != "queued"
    });
    let file = install.state_of(id);
    assert_eq!(file.state, "failed", "{file:?}");
    assert!(file.error.contains("null drive"), "{file:?}");
    let listing: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["ls-tape", "V00001", "--json"])).unwrap();
    assert!(listing["files"].as_array().unwrap().is_empty());
    // The cartridge was left as it was: the next session appends cleanly.
    let again = install.archive(std::slice::from_ref(&src))[0];
    install.wait_for("the second file settled", LONG, || {
        install.state_of(again).state != "queued"
    });
    assert!(install.state_of(again).error.contains("null drive"));
    assert_eq!(tape(&install, "V00001")["state"], "active");
}
