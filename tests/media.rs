//! Media generations through the real binaries: `init --media LTO8,LTO9`
//! builds a library whose drives and cartridges alternate generations; an
//! LTO-8 drive is never given the LTO-9 cartridge, to write or to read.

mod common;

use std::time::Duration;

use common::Install;

const LONG: Duration = Duration::from_secs(60);

#[test]
fn an_lto8_drive_is_never_offered_an_lto9_tape() {
    let install = Install::with_args(2, 2, &["--media", "LTO8,LTO9"]);
    let config = tapeserver::config::Config::load(&install.config).unwrap();
    let models: Vec<_> = config.drives.iter().map(|d| d.model.clone()).collect();
    assert_eq!(models, [Some("LTO8".into()), Some("LTO9".into())]);
    let _daemon = install.start();
    let tapes: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap();
    let media: Vec<_> = tapes["tapes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["vid"].as_str().unwrap().to_string(),
                t["media"].as_str().map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        media,
        [
            ("V00001".to_string(), Some("L8".to_string())),
            ("V00002".to_string(), Some("L9".to_string()))
        ]
    );
    // Only the LTO-9 cartridge takes files: only the LTO-9 drive can write
    // them, and only it reads them back.
    install.ok("tapeadmin", &["tape-state", "V00001", "read_only"]);
    let files = common::archived(&install, 3, 200_000);
    for (id, _) in &files {
        assert_eq!(install.state_of(*id).vid.as_deref(), Some("V00002"));
    }
    install.recall_and_compare(&files, "back");
    install.wait_for("the drives free", LONG, || {
        ["drive0", "drive1"]
            .iter()
            .all(|d| install.drive(d)["state"] == "up")
    });
    let db = config.scheduler.url.strip_prefix("sqlite://").unwrap();
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT drive, vid, kind FROM mounts ORDER BY id")
        .unwrap();
    let mounts: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        mounts.iter().any(|m| m.2 == "recall"),
        "the recalls had mounts: {mounts:?}"
    );
    for (drive, vid, kind) in &mounts {
        assert!(
            !(drive == "drive0" && vid == "V00002"),
            "the LTO-8 drive got the LTO-9 tape for a {kind}: {mounts:?}"
        );
    }
}
