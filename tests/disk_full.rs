//! A full filesystem at a recall destination: the file fails cleanly (no
//! partial file, the space given back), the recall goes back to the queue
//! saying why, and it completes once there is room. The filesystem is a
//! small tmpfs mounted for the test (the tests run as root).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::tmpfs::Tmpfs;
use common::{Install, pattern};
use tapeserver::config::Interval;

fn recall_json(install: &Install, id: &str) -> serde_json::Value {
    let out = install.run("stager", &["recalls", "--json", id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["recalls"][0].clone()
}

#[test]
fn a_recall_into_a_full_filesystem_leaves_nothing_and_is_retried_when_there_is_room() {
    let install = Install::new(1, 1);
    install.configure(|c| c.session.recall_retry = Interval(Duration::from_secs(2)));
    let _daemon = install.start();
    let files = common::archived(&install, 1, 3 << 20);
    let (id, source) = &files[0];

    let full = Tmpfs::mount(&install.path().join("full"), "4m");
    let filler = full.path().join("filler");
    std::fs::write(&filler, pattern(2 << 20, 1)).unwrap();
    let used_before = full.used();
    let dest = full.path().join("back");
    let out = install.run(
        "stager",
        &["recall", &id.to_string(), dest.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recall_id = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find(|w| w.parse::<u64>().is_ok())
        .unwrap()
        .to_string();

    // It fails for now, saying why, and stays queued.
    install.wait_for(
        "the recall to meet the full disk",
        Duration::from_secs(60),
        || {
            let r = recall_json(&install, &recall_id);
            r["error"]
                .as_str()
                .is_some_and(|e| e.contains("No space left on device"))
        },
    );
    let r = recall_json(&install, &recall_id);
    assert_eq!(r["state"], "queued", "retried later, not failed: {r}");
    // Nothing is left behind: no partial file, and the space is given back
    // once the session is done with it.
    let names: Vec<_> = std::fs::read_dir(full.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["filler"], "only the filler is there");
    install.wait_for("the space given back", Duration::from_secs(60), || {
        full.used() == used_before
    });
    assert!(
        install
            .daemon_log()
            .contains("recall failed for now: nothing was left at the destination"),
        "{}",
        install.daemon_log_tail()
    );

    // Room made: the next attempt puts the whole file there.
    std::fs::remove_file(&filler).unwrap();
    install.wait_for("the recall to complete", Duration::from_secs(120), || {
        recall_json(&install, &recall_id)["state"] == "done"
    });
    assert!(
        std::fs::read(&dest).unwrap() == std::fs::read(source).unwrap(),
        "recalled bytes differ"
    );
}

/// A full filesystem under the state directory: requests that need the
/// catalogue are refused saying so, nothing already recorded is damaged,
/// and everything works again once there is room.
#[test]
fn a_full_state_directory_refuses_work_saying_why_and_damages_nothing() {
    let install = Install::new(1, 1);
    let state = Tmpfs::mount(&install.path().join("state-small"), "8m");
    let db = state.path().join("scheduler.db");
    std::fs::copy(install.path().join("state/scheduler.db"), &db).unwrap();
    install.configure(|c| {
        c.daemon.state_dir = state.path().to_path_buf();
        c.scheduler.url = format!("sqlite://{}", db.display());
    });
    let _daemon = install.start();
    let before = common::archived(&install, 2, 100_000);

    // Fill it to the last block.
    let filler = state.path().join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 << 10];
        while f.write_all(&chunk).is_ok() {}
        while f.write_all(&chunk[..512]).is_ok() {}
    }
    let sources: Vec<PathBuf> = (0..50)
        .map(|i| install.make_file(&format!("late{i}"), 1000, 50 + i))
        .collect();
    let paths: Vec<&str> = sources.iter().map(|p| p.to_str().unwrap()).collect();
    let mut args = vec!["archive"];
    args.extend(paths.iter());
    let out = install.run("stager", &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "queued on a full disk");
    assert!(err.contains("full"), "says why: {err}");
    assert!(
        install.daemon_log().contains("full"),
        "the daemon says why{}",
        install.daemon_log_tail()
    );
    // The daemon still answers, and what was recorded is intact.
    assert!(install.run("tpstat", &[]).status.success());
    for (id, _) in &before {
        assert_eq!(install.state_of(*id).state, "on_tape");
    }

    std::fs::remove_file(&filler).unwrap();
    let ids = install.archive(&sources);
    install.wait_for("the late files on tape", Duration::from_secs(60), || {
        ids.iter()
            .all(|id| install.state_of(*id).state == "on_tape")
    });
    let check = rusqlite::Connection::open(&db).unwrap();
    let verdict: String = check
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    install.recall_and_compare(&before, "back");
}
