//! Export and import through the real binaries: an exported tape leaves
//! its slot for the import/export slot and is never mounted; a recall of
//! one of its files waits; the import puts it back home with its state,
//! and the recall is served byte-exact.

mod common;

use std::time::Duration;

use common::Install;

const LONG: Duration = Duration::from_secs(60);

fn tape(install: &Install, vid: &str) -> serde_json::Value {
    let json: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap();
    json["tapes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["vid"] == vid)
        .cloned()
        .unwrap()
}

#[test]
fn an_exported_tape_is_never_mounted_and_comes_home_on_import() {
    let install = Install::new(1, 2);
    let _daemon = install.start();
    let files = common::archived(&install, 2, 300_000);
    let vid = install.state_of(files[0].0).vid.unwrap();
    install.wait_for("the cartridge home", LONG, || {
        install.drive("drive0")["state"] == "up" && !install.drive_loaded("drive0")
    });

    let out = install.run("tapeadmin", &["export", "V00099"]);
    assert!(!out.status.success(), "an unknown cartridge is refused");

    let out = install.ok("tapeadmin", &["export", &vid]);
    assert!(out.contains("import/export slot 10"), "{out}");
    let t = tape(&install, &vid);
    assert_eq!(t["state"], "exported", "{t}");
    let state = common::library_state(&install);
    assert!(state.to_string().contains(&vid), "{state}");
    let out = install.run("tapeadmin", &["export", &vid]);
    assert!(!out.status.success(), "exported twice");

    // A recall of its file is queued, and waits for the import.
    let dest = install.path().join("back");
    let queued = install.ok(
        "stager",
        &["recall", &files[0].0.to_string(), dest.to_str().unwrap()],
    );
    assert!(!queued.is_empty());
    let out = install.ok("tapeadmin", &["import"]);
    assert!(out.contains(&format!("tape {vid} imported")), "{out}");
    assert_eq!(tape(&install, &vid)["state"], "active");
    install.wait_for("the recall", LONG, || dest.exists());
    install.wait_for("the recall done", LONG, || {
        let json: serde_json::Value =
            serde_json::from_str(&install.ok("stager", &["recalls", "--json"])).unwrap();
        json["recalls"][0]["state"] == "done"
    });
    assert!(std::fs::read(&dest).unwrap() == std::fs::read(&files[0].1).unwrap());
    let out = install.ok("tapeadmin", &["import"]);
    assert!(out.contains("no exported tape"), "{out}");
}
