//! Against a client no one here wrote: Debian's unmodified `mtx` drives the
//! emulated library through the project's SG_IO bridge (an LD_PRELOAD
//! library, `examples/sg_bridge.rs`): status with barcodes and drives, load,
//! unload, and the library's sense when a move fails. The same bridge
//! carries tlcd's own SG_IO transport.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{Install, bin};
use tapeserver::library::emulated::faults::Faults;
use tapeserver::tape::{FileDrive, TapeDrive, format};

/// The bridge, built if needed (`cargo test` builds it with the examples).
fn bridge() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    if let Ok(cargo) = std::env::var("CARGO") {
        let status = Command::new(cargo)
            .args(["build", "--quiet", "--example", "sg_bridge"])
            .status()
            .unwrap();
        assert!(status.success(), "cannot build the SG_IO bridge");
    }
    let lib = target.join("examples/libsg_bridge.so");
    assert!(
        lib.exists(),
        "{} (cargo build --example sg_bridge)",
        lib.display()
    );
    lib
}

fn mtx(changer: &Path, args: &[&str]) -> Output {
    Command::new("mtx")
        .env("LD_PRELOAD", bridge())
        .arg("-f")
        .arg(changer)
        .args(args)
        .output()
        .expect("mtx (scripts/test installs it)")
}

fn ok(changer: &Path, args: &[&str]) -> String {
    let out = mtx(changer, args);
    assert!(
        out.status.success(),
        "mtx {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a file drive finds in the drive: the VOL1 of the cartridge loaded.
fn vol1_in(install: &Install, drive: &str) -> Option<String> {
    let mut d = FileDrive::new(drive, &install.path().join("library/drives").join(drive));
    d.load().ok()?;
    let vid = format::read_vol1(&mut d).ok().map(|v| v.vid);
    let _ = d.unload();
    vid
}

#[test]
fn unmodified_mtx_drives_the_emulated_library() {
    let install = Install::new(2, 3);
    let changer = install.path().join("library/changer0");
    let status = ok(&changer, &["status"]);
    assert!(
        status.contains("2 Drives, 8 Slots ( 1 Import/Export )"),
        "{status}"
    );
    assert!(status.contains("Data Transfer Element 0:Empty"), "{status}");
    assert!(
        status.contains("Storage Element 1:Full :VolumeTag=V00001L6"),
        "{status}"
    );
    assert!(status.contains("Storage Element 4:Empty"), "{status}");

    let out = ok(&changer, &["load", "2", "1"]);
    assert!(
        out.contains("Loading media from Storage Element 2 into drive 1...done"),
        "{out}"
    );
    let status = ok(&install.path().join("library/changer1"), &["status"]);
    assert!(
        status.contains(
            "Data Transfer Element 1:Full (Storage Element 2 Loaded):VolumeTag = V00002L6"
        ),
        "{status}"
    );
    assert!(status.contains("Storage Element 2:Empty"), "{status}");
    // A real load: the drive reads the cartridge's own label.
    assert_eq!(vol1_in(&install, "drive1").as_deref(), Some("V00002"));

    let out = ok(&changer, &["unload", "2", "1"]);
    assert!(
        out.contains("Unloading drive 1 into Storage Element 2...done"),
        "{out}"
    );
    assert_eq!(vol1_in(&install, "drive1"), None);
    assert!(ok(&changer, &["status"]).contains("Storage Element 2:Full :VolumeTag=V00002L6"));
}

#[test]
fn mtx_reports_the_sense_of_a_refused_move() {
    let install = Install::new(1, 2);
    let library = install.path().join("library");
    let changer = library.join("changer0");
    // Someone opened the door: the robot will not move.
    let door = library.join("faults/door-open");
    std::fs::write(&door, "").unwrap();
    let out = mtx(&changer, &["load", "1", "0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Sense Key=Not Ready"), "{err}");
    assert!(err.contains("Additional Sense Code = 04"), "{err}");
    assert!(err.contains("Additional Sense Qualifier = 03"), "{err}");
    assert!(
        err.contains("MOVE MEDIUM from Element Address 1000 to 500 Failed"),
        "{err}"
    );
    std::fs::remove_file(&door).unwrap();
    // mtx's `transfer` checks nothing first: 3B/0E is the library's.
    let out = mtx(&changer, &["transfer", "4", "5"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Source Element Address 1003 is Empty"),
        "{err}"
    );

    // A move on the other path holds slot 1004 as its destination: mtx sees
    // it empty, the library refuses (3B/0D).
    let hold = Faults::file(&library, "changer1", "hold");
    std::fs::write(&hold, "").unwrap();
    let mover = {
        let lib = library.clone();
        std::thread::spawn(move || {
            let mut path = tapeserver::library::emulated::EmulatedChanger::new(
                tapeserver::library::emulated::EmulatedLibrary::open(&lib),
                "changer1",
            );
            let cdb = tapeserver::scsi::smc::move_medium(0, 1000, 1004, false);
            tapeserver::scsi::run(
                &mut path,
                &cdb,
                tapeserver::scsi::Data::None,
                Duration::from_secs(60),
            )
        })
    };
    let state = || std::fs::read_to_string(library.join("library.json")).unwrap();
    common::wait_until("the held move", || {
        state().contains("\"destination\": 1004")
    });
    // mtx sends the move and words the library's 3B/0D itself.
    let out = mtx(&changer, &["transfer", "2", "5"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Destination Element Address 1004 is Already Full"),
        "{err}"
    );
    std::fs::remove_file(&hold).unwrap();
    mover.join().unwrap().unwrap();
    assert!(ok(&changer, &["status"]).contains("Storage Element 5:Full :VolumeTag=V00001L6"));
}

/// tlcd configured for a SCSI library reaches the changer through SG_IO;
/// the bridge turns the changer path file into that device.
#[test]
fn tlcd_drives_the_library_through_sg_io() {
    let install = Install::new(1, 2);
    let library = install.path().join("library");
    let endpoint = format!("ipc://{}/tlcd.sock", install.path().display());
    let config = install.path().join("tlcd.toml");
    std::fs::write(
        &config,
        format!(
            "[library]\nkind = \"scsi\"\nchangers = [\"{}\"]\n\n[controller]\nlisten = [\"{endpoint}\"]\nlease = \"{}\"\n\n[[drives]]\nname = \"drive0\"\nelement = 500\n",
            library.join("changer1").display(),
            install.path().join("tlcd.lease").display(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(install.path().join("tlcd.log")).unwrap();
    let mut tlcd = Command::new(bin("tlcd"))
        .env("LD_PRELOAD", bridge())
        .args(["run", "--config"])
        .arg(&config)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let tplib = |args: &[&str]| {
        Command::new(bin("tplib"))
            .arg("--endpoint")
            .arg(&endpoint)
            .args(args)
            .output()
            .unwrap()
    };
    common::wait_until("tlcd", || tplib(&["ping"]).status.success());
    let out = tplib(&["mount", "V00002", "drive0"]);
    let log = || std::fs::read_to_string(install.path().join("tlcd.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    let status: serde_json::Value =
        serde_json::from_slice(&tplib(&["status", "--json"]).stdout).unwrap();
    assert_eq!(status["drives"][0]["vid"], "V00002");
    assert_eq!(status["paths"][0]["vendor"], "TAPESRVR");
    assert_eq!(vol1_in(&install, "drive0").as_deref(), Some("V00002"));
    assert!(tplib(&["dismount", "V00002", "drive0"]).status.success());
    let _ = tlcd.kill();
    let _ = tlcd.wait();
}
