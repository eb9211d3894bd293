//! Repack through the real binaries: a tape of files from 0 bytes to 3 MB
//! (two of them deleted) is repacked to another pool through a 4 MiB
//! buffer; every live file then recalls byte-exact from its new copy, the
//! deleted ones are not moved, the old tape is reclaimed, and the buffer
//! never held more than its bound and ends empty.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Install;

const LONG: Duration = Duration::from_secs(240);
const BUFFER: u64 = 4 << 20;

fn repacks(install: &Install) -> serde_json::Value {
    serde_json::from_str(&install.ok("tapeadmin", &["--json", "repacks"])).unwrap()
}

/// Bytes of the files in the buffer directory now.
fn held(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_repack_moves_every_live_file_through_a_bounded_buffer_and_reclaims_the_tape() {
    let install = Install::new(2, 3);
    install.configure(|c| c.repack.buffer_bytes = tapeserver::config::ByteSize(BUFFER));
    let _daemon = install.start();
    install.ok("tapeadmin", &["add-pool", "new"]);
    for vid in ["V00002", "V00003"] {
        install.ok("tapeadmin", &["move-tape", vid, "--pool", "new"]);
    }
    let sizes: Vec<usize> = (0..40usize)
        .map(|i| match i {
            0 => 0,
            1 => 1,
            2 => 3_000_000,
            _ => (i * 104_729) % 900_000,
        })
        .collect();
    let sources: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| install.make_file(&format!("f{i}"), size, 500 + i as u64))
        .collect();
    let mut args = vec!["archive".to_string(), "--wait".into()];
    args.extend(sources.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ids: Vec<u64> = common::archived_ids(&install.ok("stager", &args))
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert!(
        install
            .status()
            .iter()
            .all(|f| f.vid.as_deref() == Some("V00001"))
    );
    let deleted = [ids[5], ids[6]];
    install.ok(
        "stager",
        &["delete", &deleted[0].to_string(), &deleted[1].to_string()],
    );

    let refused = install.run("tapeadmin", &["repack", "V00001", "--to-pool", "nowhere"]);
    assert!(!refused.status.success(), "an unknown pool is refused");
    install.ok(
        "tapeadmin",
        &["repack", "V00001", "--to-pool", "new", "--reclaim"],
    );
    let buffer = install.path().join("state/repack");
    let mut peak = 0;
    install.wait_for("the repack to end", LONG, || {
        peak = peak.max(held(&buffer));
        let r = &repacks(&install)["repacks"][0];
        r["state"] == "done" || r["state"] == "failed"
    });
    let r = &repacks(&install)["repacks"][0];
    assert_eq!(r["state"], "done", "{r}");
    assert_eq!(r["files_total"].as_u64(), Some(38), "{r}");
    assert_eq!(r["files_done"].as_u64(), Some(38), "{r}");
    assert!(peak <= BUFFER, "the buffer held {peak} bytes");
    assert_eq!(held(&buffer), 0, "the buffer ends empty");
    let table = install.ok("tapeadmin", &["repacks"]);
    assert!(
        table.contains("V00001") && table.contains("done"),
        "{table}"
    );

    let tapes: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap();
    let old = tapes["tapes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["vid"] == "V00001")
        .unwrap()
        .clone();
    assert_eq!(old["live_files"].as_u64(), Some(0), "{old}");
    assert_eq!(old["state"], "active", "reclaimed: {old}");
    for f in install.status() {
        if deleted.contains(&f.id) {
            continue;
        }
        assert!(
            matches!(f.vid.as_deref(), Some("V00002" | "V00003")),
            "{f:?}"
        );
    }
    let live: Vec<_> = ids
        .iter()
        .zip(&sources)
        .filter(|(id, _)| !deleted.contains(id))
        .map(|(id, p)| (*id, p.clone()))
        .collect();
    install.recall_and_compare(&live, "back");
}
