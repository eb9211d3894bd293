//! The data-safety holes a review found, each pinned by a test named after
//! it, through the real daemon and clients. Invariants: a file reported
//! on_tape recalls byte-exact; every queued file ends on tape exactly once;
//! a cartridge is never open in two drives; nothing on a tape is
//! overwritten; a recall never leaves a partial or foreign file at its
//! destination; the catalogue stays consistent.

mod common;

use std::time::Duration;

use common::{Install, archived};
use tapeserver::config::{ByteSize, Interval};
use tapeserver::scheduler::prelude::*;

const LONG: Duration = Duration::from_secs(60);
const KIB: usize = 1024;

/// Hole 14: a database error in a session's first request for work was
/// taken for "no work": an empty mount, and at once another.
#[test]
fn a_database_error_is_not_taken_for_no_work() {
    let install = Install::new(1, 2);
    install.configure(|c| {
        c.test_faults.failing_fetches = 1;
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
    install.configure(|c| c.test_faults.failing_fetches = 0);
    daemon.signal(libc::SIGHUP);
    install.wait_for("the file on tape", LONG, || {
        install.state_of(id).state == "on_tape"
    });
    install.recall_and_compare(&[(id, src)], "out");
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
        install.tape("V00001")["state"] == "disabled"
    });
    let reason = install.tape("V00001")["reason"]
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
    assert_eq!(install.tape("V00001")["state"], "active");
}

/// Hole 5: a file larger than the largest tape of its pool was queued, and
/// burned every tape of the pool.
#[test]
fn a_file_larger_than_any_tape_is_refused_at_queue_time() {
    let install = Install::with_args(1, 2, &["--capacity", "8MiB"]);
    let _daemon = install.start();
    let big = install.make_file("big", 9 << 20, 1);
    let out = install.run("stager", &["archive", big.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("larger than the largest tape"),
        "{stderr}"
    );
    let status: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["status", "--json"])).unwrap();
    assert!(
        status["files"].as_array().unwrap().is_empty(),
        "nothing queued"
    );
}

/// Hole 5: a file that meets end of medium on every tape stayed first in
/// every fetch and blocked the queue behind it.
#[test]
fn a_file_meeting_end_of_medium_twice_fails_and_the_queue_moves_on() {
    let install = Install::new(1, 3);
    install.configure(|c| {
        c.drives[0].faults = Some(tapeserver::config::FaultsConfig {
            end_of_medium_after: Some(ByteSize(1 << 20)),
            ..Default::default()
        });
    });
    let _daemon = install.start();
    let big = install.make_file("big", 2 << 20, 1);
    let small = install.make_file("small", 10 * KIB, 2);
    let ids = install.archive(&[big, small.clone()]);
    install.wait_for("both files settled", LONG, || {
        ids.iter().all(|id| install.state_of(*id).state != "queued")
    });
    let big = install.state_of(ids[0]);
    assert_eq!(big.state, "failed", "{big:?}");
    assert!(big.error.contains("end of medium on 2 tapes"), "{big:?}");
    assert_eq!(install.state_of(ids[1]).state, "on_tape");
    install.recall_and_compare(&[(ids[1], small)], "out");
}

/// Hole 6: a forced relabel left the tape's queued recalls behind; the
/// mount choice counted them, the fetch did not, so the same empty mount
/// was chosen forever and archives starved.
#[test]
fn recalls_orphaned_by_a_relabel_fail_and_archives_go_on() {
    let install = Install::new(1, 2);
    install.configure(|c| {
        c.scheduler.mount_min_files = 2;
        c.scheduler.mount_min_bytes = ByteSize(u64::MAX);
        c.scheduler.mount_max_age = Interval(Duration::from_secs(3600));
    });
    let daemon = install.start();
    let files = archived(&install, 2, 10 * KIB);
    let out = install.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let line = install.ok(
        "stager",
        &[
            "recall",
            &files[0].0.to_string(),
            out.join("a").to_str().unwrap(),
        ],
    );
    let recall_id = line.split_whitespace().next().unwrap().to_string();
    install.wait_for("the drive idle", LONG, || {
        install.drive("drive0")["state"] == "up"
    });
    install.ok("tplabel", &["drive0", "V00001", "--force"]);
    // Now a single request is worth a mount.
    install.configure(|c| c.scheduler.mount_min_files = 1);
    daemon.signal(libc::SIGHUP);
    install.wait_for("the reload", LONG, || {
        install.daemon_log().contains("configuration reloaded")
    });
    let src = install.make_file("later", 10 * KIB, 9);
    let id = install.archive(std::slice::from_ref(&src))[0];
    install.wait_for("the new file on tape", LONG, || {
        install.state_of(id).state == "on_tape"
    });
    let json: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["recalls", "--json", &recall_id])).unwrap();
    let recall = &json["recalls"][0];
    assert_eq!(recall["state"], "failed", "{recall}");
    assert!(
        recall["error"]
            .as_str()
            .unwrap_or("")
            .contains("relabelled"),
        "{recall}"
    );
    assert!(
        !install.daemon_log().contains("empty mount"),
        "no empty mount"
    );
}

/// Hole 9: recalls read with the configured block size, not the file's
/// own, so lowering session.block_size made older files unrecallable.
#[test]
fn files_written_with_a_larger_block_size_still_recall() {
    let install = Install::new(1, 1);
    let daemon = install.start();
    let files = archived(&install, 2, 600 * KIB);
    assert_eq!(daemon.stop(), Some(0));
    install.configure(|c| c.session.block_size = ByteSize(64 * 1024));
    let _daemon = install.start();
    install.recall_and_compare(&files, "out");
}

/// Hole 11: a failed dismount left the cartridge in the drive while its
/// mount was closed, so the tape was given to other drives, whose mounts
/// failed and put them down one by one.
#[test]
fn a_failed_dismount_stays_on_its_drive() {
    let install = Install::new(2, 2);
    install.configure(|c| {
        c.drives[0].faults = Some(tapeserver::config::FaultsConfig {
            dismount_error: true,
            ..Default::default()
        });
    });
    let daemon = install.start();
    let a = install.make_file("a", 10 * KIB, 1);
    let a_id = install.archive(std::slice::from_ref(&a))[0];
    install.wait_for("drive0 down with its cartridge", LONG, || {
        install.drive("drive0")["state"] == "down"
    });
    assert_eq!(install.state_of(a_id).state, "on_tape");
    assert!(install.drive_loaded("drive0"));
    let b = install.make_file("b", 10 * KIB, 2);
    let b_id = install.archive(std::slice::from_ref(&b))[0];
    install.wait_for("b on tape", LONG, || {
        install.state_of(b_id).state == "on_tape"
    });
    assert_eq!(
        install.state_of(b_id).vid.as_deref(),
        Some("V00002"),
        "the stuck tape is not mounted elsewhere"
    );
    // Its file is reported at the flush; the session may still unmount.
    install.wait_for("drive1 up again", LONG, || {
        install.drive("drive1")["state"] == "up"
    });
    assert!(!install.daemon_log().contains("cannot mount V00001"));
    // The operator mends the robot and brings the drive up: a cleaner puts
    // the cartridge back and the tape is free again.
    install.configure(|c| c.drives[0].faults = None);
    daemon.signal(libc::SIGHUP);
    install.wait_for("the reload", LONG, || {
        install.daemon_log().contains("configuration reloaded")
    });
    install.ok("tpconfig", &["drive0", "up"]);
    install.wait_for("drive0 up and empty", LONG, || {
        install.drive("drive0")["state"] == "up" && !install.drive_loaded("drive0")
    });
    let c = install.make_file("c", 10 * KIB, 3);
    let c_id = install.archive(std::slice::from_ref(&c))[0];
    install.wait_for("c on tape", LONG, || {
        install.state_of(c_id).state == "on_tape"
    });
    install.recall_and_compare(&[(a_id, a), (b_id, b), (c_id, c)], "out");
}

fn open_mounts(install: &Install) -> Vec<serde_json::Value> {
    let json: serde_json::Value =
        serde_json::from_str(&install.ok("tpstat", &["--mounts", "--json"])).unwrap();
    json["mounts"].as_array().cloned().unwrap_or_default()
}

/// Hole 12: recovery forgot removed drives and renamed hosts: their open
/// mounts never closed, so their tapes could never be mounted again.
#[test]
fn mounts_of_removed_drives_and_renamed_hosts_do_not_hold_tapes_forever() {
    use tapeserver::scheduler::MountKind;
    let install = Install::new(1, 2);
    install.configure(|c| c.daemon.host = Some("tps01".into()));
    let db_path = install.path().join("state/scheduler.db");
    {
        let mut db = tapeserver::scheduler::SqliteScheduler::open(&db_path).unwrap();
        // Sessions that died: on a drive this host no longer has, and on
        // this host under its old name.
        for (host, drive, vid) in [
            ("tps01", "drive9", "V00001"),
            ("oldname", "drive0", "V00002"),
        ] {
            let id = db
                .claim_tape(host, drive, vid, MountKind::Migration)
                .unwrap();
            db.fetch_archive_jobs(id, 1, 1).unwrap();
        }
    }
    let _daemon = install.start();
    install.wait_for("the removed drive's mount closed", LONG, || {
        open_mounts(&install).iter().all(|m| m["drive"] != "drive9")
    });
    let stale = open_mounts(&install)
        .into_iter()
        .find(|m| m["host"] == "oldname")
        .expect("the renamed host's mount is listed");
    let files = archived(&install, 1, 10 * KIB);
    assert_eq!(
        install.state_of(files[0].0).vid.as_deref(),
        Some("V00001"),
        "the removed drive's tape is usable again"
    );
    let id = stale["id"].as_u64().unwrap().to_string();
    let said = install.ok("tpconfig", &["--close-mount", &id]);
    assert!(said.contains("closed"), "{said}");
    assert!(open_mounts(&install).iter().all(|m| m["host"] != "oldname"));
    let refused = install.run("tpconfig", &["--close-mount", &id]);
    assert!(!refused.status.success(), "an unknown mount is refused");
}

/// The socket inodes a process holds open.
fn sockets_of(pid: i32) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .map(|target| target.display().to_string())
                .filter(|t| t.starts_with("socket:"))
                .collect()
        })
        .unwrap_or_default()
}

/// Hole 15: sessions inherited the forker's link to the parent and its
/// SIGCHLD pipe (the comment said otherwise).
#[test]
fn sessions_hold_nothing_of_the_forker() {
    let install = Install::new(1, 1);
    let release = install.path().join("release");
    install.configure(|c| {
        c.drives[0].faults = Some(tapeserver::config::FaultsConfig {
            stall_at_block: Some(1),
            stall_until: Some(release.clone()),
            ..Default::default()
        });
    });
    let daemon = install.start();
    let id = install.archive(&[install.make_file("a", 10 * KIB, 1)])[0];
    install.wait_for("the session to stall", LONG, || {
        install
            .daemon_log()
            .contains("injected fault: drive stalls")
    });
    let session = install.drive("drive0")["pid"].as_i64().unwrap() as i32;
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", daemon.pid())).unwrap();
    let forker: i32 = children.split_whitespace().next().unwrap().parse().unwrap();
    let forker_sockets = sockets_of(forker);
    assert!(
        forker_sockets.len() >= 3,
        "the link and the SIGCHLD pair: {forker_sockets:?}"
    );
    let shared: Vec<_> = sockets_of(session)
        .intersection(&forker_sockets)
        .cloned()
        .collect();
    assert!(
        shared.is_empty(),
        "the session holds the forker's {shared:?}"
    );
    std::fs::write(&release, b"").unwrap();
    install.wait_for("the file on tape", LONG, || {
        install.state_of(id).state == "on_tape"
    });
}

/// Hole 13: a file finished in the early-warning zone right after a flush
/// was on tape but never committed, so it was written again elsewhere.
#[test]
fn a_file_finished_in_the_early_warning_zone_is_committed_where_it_is() {
    let install = Install::new(1, 2);
    install.configure(|c| {
        c.session.flush_files = 1;
        // The second file's first block crosses early warning.
        c.drives[0].faults = Some(tapeserver::config::FaultsConfig {
            early_warning_after: Some(ByteSize(300 * 1024)),
            ..Default::default()
        });
    });
    let _daemon = install.start();
    let sources: Vec<_> = (0..2)
        .map(|i| install.make_file(&format!("f{i}"), 200 * KIB, 40 + i))
        .collect();
    let ids = install.archive(&sources);
    install.wait_for("both files on tape", LONG, || {
        ids.iter()
            .all(|id| install.state_of(*id).state == "on_tape")
    });
    let places: Vec<_> = ids
        .iter()
        .map(|id| (install.state_of(*id).vid, install.state_of(*id).fseq))
        .collect();
    assert_eq!(
        places,
        [
            (Some("V00001".to_string()), Some(1)),
            (Some("V00001".to_string()), Some(2))
        ],
        "the second file is committed where it was written"
    );
    assert_eq!(install.tape("V00001")["state"], "full");
    install.recall_and_compare(&ids.into_iter().zip(sources).collect::<Vec<_>>(), "out");
}

/// A recall mount that ends before its tape is read (here the cartridge
/// is refused at load) used to drop the files it had fetched as empty
/// reads: each copy was recorded bad and each recall failed, though
/// nothing had been read. They stay queued and the copy good.
#[test]
fn a_mount_that_fails_before_reading_holds_nothing_against_the_copies() {
    let install = Install::new(1, 1);
    let daemon = install.start();
    let files = archived(&install, 3, 100 * KIB);
    assert_eq!(daemon.stop(), Some(0));
    let index = install.path().join("library/cartridges/V00001/index");
    let mut raw = std::fs::read(&index).unwrap();
    raw[24 * 5 + 2] ^= 0x01;
    std::fs::write(&index, &raw).unwrap();
    let _daemon = install.start();
    let out = install.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    for (id, _) in &files {
        install.ok(
            "stager",
            &[
                "recall",
                &id.to_string(),
                out.join(id.to_string()).to_str().unwrap(),
            ],
        );
    }
    install.wait_for("the tape disabled", LONG, || {
        install.tape("V00001")["state"] == "disabled"
    });
    install.wait_for("the drive idle", LONG, || {
        install.drive("drive0")["state"] == "up"
    });
    for (id, _) in &files {
        let file: serde_json::Value =
            serde_json::from_str(&install.ok("tapeadmin", &["--json", "file", &id.to_string()]))
                .unwrap();
        assert!(
            file["copies"][0]["bad"].is_null(),
            "file {id}: nothing was read, nothing is held against its copy: {file}"
        );
    }
    let recalls: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["recalls", "--json"])).unwrap();
    let states: Vec<&str> = recalls["recalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["queued"; 3], "{recalls}");
}
