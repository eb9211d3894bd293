//! The scheduling a site needs: recalls trickling in for one tape are
//! served by the mount already there (lazy dismount), on SQLite and on
//! PostgreSQL, with mounts counted per tape.

mod common;

use std::time::Duration;

use common::pg::TestPg;
use common::{Install, archived, wait_until};
use tapeserver::config::Interval;

/// Archives 40 files to the one tape, then recalls them one `stager
/// recall` at a time (each queued as the previous command returns);
/// returns the tape's read mounts once every file is back, byte-exact.
fn recall_one_at_a_time(install: &Install, keep: Duration) -> u64 {
    install.configure(|c| {
        c.scheduler.keep_mounted = Interval(keep);
    });
    let _daemon = install.start();
    let files = archived(install, 40, 20_000);
    let out = install.path().join("back");
    std::fs::create_dir_all(&out).unwrap();
    let mut recalls = Vec::new();
    for (id, _) in &files {
        let dest = out.join(format!("{id}"));
        let line = install.ok(
            "stager",
            &["recall", &id.to_string(), dest.to_str().unwrap()],
        );
        recalls.push(line.split_whitespace().next().unwrap().to_string());
    }
    wait_until("every recall done", || {
        let json: serde_json::Value =
            serde_json::from_str(&install.ok("stager", &["recalls", "--json"])).unwrap();
        let states: Vec<&str> = json["recalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["state"].as_str().unwrap())
            .collect();
        assert!(!states.contains(&"failed"), "{json}");
        states.len() == files.len() && states.iter().all(|s| *s == "done")
    });
    for (id, src) in &files {
        assert!(std::fs::read(out.join(format!("{id}"))).unwrap() == std::fs::read(src).unwrap());
    }
    let tapes: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap();
    let tape = &tapes["tapes"][0];
    assert_eq!(tape["write_mounts"].as_u64(), Some(1), "{tapes}");
    tape["read_mounts"].as_u64().unwrap()
}

#[test]
fn forty_recalls_queued_one_at_a_time_cost_one_mount() {
    let before = recall_one_at_a_time(&Install::new(1, 1), Duration::ZERO);
    let after = recall_one_at_a_time(&Install::new(1, 1), Duration::from_secs(30));
    eprintln!(
        "read mounts for 40 recalls queued one at a time: {before} without lazy dismount, {after} with"
    );
    assert_eq!(after, 1);
}

#[test]
fn forty_recalls_cost_one_mount_on_postgresql_too() {
    let db = TestPg::new();
    let install = Install::with_args(1, 1, &["--scheduler", &db.url]);
    assert_eq!(recall_one_at_a_time(&install, Duration::from_secs(30)), 1);
}
