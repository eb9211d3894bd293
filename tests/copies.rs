//! Two copies through the real binaries: a two-copy class routed to two
//! pools puts every file on two cartridges, the file on tape only once
//! both are; with the cartridge of copy 1 broken, every file still recalls
//! byte-exact, from copy 2. With one block of a file's copy 2 corrupted
//! in its cartridge, a recall that reads copy 2 first goes on with copy 1,
//! byte-exact, and copy 2 is recorded bad.

mod common;

use std::time::Duration;

use common::{Install, pattern};

const LONG: Duration = Duration::from_secs(120);

/// Class `two`: copy 1 to pool `default` (V00001), copy 2 to `copy2`
/// (V00002).
fn two_copy_class(install: &Install) {
    install.ok("tapeadmin", &["add-pool", "copy2"]);
    install.ok("tapeadmin", &["move-tape", "V00002", "--pool", "copy2"]);
    install.ok("tapeadmin", &["add-class", "two", "--copies", "2"]);
    install.ok("tapeadmin", &["add-route", "two", "1", "default"]);
    install.ok("tapeadmin", &["add-route", "two", "2", "copy2"]);
}

/// (copy, VID) of each copy of a file of `stager status --json`.
fn copy_vids(file: &serde_json::Value) -> Vec<(u64, &str)> {
    file["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["copy"].as_u64().unwrap(), c["vid"].as_str().unwrap()))
        .collect()
}

fn copies(install: &Install, id: u64) -> serde_json::Value {
    let json: serde_json::Value =
        serde_json::from_str(&install.ok("tapeadmin", &["--json", "file", &id.to_string()]))
            .unwrap();
    json["copies"].clone()
}

#[test]
fn a_corrupted_copy_2_is_recorded_bad_and_the_recall_succeeds_from_copy_1() {
    let install = Install::new(2, 2);
    let _daemon = install.start();
    two_copy_class(&install);
    let sizes = [200_000usize, 700_000, 3_000];
    let sources: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| install.make_file(&format!("f{i}"), size, 40 + i as u64))
        .collect();
    let mut args = vec!["archive", "--class", "two", "--wait"];
    let paths: Vec<String> = sources.iter().map(|p| p.display().to_string()).collect();
    args.extend(paths.iter().map(String::as_str));
    let ids: Vec<u64> = common::archived_ids(&install.ok("stager", &args))
        .into_iter()
        .map(|(id, _)| id)
        .collect();

    // One byte of file 1's copy 2 flipped on its cartridge.
    let data = install.path().join("library/cartridges/V00002/data");
    let mut raw = std::fs::read(&data).unwrap();
    let needle = &pattern(sizes[1], 41)[500_000..500_064];
    let at = raw
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("file 1's bytes on the cartridge");
    raw[at + 7] ^= 0x5a;
    std::fs::write(&data, raw).unwrap();

    // Copy 1's tape out of service while the recall is queued: it reads
    // copy 2 first.
    install.ok(
        "tapeadmin",
        &["tape-state", "V00001", "disabled", "--reason", "test"],
    );
    let out = install.path().join("back");
    std::fs::create_dir_all(&out).unwrap();
    let dest = out.join("f1");
    install.ok(
        "stager",
        &["recall", &ids[1].to_string(), dest.to_str().unwrap()],
    );
    install.wait_for("copy 2 found bad", LONG, || {
        copies(&install, ids[1])[1]["bad"].is_string()
    });
    let bad = copies(&install, ids[1])[1]["bad"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(bad.contains("CRC32C"), "{bad}");
    assert!(!dest.exists(), "nothing placed from the bad copy");
    install.ok("tapeadmin", &["tape-state", "V00001", "active"]);
    install.wait_for("the recall from copy 1", LONG, || dest.exists());
    assert!(
        std::fs::read(&dest).unwrap() == std::fs::read(&sources[1]).unwrap(),
        "byte-exact from copy 1"
    );
    assert!(
        copies(&install, ids[1])[0]["bad"].is_null(),
        "copy 1 is good"
    );
    for i in [0, 2] {
        assert!(copies(&install, ids[i])[1]["bad"].is_null(), "file {i}");
    }
}

#[test]
fn with_copy_1_broken_every_file_recalls_from_copy_2_and_a_repack_adds_copy_1_again() {
    let install = Install::new(2, 3);
    let _daemon = install.start();
    // V00003 waits aside until copy 1 is written again.
    install.ok("tapeadmin", &["add-pool", "spare"]);
    install.ok("tapeadmin", &["move-tape", "V00003", "--pool", "spare"]);
    install.ok("tapeadmin", &["add-pool", "copy2"]);
    install.ok("tapeadmin", &["move-tape", "V00002", "--pool", "copy2"]);
    install.ok("tapeadmin", &["add-class", "two", "--copies", "2"]);
    install.ok("tapeadmin", &["add-route", "two", "1", "default"]);
    let out = install.run("tapeadmin", &["add-route", "two", "2", "default"]);
    assert!(!out.status.success(), "two copies never share a pool");
    install.ok("tapeadmin", &["add-route", "two", "2", "copy2"]);
    let classes: serde_json::Value =
        serde_json::from_str(&install.ok("tapeadmin", &["--json", "classes"])).unwrap();
    assert_eq!(classes["classes"][0]["routes"].as_array().unwrap().len(), 2);

    let sources: Vec<_> = (0..100)
        .map(|i| install.make_file(&format!("f{i}"), 1 + (i * 7919) % 40_000, i as u64))
        .collect();
    let mut args = vec![
        "archive".to_string(),
        "--class".into(),
        "two".into(),
        "--wait".into(),
    ];
    args.extend(sources.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ids: Vec<u64> = common::archived_ids(&install.ok("stager", &args))
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids.len(), 100);
    let status: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["status", "--json"])).unwrap();
    for f in status["files"].as_array().unwrap() {
        assert_eq!(f["state"], "on_tape", "{f}");
        let copies = copy_vids(f);
        assert_eq!(copies, [(1, "V00001"), (2, "V00002")], "{f}");
    }

    install.ok(
        "tapeadmin",
        &["tape-state", "V00001", "broken", "--reason", "dropped"],
    );
    let status: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["status", "--json", &ids[0].to_string()]))
            .unwrap();
    assert_eq!(status["files"][0]["copies"][0]["state"], "broken");
    install.wait_for("the drives free", LONG, || {
        ["drive0", "drive1"]
            .iter()
            .all(|d| install.drive(d)["state"] == "up")
    });
    let files: Vec<_> = ids.iter().copied().zip(sources).collect();
    install.recall_and_compare(&files, "back");

    // Copy 1 written again, from copy 2, to the pool's new tape.
    install.ok("tapeadmin", &["move-tape", "V00003", "--pool", "default"]);
    let refused = install.run("tapeadmin", &["repack", "V00001"]);
    assert!(!refused.status.success(), "a broken tape cannot be read");
    install.ok("tapeadmin", &["repack", "V00001", "--add-copies"]);
    install.wait_for("the repack", LONG, || {
        let json: serde_json::Value =
            serde_json::from_str(&install.ok("tapeadmin", &["--json", "repacks"])).unwrap();
        json["repacks"][0]["state"] == "done"
    });
    let status: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["status", "--json"])).unwrap();
    for f in status["files"].as_array().unwrap() {
        let copies = copy_vids(f);
        assert_eq!(copies, [(1, "V00003"), (2, "V00002")], "{f}");
    }
    // The new copy 1 is good: with copy 2's tape broken, files come from it.
    install.ok(
        "tapeadmin",
        &["tape-state", "V00002", "broken", "--reason", "test"],
    );
    install.recall_and_compare(&files[..10], "again");
}

/// `init --pools` splits the cartridges between pools; `[scheduler]
/// default_class` gives an archive that names neither pool nor class its
/// copies; `--pool` keeps working as one copy.
#[test]
fn init_pools_and_the_default_class() {
    let install = Install::with_args(2, 1, &["--pools", "default:1,copy2:1"]);
    install.configure(|c| c.scheduler.default_class = Some("two".into()));
    let _daemon = install.start();
    let tapes: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap();
    let pools: Vec<(&str, &str)> = tapes["tapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["vid"].as_str().unwrap(), t["pool"].as_str().unwrap()))
        .collect();
    assert_eq!(pools, [("V00001", "default"), ("V00002", "copy2")]);
    install.ok("tapeadmin", &["add-class", "two", "--copies", "2"]);
    install.ok("tapeadmin", &["add-route", "two", "1", "default"]);
    install.ok("tapeadmin", &["add-route", "two", "2", "copy2"]);
    let a = install.make_file("a", 10_000, 1);
    let b = install.make_file("b", 10_000, 2);
    let two =
        common::archived_ids(&install.ok("stager", &["archive", "--wait", a.to_str().unwrap()]));
    let one = common::archived_ids(&install.ok(
        "stager",
        &[
            "archive",
            "--wait",
            "--pool",
            "default",
            b.to_str().unwrap(),
        ],
    ));
    assert_eq!(copies(&install, two[0].0).as_array().unwrap().len(), 2);
    assert_eq!(copies(&install, one[0].0).as_array().unwrap().len(), 1);

    let bad = std::process::Command::new(common::bin("tapeserverd"))
        .args(["init", "--dry-run", "--pools", "default:0"])
        .arg(install.path().join("other"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("expected NAME:COUNT"), "{err}");
}
