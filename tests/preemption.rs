//! Background work yields, through the real binaries: a verification on
//! the only drive is held inside its fifth file; a user recall of a file on
//! another tape is queued; the daemon asks the verification to yield, it
//! finishes the file it is in and ends, the recall takes the drive and
//! comes back byte-exact, and the verification resumes with the files it
//! had not read, each file read once, nothing found bad.

mod common;

use std::time::Duration;

use common::Install;

const LONG: Duration = Duration::from_secs(90);

/// The (read, given) counts of each verify session summary of the log.
fn verify_sessions(log: &str) -> Vec<(u64, u64)> {
    log.lines()
        .filter_map(|l| {
            let rest = l
                .split("session summary: verify of V00001 on drive0: ")
                .nth(1)?;
            let mut words = rest.split_whitespace();
            let read = words.next()?.parse().ok()?;
            let given = words.nth(1)?.parse().ok()?;
            Some((read, given))
        })
        .collect()
}

#[test]
fn a_verification_yields_the_only_drive_to_a_user_recall_and_resumes() {
    let install = Install::new(1, 2);
    let daemon = install.start();
    install.ok("tapeadmin", &["add-pool", "other"]);
    install.ok("tapeadmin", &["move-tape", "V00002", "--pool", "other"]);
    let verified = common::archived(&install, 20, 100_000);
    let user = install.make_file("user", 300_000, 99);
    let out = install.ok(
        "stager",
        &[
            "archive",
            "--pool",
            "other",
            "--wait",
            user.to_str().unwrap(),
        ],
    );
    let user_id = common::archived_ids(&out)[0].0;
    assert_eq!(install.state_of(user_id).vid.as_deref(), Some("V00002"));
    assert_eq!(daemon.stop(), Some(0));

    // Every session on the drive hangs before its fifth data block until
    // the test releases it: the verification inside its fifth file (each
    // file is one block); the recall reads one block and never meets it.
    let release = install.path().join("release");
    install.configure(|c| {
        c.drives[0].faults = Some(tapeserver::config::FaultsConfig {
            stall_at_block: Some(5),
            stall_until: Some(release.clone()),
            ..Default::default()
        });
    });
    let _daemon = install.start();
    install.ok("tapeadmin", &["verify", "V00001"]);
    install.wait_for("the verification in its fifth file", LONG, || {
        let d = install.drive("drive0");
        d["session"] == "verify" && d["files"].as_u64() == Some(4)
    });

    let back = install.path().join("back");
    std::fs::create_dir_all(&back).unwrap();
    let dest = back.join("user");
    install.ok(
        "stager",
        &["recall", &user_id.to_string(), dest.to_str().unwrap()],
    );
    install.wait_for("the verification asked to yield", LONG, || {
        install
            .daemon_log()
            .contains("pre-empting a background session")
    });
    std::fs::write(&release, b"").unwrap();
    install.wait_for("the user recall", LONG, || dest.exists());
    assert!(
        std::fs::read(&dest).unwrap() == std::fs::read(&user).unwrap(),
        "the recalled file is byte-exact"
    );
    install.wait_for("the verification resumed and done", LONG, || {
        install.tape("V00001")["last_verified"].is_f64()
    });
    assert_eq!(install.tape("V00001")["verify_errors"], 0);

    let log = install.daemon_log();
    assert_eq!(
        verify_sessions(&log),
        [(5, 20), (15, 15)],
        "the first session read the file it was in and yielded; the second read the rest{}",
        install.daemon_log_tail()
    );
    let yielded = log
        .find("session summary: verify of V00001 on drive0: 5 of 20")
        .unwrap();
    let recall = log.find("session summary: recall of V00002").unwrap();
    let resumed = log
        .find("session summary: verify of V00001 on drive0: 15 of 15")
        .unwrap();
    assert!(
        yielded < recall && recall < resumed,
        "the recall came between"
    );
    assert!(log.contains("preempted=true"));
    assert_eq!(verified.len(), 20);
}
