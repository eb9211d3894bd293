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

/// Runs tapeadmin; returns stdout, or stderr when `ok` is false.
fn tapeadmin(install: &Install, args: &[&str], ok: bool) -> String {
    let out = install.run("tapeadmin", args);
    assert_eq!(
        out.status.success(),
        ok,
        "tapeadmin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = if ok { &out.stdout } else { &out.stderr };
    String::from_utf8_lossy(text).into_owned()
}

fn administration(install: &Install) {
    install.configure(|c| {
        // Nothing is mounted: the queue stays for the administrator to see.
        c.scheduler.mount_min_files = 1000;
        c.scheduler.mount_min_bytes = tapeserver::config::ByteSize(1 << 50);
        c.scheduler.mount_max_age = Interval(Duration::from_secs(3600));
    });
    let _daemon = install.start();
    let sources = [
        install.make_file("a", 1000, 1),
        install.make_file("b", 2000, 2),
    ];
    let ids = install.archive(&sources);
    let pools: serde_json::Value =
        serde_json::from_str(&tapeadmin(install, &["pools", "--json"], true)).unwrap();
    assert_eq!(pools["pools"][0]["queued_files"], 2, "{pools}");
    let queues: serde_json::Value =
        serde_json::from_str(&tapeadmin(install, &["queues", "--json"], true)).unwrap();
    let q = &queues["queues"][0];
    assert_eq!(
        (q["kind"].as_str(), q["files"].as_u64(), q["bytes"].as_u64()),
        (Some("archive"), Some(2), Some(3000))
    );
    tapeadmin(install, &["cancel-archive", &ids[0].to_string()], true);
    assert_eq!(install.state_of(ids[0]).state, "failed");
    assert!(install.state_of(ids[0]).error.contains("cancelled"));
    let err = tapeadmin(install, &["cancel-archive", &ids[0].to_string()], false);
    assert!(err.contains("nothing to cancel"), "{err}");
    tapeadmin(install, &["add-pool", "raw"], true);
    // A cartridge the library does not hold is not registered.
    let err = tapeadmin(
        install,
        &["add-tape", "X00001", "--pool", "raw", "--capacity", "1GB"],
        false,
    );
    assert!(
        err.contains("the library holds no cartridge X00001"),
        "{err}"
    );
    tapeadmin(
        install,
        &["tape-state", "V00002", "read_only", "--reason", "migrating"],
        true,
    );
    let tapes: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap();
    let x = tapes["tapes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["vid"] == "V00002")
        .unwrap();
    assert_eq!(x["state"], "read_only", "{tapes}");
    let file: serde_json::Value = serde_json::from_str(&tapeadmin(
        install,
        &["file", &ids[1].to_string(), "--json"],
        true,
    ))
    .unwrap();
    assert_eq!(file["state"], "queued");
    // Nonsense gets one sentence.
    for (args, says) in [
        (vec!["tape-state", "V00002", "sideways"], "expected enable"),
        (
            vec!["add-tape", "TOOLONG1", "--pool", "raw", "--capacity", "1GB"],
            "VID",
        ),
        (
            vec!["add-tape", "X00002", "--pool", "nope", "--capacity", "1GB"],
            "tapeadmin add-pool nope creates it",
        ),
        (vec!["close-mount", "999"], "no open mount"),
        (vec!["cancel-recall", "999"], "no recall"),
    ] {
        let err = tapeadmin(install, &args, false);
        assert!(
            err.contains(says) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}

#[test]
fn administrators_see_pools_and_queues_and_cancel_on_sqlite() {
    administration(&Install::new(1, 2));
}

#[test]
fn administrators_see_pools_and_queues_and_cancel_on_postgresql() {
    let db = TestPg::new();
    administration(&Install::with_args(1, 2, &["--scheduler", &db.url]));
}
