//! Deletion through the real binaries: a deleted file never recalls, an
//! operator undeletes it, a tape with a live file is never reclaimed, and
//! a reclaimed tape is written again from fSeq 1 over what it held, and
//! what is written there recalls byte-exact.

mod common;

use std::time::Duration;

use common::{Install, eventually};

const LONG: Duration = Duration::from_secs(60);

fn tape_json(install: &Install) -> serde_json::Value {
    let json: serde_json::Value =
        serde_json::from_str(&install.ok("stager", &["tapes", "--json"])).unwrap();
    json["tapes"][0].clone()
}

/// Runs `tapeadmin reclaim` once the tape's last mount has closed.
fn reclaim(install: &Install) -> std::process::Output {
    eventually("the tape free of mounts", || {
        let out = install.run("tapeadmin", &["reclaim", "V00001"]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        if err.contains("in use by another mount") {
            Err(err)
        } else {
            Ok(out)
        }
    })
}

#[test]
fn deleted_files_never_recall_and_a_reclaimed_tape_starts_again_at_fseq_1() {
    let install = Install::new(1, 1);
    let _daemon = install.start();
    let sources: Vec<_> = [300_000, 1_000_000, 5_000]
        .iter()
        .enumerate()
        .map(|(i, &size)| install.make_file(&format!("f{i}"), size, i as u64))
        .collect();
    let ids = install.archive(&sources);
    for id in &ids {
        install.wait_for("the file on tape", LONG, || {
            install.state_of(*id).state == "on_tape"
        });
    }
    let id = |i: usize| ids[i].to_string();

    assert_eq!(
        install.ok("stager", &["delete", &id(0)]).trim(),
        format!("{} deleted", ids[0])
    );
    assert_eq!(install.state_of(ids[0]).state, "deleted");
    let dest = install.path().join("back0");
    let out = install.run("stager", &["recall", &id(0), dest.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("deleted"));
    let t = tape_json(&install);
    assert_eq!(
        (t["live_files"].as_u64(), t["deleted_files"].as_u64()),
        (Some(2), Some(1)),
        "{t}"
    );

    // The operator brings it back; it recalls.
    install.ok("tapeadmin", &["undelete", &id(0)]);
    install.recall_and_compare(&[(ids[0], sources[0].clone())], "undeleted");

    // A tape with a live file is never reclaimed.
    let refused = reclaim(&install);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("3 live files"), "{err}");

    install.ok("stager", &["delete", &id(0), &id(1), &id(2)]);
    let t = tape_json(&install);
    assert_eq!(
        (t["live_files"].as_u64(), t["deleted_files"].as_u64()),
        (Some(0), Some(3)),
        "{t}"
    );
    let out = reclaim(&install);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = tape_json(&install);
    assert_eq!(
        (
            t["files"].as_u64(),
            t["last_fseq"].as_u64(),
            t["reclaimed"].as_u64()
        ),
        (Some(0), Some(0), Some(1)),
        "{t}"
    );
    let out = install.run("tapeadmin", &["undelete", &id(1)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reclaimed"));
    // An empty tape may change pools (and come back).
    install.ok("tapeadmin", &["add-pool", "gen2"]);
    install.ok("tapeadmin", &["move-tape", "V00001", "--pool", "gen2"]);
    assert_eq!(tape_json(&install)["pool"], "gen2");
    install.ok("tapeadmin", &["move-tape", "V00001", "--pool", "default"]);

    // The tape takes new files from fSeq 1, over the deleted ones.
    let fresh = install.make_file("fresh", 700_000, 9);
    let new = install.archive(std::slice::from_ref(&fresh))[0];
    install.wait_for("the new file on tape", LONG, || {
        install.state_of(new).state == "on_tape"
    });
    let s = install.state_of(new);
    assert_eq!((s.vid.as_deref(), s.fseq), (Some("V00001"), Some(1)));
    install.recall_and_compare(&[(new, fresh)], "fresh");
    // And after it, the next one at fSeq 2.
    let next = install.make_file("next", 4_000, 10);
    let second = install.archive(std::slice::from_ref(&next))[0];
    install.wait_for("the second new file on tape", LONG, || {
        install.state_of(second).state == "on_tape"
    });
    assert_eq!(install.state_of(second).fseq, Some(2));
    install.recall_and_compare(&[(second, next)], "next");

    // An operator marks the tape broken: the state, the reason and who
    // set it are shown.
    install.ok(
        "tapeadmin",
        &["tape-state", "V00001", "broken", "--reason", "dropped"],
    );
    let t = tape_json(&install);
    assert_eq!(
        (t["state"].as_str(), t["reason"].as_str()),
        (Some("broken"), Some("dropped")),
        "{t}"
    );
    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .unwrap()
        .name;
    assert_eq!(t["state_by"].as_str(), Some(me.as_str()), "{t}");
    assert!(t["state_since"].as_f64().unwrap_or(0.0) > 0.0, "{t}");
}
