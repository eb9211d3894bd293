//! The site simulator through its binary: its figures against the FIFO
//! baseline on a small recall burst, a clear refusal of a bad workload,
//! and the same mounts, in the same order, as the daemon on a
//! time-modelled emulated library given the same work.

mod common;

use std::time::Duration;

use common::{Install, bin};

const LONG: Duration = Duration::from_secs(90);

fn tapesim(args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin("tapesim"))
        .args(args)
        .output()
        .expect("run tapesim")
}

fn json(workload: &std::path::Path) -> serde_json::Value {
    let out = tapesim(&["run", workload.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_recall_burst_takes_one_mount_per_tape_where_fifo_takes_one_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("burst.toml");
    std::fs::write(
        &path,
        r#"
name = "burst"
drives = 2
[scheduler]
mount_max_age = "10m"
[[tapes]]
count = 4
files = 10
file_size = "4GB"
[[requests]]
activity = "recall"
count = 40
every = "1s"
"#,
    )
    .unwrap();
    let r = json(&path);
    assert_eq!(r["workload"], "burst");
    let recall_mounts = r["mounts"]["recall"].as_u64().unwrap();
    assert!(
        (1..=4).contains(&recall_mounts),
        "one per tape at most: {r}"
    );
    assert_eq!(
        r["baseline"]["mounts"]["recall"], 40,
        "FIFO: one per request"
    );
    assert_eq!(r["latency_s"]["recall"]["count"], 40);
    assert_eq!(r["unserved"], 0);
    let (ours, fifo) = (
        r["drive_utilisation"].as_f64().unwrap(),
        r["baseline"]["drive_utilisation"].as_f64().unwrap(),
    );
    assert!(ours > fifo && ours <= 1.0, "{ours} against {fifo}");
    assert!(r["gb_per_mount"].as_f64().unwrap() > r["baseline"]["gb_per_mount"].as_f64().unwrap());
    for q in ["p50", "p95", "p99"] {
        assert!(r["latency_s"]["recall"][q].is_f64(), "{q}");
        assert!(r["baseline"]["latency_s"]["recall"][q].is_f64(), "{q}");
    }
    // The table says the same.
    let out = tapesim(&["run", path.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("drive utilisation") && table.contains("FIFO baseline"),
        "{table}"
    );
}

/// A recall that waited for the drive is old when served; with no other
/// work wanting the drive, its tape still stays for `keep_mounted`, so the
/// next request for it, a minute later, finds it mounted. (The tape was
/// released at once, and remounted, when the rule asked only how old the
/// newest request was.)
#[test]
fn a_tape_whose_drive_nobody_else_wants_stays_for_the_next_trickled_recall() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("behind.toml");
    std::fs::write(
        &path,
        r#"
name = "a recall behind an archive"
model = "lto9"
drives = 1
[scheduler]
mount_min_files = 1
mount_min_bytes = "1"
mount_max_age = "0s"
keep_mounted = "102s"
poll_interval = "1s"
[[tapes]]
pool = "b"
count = 1
files = 20
file_size = "1GB"
[[tapes]]
pool = "a"
count = 1
[[requests]]
activity = "archive"
pool = "a"
count = 10
size = "20GB"
[[requests]]
activity = "recall"
tapes = 1
at = "300s"
every = "400s"
count = 2
"#,
    )
    .unwrap();
    let r = json(&path);
    assert_eq!(r["unserved"], 0, "{r}");
    assert_eq!(r["mounts"]["archive"], 1, "{r}");
    assert_eq!(r["mounts"]["recall"], 1, "one recall mount for both: {r}");
}

#[test]
fn a_bad_workload_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "name = \"bad\"\ndrives = 1\nmodel = \"lto4\"\n").unwrap();
    let out = tapesim(&["run", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("lto4") && err.contains("lto9"), "{err}");
    std::fs::write(
        &path,
        "name = \"bad\"\ndrives = 1\n[[requests]]\nactivity = \"recall\"\ncount = 1\n",
    )
    .unwrap();
    let err =
        String::from_utf8_lossy(&tapesim(&["run", path.to_str().unwrap()]).stderr).to_string();
    assert!(err.contains("needs cartridges with files"), "{err}");
}

/// (activity, VID) of each "mount assigned" line of the daemon's log.
fn daemon_mounts(log: &str) -> Vec<(String, String)> {
    // key=value or key="value"
    let field = |l: &str, key: &str| -> Option<String> {
        let rest = l.split(&format!(" {key}=")).nth(1)?;
        let value = match rest.strip_prefix('"') {
            Some(quoted) => quoted.split('"').next()?,
            None => rest.split_whitespace().next()?,
        };
        Some(value.to_string())
    };
    log.lines()
        .filter(|l| l.contains("mount assigned:"))
        .filter_map(|l| {
            let kind = match field(l, "kind")?.as_str() {
                "migration" => "archive".to_string(),
                other => other.to_string(),
            };
            Some((kind, field(l, "vid")?))
        })
        .collect()
}

#[test]
fn the_daemon_and_the_simulator_mount_the_same_tapes_in_the_same_order() {
    let workload =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workloads/two-pools.toml");
    let sim = json(&workload);
    let simulated: Vec<(String, String)> = sim["mount_sequence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["activity"].as_str().unwrap().to_string(),
                m["vid"].as_str().unwrap().to_string(),
            )
        })
        .collect();

    // The same work on the daemon: a time-modelled library as init makes
    // it, one drive, a pool per cartridge.
    let install = Install::with_args(1, 2, &["--time-model", "lto9", "--time-scale", "50"]);
    let _daemon = install.start();
    for (pool, vid) in [("one", "V00001"), ("two", "V00002")] {
        install.ok("tapeadmin", &["add-pool", pool]);
        install.ok("tapeadmin", &["move-tape", vid, "--pool", pool]);
    }
    let mut archived = Vec::new();
    for pool in ["one", "two"] {
        let sources: Vec<String> = (0..10)
            .map(|i| {
                install
                    .make_file(&format!("{pool}{i}"), 150_000, i)
                    .display()
                    .to_string()
            })
            .collect();
        let mut args = vec!["archive", "--pool", pool, "--wait"];
        args.extend(sources.iter().map(String::as_str));
        archived.extend(common::archived_ids(&install.ok("stager", &args)));
    }
    let back = install.path().join("back");
    std::fs::create_dir_all(&back).unwrap();
    // Five of pool one's files, then five of pool two's, each asked once
    // the one before is back; each pool's first once the drive is empty
    // (the simulator's ten minutes between the phases: its drive is free
    // when each phase starts).
    for (i, (id, _)) in archived[..5].iter().chain(&archived[10..15]).enumerate() {
        if i % 5 == 0 {
            install.wait_for("the drive empty", LONG, || !install.drive_loaded("drive0"));
        }
        let dest = back.join(id.to_string());
        install.ok(
            "stager",
            &["recall", &id.to_string(), dest.to_str().unwrap()],
        );
        install.wait_for("the recall", LONG, || dest.exists());
    }
    let daemon = daemon_mounts(&install.daemon_log());
    assert_eq!(
        daemon,
        simulated,
        "the daemon's mounts against the simulator's{}",
        install.daemon_log_tail()
    );
    assert_eq!(daemon.len(), 4, "{daemon:?}");
}
