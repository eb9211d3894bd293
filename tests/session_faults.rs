//! Every error path of a session, through the real daemon with the
//! fault-injecting drive: disk-side errors fail one file, a tape write
//! error ends the migration and requeues the rest, end of tape moves the
//! work to another tape, recall read and checksum errors fail one file,
//! (a session killed between two flushes is in `daemon_ops.rs`).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Install, pattern};
use tapeserver::config::{ByteSize, FaultsConfig, Interval};

const LONG: Duration = Duration::from_secs(60);
const KIB: usize = 1024;

/// One drive; mounts wait for `min_files` queued files or 3 seconds.
fn install(tapes: u32, min_files: u64, faults: FaultsConfig, flush_files: u64) -> Install {
    let install = Install::new(1, tapes);
    install.configure(|c| {
        c.scheduler.mount_min_files = min_files;
        c.scheduler.mount_min_bytes = ByteSize(u64::MAX);
        c.scheduler.mount_max_age = Interval(Duration::from_secs(3));
        c.session.flush_files = flush_files;
        c.drives[0].faults = Some(faults);
    });
    install
}

fn settled(install: &Install, ids: &[u64]) -> bool {
    install
        .status()
        .iter()
        .filter(|f| ids.contains(&f.id))
        .all(|f| f.state != "queued")
}

/// Every file on tape exactly once, fSeqs unique per tape.
fn assert_on_tape_once(install: &Install, ids: &[u64]) {
    let status = install.status();
    let mut places = std::collections::BTreeSet::new();
    for id in ids {
        let f = status.iter().find(|f| f.id == *id).expect("file");
        assert_eq!(f.state, "on_tape", "file {id}: {f:?}");
        assert!(
            places.insert((f.vid.clone(), f.fseq)),
            "two files at {:?} {:?}",
            f.vid,
            f.fseq
        );
    }
}

#[test]
fn disk_side_errors_fail_only_their_file() {
    let install = install(2, 4, FaultsConfig::default(), 200);
    let _daemon = install.start();
    // The drive is down while the files change, so no mount starts before
    // (however slow this machine is); later mounts retry the failed ones.
    install.ok("tpconfig", &["drive0", "down"]);
    let a = install.make_file("a", 300 * KIB, 1);
    let vanished = install.make_file("vanished", 300 * KIB, 2);
    let grown = install.make_file("grown", 300 * KIB, 3);
    let ids = install.archive(&[a.clone(), vanished.clone(), grown.clone()]);
    // Before the fourth file starts the mount, one file goes and one changes size.
    std::fs::remove_file(&vanished).unwrap();
    std::fs::write(&grown, pattern(301 * KIB, 3)).unwrap();
    let d = install.make_file("d", 10, 4);
    let mut all = ids.clone();
    all.extend(install.archive(std::slice::from_ref(&d)));
    install.ok("tpconfig", &["drive0", "up"]);
    install.wait_for("all files settled", LONG, || settled(&install, &all));

    let failed_vanished = install.state_of(all[1]);
    assert_eq!(failed_vanished.state, "failed");
    assert!(
        failed_vanished.error.contains("cannot open"),
        "{failed_vanished:?}"
    );
    let failed_grown = install.state_of(all[2]);
    assert_eq!(failed_grown.state, "failed");
    assert!(
        failed_grown.error.contains("changed size"),
        "{failed_grown:?}"
    );
    assert_on_tape_once(&install, &[all[0], all[3]]);
    // The failed files left no gap: the good ones are fSeq 1 and 2.
    assert_eq!(install.state_of(all[3]).fseq, Some(2));
    install.recall_and_compare(&[(all[0], a), (all[3], d)], "out");
}

#[test]
fn tape_write_error_ends_the_migration_and_requeues_the_rest() {
    let faults = FaultsConfig {
        write_error_at_block: Some(5),
        ..Default::default()
    };
    // Four files of two blocks each, a flush after every file: blocks 1-4
    // (files 1 and 2) are flushed, block 5 (file 3) fails.
    let install = install(2, 4, faults, 1);
    let _daemon = install.start();
    let files: Vec<PathBuf> = (0..4)
        .map(|i| install.make_file(&format!("f{i}"), 400 * KIB, i))
        .collect();
    let ids = install.archive(&files);
    // The session ends asking for a cleaner; the cleaner unloads, the
    // drive comes back up and the next session (same fault, but only four
    // blocks to write) finishes the work.
    install.wait_for("all files on tape", LONG, || settled(&install, &ids));
    assert_on_tape_once(&install, &ids);
    let log = install.daemon_log();
    let first = log
        .lines()
        .find(|l| l.contains("session summary"))
        .expect("a session summary");
    assert!(
        first.contains(" files=2 ") && first.contains("exit=2"),
        "the two flushed files were reported: {first}"
    );
    // The session unloaded before it exited, so the cleaner finds the drive empty.
    assert!(log.contains("cleaner started"), "a cleaner ran");
    assert!(log.contains("cleaner: the drive is empty"), "{log}");
    let fseqs: Vec<Option<u64>> = ids.iter().map(|id| install.state_of(*id).fseq).collect();
    assert_eq!(
        fseqs,
        [Some(1), Some(2), Some(3), Some(4)],
        "the partial copy was overwritten"
    );
    install.recall_and_compare(&ids.iter().copied().zip(files).collect::<Vec<_>>(), "out");
}

#[test]
fn end_of_tape_marks_the_tape_full_and_moves_the_work_on() {
    let faults = FaultsConfig {
        early_warning_after: Some(ByteSize(1024 * 1024)),
        end_of_medium_after: Some(ByteSize(1100 * 1024)),
        ..Default::default()
    };
    // 400 KiB files: the third file crosses early warning with its first
    // block and hits end of medium with its second, so it is abandoned.
    let install = install(3, 6, faults, 200);
    let _daemon = install.start();
    let files: Vec<PathBuf> = (0..6)
        .map(|i| install.make_file(&format!("f{i}"), 400 * KIB, 10 + i))
        .collect();
    let ids = install.archive(&files);
    install.wait_for("all files on tape", LONG, || settled(&install, &ids));
    assert_on_tape_once(&install, &ids);
    let tapes: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap();
    let summary: Vec<(String, String, u64)> = tapes["tapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["vid"].as_str().unwrap().into(),
                t["state"].as_str().unwrap().into(),
                t["files"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("V00001".to_string(), "full".to_string(), 2),
            ("V00002".to_string(), "full".to_string(), 2),
            ("V00003".to_string(), "active".to_string(), 2)
        ]
    );
    install.recall_and_compare(&ids.iter().copied().zip(files).collect::<Vec<_>>(), "out");
}

#[test]
fn recall_read_error_and_checksum_mismatch_fail_only_those_files() {
    let faults = FaultsConfig {
        read_error_at_block: Some(2),
        corrupt_read_at_block: Some(4),
        ..Default::default()
    };
    let install = install(1, 4, faults, 200);
    let _daemon = install.start();
    let files: Vec<PathBuf> = (0..4)
        .map(|i| install.make_file(&format!("f{i}"), 100 * KIB, 20 + i))
        .collect();
    let ids = install.archive(&files);
    install.wait_for("all files on tape", LONG, || settled(&install, &ids));
    let out = install.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let dest = |i: usize| out.join(format!("f{i}"));
    // Four recalls in one mount, read in fSeq order: blocks 1..4.
    for (i, id) in ids.iter().enumerate().take(3) {
        install.ok(
            "stager",
            &["recall", &id.to_string(), dest(i).to_str().unwrap()],
        );
    }
    let last = install.run(
        "stager",
        &[
            "recall",
            &ids[3].to_string(),
            dest(3).to_str().unwrap(),
            "--wait",
        ],
    );
    let stderr = String::from_utf8_lossy(&last.stderr);
    assert!(
        !last.status.success() && stderr.contains("checksum mismatch"),
        "{stderr}"
    );
    install.wait_for("file 3 recalled", LONG, || dest(2).exists());
    for i in [0, 2] {
        assert!(
            std::fs::read(dest(i)).unwrap() == std::fs::read(&files[i]).unwrap(),
            "file {i} differs"
        );
    }
    assert!(!dest(1).exists(), "a file with a read error is not written");
    assert!(
        !dest(3).exists(),
        "a file with a checksum mismatch is not written"
    );
    let leftovers = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .count();
    assert_eq!(leftovers, 0, "no temporary file is left behind");
    let log = std::fs::read_to_string(install.path().join("daemon.log")).unwrap();
    assert!(
        log.contains("medium error reading data block 2"),
        "the read error is logged"
    );
    // The session went on: the drive is up.
    // Its files are done; the session may still be unmounting.
    install.wait_for(
        "the drive up again",
        std::time::Duration::from_secs(60),
        || install.drive("drive0")["state"] == "up",
    );
}
