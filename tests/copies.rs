//! Two copies through the real binaries: a two-copy class routed to two
//! pools puts every file on two cartridges, the file on tape only once
//! both are; with the cartridge of copy 1 broken, every file still recalls
//! byte-exact, from copy 2.

mod common;

use std::time::Duration;

use common::Install;

const LONG: Duration = Duration::from_secs(120);

#[test]
fn with_copy_1_broken_every_file_recalls_from_copy_2() {
    let install = Install::new(2, 2);
    let _daemon = install.start();
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
        let copies: Vec<(u64, &str)> = f["copies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["copy"].as_u64().unwrap(), c["vid"].as_str().unwrap()))
            .collect();
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
    let files: Vec<_> = ids.into_iter().zip(sources).collect();
    install.recall_and_compare(&files, "back");
}
