//! The data-safety holes on the disk side, each pinned by a test named
//! after it, through the real daemon and clients: sources and destinations
//! resolved beneath the allowed roots when opened, a recall or readtp that
//! never accepts, replaces or removes a file it did not write, and a source
//! that is not a regular file failing the file, not the drive.

mod common;

use std::time::Duration;

use common::{Install, archived};
use tapeserver::config::Interval;

const LONG: Duration = Duration::from_secs(60);
const KIB: usize = 1024;

/// Hole 7: a source replaced by a FIFO blocked the disk reader's open until
/// the watchdog killed the session; the file was requeued uncounted and
/// every kill counted against the drive.
#[test]
fn a_fifo_in_place_of_a_source_fails_the_file_not_the_drive() {
    let install = Install::new(1, 1);
    install.configure(|c| {
        c.watchdog.no_data_movement_timeout = Interval(Duration::from_secs(2));
    });
    let _daemon = install.start();
    // The drive is down while the source is swapped, so no session opens
    // it before the swap.
    install.ok("tpconfig", &["drive0", "down"]);
    let fifo = install.make_file("fifo", 10 * KIB, 1);
    let good = install.make_file("good", 10 * KIB, 2);
    let ids = install.archive(&[fifo.clone(), good]);
    let (fifo_id, good_id) = (ids[0], ids[1]);
    std::fs::remove_file(&fifo).unwrap();
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    install.ok("tpconfig", &["drive0", "up"]);
    install.wait_for("both files settled", LONG, || {
        [fifo_id, good_id]
            .iter()
            .all(|id| install.state_of(*id).state != "queued")
    });
    let failed = install.state_of(fifo_id);
    assert_eq!(failed.state, "failed", "{failed:?}");
    assert!(failed.error.contains("not a regular file"), "{failed:?}");
    assert!(failed.error.contains("3 attempts"), "{failed:?}");
    assert_eq!(install.state_of(good_id).state, "on_tape");
    // Its files are done; the session may still be unmounting.
    install.wait_for(
        "the drive up again",
        std::time::Duration::from_secs(60),
        || install.drive("drive0")["state"] == "up",
    );
    assert!(!install.daemon_log().contains("watchdog: killing"));
}

/// Hole 3: a retry accepted any destination of the right size and CRC32C
/// (forgeable; any empty file matches an empty file) without knowing it
/// wrote it.
#[test]
fn a_recall_never_accepts_a_destination_it_did_not_write() {
    let install = Install::new(1, 1);
    let _daemon = install.start();
    let files = archived(&install, 1, 100 * KIB);
    let empty = install.make_file("empty", 0, 5);
    let empty_id = install.archive(std::slice::from_ref(&empty))[0];
    install.wait_for("the empty file on tape", LONG, || {
        install.state_of(empty_id).state == "on_tape"
    });
    install.ok("tpconfig", &["drive0", "down"]);
    let out = install.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let recall = |id: u64, name: &str| {
        let line = install.ok(
            "stager",
            &["recall", &id.to_string(), out.join(name).to_str().unwrap()],
        );
        line.split_whitespace().next().unwrap().to_string()
    };
    let r1 = recall(files[0].0, "a");
    let r2 = recall(empty_id, "e");
    // Someone else puts files there, byte for byte what the recalls would write.
    std::fs::copy(&files[0].1, out.join("a")).unwrap();
    std::fs::write(out.join("e"), b"").unwrap();
    install.ok("tpconfig", &["drive0", "up"]);
    for r in [&r1, &r2] {
        install.wait_for("the recall settled", LONG, || {
            let json: serde_json::Value =
                serde_json::from_str(&install.ok("stager", &["recalls", "--json", r])).unwrap();
            let state = json["recalls"][0]["state"]
                .as_str()
                .unwrap_or("")
                .to_string();
            state == "failed" || state == "done"
        });
        let json: serde_json::Value =
            serde_json::from_str(&install.ok("stager", &["recalls", "--json", r])).unwrap();
        let recall = &json["recalls"][0];
        assert_eq!(recall["state"], "failed", "{recall}");
        assert!(
            recall["error"].as_str().unwrap_or("").contains("exists"),
            "{recall}"
        );
    }
    assert_eq!(
        std::fs::read(out.join("a")).unwrap(),
        std::fs::read(&files[0].1).unwrap()
    );
}

/// Hole 4: readtp removed DEST_DIR/VID.FSEQ on any error, even a file it
/// did not create ("file exists").
#[test]
fn readtp_never_removes_a_file_it_did_not_create() {
    let install = Install::new(1, 1);
    let _daemon = install.start();
    archived(&install, 1, 10 * KIB);
    install.wait_for("the drive idle", LONG, || {
        install.drive("drive0")["state"] == "up"
    });
    let dest = install.path().join("readtp");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("V00001.1"), b"precious").unwrap();
    let out = install.run("readtp", &["V00001", "1", dest.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("exists"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(dest.join("V00001.1")).unwrap(), b"precious");
    let names: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["V00001.1"], "nothing else is left behind");
}

/// Hole 8: paths were checked as strings at queue time only; the session
/// re-resolved them, so a directory swapped for a symlink after queueing
/// archived any file the daemon could read, and let a recall write anywhere.
#[test]
fn a_directory_swapped_for_a_symlink_leads_nowhere_outside_the_roots() {
    let install = Install::new(1, 1);
    let _daemon = install.start();
    let files = archived(&install, 1, 10 * KIB);
    let outside = tempfile::tempdir().unwrap();
    // As long as the file queued, so only where it is tells them apart.
    std::fs::write(outside.path().join("secret"), b"SECRET!!").unwrap();
    install.ok("tpconfig", &["drive0", "down"]);
    let sub = install.path().join("src/sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("secret"), b"harmless").unwrap();
    let source_id = install.archive(&[sub.join("secret")])[0];
    let out_sub = install.path().join("out/sub");
    std::fs::create_dir_all(&out_sub).unwrap();
    let line = install.ok(
        "stager",
        &[
            "recall",
            &files[0].0.to_string(),
            out_sub.join("f").to_str().unwrap(),
        ],
    );
    let recall_id = line.split_whitespace().next().unwrap().to_string();
    // Both directories become symlinks to a place outside the roots.
    std::fs::remove_dir_all(&sub).unwrap();
    std::os::unix::fs::symlink(outside.path(), &sub).unwrap();
    std::fs::remove_dir_all(&out_sub).unwrap();
    std::os::unix::fs::symlink(outside.path(), &out_sub).unwrap();
    install.ok("tpconfig", &["drive0", "up"]);
    install.wait_for("the archive settled", LONG, || {
        install.state_of(source_id).state != "queued"
    });
    let source = install.state_of(source_id);
    assert_eq!(source.state, "failed", "{source:?}");
    assert!(
        source.error.contains("allowed archive directory"),
        "{source:?}"
    );
    install.wait_for("the recall settled", LONG, || {
        let json: serde_json::Value =
            serde_json::from_str(&install.ok("stager", &["recalls", "--json", &recall_id]))
                .unwrap();
        json["recalls"][0]["state"] == "failed"
    });
    let names: Vec<String> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["secret"], "nothing was written outside the roots");
}
