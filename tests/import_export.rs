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

/// A labelled cartridge the catalogue does not know, put in the
/// import/export slot: left there by a plain import; with --pool it goes to
/// a free slot, read-only until a drive reads its VOL1, then takes files.
#[test]
fn an_unknown_cartridge_becomes_a_tape_of_the_pool_once_its_vol1_is_read() {
    let install = Install::new(1, 2);
    // V00002 is a labelled cartridge the catalogue forgets (as if it came
    // from another site).
    let config = tapeserver::config::Config::load(&install.config).unwrap();
    let db = config.scheduler.url.strip_prefix("sqlite://").unwrap();
    rusqlite::Connection::open(db)
        .unwrap()
        .execute("DELETE FROM tapes WHERE vid = 'V00002'", [])
        .unwrap();
    let _daemon = install.start();
    let state = common::library_state(&install);
    let slot = state["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            s["cartridge"]["barcode"]
                .as_str()
                .is_some_and(|b| b.starts_with("V00002"))
        })
        .map(|s| s["address"].as_u64().unwrap())
        .expect("V00002 in a slot");
    install.ok("tplib", &["move", &slot.to_string(), "10"]);

    let out = install.ok("tapeadmin", &["import"]);
    assert!(out.contains("not in the catalogue: left there"), "{out}");
    install.ok("tapeadmin", &["add-pool", "incoming"]);
    let out = install.ok(
        "tapeadmin",
        &["import", "--pool", "incoming", "--capacity", "1GiB"],
    );
    assert!(out.contains("cartridge V00002 imported"), "{out}");
    install.wait_for("its VOL1 read", LONG, || {
        tape(&install, "V00002")["state"] == "active"
    });
    let t = tape(&install, "V00002");
    assert_eq!(t["pool"], "incoming", "{t}");
    assert!(t["last_verified"].as_f64().is_some(), "{t}");
    // It takes files.
    let src = install.make_file("new", 100_000, 9);
    let out = install.ok(
        "stager",
        &[
            "archive",
            "--pool",
            "incoming",
            "--wait",
            src.to_str().unwrap(),
        ],
    );
    let id = common::archived_ids(&out)[0].0;
    assert_eq!(install.state_of(id).vid.as_deref(), Some("V00002"));
}
