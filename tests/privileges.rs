//! Started by root with `[security] user`, sessions and tlcd run as that
//! user, with its groups, no capability and no way to gain one; what they
//! write is that user's. The tests give the installation to `nobody`.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::{Install, Tlcd, give_to, proc_status};

/// What a process that dropped root to `uid` must show.
fn assert_unprivileged(pid: i32, uid: u32, what: &str) {
    assert_eq!(
        proc_status(pid, "Uid:"),
        format!("{uid}\t{uid}\t{uid}\t{uid}"),
        "{what}: real, effective, saved and filesystem uid"
    );
    for (field, want) in [
        ("CapEff:", "0000000000000000"),
        ("CapPrm:", "0000000000000000"),
        ("NoNewPrivs:", "1"),
    ] {
        assert_eq!(proc_status(pid, field), want, "{what}: {field}");
    }
}

#[test]
fn sessions_started_by_root_run_as_the_configured_user_without_capabilities() {
    let install = Install::new(1, 1);
    let release = install.path().join("release");
    install.configure(|c| {
        c.security.user = Some("nobody".into());
        // The session waits at its first data block, so it can be looked at.
        c.drives[0].faults = Some(tapeserver::config::FaultsConfig {
            stall_at_block: Some(1),
            stall_until: Some(release.clone()),
            ..Default::default()
        });
    });
    let source = install.make_file("f", 600_000, 5);
    let nobody = give_to(&install, "nobody");
    let _daemon = install.start();
    let ids = install.archive(std::slice::from_ref(&source));
    let mut pid = 0;
    install.wait_for("a session at work", Duration::from_secs(60), || {
        pid = install.drive("drive0")["pid"].as_i64().unwrap_or(0) as i32;
        pid > 0
    });
    let uid = nobody.uid.as_raw();
    install.wait_for("the session to drop root", Duration::from_secs(60), || {
        proc_status(pid, "Uid:").starts_with(&format!("{uid}\t"))
    });
    assert_unprivileged(pid, uid, "the session");
    std::fs::write(&release, b"").unwrap();
    install.wait_for("the file on tape", Duration::from_secs(60), || {
        install.state_of(ids[0]).state == "on_tape"
    });
    let dest = install.path().join("back");
    install.ok(
        "stager",
        &[
            "recall",
            &ids[0].to_string(),
            dest.to_str().unwrap(),
            "--wait",
        ],
    );
    assert!(std::fs::read(&dest).unwrap() == std::fs::read(&source).unwrap());
    assert_eq!(std::fs::metadata(&dest).unwrap().uid(), uid);
}

#[test]
fn tlcd_started_by_root_runs_as_the_configured_user() {
    let install = Install::new(1, 2);
    let nobody = give_to(&install, "nobody");
    let tlcd = Tlcd::start_with(&install, "tlc-nobody", "\n[security]\nuser = \"nobody\"\n");
    let pid = tlcd.pid().expect("tlcd runs") as i32;
    assert_unprivileged(pid, nobody.uid.as_raw(), "tlcd");
    // It still drives the library as that user: a mount and a dismount.
    for args in [
        ["mount", "V00001", "drive0"],
        ["dismount", "V00001", "drive0"],
    ] {
        let out = tlcd.tplib(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
