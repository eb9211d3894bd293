//! Verification through the real binaries: a verify mount finds nothing on
//! a healthy tape; after one block of one file is corrupted in its
//! cartridge and the catalogue is made to expect more of another file than
//! the tape holds (a truncated copy), it finds exactly those two, with
//! their reasons, and the other files stay good.

mod common;

use std::time::Duration;

use common::{Install, pattern};

const LONG: Duration = Duration::from_secs(60);

fn tape_json(install: &Install) -> serde_json::Value {
    let json: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap();
    json["tapes"][0].clone()
}

/// Queues a verification and waits until the tape says it was verified
/// after `since`; returns the tape.
fn verify(install: &Install, since: f64) -> serde_json::Value {
    install.ok("tapeadmin", &["verify", "V00001"]);
    let mut tape = serde_json::Value::Null;
    install.wait_for("the verification", LONG, || {
        tape = tape_json(install);
        tape["last_verified"].as_f64().unwrap_or(0.0) > since
    });
    tape
}

fn bad_reason(install: &Install, id: u64) -> Option<String> {
    let json: serde_json::Value =
        serde_json::from_str(&install.ok("tapeadmin", &["--json", "file", &id.to_string()]))
            .unwrap();
    json["copies"][0]["bad"].as_str().map(str::to_string)
}

#[test]
fn a_verify_mount_finds_a_corrupted_block_and_a_truncated_file_and_nothing_else() {
    let install = Install::new(1, 1);
    let _daemon = install.start();
    let sizes = [300_000usize, 600_000, 5_000, 1_000_000];
    let sources: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| install.make_file(&format!("f{i}"), size, 100 + i as u64))
        .collect();
    let ids = install.archive(&sources);
    for id in &ids {
        install.wait_for("the file on tape", LONG, || {
            install.state_of(*id).state == "on_tape"
        });
    }

    let healthy = verify(&install, 0.0);
    assert_eq!(healthy["verify_errors"].as_u64(), Some(0), "{healthy}");
    assert!(ids.iter().all(|id| bad_reason(&install, *id).is_none()));

    // One byte of file 1's data flipped on the cartridge.
    let data = install.path().join("library/cartridges/V00001/data");
    let mut raw = std::fs::read(&data).unwrap();
    let needle = &pattern(sizes[1], 101)[400_000..400_064];
    let at = raw
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("file 1's bytes on the cartridge");
    raw[at + 10] ^= 0xff;
    std::fs::write(&data, raw).unwrap();
    // The catalogue expects more of file 3 than the tape holds.
    let config = tapeserver::config::Config::load(&install.config).unwrap();
    let db = config.scheduler.url.strip_prefix("sqlite://").unwrap();
    rusqlite::Connection::open(db)
        .unwrap()
        .execute(
            "UPDATE archive_files SET size = size + 4096 WHERE id = ?1",
            [ids[3]],
        )
        .unwrap();

    let found = verify(&install, healthy["last_verified"].as_f64().unwrap());
    assert_eq!(found["verify_errors"].as_u64(), Some(2), "{found}");
    let corrupted = bad_reason(&install, ids[1]).expect("file 1's copy is bad");
    assert!(corrupted.contains("CRC32C"), "{corrupted}");
    let truncated = bad_reason(&install, ids[3]).expect("file 3's copy is bad");
    assert!(truncated.contains("the catalogue says"), "{truncated}");
    for i in [0, 2] {
        assert_eq!(bad_reason(&install, ids[i]), None, "file {i}");
    }
    // What verification found good still recalls byte-exact.
    install.recall_and_compare(&[(ids[0], sources[0].clone())], "good");
}
